/**
 * The one config schema. It validates files, types the parsed config, and is what
 * docs/config.md prints (scripts/gen-config-docs.ts). Keys are snake_case as in the plan's
 * `config/worker_recovery.yaml`; durations are written in seconds or with a unit and parsed to
 * milliseconds; sizes are parsed to bytes. Every object is strict: an unknown key is an error.
 * @module
 */
import { z } from 'zod'

import { STRATEGIES } from '../core/strategy.js'
import { duration, size } from './units.js'
export { STRATEGIES }
export const SEVERITIES = ['info', 'warning', 'critical'] as const
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const

/**
 * The plan's `recovery` block plus the limits a supervisor needs to never loop forever. Each field
 * is written once; `full` gives it its default, `override` (per pool) leaves it unset so that the
 * global value shows through.
 */
function recoveryFields() {
  return {
    check_interval: duration({ positive: true }).describe(
      'How often CPU, memory, zombies, error rate and queue indicators are sampled. Crashes are seen at once and hangs by the watchdog, whatever this is.',
    ),
    max_retries: z
      .number()
      .int()
      .min(0)
      .describe(
        'Retries after the first recovery attempt fails to verify. An incident makes at most 1 + max_retries attempts, then escalates and marks the worker failed.',
      ),
    retry_delay: duration().describe(
      'Base delay before a retry. It doubles with each consecutive restart of the same worker (exponential backoff with jitter) up to max_retry_delay. The first restart after a crash is immediate.',
    ),
    max_retry_delay: duration().describe('Cap on the backoff delay.'),
    jitter: z
      .number()
      .min(0)
      .max(1)
      .describe(
        'Fraction of the backoff delay randomised (0.2: the delay is scaled by a random factor in [0.8, 1.2]).',
      ),
    stable_after: duration({ positive: true }).describe(
      'A worker that has run this long without a restart is stable again: its backoff resets to zero.',
    ),
    verify_timeout: duration({ positive: true }).describe(
      'How long a restarted worker has to become ready (SDK ready message, passing probes, or min_uptime alive) before the attempt counts as failed.',
    ),
    min_uptime: duration().describe(
      'A worker that uses neither the SDK nor probes is ready once it has stayed alive this long. 500 ms is past the start-up crashes (bad config, missing module) of most programs, and short enough for a hang to be recovered within hang_timeout + 1 s.',
    ),
    restart_limit: z
      .strictObject({
        max: z.number().int().min(1).describe('Restarts allowed in the window.'),
        window: duration({ positive: true }).describe('The sliding window.'),
      })
      .describe(
        "The pool's restart intensity (as in Erlang/OTP supervisors): more than `max` restarts of the pool's workers within `window` escalates instead of restarting again. Every restart counts, whatever the uptime.",
      ),
    scale_in_after: duration({ positive: true }).describe(
      'A pool with a queue and replicas.max above replicas.min grows by one worker per check while its backlog is above thresholds.queue_size, and shrinks by one (gracefully) each time the backlog has stayed at or below it this long.',
    ),
    revive_interval: duration({ positive: true }).describe(
      'After an escalation the worker is failed; Shepherd tries to start it again at this slow interval and, once it runs, brings it back with a notification.',
    ),
  }
}

function thresholdFields() {
  return {
    cpu_percent: z
      .number()
      .positive()
      .describe(
        "CPU of the worker's process tree, in percent of one core; above it for consecutive_checks checks is a warning.",
      ),
    memory_mb: z
      .number()
      .positive()
      .describe(
        "Resident memory of the worker's process tree in MiB; above it for consecutive_checks checks is a warning.",
      ),
    memory_limit_mb: z
      .number()
      .positive()
      .describe(
        'Hard memory limit in MiB; one sample above it starts a recovery (strategies.default, a graceful restart by default). Defaults to memory_mb.',
      ),
    error_rate: z
      .number()
      .min(0)
      .max(1)
      .describe(
        'Share of failed units of work (reported through the SDK) over error_window; above it the worker is recovered.',
      ),
    error_window: duration({ positive: true }).describe('Sliding window for the error rate.'),
    error_min_samples: z
      .number()
      .int()
      .min(1)
      .describe('The error rate is judged only once the window holds at least this many outcomes.'),
    queue_size: z
      .number()
      .int()
      .min(0)
      .describe('Backlog above which the pool is in warning. Used once the pool has a queue.'),
    zombies: z
      .number()
      .int()
      .min(1)
      .describe(
        "Zombie processes in a worker's tree at or above which, seen on two checks in a row, the worker is recovered with strategies.emergency.",
      ),
    consecutive_checks: z
      .number()
      .int()
      .min(1)
      .describe(
        'How many checks in a row a CPU or memory reading must stay above its threshold to be a warning.',
      ),
  }
}

