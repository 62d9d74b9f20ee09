/**
 * Restart policy: which strategy serves an anomaly, how long to wait before a restart, and when a
 * worker has restarted too often without running stably and must be escalated instead (Erlang/OTP's
 * intensity and period, per worker).
 * Pure: time and randomness come in as arguments.
 * @module
 */
import type { Strategy } from './strategy.js'

/** What makes an anomaly ordinary or severe. */
export const ANOMALY_CAUSES = {
  crash: 'ordinary',
  'spawn-failed': 'ordinary',
  memory: 'ordinary',
  'memory-trend': 'ordinary',
  'error-rate': 'ordinary',
  probe: 'ordinary',
  'start-timeout': 'ordinary',
  external: 'ordinary',
  manual: 'ordinary',
  hang: 'severe',
  stopped: 'severe',
  uninterruptible: 'severe',
  zombies: 'severe',
  'stale-delivery': 'severe',
} as const

export type AnomalyCause = keyof typeof ANOMALY_CAUSES
export type AnomalySeverity = (typeof ANOMALY_CAUSES)[AnomalyCause]

export function severityOf(cause: AnomalyCause): AnomalySeverity {
  return ANOMALY_CAUSES[cause]
}

export interface StrategyChoice {
  default: Strategy
  emergency: Strategy
}

/**
 * Attempt 1 of an ordinary anomaly uses the default strategy; severe anomalies, and every retry
 * after a failed attempt, use the emergency strategy. A manual restart names its own.
 */
export function chooseStrategy(
  cause: AnomalyCause,
  attempt: number,
  strategies: StrategyChoice,
  requested?: Strategy,
): Strategy {
  if (attempt > 1) return strategies.emergency
  if (requested) return requested
  return severityOf(cause) === 'severe' ? strategies.emergency : strategies.default
}

export interface BackoffSettings {
  /** Base delay, ms. */
  retry_delay: number
  /** Cap, ms. */
  max_retry_delay: number
  /** 0..1: share of the delay that is randomised either way. */
  jitter: number
}

/**
 * Delay before the restart that follows `consecutive` earlier restarts without the worker becoming
 * stable: 0 for the first (a crash is restarted at once), then retry_delay × 2^(n-1), capped,
 * scaled by a jitter factor in [1 - jitter, 1 + jitter] and capped again.
 */
export function backoffDelay(consecutive: number, s: BackoffSettings, random: () => number): number {
  if (consecutive <= 0) return 0
  const exp = Math.min(consecutive - 1, 30)
  const base = Math.min(s.max_retry_delay, s.retry_delay * 2 ** exp)
  const factor = 1 + s.jitter * (2 * random() - 1)
  return Math.max(0, Math.round(Math.min(s.max_retry_delay, base * factor)))
}

/** A worker's restarts since it was last stable. */
export interface RestartHistory {
  consecutive: number
  lastRestartAt: number | null
}

export const EMPTY_HISTORY: RestartHistory = { consecutive: 0, lastRestartAt: null }

/**
 * Backoff resets once the worker has run for stable_after: a worker that crashes once a day starts
 * from zero every time, one that crashes every few seconds backs off further each time.
 */
export function effectiveHistory(h: RestartHistory, uptimeMs: number, stableAfterMs: number): RestartHistory {
  return uptimeMs >= stableAfterMs ? EMPTY_HISTORY : h
}

export function noteRestart(h: RestartHistory, now: number): RestartHistory {
  return { consecutive: h.consecutive + 1, lastRestartAt: now }
}

export interface RestartLimit {
  max: number
  /** ms */
  window: number
}

/**
 * Restarts (of one worker) within the window ending now. A clock that jumped backwards makes some
 * timestamps lie in the future; they still count, so a clock step never frees the budget early.
 */
export function restartsInWindow(times: readonly number[], now: number, limit: RestartLimit): number {
  const from = now - limit.window
  let n = 0
  for (const t of times) if (t > from) n++
  return n
}

/** True when one more restart would exceed the worker's restart intensity. */
export function restartBudgetExhausted(times: readonly number[], now: number, limit: RestartLimit): boolean {
  return restartsInWindow(times, now, limit) >= limit.max
}

/** Drops timestamps no window can count again, to keep the list small. */
export function pruneRestartTimes(times: readonly number[], now: number, limit: RestartLimit): number[] {
  const from = now - limit.window
  return times.filter((t) => t > from)
}

/**
 * Whether a failed worker's revive attempt `attempts` (1-based, all failed so far) is one to tell
 * people about: the 2nd, 4th, 8th, 16th… A worker that stays broken has paged once, at its
 * escalation; after that it is reported on an interval that doubles, not at every attempt.
 */
export function stillFailingDigestDue(attempts: number): boolean {
  return attempts >= 2 && (attempts & (attempts - 1)) === 0
}
