/**
 * What the store's answers to settlements mean for people: the events of jobs put back, refused
 * as stale, dead-lettered or quarantined; and the stale worker to stop.
 * @module
 */
import type { EventDataMap, EventSeverity, EventType } from '../core/events.js'
import { parseDeliveryToken } from '../core/ids.js'
import type { SettleResult } from '../ports/job-store.js'
import type { JobWorker, Subscription } from './subscription.js'

export type EmitJobEvent = <T extends EventType>(
  type: T,
  severity: EventSeverity,
  origin: { pool?: string | null; workerId?: string | null },
  message: string,
  data: EventDataMap[T],
) => void

export interface OutcomeDeps<W extends JobWorker> {
  emit: EmitJobEvent
  /** A worker answered for a delivery it no longer holds: stop it. */
  onStaleWorker: (worker: W, detail: string) => void
}

/** The jobs of a gone worker were written back: one event for them all, then each one's outcome. */
export function reportRequeued<W extends JobWorker>(
  d: OutcomeDeps<W>,
  sub: Subscription<W>,
  why: 'crash' | 'release',
  results: SettleResult[],
): void {
  const requeued = results.filter((r) => r.outcome === 'requeued' || r.outcome === 'released')
  if (requeued.length > 0) {
    const worker = sub.worker.currentId
    d.emit(
      'job:requeued',
      'info',
      { pool: sub.pool, workerId: worker },
      `${requeued.length} job${requeued.length === 1 ? '' : 's'} of ${worker} back in ${sub.queue} (${why})`,
      { queue: sub.queue, count: requeued.length, reason: why, jobIds: requeued.map((r) => r.job!.id) },
    )
  }
  reportOutcomes(d, results, sub)
}

/** The events of settlements that ended a job (dead-lettered, quarantined) or were refused (stale). */
export function reportOutcomes<W extends JobWorker>(
  d: OutcomeDeps<W>,
  results: SettleResult[],
  from: Subscription<W> | null,
  /** The agent lost the deliveries itself (its lease lapsed): a stale answer is no fault of the worker. */
  excused: (token: string) => boolean = () => false,
): void {
  const origin = { pool: from?.pool ?? null, workerId: from?.worker.currentId ?? null }
  for (const r of results) {
    const job = r.job
    if (r.outcome === 'stale') {
      const jobId = parseDeliveryToken(r.token)?.jobId ?? r.token
      const who = from?.worker.currentId ?? 'a worker'
      d.emit(
        'job:stale',
        'warning',
        origin,
        `${who} answered (${r.kind}) for delivery ${r.token} of job ${jobId}, which was given away: refused`,
        { jobId, queue: job?.queue ?? from?.queue ?? '', token: r.token, kind: r.kind },
      )
      const answered = r.kind === 'ack' || r.kind === 'fail' || r.kind === 'checkpoint'
      if (from && from.worker.alive && answered && !excused(r.token)) {
        d.onStaleWorker(from.worker, `answered for job ${jobId} after it was given to another worker`)
      }
    } else if (r.outcome === 'dead' && job) {
      d.emit(
        'job:dead-lettered',
        'info',
        origin,
        `job ${job.id} of ${job.queue} dead-lettered after ${job.attempts} attempts: ${job.lastError ?? ''}`,
        { jobId: job.id, queue: job.queue, attempts: job.attempts, error: job.lastError },
      )
    } else if (r.outcome === 'quarantined' && job) {
      d.emit(
        'job:quarantined',
        'warning',
        origin,
        `job ${job.id} of ${job.queue} quarantined: in flight in ${job.crashes} worker crashes or hangs`,
        { jobId: job.id, queue: job.queue, crashes: job.crashes, error: job.lastError },
      )
    }
  }
}