function strategyFields() {
  return {
    default: z
      .enum(STRATEGIES)
      .describe('Strategy for ordinary anomalies (memory limit, error rate, failed probes, crashes).'),
    emergency: z
      .enum(STRATEGIES)
      .describe(
        'Strategy for severe anomalies (hang, zombie tree, a worker that ignored SIGTERM) and for every retry after a failed attempt.',
      ),
  }
}

export const RECOVERY_DEFAULTS = {
  check_interval: 30,
  max_retries: 3,
  retry_delay: 10,
  max_retry_delay: 300,
  jitter: 0.2,
  stable_after: 60,
  verify_timeout: 30,
  min_uptime: 0.5,
  restart_limit: { max: 10, window: 600 },
  scale_in_after: 60,
  revive_interval: 300,
} as const

export const THRESHOLD_DEFAULTS = {
  cpu_percent: 90,
  memory_mb: 1024,
  error_rate: 0.1,
  error_window: 60,
  error_min_samples: 10,
  queue_size: 100,
  zombies: 3,
  consecutive_checks: 3,
} as const

export const STRATEGY_DEFAULTS = { default: 'soft_restart', emergency: 'hard_restart' } as const

function withDefaults<S extends z.ZodRawShape>(fields: S, defaults: Record<string, unknown>) {
  const shape: Record<string, z.ZodType> = {}
  for (const [key, schema] of Object.entries(fields)) {
    const d = defaults[key]
    shape[key] =
      d === undefined ? (schema as z.ZodType).optional() : (schema as z.ZodType).prefault(d as never)
  }
  return shape as { [K in keyof S]: z.ZodPrefault<S[K]> }
}

function optionalAll<S extends z.ZodRawShape>(fields: S) {
  const shape: Record<string, z.ZodType> = {}
  for (const [key, schema] of Object.entries(fields)) shape[key] = (schema as z.ZodType).optional()
  return shape as { [K in keyof S]: z.ZodOptional<S[K]> }
}

const RecoveryFull = z
  .strictObject(withDefaults(recoveryFields(), RECOVERY_DEFAULTS))
  .describe("The plan's recovery block.")
const ThresholdsFull = z
  .strictObject(withDefaults(thresholdFields(), THRESHOLD_DEFAULTS))
  .describe("The plan's thresholds block.")
const StrategiesFull = z
  .strictObject(withDefaults(strategyFields(), STRATEGY_DEFAULTS))
  .describe("The plan's strategies block.")

const envValue = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v))

const probeCommon = {
  interval: duration({ positive: true }).prefault(10).describe('Time between probes.'),
  timeout: duration({ positive: true }).prefault(2).describe('A probe that takes longer fails.'),
  failure_threshold: z
    .number()
    .int()
    .min(1)
    .prefault(3)
    .describe('Consecutive failures that make the worker unhealthy.'),
  initial_delay: duration().prefault(0).describe('Wait after the worker starts before the first probe.'),
}

export const ProbeSchema = z
  .discriminatedUnion('type', [
    z
      .strictObject({
        type: z.literal('http'),
        url: z
          .string()
          .min(1)
          .describe(
            'URL to GET; 2xx passes. Placeholders: {port} (the worker’s PORT), {index}, {pid}, {id}.',
          ),
        ...probeCommon,
      })
      .describe('HTTP GET probe.'),
    z
      .strictObject({
        type: z.literal('tcp'),
        host: z.string().min(1).prefault('127.0.0.1').describe('Host to connect to.'),
        port: z
          .union([z.number().int().min(1).max(65535), z.string().min(1)])
          .describe('Port, or a placeholder string such as "{port}".'),
        ...probeCommon,
      })
      .describe('TCP connect probe.'),
    z
      .strictObject({
        type: z.literal('exec'),
        command: z.string().min(1).describe('Command run without a shell; exit 0 passes.'),
        args: z.array(z.string()).prefault([]).describe('Its arguments; placeholders as for http.'),
        ...probeCommon,
      })
      .describe('Command probe.'),
  ])
  .describe(
    'A liveness probe in the manner of Kubernetes. It also serves readiness: a restarted worker with probes is ready once every probe has passed.',
  )

