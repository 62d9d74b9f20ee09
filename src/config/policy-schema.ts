/**
 * The plan's three blocks, `recovery`, `thresholds` and `strategies`: each field written once, with
 * its default at the top level and without one in a pool's overrides, so that the global value
 * shows through. A section of the one config schema (schema.ts).
 * @module
 */
import { z } from 'zod'

import { STRATEGIES } from '../core/strategy.js'
import { duration } from './units.js'

/**
 * The plan's `recovery` block plus the limits a supervisor needs to never loop forever. Each field
 * is written once; `full` gives it its default, `override` (per pool) leaves it unset so that the
 * global value shows through.
 */
export function recoveryFields() {
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

export function thresholdFields() {
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
    memory_trend_horizon: duration()
      .nullable()
      .describe(
        'Memory trend: a worker whose memory grows steadily and would reach memory_limit_mb within this horizon is restarted before it gets there (cause memory-trend, strategies.default), once the growth has come 40% of the way from where it started to the limit; memory that rises and falls with the work is left alone. It needs 4 checks of steady growth: a leak that fills the headroom within a few check_intervals is caught by the limit instead. 0 or null turns it off (the limit still applies). See docs/health.md.',
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

export function strategyFields() {
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
  // Five minutes: ahead of the limit by more than any graceful stop takes, within the 10 samples
  // (4.5 min at the default 30 s check_interval) the trend is fitted on, and short enough that a
  // drift that would take hours to reach the limit is a warning, not a restart.
  memory_trend_horizon: 300,
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

export function optionalAll<S extends z.ZodRawShape>(fields: S) {
  const shape: Record<string, z.ZodType> = {}
  for (const [key, schema] of Object.entries(fields)) shape[key] = (schema as z.ZodType).optional()
  return shape as { [K in keyof S]: z.ZodOptional<S[K]> }
}

export const RecoveryFull = z
  .strictObject(withDefaults(recoveryFields(), RECOVERY_DEFAULTS))
  .describe("The plan's recovery block.")
export const ThresholdsFull = z
  .strictObject(withDefaults(thresholdFields(), THRESHOLD_DEFAULTS))
  .describe("The plan's thresholds block.")
export const StrategiesFull = z
  .strictObject(withDefaults(strategyFields(), STRATEGY_DEFAULTS))
  .describe("The plan's strategies block.")
