/**
 * Dispatch: which of a queue's ready workers get the jobs that are due, and how many each.
 *
 * - **Spread.** Jobs go one at a time to the least loaded worker (fewest deliveries in hand); among
 *   equally loaded ones, to the one given a job least recently. Under a light load every worker
 *   takes its turn, so each one shows it can work (a worker with a broken dependency fails at once,
 *   not the day the load rises), and a burst runs on every process rather than queueing in one.
 * - **Concurrency first, prefetch after.** Every worker is filled up to its concurrency before any
 *   is sent jobs ahead (prefetch); a job prefetched by a busy worker while another worker sits idle
 *   would only wait.
 * - **Prefetch where it pays**: for short jobs only (see {@link prefetchAllowance}), where the round
 *   trip through the supervisor between two jobs would otherwise cost as much as a job. A claim
 *   brings at most half a batch ahead and the next one follows at once, so the store answers one
 *   claim while the worker runs the jobs of the last (a worker that drains a whole batch in one go
 *   would otherwise sit idle for every claim). A worker that holds a full batch ahead is refilled
 *   once half of it is used: fewer, larger claims.
 * - **Suspects run alone.** A job that was in flight in a worker crash goes only to a worker that
 *   holds nothing (its claim is `alone`: one suspect if one is due, else jobs never in a crash), and
 *   that worker gets nothing else until it is done. A further crash is then the suspect's own.
 *
 * Pure: the caller says what each worker holds and how many jobs are due; nothing here reads a
 * clock.
 * @module
 */

/** A ready worker of one queue, as dispatch sees it. */
export interface Taker {
  /** Deliveries it holds: running, or prefetched and waiting to start. */
  inFlight: number
  /** Jobs it runs at once. */
  concurrency: number
  /** Deliveries it may hold beyond its concurrency (0: none); see {@link prefetchAllowance}. */
  prefetch: number
  /** When it was last given jobs, as an order (greater is more recent; 0: never). */
  lastGiven: number
  /** It holds a job that was in flight in a worker crash: that job runs alone. */
  holdsSuspect: boolean
}

/** Which jobs a worker's claim may take: see the module header (the JobStore's SuspectRule). */
export type SuspectClaim = 'alone' | 'exclude'

/** What one worker is given this turn. */
export interface Share {
  /** Jobs to claim for it (0: none this turn). */
  take: number
  suspects: SuspectClaim
}

/**
 * How many jobs the worker would take now (0: it asks for none this turn). A worker holding a
 * suspect asks for nothing; one with free slots asks for what it has room for, up to its
 * concurrency and half a batch ahead; one that is full but prefetches asks once it has room for
 * half a batch.
 */
export function openings(t: Taker): number {
  if (t.holdsSuspect) return 0
  const free = t.concurrency + t.prefetch - t.inFlight
  const half = Math.ceil(t.prefetch / 2)
  const wanted = t.prefetch > 0 && t.inFlight >= t.concurrency ? half : 1
  return free >= wanted ? Math.min(free, t.concurrency + half) : 0
}

/**
 * Shares `due` jobs among the takers (one share each, in their order). `due` may be larger than
 * what they can take, or Infinity when it was not counted: each then gets all it asks for.
 *
 * @example
 * // Three idle workers of concurrency 2, four jobs due: 2, 1, 1 (never 2, 2, 0).
 * spreadJobs([idle, idle, idle], 4).map((s) => s.take)
 */
export function spreadJobs(takers: readonly Taker[], due: number): Share[] {
  const open = takers.map(openings)
  const given = takers.map(() => 0)
  // Within the turn, a worker just given a job is the most recent: later than any lastGiven.
  const order = takers.map((t) => t.lastGiven)
  let newest = Math.max(0, ...order)
  let left = due
  // Up to concurrency, then up to concurrency + prefetch.
  for (const limit of [(t: Taker) => t.concurrency, (t: Taker) => t.concurrency + t.prefetch]) {
    const room = takers.map((t, i) =>
      Math.max(0, Math.min(open[i]! - given[i]!, limit(t) - t.inFlight - given[i]!)),
    )
    const total = room.reduce((a, b) => a + b, 0)
    if (left >= total) {
      // Enough for everyone: no need to choose.
      room.forEach((r, i) => (given[i]! += r))
      left -= total
      continue
    }
    for (; left > 0; left--) {
      let best = -1
      for (let i = 0; i < takers.length; i++) {
        if (room[i] === 0) continue
        if (best < 0 || before(takers, given, order, i, best)) best = i
      }
      given[best]!++
      room[best]!--
      order[best] = ++newest
    }
  }
  return takers.map((t, i) => ({
    take: given[i]!,
    suspects: t.inFlight === 0 ? 'alone' : 'exclude',
  }))
}

/** Whether taker i comes before taker j: less loaded, then given a job less recently, then listed first. */
function before(takers: readonly Taker[], given: number[], order: number[], i: number, j: number): boolean {
  const li = takers[i]!.inFlight + given[i]!
  const lj = takers[j]!.inFlight + given[j]!
  if (li !== lj) return li < lj
  return order[i]! < order[j]!
}

/**
 * Short jobs are sent a batch ahead: a worker whose recent jobs took under PREFETCH_BELOW_MS on
 * average may hold extra deliveries, so that it starts its next job the moment it finishes one
 * instead of waiting for a round trip through the supervisor (and its store). The batch covers
 * about PREFETCH_BELOW_MS of the worker's work at its recent pace (concurrency × that time over the
 * average job time), at least as many as it runs at once (and PREFETCH_MIN), at most PREFETCH_MAX:
 * tiny jobs come hundreds at a time, in few, large claims, and none waits in a worker much longer
 * than the longest job that is prefetched at all. Long jobs are not prefetched: one would wait in a
 * busy worker while another sits idle. Prefetched jobs a worker never started are released,
 * counting nothing, when it stops gracefully, and are not counted as in flight when it crashes.
 */
export const PREFETCH_BELOW_MS = 50
export const PREFETCH_MIN = 8
export const PREFETCH_MAX = 1024

/** Deliveries a worker may hold beyond its concurrency, from its average job time (null: no job yet). */
export function prefetchAllowance(avgJobMs: number | null, concurrency: number): number {
  if (avgJobMs === null || avgJobMs >= PREFETCH_BELOW_MS) return 0
  const least = Math.max(PREFETCH_MIN, concurrency)
  const covering = Math.ceil((concurrency * PREFETCH_BELOW_MS) / Math.max(avgJobMs, 0.01))
  return Math.max(least, Math.min(PREFETCH_MAX, covering))
}

/** The new average job time: exponentially weighted, so one slow job does not switch prefetch off alone. */
export function averageJobMs(avgJobMs: number | null, ms: number): number {
  return avgJobMs === null ? ms : avgJobMs * 0.8 + ms * 0.2
}
