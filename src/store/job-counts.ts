/**
 * How the counts of a queue (QueueCounts) are made from the numbers an adapter reads: per state,
 * then, for a queue with waiting jobs, how many of them are delayed and how many wait for a retry
 * and how old the oldest due one is, and the last minute's throughput. Apart from any adapter, so
 * that the SQLite adapter and a PostgreSQL one count alike; each reads the numbers its own way.
 * @module
 */
import type { JobState } from '../core/job.js'
import { type QueueCounts, zeroCounts } from '../ports/job-store.js'

/** The numbers {@link countQueues} asks an adapter for, read in one transaction. */
export interface CountSource {
  /** Jobs per state and queue (of `queue` only, when given). */
  states(queue: string | undefined): { state: JobState; queue: string; n: number }[]
  /** Waiting jobs of the queue not due at `now`. */
  delayed(queue: string, now: number): number
  /** Waiting jobs of the queue after at least one error. */
  failed(queue: string): number
  /** The least created_at among the queue's due jobs, or null for none. */
  oldestDue(queue: string, now: number): number | null
  /** Jobs done after `since`, per queue (of `queue` only, when given). */
  doneSince(since: number, queue: string | undefined): { queue: string; n: number }[]
}

/** The window of `throughputPerMinute`. */
const THROUGHPUT_WINDOW_MS = 60_000

/**
 * One row per queue that has any job, sorted by name; with `queue`, that queue's row only, zeros
 * when it has none.
 */
export function countQueues(src: CountSource, now: number, queue: string | undefined): QueueCounts[] {
  const byQueue = new Map<string, QueueCounts>()
  const rowOf = (q: string): QueueCounts => {
    let c = byQueue.get(q)
    if (!c) {
      c = zeroCounts(q)
      byQueue.set(q, c)
    }
    return c
  }
  if (queue !== undefined) rowOf(queue)
  for (const { state, queue: q, n } of src.states(queue)) {
    const c = rowOf(q)
    switch (state) {
      case 'waiting': {
        c.delayed = src.delayed(q, now)
        c.waiting = n - c.delayed
        c.failed = src.failed(q)
        const oldest = c.waiting > 0 ? src.oldestDue(q, now) : null
        c.oldestWaitingMs = oldest === null ? 0 : Math.max(0, now - oldest)
        break
      }
      case 'active':
        c.inFlight = n
        break
      case 'done':
        c.done = n
        break
      case 'dead':
        c.deadLettered = n
        break
      case 'quarantined':
        c.quarantined = n
        break
    }
  }
  for (const { queue: q, n } of src.doneSince(now - THROUGHPUT_WINDOW_MS, queue))
    rowOf(q).throughputPerMinute = n
  return [...byQueue.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0))
}
