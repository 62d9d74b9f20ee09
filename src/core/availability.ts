/**
 * Availability of a pool: the share of observed time during which it was at full strength (at
 * least replicas.min workers serving). Pure: the supervisor feeds it the time of each change.
 * @module
 */

export interface Availability {
  /** Time observed, ms. */
  observedMs: number
  /** Time at full strength, ms. */
  fullMs: number
  /** When the last change was noted, and whether the pool was at full strength since then. */
  since: number
  full: boolean
}

export function startAvailability(now: number, full: boolean): Availability {
  return { observedMs: 0, fullMs: 0, since: now, full }
}

/** Accrues the time since the last note, then records whether the pool is at full strength now. */
export function noteAvailability(a: Availability, now: number, full: boolean): Availability {
  const elapsed = Math.max(0, now - a.since)
  return {
    observedMs: a.observedMs + elapsed,
    fullMs: a.fullMs + (a.full ? elapsed : 0),
    since: Math.max(a.since, now),
    full,
  }
}

/** The ratio at `now`, counting the time since the last note; 1 before any time was observed. */
export function availabilityRatio(a: Availability, now: number): number {
  const current = noteAvailability(a, now, a.full)
  return current.observedMs === 0 ? 1 : current.fullMs / current.observedMs
}