const Replicas = z
  .union([
    z.number().int().min(1),
    z.strictObject({
      min: z.number().int().min(1).describe('Workers the pool never goes below.'),
      max: z.number().int().min(1).describe('Workers scale recovery may grow the pool to.'),
    }),
  ])
  .transform((v, ctx) => {
    const r = typeof v === 'number' ? { min: v, max: v } : v
    if (r.max < r.min) {
      ctx.addIssue({ code: 'custom', message: `expected max ≥ min, got min ${r.min} and max ${r.max}` })
      return z.NEVER
    }
    return r
  })
  .describe('How many workers: a number, or { min, max }. The pool starts min workers.')

export const PoolSchema = z
  .strictObject({
    command: z.string().min(1).describe('Executable to run, found on PATH or relative to cwd.'),
    args: z.array(z.string()).prefault([]).describe('Arguments, passed without a shell.'),
    cwd: z
      .string()
      .optional()
      .describe('Working directory, relative to the config file. Default: the config file’s directory.'),
    env: z
      .record(z.string(), envValue)
      .prefault({})
      .describe(
        'Extra environment variables. Workers also get SHEPHERD_WORKER_ID, SHEPHERD_POOL, SHEPHERD_INDEX, SHEPHERD_HEARTBEAT_MS and, with port set, PORT.',
      ),
    replicas: Replicas.prefault(1),
    spares: z
      .number()
      .int()
      .min(0)
      .prefault(0)
      .describe(
        'Warm spares: workers kept started and ready but idle. A spare takes a dead worker’s place at once and a new spare starts in the background.',
      ),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('Base port. Each live process of the pool gets PORT = port + the lowest free offset.'),
    stop_timeout: duration()
      .prefault(30)
      .describe(
        'Time between SIGTERM and SIGKILL. 30 s lets real work drain (PM2’s 1.6 s default kills jobs mid-way; Kubernetes also uses 30 s).',
      ),
    hang_timeout: duration({ positive: true })
      .prefault(10)
      .describe(
        'A worker is hung when its SDK heartbeats stop, or its process stays stopped (SIGSTOP) or in uninterruptible sleep, for this long.',
      ),
    probes: z.array(ProbeSchema).prefault([]).describe('Liveness probes, all of which must pass.'),
    queue: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'expected a queue name of letters, digits, "_", "." or "-"')
      .optional()
      .describe(
        'The queue whose jobs this pool works on (through the worker SDK’s work() or the JSON-lines protocol).',
      ),
    concurrency: z.number().int().min(1).prefault(1).describe('Jobs a worker of this pool holds at once.'),
    recovery: z
      .strictObject(optionalAll(recoveryFields()))
      .optional()
      .describe('Overrides of the top-level recovery block.'),
    thresholds: z
      .strictObject(optionalAll(thresholdFields()))
      .optional()
      .describe('Overrides of the top-level thresholds block.'),
    strategies: z
      .strictObject(optionalAll(strategyFields()))
      .optional()
      .describe('Overrides of the top-level strategies block.'),
  })
  .describe('A pool of identical workers.')

export const QueueSchema = z
  .strictObject({
    max_attempts: z
      .number()
      .int()
      .min(1)
      .prefault(3)
      .describe('Deliveries a job gets before a handler error dead-letters it (an enqueue may set its own).'),
    retry_delay: duration()
      .prefault(1)
      .describe('Delay before the first retry after an error; doubles each time.'),
    max_retry_delay: duration().prefault('5m').describe('Cap on the retry delay.'),
    timeout: duration({ positive: true })
      .optional()
      .describe(
        'A delivery running longer fails (and counts as an attempt); its worker is suspect. Default: no limit.',
      ),
    poison_threshold: z
      .number()
      .int()
      .min(1)
      .prefault(3)
      .describe(
        'A job in flight in this many worker crashes or hangs is quarantined, not retried: the commonest restart loop, stopped.',
      ),
    keep_done: duration()
      .prefault('24h')
      .describe('Finished jobs are kept this long (for counts, throughput and idempotency), then deleted.'),
  })
  .describe('Settings of one queue.')

const WebhookSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }).describe('URL that receives each event as a JSON POST.'),
    min_severity: z
      .enum(SEVERITIES)
      .prefault('info')
      .describe('Events below this severity are not sent here.'),
    headers: z
      .record(z.string(), z.string())
      .prefault({})
      .describe('Extra HTTP headers, e.g. an Authorization token.'),
  })
  .describe('A generic webhook.')

