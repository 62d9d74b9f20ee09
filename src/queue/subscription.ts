/**
 * A worker that asked for jobs, and the deliveries it holds: what the dispatcher needs to know to
 * give it more (its free slots, its prefetch, whether it runs a suspect) and what goes back to the
 * queue when it goes.
 * @module
 */
import { averageJobMs, prefetchAllowance, type Taker } from '../core/dispatch.js'
import type { Delivery } from '../core/job.js'
import type { LongTimeout } from '../ports/clock.js'
import type { JobMessage, SupervisorMessage, WorkerMessage } from '../protocol/messages.js'

/** What the dispatcher needs to know about a worker process. */
export interface JobWorker {
  /** Unique per process. */
  readonly key: string
  readonly currentId: string
  readonly alive: boolean
  send(message: SupervisorMessage): boolean
  recordOutcome(now: number, ok: boolean): void
  /** Subscribes to the worker's messages. */
  onMessage(listener: (message: WorkerMessage) => void): void
}

/** The deliveries a worker holds (or held when it went). */
export interface HeldSummary {
  jobs: number
  checkpointed: number
}

export const NOTHING_HELD: HeldSummary = { jobs: 0, checkpointed: 0 }

/** One delivery a worker holds. */
export interface Held {
  jobId: string
  queue: string
  /** Fails the delivery when it runs past the job's timeout; null without one. */
  timer: LongTimeout | null
  checkpointed: boolean
  /** It was in flight in a worker crash before: it runs alone on its worker. */
  suspect: boolean
  deliveredAt: number
}

export class Subscription<W extends JobWorker> {
  /** The deliveries it holds by token, in the order they were sent. */
  readonly held = new Map<string, Held>()
  /** Average time from delivery to ack of its recent jobs (ms), for prefetch; null before any. */
  avgJobMs: number | null = null
  /** Stopping gracefully: no new jobs; the ones it holds may finish. */
  draining = false
  /** When it was last given jobs, as the dispatcher's count of deliveries then (0: never). */
  lastGiven = 0
  /** How many of the deliveries it holds are suspects: known without a walk over `held` every turn. */
  private suspects = 0

  constructor(
    readonly worker: W,
    readonly pool: string,
    readonly queue: string,
    /** Jobs it runs at once. */
    public capacity: number,
  ) {}

  /** Takes the deliveries on (each with its timeout timer) and returns the message that sends them. */
  hold(deliveries: Delivery[], now: number, timerOf: (d: Delivery) => LongTimeout | null): JobMessage[] {
    return deliveries.map((d) => {
      const { job, token } = d
      const suspect = job.crashes > 0
      if (suspect) this.suspects++
      this.held.set(token, {
        jobId: job.id,
        queue: job.queue,
        timer: timerOf(d),
        checkpointed: job.checkpoint !== null,
        suspect,
        deliveredAt: now,
      })
      return {
        token,
        id: job.id,
        queue: job.queue,
        payload: job.payload,
        delivery: job.delivery,
        attempts: job.attempts,
        maxAttempts: job.maxAttempts,
        checkpoint: job.checkpoint ?? null,
        timeoutMs: job.timeoutMs,
      }
    })
  }

  /** Forgets a delivery and clears its timeout; what it held under that token, if anything. */
  release(token: string): Held | undefined {
    const h = this.held.get(token)
    if (!h) return undefined
    h.timer?.clear()
    this.held.delete(token)
    if (h.suspect) this.suspects--
    return h
  }

  /** A job of this worker ran `ms`: prefetch follows the recent average. */
  noteJobMs(ms: number): void {
    this.avgJobMs = averageJobMs(this.avgJobMs, ms)
  }

  summary(): HeldSummary {
    let checkpointed = 0
    for (const h of this.held.values()) if (h.checkpointed) checkpointed++
    return { jobs: this.held.size, checkpointed }
  }

  /** The worker as the dispatch policy sees it. */
  taker(): Taker {
    return {
      inFlight: this.held.size,
      concurrency: this.capacity,
      prefetch: prefetchAllowance(this.avgJobMs, this.capacity),
      lastGiven: this.lastGiven,
      holdsSuspect: this.suspects > 0,
    }
  }
}
