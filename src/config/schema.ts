/**
 * The one config schema. It validates files, types the parsed config, and is what
 * docs/config.md prints (scripts/gen-config-docs.ts). Keys are snake_case as in the plan's
 * `config/worker_recovery.yaml`; durations are written in seconds or with a unit and parsed to
 * milliseconds; sizes are parsed to bytes. Every object is strict: an unknown key is an error.
 *
 * The larger sections are written in their own modules and composed here: the plan's recovery,
 * thresholds and strategies (policy-schema.ts), the API (api-schema.ts), pools and their probes
 * (pool-schema.ts), queues (queue-schema.ts), notifications, reports and hooks
 * (notifications-schema.ts). Import the schema and its names from here.
 * @module
 */
import { z } from 'zod'

import { STRATEGIES } from '../core/strategy.js'
import { ApiSchema } from './api-schema.js'
import { NodeSchema } from './node-schema.js'
import { HookSchema, NotificationsSchema, ReportsSchema, SEVERITIES } from './notifications-schema.js'
import { RecoveryFull, StrategiesFull, ThresholdsFull } from './policy-schema.js'
import { PoolSchema, type ProbeSchema } from './pool-schema.js'
import { QueueSchema } from './queue-schema.js'
import { StoreSchema } from './store-schema.js'
import { size } from './units.js'

export { apiTokenProblem, DEFAULT_MAX_EVENT_CLIENTS, MIN_API_TOKEN_LENGTH } from './api-schema.js'
export { HookSchema, SEVERITIES } from './notifications-schema.js'
export { RECOVERY_DEFAULTS, STRATEGY_DEFAULTS, THRESHOLD_DEFAULTS } from './policy-schema.js'
export { MAX_REPLICAS, PoolSchema, ProbeSchema } from './pool-schema.js'
export { QueueSchema } from './queue-schema.js'
export { StoreSchema, type StoreTarget } from './store-schema.js'
export { STRATEGIES }
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const

export const ConfigSchema = z
  .strictObject({
    recovery: RecoveryFull.prefault({}),
    thresholds: ThresholdsFull.prefault({}),
    strategies: StrategiesFull.prefault({}),
    api: ApiSchema,
    store: StoreSchema,
    node: NodeSchema,
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
    notifications: NotificationsSchema,
    reports: ReportsSchema,
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