export const ConfigSchema = z
  .strictObject({
    recovery: RecoveryFull.prefault({}),
    thresholds: ThresholdsFull.prefault({}),
    strategies: StrategiesFull.prefault({}),
    api: z
      .strictObject({
        host: z
          .enum(['127.0.0.1', '::1', 'localhost'])
          .prefault('127.0.0.1')
          .describe('Address of the control API. Loopback only: the API has no authentication yet.'),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .prefault(7717)
          .describe('Port of the control API (0 picks a free one).'),
      })
      .prefault({})
      .describe('The HTTP control API the CLI talks to.'),
    store: z
      .strictObject({
        path: z.string().min(1).prefault('shepherd.db').describe('SQLite file, relative to the config file.'),
        event_retention: duration({ positive: true })
          .prefault('30d')
          .describe('Events older than this are pruned (hourly). Incidents are kept.'),
      })
      .prefault({})
      .describe('Where incidents, events and worker state are kept.'),
    logs: z
      .strictObject({
        dir: z
          .string()
          .min(1)
          .prefault('logs')
          .describe('Directory for per-pool worker logs, relative to the config file.'),
        max_size: size().prefault('10MB').describe('A pool’s log file is rotated when it reaches this size.'),
        max_files: z
          .number()
          .int()
          .min(1)
          .prefault(5)
          .describe('Rotated files kept per pool; older ones are deleted.'),
        tail_lines: z
          .number()
          .int()
          .min(0)
          .prefault(50)
          .describe('Last lines kept in memory per worker and saved into an incident.'),
      })
      .prefault({})
      .describe('Capture of worker stdout and stderr. Bounded: at most max_size × (max_files + 1) per pool.'),
    log: z
      .strictObject({
        level: z.enum(LOG_LEVELS).prefault('info').describe('Level of the supervisor’s own log.'),
        format: z
          .enum(['json', 'pretty'])
          .prefault('json')
          .describe('json: one JSON object a line; pretty: for people.'),
      })
      .prefault({})
      .describe('The supervisor’s own structured log, on stdout.'),
    notifications: z
      .strictObject({
        slack: z
          .strictObject({
            webhook_url: z.url({ protocol: /^https?$/ }).describe('Slack incoming-webhook URL.'),
            min_severity: z
              .enum(SEVERITIES)
              .prefault('info')
              .describe(
                'Events below this severity are not sent to Slack. info sends recoveries too; warning sends openings, revivals and escalations; critical only escalations.',
              ),
          })
          .optional()
          .describe('Slack incoming webhook.'),
        webhooks: z.array(WebhookSchema).prefault([]).describe('Generic webhooks.'),
        rate_limit: z
          .strictObject({
            max: z.number().int().min(1).prefault(5).describe('Messages per worker per window.'),
            window: duration({ positive: true }).prefault('10m').describe('The window.'),
          })
          .prefault({})
          .describe(
            'Per worker and destination; escalations always pass. Suppressed messages are counted in the next one.',
          ),
        dedup_window: duration()
          .prefault('5m')
          .describe('The same event (type, worker, cause) is sent once per window per destination.'),
        retries: z
          .number()
          .int()
          .min(0)
          .prefault(3)
          .describe('Retries of a failed delivery, with exponential backoff.'),
        timeout: duration({ positive: true }).prefault(5).describe('Timeout of one delivery.'),
      })
      .prefault({})
      .describe('Where incidents, recoveries and escalations are sent. The JSON log always receives them.'),
    queues: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a queue name of letters, digits, "_", "." or "-"'),
        QueueSchema,
      )
      .prefault({})
      .describe(
        'Queue settings by name. A queue that a pool or an enqueue names without an entry here gets the defaults.',
      ),
    workers: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a pool name of letters, digits, "_", "." or "-"'),
        PoolSchema,
      )
      .refine((pools) => Object.keys(pools).length > 0, 'expected at least one pool')
      .describe('The pools, by name.'),
  })
  .describe('A Shepherd config file.')

export type ConfigInput = z.input<typeof ConfigSchema>
export type Config = z.output<typeof ConfigSchema>
export type PoolConfig = Config['workers'][string]
export type ProbeConfig = z.output<typeof ProbeSchema>
export type QueueConfig = z.output<typeof QueueSchema>
export type { Strategy } from '../core/strategy.js'
export type Severity = (typeof SEVERITIES)[number]
export type RecoverySettings = Config['recovery']
export type ThresholdSettings = Config['thresholds'] & { memory_limit_mb: number }
export type StrategySettings = Config['strategies']
