/**
 * Availability of pools over a period, replayed from the events in the store: the share of the
 * time the supervisor ran during which each pool had at least replicas.min workers ready or
 * degraded. Pure: it is given the events, the pools and the period.
 *
 * The replay follows the supervisor's own bookkeeping (core/availability.ts) from the outside:
 * - `supervisor:started` begins a run; every slot starts again in `starting` (not serving).
 * - `worker:state` moves one slot; `ready` and `degraded` serve, every other state does not.
 * - `supervisor:stopping` ends the run.
 * - A run that ends without `supervisor:stopping` (the supervisor was killed, or the machine went
 *   down) is taken to have ended at its last recorded event, since nothing says it ran longer;
 *   the run going on now (`runningNow`) extends to the end of the period.
 * Time the supervisor did not run is not observed: it counts neither for nor against a pool.
 * @module
 */
import type { Period } from './types.js'

/** The events the replay reads (others are ignored); `at` is epoch ms, and they come oldest first. */
export interface AvailabilityEvent {
  type: string
  at: number
  pool: string | null
  workerId: string | null
  data: unknown
}

/** A pool as the replay needs it. */
export interface AvailabilityPool {
  name: string
  /** replicas.min: the pool is at full strength with this many workers serving. */
  minReplicas: number
}

/** Time observed and time at full strength of one pool, ms. */
export interface PoolAvailability {
  observedMs: number
  fullMs: number
  /** fullMs / observedMs, or null when nothing was observed. */
  ratio: number | null
}

/** The event types {@link replayAvailability} reads. */
export const AVAILABILITY_EVENT_TYPES = ['supervisor:started', 'supervisor:stopping', 'worker:state'] as const

/**
 * Replays `events` over `period` and returns each pool's availability, by pool name.
 * @param runningNow - whether the last run is still going (a supervisor answers): it then lasts
 *   to the end of the period, rather than to its last event.
 * @example
 * ```ts
 * const a = replayAvailability(events, [{ name: 'email', minReplicas: 2 }], { from, to }, true)
 * a.get('email') // { observedMs: 86_400_000, fullMs: 86_337_000, ratio: 0.99927 }
 * ```
 */
export function replayAvailability(
  events: readonly AvailabilityEvent[],
  pools: readonly AvailabilityPool[],
  period: Period,
  runningNow: boolean,
): Map<string, PoolAvailability> {
  const tracked = new Map(
    pools.map((p) => [p.name, { min: p.minReplicas, serving: new Set<string>(), observed: 0, full: 0 }]),
  )
  let runStart: number | null = null
  let last = -Infinity

  /** Accrues [from, to) clipped to the period, for every pool, as it stands. */
  const accrue = (from: number, to: number): void => {
    const a = Math.max(from, period.from)
    const b = Math.min(to, period.to)
    if (b <= a) return
    for (const p of tracked.values()) {
      p.observed += b - a
      if (p.serving.size >= p.min) p.full += b - a
    }
  }
  const endRun = (at: number): void => {
    runStart = null
    for (const p of tracked.values()) p.serving.clear()
    last = at
  }

  for (const e of events) {
    // Events are in store order; a clock that stepped back must not make a negative span.
    const at = Math.max(e.at, last)
    if (e.type === 'supervisor:started') {
      // A run without its stopping event died at its last event: the span since is not observed.
      if (runStart !== null) endRun(last)
      runStart = at
      last = at
      continue
    }
    if (runStart !== null) accrue(last, at)
    last = at
    switch (e.type) {
      case 'supervisor:stopping':
        if (runStart !== null) endRun(at)
        break
      case 'worker:state': {
        if (runStart === null || e.pool === null || e.workerId === null) break
        const p = tracked.get(e.pool)
        if (!p) break
        const to = (e.data as { to?: unknown }).to
        if (to === 'ready' || to === 'degraded') p.serving.add(e.workerId)
        else p.serving.delete(e.workerId)
        break
      }
      default:
        break
    }
  }
  if (runStart !== null && runningNow) accrue(last, period.to)

  const out = new Map<string, PoolAvailability>()
  for (const [name, p] of tracked) {
    out.set(name, {
      observedMs: p.observed,
      fullMs: p.full,
      ratio: p.observed === 0 ? null : p.full / p.observed,
    })
  }
  return out
}
