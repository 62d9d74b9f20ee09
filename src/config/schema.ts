/**
 * The one config schema. It validates files, types the parsed config, and is what
 * docs/config.md prints (scripts/gen-config-docs.ts). Keys are snake_case as in the plan's
 * `config/worker_recovery.yaml`; durations are written in seconds or with a unit and parsed to
 * milliseconds; sizes are parsed to bytes. Every object is strict: an unknown key is an error.
 * @module
 */
import { isIP } from 'node:net'

import { z } from 'zod'

import { EVENT_TYPES, isEventPattern } from '../core/events.js'
import { STRATEGIES } from '../core/strategy.js'
import { LOCALES } from './locales.js'
import { duration, LONG_DURATION_LIMIT, size } from './units.js'
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
        max: z.number().int().min(1).describe('Restarts of one worker allowed in the window.'),
        window: duration({ positive: true }).describe('The sliding window.'),
      })
      .describe(
        "Each worker's restart intensity (as in Erlang/OTP supervisors): more than `max` restarts of one worker within `window`, none of them after a run of stable_after, escalates instead of restarting again. A worker that ran for stable_after and then fails has a new fault, not a loop: its count starts again from zero, so independent faults (an OOM killer taking 50 workers at once, one stable worker lost every few seconds) are recovered however many there are.",
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

/**
 * Shortest API token accepted. 24 random characters of base64 carry 144 bits, beyond any guessing
 * over the network; a shorter value is most likely a word or a password someone will reuse.
 */
export const MIN_API_TOKEN_LENGTH = 24

/**
 * Clients of `GET /api/events` at once, by default: a dashboard in a few tabs for each of a team's
 * operators and some tools, with room to spare. Each client costs a socket and up to 256 KiB of
 * events it has not read yet (event-broadcaster.ts); a bound keeps a page left open in hundreds of
 * tabs, or a script that connects in a loop, from costing the supervisor more.
 */
export const DEFAULT_MAX_EVENT_CLIENTS = 100

/**
 * What is wrong with an API token, or null when it will do. The value itself is never quoted: it
 * is a secret, and the message goes to a terminal or a log. The environment variables that
 * override `api.token` and `api.read_token` are held to the same rules (src/http/auth.ts).
 */
export function apiTokenProblem(token: string): string | null {
  if (token.length < MIN_API_TOKEN_LENGTH)
    return `expected a token of at least ${MIN_API_TOKEN_LENGTH} characters (e.g. the output of \`openssl rand -base64 32\`), got ${token.length} characters`
  if (!/^[\x21-\x7e]+$/.test(token))
    return 'expected printable ASCII without spaces (the token travels in an HTTP header), got other characters'
  return null
}

const apiToken = z.string().superRefine((token, ctx) => {
  const problem = apiTokenProblem(token)
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem })
})

/** RFC 1123 hostname: dot-separated labels of letters, digits and inner hyphens. */
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/

const apiHost = z.string().superRefine((host, ctx) => {
  // All digits and dots is meant as an IPv4 address (999.1.1.1), not a hostname.
  if (isIP(host) !== 0 || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host))) return
  const hint = /^\[.*\]$/.test(host) ? ' (write an IPv6 address without brackets)' : ''
  ctx.addIssue({
    code: 'custom',
    message: `expected a hostname or an IP address${hint}, got ${JSON.stringify(host)}`,
  })
})

/** An env value. load.ts hands over a number or boolean as its source text; one from code is stringified. */
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

/**
 * Most workers (and, apart, most warm spares) one pool may have. Each is a process with its pipes,
 * /proc samples and timers; far past any one host's sensible count, and a typo such as 50000 is
 * refused rather than tried.
 */
export const MAX_REPLICAS = 1000

const workerCount = () => z.number().int().min(1).max(MAX_REPLICAS)

