/**
 * Jobs: units of queued work, and the rules that decide what becomes of one after each delivery.
 *
 * A job is `waiting` (due at `runAt`; "delayed" while `runAt` is in the future), `active` (leased
 * to one worker for one delivery), then `done`, `dead` (dead-lettered after its last failed
 * attempt) or `quarantined` (it was in flight in too many worker crashes or hangs: a poison job).
 *
 * Every delivery has a token, `<job id>:<delivery number>`. Only the current delivery's token can
 * ack, fail, checkpoint or report progress; anything from an earlier delivery is stale and refused.
 *
 * An error thrown by a handler and a crash are counted apart: errors use attempts and backoff and
 * end in `dead`; crashes and hangs count toward quarantine and never use up attempts.
 * @module
 */
import { deliveryToken } from './ids.js'
import { backoffDelay } from './restart-policy.js'

export const JOB_STATES = {
  waiting: 'due at runAt (delayed while runAt is in the future)',
  active: 'leased to a worker',
  done: 'acknowledged',
  dead: 'dead-lettered after its last failed attempt',
  quarantined: 'in flight in too many worker crashes or hangs',
} as const

export type JobState = keyof typeof JOB_STATES

export interface Job {
  id: string
  queue: string
  payload: unknown
  state: JobState
  /** Higher runs first; equal priorities run in enqueue order. */
  priority: number
  /** Not delivered before this epoch ms. */
  runAt: number
  createdAt: number
  updatedAt: number
  finishedAt: number | null
  /** Deliveries that ended in an error or a timeout. */
  attempts: number
  maxAttempts: number
  /** Deliveries that ended with their worker crashing or hanging. */
  crashes: number
  /** A delivery running longer than this fails (null: no limit). */
  timeoutMs: number | null
  idempotencyKey: string | null
  /** Deliveries so far; the current one's token is `${id}:${delivery}`. */
  delivery: number
  /** While active: the worker holding it and until when. */
  leaseWorker: string | null
  leaseExpires: number | null
  /**
   * While active: the node of the agent whose claim made it active, and that agent's lease epoch
   * then (null when claimed by a store that never claimed its node: the CLI, a library).
   */
  ownerNode: string | null
  ownerEpoch: number | null
  lastError: string | null
  lastStack: string | null
  /** The last checkpoint a handler saved; handed to the next delivery. */
  checkpoint: unknown
  progress: unknown
  result: unknown
}

export interface NewJob {
  queue: string
  payload: unknown
  /** Default: a new id. An id that exists already makes the add a duplicate (nothing changes). */
  id?: string
  /** A key that exists already in the queue, in any state, makes the add a duplicate. */
  idempotencyKey?: string
  /** ms before the job is due. */
  delay?: number
  priority?: number
  maxAttempts?: number
  /** ms. */
  timeout?: number
}

/**
 * What a delivery carries of its job: what the worker is sent and the dispatcher keeps of it. The
 * claim sets the rest (state active, the lease, the owner) and reads none of it back: a claim of
 * hundreds of jobs parses and keeps half the columns, and none of a previous attempt's error.
 */
export type DeliveredJob = Pick<
  Job,
  | 'id'
  | 'queue'
  | 'payload'
  | 'priority'
  | 'delivery'
  | 'attempts'
  | 'maxAttempts'
  | 'crashes'
  | 'timeoutMs'
  | 'checkpoint'
>

/** One delivery of a job to a worker. */
export interface Delivery {
  job: DeliveredJob
  token: string
}

export interface JobPolicy {
  /** Base retry delay after an error, ms; doubles with each attempt up to maxRetryDelay. */
  retryDelay: number
  maxRetryDelay: number
  jitter: number
  /** Crashes or hangs a job may be in flight for before it is quarantined. */
  poisonThreshold: number
  /**
   * Whether a finished job stays in the store, done, until the prune (`keep_done` > 0). When
   * false (`keep_done: 0`), its ack deletes it: the cheapest finish, one row deleted where a kept
   * one is rewritten, at the price of its result, its place in counts and throughput, and its
   * idempotency key (a job with the same key may be added again once it is done).
   */
  keepDone: boolean
}

export type FailureDecision = { kind: 'retry'; runAt: number } | { kind: 'dead' }

/**
 * After a handler error or a timeout (`job.attempts` not yet counting it): retry with exponential
 * backoff while attempts remain, else dead-letter.
 */
export function decideFailure(
  job: Pick<Job, 'attempts' | 'maxAttempts'>,
  now: number,
  p: JobPolicy,
  random: () => number,
): FailureDecision {
  const attempts = job.attempts + 1
  if (attempts >= job.maxAttempts) return { kind: 'dead' }
  const delay = backoffDelay(
    attempts,
    { retry_delay: p.retryDelay, max_retry_delay: p.maxRetryDelay, jitter: p.jitter },
    random,
  )
  return { kind: 'retry', runAt: now + delay }
}

export type CrashDecision = { kind: 'requeue' } | { kind: 'quarantine' }

/**
 * After the job's worker crashed or hung while the job was in flight (`job.crashes` not yet
 * counting it): back to the queue at once, or quarantine once it has been present at
 * `poisonThreshold` crashes. The next worker gets it right away: a crash is not the job's error.
 */
export function decideCrash(job: Job, p: JobPolicy): CrashDecision {
  return job.crashes + 1 >= p.poisonThreshold ? { kind: 'quarantine' } : { kind: 'requeue' }
}

/** Whether a message carrying `token` may act on `job` now. */
export function isCurrentDelivery(job: Job, token: string): boolean {
  return job.state === 'active' && deliveryToken(job.id, job.delivery) === token
}
