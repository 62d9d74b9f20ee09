/**
 * Queue-driven scaling of a pool: out one worker at a time while the backlog is above queue_size
 * and replicas.max allows; back in one worker at a time once the backlog has stayed at or below
 * queue_size for the cool-down, never below replicas.min. Pure: time comes in as `now`.
 * @module
 */

export interface ScaleState {
  /** Since when the backlog has been at or below queue_size (null while it is above). */
  lowSince: number | null
}

export const FRESH_SCALE: ScaleState = { lowSince: null }

export interface ScaleInput {
  backlog: number
  queueSize: number
  replicas: { min: number; max: number }
  /** Workers the pool has now (slots, not spares). */
  current: number
  /** How long the backlog must stay low before one worker is retired. */
  cooldownMs: number
}

export type ScaleAction = 'out' | 'in' | 'none'

export interface ScaleDecision {
  action: ScaleAction
  reason: string
  state: ScaleState
}

export function decideScale(s: ScaleState, i: ScaleInput, now: number): ScaleDecision {
  if (i.backlog > i.queueSize) {
    const state: ScaleState = { lowSince: null }
    if (i.current < i.replicas.max) {
      return { action: 'out', reason: `backlog ${i.backlog} > queue_size ${i.queueSize}`, state }
    }
    return {
      action: 'none',
      reason: `backlog ${i.backlog} > queue_size ${i.queueSize}, at replicas.max ${i.replicas.max}`,
      state,
    }
  }
  const lowSince = s.lowSince ?? now
  if (i.current > i.replicas.min && now - lowSince >= i.cooldownMs) {
    // The next retirement waits a whole cool-down again.
    return {
      action: 'in',
      reason: `backlog ≤ ${i.queueSize} for ${Math.round((now - lowSince) / 1000)} s`,
      state: { lowSince: now },
    }
  }
  return { action: 'none', reason: 'backlog low', state: { lowSince } }
}

/** How many recent throughput readings make the baseline. */
export const BASELINE_READINGS = 10

/**
 * Adds a reading of jobs per minute and returns the baseline it is judged against: the mean of the
 * readings before it (so a sudden drop does not lower its own baseline), and the kept history.
 */
export function throughputBaseline(
  history: readonly number[],
  perMinute: number,
): { baseline: number; history: number[] } {
  const baseline = history.length === 0 ? perMinute : history.reduce((a, b) => a + b, 0) / history.length
  const next = [...history, perMinute]
  if (next.length > BASELINE_READINGS) next.splice(0, next.length - BASELINE_READINGS)
  return { baseline, history: next }
}