const Replicas = z
  .union([
    workerCount(),
    z.strictObject({
      min: workerCount().describe('Workers the pool never goes below.'),
      max: workerCount().describe('Workers scale recovery may grow the pool to.'),
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
    args: z
      .array(z.string())
      .prefault([])
      .describe('Arguments, passed as they are (without a shell; with shell: true, as $1, $2, …).'),
    shell: z
      .boolean()
      .prefault(false)
      .describe(
        'Run command through /bin/sh -c (pipes, redirections, $VARS), with args as $1, $2, …. Off by default: without a shell nothing in command or args is ever interpreted. Turn it on only for a command string you wrote yourself (docs/security.md).',
      ),
    cwd: z
      .string()
      .optional()
      .describe('Working directory, relative to the config file. Default: the config file’s directory.'),
    env: z
      .record(z.string(), envValue)
      .prefault({})
      .describe(
        'Extra environment variables, given to the worker as the file writes them: `01234`, `1.10`, `0x1F` and 12345678901234567890 stay those characters (YAML alone would read numbers: 1234, 1.1, 31, digits lost). An empty value is written "". Workers also get SHEPHERD_WORKER_ID, SHEPHERD_POOL, SHEPHERD_INDEX, SHEPHERD_HEARTBEAT_MS and, with port set, PORT.',
      ),
    replicas: Replicas.prefault(1),
    spares: z
      .number()
      .int()
      .min(0)
      .max(MAX_REPLICAS)
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
    retry_delay: duration({ max: LONG_DURATION_LIMIT })
      .prefault(1)
      .describe('Delay before the first retry after an error; doubles each time.'),
    max_retry_delay: duration({ max: LONG_DURATION_LIMIT })
      .prefault('5m')
      .describe('Cap on the retry delay.'),
    timeout: duration({ positive: true, max: LONG_DURATION_LIMIT })
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
    keep_done: duration({ max: LONG_DURATION_LIMIT })
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

const eventPattern = z.string().superRefine((pattern, ctx) => {
  if (isEventPattern(pattern)) return
  ctx.addIssue({
    code: 'custom',
    message: `expected "*", an event type or a prefix ending in ":" (${[...new Set(EVENT_TYPES.map((t) => `${t.split(':')[0]!}:`))].join(', ')}), got ${JSON.stringify(pattern)}`,
  })
})

const hookRateLimit = z.strictObject({
  max: z.number().int().min(1).describe('Messages per worker per window.'),
  window: duration({ positive: true }).describe('The window.'),
})

/**
 * One event hook of `hooks:`: which events (by type and severity) and where they go, a URL or a
 * command. The notification dispatcher delivers to it (src/notify/dispatcher.ts).
 */
export const HookSchema = z
  .strictObject({
    events: z
      .array(eventPattern)
      .min(1)
      .describe(
        'Which events: "*" (all), event types ("incident:escalated") or prefixes ("incident:", "job:"). Unlike Slack and webhooks, a hook may take any event type (docs/notifications.md).',
      ),
    min_severity: z
      .enum(SEVERITIES)
      .prefault('info')
      .describe('Events below this severity are not sent to this hook.'),
    url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe(
        'URL that receives each event as a JSON POST (the webhook body). Exactly one of url and command.',
      ),
    headers: z
      .record(z.string(), z.string())
      .optional()
      .describe('Extra HTTP headers of a url hook, e.g. an Authorization token.'),
    command: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Executable run once per event, without a shell, in the config file’s directory: the event JSON on stdin, SHEPHERD_EVENT_TYPE (and _SEVERITY, SHEPHERD_WORKER_ID, SHEPHERD_POOL, SHEPHERD_INCIDENT_ID) in its environment. Exit 0 delivers; anything else is a failed delivery, retried. Exactly one of url and command.',
      ),
    args: z.array(z.string()).optional().describe('Arguments of the command, passed as they are.'),
    timeout: duration({ positive: true })
      .optional()
      .describe(
        'Time limit of one delivery; a command still running then is killed (its process group). Default: notifications.timeout.',
      ),
    rate_limit: hookRateLimit
      .optional()
      .describe(
        'Per worker at this hook; escalations always pass. Default: notifications.rate_limit. A hook on "*" wants more than the default 5 per 10 minutes: one recovery is a dozen events.',
      ),
    dedup_window: duration()
      .optional()
      .describe('The same event is sent once per window at this hook. Default: notifications.dedup_window.'),
  })
  .superRefine((hook, ctx) => {
    const has = (k: 'url' | 'command') => hook[k] !== undefined
    if (has('url') === has('command')) {
      ctx.addIssue({
        code: 'custom',
        message: `expected exactly one of url and command, got ${has('url') ? 'both' : 'neither'}`,
      })
    }
    if (hook.headers !== undefined && !has('url'))
      ctx.addIssue({ code: 'custom', path: ['headers'], message: 'headers go with url, not command' })
    if (hook.args !== undefined && !has('command'))
      ctx.addIssue({ code: 'custom', path: ['args'], message: 'args go with command, not url' })
  })
  .describe('One event hook: a url or a command.')

export const ConfigSchema = z
  .strictObject({
    recovery: RecoveryFull.prefault({}),
    thresholds: ThresholdsFull.prefault({}),
    strategies: StrategiesFull.prefault({}),
    api: z
      .strictObject({
        host: apiHost
          .prefault('127.0.0.1')
          .describe(
            'Address the control API and the dashboard listen on: a hostname or an IP address. Anything but loopback (127.0.0.1, ::1, localhost), e.g. 0.0.0.0, requires api.token: without one the supervisor refuses to start.',
          ),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .prefault(7717)
          .describe('Port of the control API (0 picks a free one).'),
        allowed_hosts: z
          .array(z.string().regex(HOSTNAME, 'expected a host name such as shepherd.internal'))
          .max(100)
          .prefault([])
          .describe(
            "More host names the API and the dashboard answer to (a reverse proxy's, the machine's own name). IP addresses, localhost and api.host always work; a request for any other name is refused with 403, as a DNS rebinding attack from a web page would be.",
          ),
        max_event_clients: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .prefault(DEFAULT_MAX_EVENT_CLIENTS)
          .describe(
            'Clients of the event stream (GET /api/events, which the dashboard uses) at once; one more is answered 503 with Retry-After. A client that stops reading is dropped once 256 KiB of events waits for it.',
          ),
        token: apiToken
          .optional()
          .describe(
            `Bearer token of the control scope (every route). Once a token is set, every /api route and /metrics require one, on loopback too. At least ${MIN_API_TOKEN_LENGTH} characters: long enough that guessing is hopeless (\`openssl rand -base64 32\`). SHEPHERD_API_TOKEN overrides it; prefer the variable, so that the secret stays out of the file.`,
          ),
        read_token: apiToken
          .optional()
          .describe(
            'Bearer token of the read-only scope: GET and HEAD only, POST is refused with 403. Needs api.token. SHEPHERD_API_READ_TOKEN overrides it.',
          ),
      })
      .superRefine((api, ctx) => {
        if (api.read_token !== undefined && api.read_token === api.token) {
          ctx.addIssue({
            code: 'custom',
            path: ['read_token'],
            message: 'expected a token other than api.token: one token cannot have two scopes',
          })
        }
      })
      .prefault({})
      .describe('The HTTP control API the CLI and the dashboard talk to (docs/security.md).'),
    store: z
      .strictObject({
        path: z.string().min(1).prefault('shepherd.db').describe('SQLite file, relative to the config file.'),
        event_retention: duration({ positive: true, max: LONG_DURATION_LIMIT })
          .prefault('30d')
          .describe('Events older than this are pruned (hourly). Incidents are kept.'),
      })
      .prefault({})
      .describe('Where incidents, events and worker state are kept.'),
    containment: z
      .enum(['auto', 'process_groups'])
      .prefault('auto')
      .describe(
        'What holds everything a worker starts, so that nothing outlives it or the supervisor. auto: a cgroup v2 per worker where cgroup v2 is mounted writable (every descendant, setsid or not), else process groups; process_groups: process groups only. The log says which at start (docs/recovery.md#containment).',
      ),
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
              .prefault('warning')
              .describe(
                'Events below this severity are not sent to Slack. warning (the default) sends openings, revivals and escalations: what someone may need to act on; info sends every recovery too; critical only escalations.',
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
        locale: z
          .enum(LOCALES)
          .prefault('en')
          .describe(
            'Language of Slack messages: en (English) or ja (Japanese). Worker ids, causes, strategies and commands stay as they are.',
          ),
      })
      .prefault({})
      .describe('Where incidents, recoveries and escalations are sent. The JSON log always receives them.'),
    reports: z
      .strictObject({
        schedule: z
          .strictObject({
            every: duration({ min: 1000, max: LONG_DURATION_LIMIT })
              .prefault('24h')
              .describe(
                'Time between two reports (at least 1s; reports are meant for hours or days). With at, a whole number of days keeps each report at that local time of day across daylight-saving changes.',
              ),
            at: z
              .string()
              .regex(/^([01]?\d|2[0-3]):[0-5]\d$/, 'expected a local time of day "HH:MM", e.g. "09:00"')
              .optional()
              .describe(
                'Local time of day ("HH:MM", the supervisor’s time zone) the reports are anchored to. With every of a day or more, the first report comes at the next such time; shorter cycles run through it (every: 6h, at: "09:00" runs at 03:00, 09:00, 15:00, 21:00). Default: the first report comes `every` after the supervisor starts.',
              ),
            since: duration({ positive: true, max: LONG_DURATION_LIMIT })
              .optional()
              .describe('Period each report covers, ending when it is made. Default: every.'),
            format: z
              .enum(['md', 'json'])
              .prefault('md')
              .describe(
                'md: webhooks get the report as Markdown in `text` beside the JSON `report` (for chat bridges); json: the JSON report alone. Slack always gets a Slack message.',
              ),
            locale: z
              .enum(LOCALES)
              .optional()
              .describe(
                'Language of the Slack message and the Markdown: en or ja. Default: notifications.locale.',
              ),
            slack: z
              .boolean()
              .prefault(true)
              .describe('Send each report to notifications.slack (when it is set) as one Slack message.'),
            webhooks: z
              .boolean()
              .prefault(true)
              .describe(
                'POST each report to every notifications.webhooks URL as { type: "report", report }.',
              ),
          })
          .optional()
          .describe(
            'Reports the supervisor makes and sends on a schedule, with the retries and timeout of notifications. Absent: none (`shepherd report` works either way).',
          ),
      })
      .prefault({})
      .describe('Availability and incident reports (docs/reports.md).'),
    hooks: z
      .array(HookSchema)
      .prefault([])
      .describe(
        'Event hooks: any event, filtered by type and severity, POSTed to a URL or given to a command, with the retries, timeout and rate limit of notifications.',
      ),
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
/** One event hook, as parsed (durations in ms). */
export type HookConfig = z.output<typeof HookSchema>
export type { Strategy } from '../core/strategy.js'
export type Severity = (typeof SEVERITIES)[number]
export type RecoverySettings = Config['recovery']
export type ThresholdSettings = Config['thresholds'] & { memory_limit_mb: number }
export type StrategySettings = Config['strategies']
