/**
 * The JobStore port: Shepherd's durable queue. The embedded adapter keeps jobs in the same SQLite
 * file as incidents and events; a PostgreSQL adapter follows behind the same contract, so every
 * method takes `now` from the caller, does its work in one transaction, and keeps its SQL portable.
 *
 * The supervisor is the only deliverer: it claims jobs for its workers, sends them over IPC, and
 * settles what comes back (acks, failures, checkpoints) in batches, one transaction per turn of
 * its event loop. The rules for what becomes of a job are the core's (src/core/job.ts); the store
 * applies them atomically.
 *
 * Payloads, results, checkpoints and progress values are stored as JSON: they come back as
 * `JSON.parse(JSON.stringify(value))`, and a checkpoint, progress or result never set is `null`.
 * Arguments are checked before anything is written: a bad one is refused with SHEPHERD_BAD_REQUEST
 * and changes nothing.
 * @module
 */
import type { Delivery, Job, JobPolicy, JobState, NewJob } from '../core/job.js'

export interface AddResult {
  /** The job's id; for a duplicate by idempotency key, the id of the job that has the key. */
  id: string
  /** false when the id or the idempotency key already existed: nothing was changed. */
  added: boolean
}

/** What a worker (or the supervisor on its behalf) reports about one delivery. */
export type Settlement =
  /**
   * The handler finished. `queue` is the job's queue, where the caller knows it: a queue whose
   * policy keeps no done jobs (`JobPolicy.keepDone` false, `keep_done: 0`) has the job deleted by
   * the ack; without it the job is kept done until the prune.
   */
  | { kind: 'ack'; token: string; result?: unknown; queue?: string }
  /** The handler threw, or the delivery ran past its timeout: retry with backoff or dead-letter. */
  | { kind: 'fail'; token: string; error: string; stack?: string; timedOut?: boolean }
  /** The handler saved progress state, handed to the next delivery if this one does not finish. */
  | { kind: 'checkpoint'; token: string; state: unknown }
  | { kind: 'progress'; token: string; value: unknown }
  /** The worker crashed or hung with the job in flight: back to the queue at once, or quarantine. */
  | { kind: 'crash'; token: string }
  /** The delivery is abandoned through no fault of the job (shutdown): back to the queue at once, nothing counted. */
  | { kind: 'release'; token: string }

export type SettleOutcome =
  | 'done'
  | 'retry'
  | 'dead'
  | 'requeued'
  | 'quarantined'
  | 'released'
  | 'saved'
  /** The token is not the job's current delivery (or the job is gone): refused, nothing changed. */
  | 'stale'

export interface SettleResult {
  token: string
  kind: Settlement['kind']
  outcome: SettleOutcome
  /**
   * The job after the settlement; for a `stale` one, the job as it is (undefined for an unknown
   * job). A `done` result carries no job: a finished job is nobody's business in the turn that
   * finished it, and a batch of acks would otherwise read every column of every job back (read it
   * with getJob).
   */
  job?: Job
}

/**
 * Which jobs a claim may take, by whether they were in flight in a worker crash (`crashes > 0`,
 * "suspects"): `any` (the default), `exclude` (only jobs never in a crash), `only` (only suspects),
 * `alone` (one suspect if one is due, else up to `limit` jobs never in a crash).
 * The dispatcher gives a suspect to a worker alone, so that a further crash is its own doing.
 */
export type SuspectRule = 'any' | 'exclude' | 'only' | 'alone'

/** One worker's claim in an exchange. */
export interface ClaimRequest {
  queue: string
  limit: number
  worker: string
  suspects: SuspectRule
}

export interface Exchange {
  settled: SettleResult[]
  /** One list of deliveries per claim request, in the order of the requests. */
  claimed: Delivery[][]
}

export interface QueueCounts {
  queue: string
  /** Due now. */
  waiting: number
  /** Waiting, but not due yet (delay or retry backoff). */
  delayed: number
  inFlight: number
  done: number
  /** Waiting for a retry after an error (attempts > 0). */
  failed: number
  deadLettered: number
  quarantined: number
  /** Jobs finished in the last minute. */
  throughputPerMinute: number
  /** Age of the oldest job that is due, ms (0 when none). */
  oldestWaitingMs: number
}

/** The counts of a queue that has no job. */
export function zeroCounts(queue: string): QueueCounts {
  return {
    queue,
    waiting: 0,
    delayed: 0,
    inFlight: 0,
    done: 0,
    failed: 0,
    deadLettered: 0,
    quarantined: 0,
    throughputPerMinute: 0,
    oldestWaitingMs: 0,
  }
}

/** The states a listing filters by, as counts count them (see {@link JobQuery.state}). */
export const JOB_LIST_STATES = [
  'waiting',
  'delayed',
  'active',
  'done',
  'failed',
  'dead',
  'quarantined',
] as const

/** The states whose jobs a purge deletes: never `active` (a worker holds the job). */
export const PURGE_STATES = ['waiting', 'dead', 'quarantined', 'done'] as const
export type PurgeState = (typeof PURGE_STATES)[number]

export interface JobQuery {
  /**
   * As {@link QueueCounts} counts them: `waiting` is due now, `delayed` is waiting but not due,
   * `failed` is waiting after at least one error (delayed or not); any other state is that state.
   */
  state?: JobState | 'delayed' | 'failed'
  /** Newest first; default 50; an integer from 1 to 1000. */
  limit?: number
}

/**
 * Says that jobs of these queues may have become due: added, retried, or put back in the queue (a
 * crash, a release, a failure's retry). `null`: of any queue (the adapter cannot tell which, or
 * wakes may have been missed, as while a listening connection was down). A wake is a hint: the jobs
 * may be gone by the time anyone looks, and a store never promises one for every change.
 */
export type JobWake = (queues: readonly string[] | null) => void

/** A subscription to a store's wakes (see {@link JobStore.watch}). */
export interface JobWatch {
  /**
   * Whether wakes come now for the changes of every process on this store (PostgreSQL while its
   * listening connection is up), rather than only for those made through this JobStore object
   * (SQLite; PostgreSQL while it is not listening): while false, whoever waits for jobs must poll
   * often to find those that other processes (the CLI, another agent) add.
   */
  readonly everywhere: boolean
  /** No more wakes for this subscriber. Calling it again does nothing. */
  close(): void
}

/** How far the leader's reclaim looks (JobStore.reclaimLapsed): after a lapse it ended, or always. */
export type ReclaimScope = 'look' | 'sweep'

export interface JobStore {
  /**
   * Adds jobs in one transaction. An id or (queue, idempotency key) that exists already is a
   * duplicate: `added: false`, nothing changes. Defaults: priority 0, maxAttempts and timeout
   * from `defaults(queue)`.
   *
   * A duplicate may be earlier in the same batch; a done job keeps its key until it is pruned.
   * Refused (SHEPHERD_BAD_REQUEST, nothing added): a payload that is not JSON, a delay that is not
   * a finite number ≥ 0, a priority that is not an integer, maxAttempts not an integer ≥ 1, a
   * timeout not > 0 ms, an empty queue or id.
   */
  add(
    jobs: readonly NewJob[],
    now: number,
    defaults: (queue: string) => { maxAttempts: number; timeoutMs: number | null },
  ): Promise<AddResult[]>
  /**
   * Leases up to `limit` due jobs of the queue to `worker`, highest priority first, then in
   * enqueue order: each becomes active with its delivery number incremented.
   */
  claim(
    queue: string,
    limit: number,
    worker: string,
    now: number,
    suspects?: SuspectRule,
  ): Promise<Delivery[]>
  /**
   * Settlements, then claims, in one transaction: the supervisor's turn (acks in, next jobs out)
   * costs one commit. Same rules as settle and claim.
   */
  exchange(
    settlements: readonly Settlement[],
    claims: readonly ClaimRequest[],
    now: number,
    policy: (queue: string) => JobPolicy,
    random: () => number,
  ): Promise<Exchange>
  /**
   * Applies settlements in order, in one transaction; a stale token changes nothing.
   *
   * A token is `<id>:<delivery>` (split at the last `:`); one that names no delivery (malformed,
   * unknown job) is stale too. A result, checkpoint or progress value that is not JSON, an error
   * that is not a string, or an unknown kind refuses the whole batch (SHEPHERD_BAD_REQUEST).
   */
  settle(
    items: readonly Settlement[],
    now: number,
    policy: (queue: string) => JobPolicy,
    random: () => number,
  ): Promise<SettleResult[]>
  /**
   * Puts this agent's active jobs back in the queue (a supervisor starting after a crash: the
   * workers that held them are gone): those its node claimed (in any epoch), those of no owner
   * (claimed by a store that never claimed a node, or before jobs recorded their owner) and those
   * of a node whose lease has expired. Another live node's active jobs stay its own: their workers
   * still run. SQLite, one supervisor per file, puts back every active job. Returns how many.
   */
  releaseAllActive(now: number): Promise<number>
  /**
   * The leader's reclaim: puts back in the queue, due now, nothing counted, every active job held by
   * another node whose lease has expired at `now` (never the caller's own: it runs, so its jobs are
   * its own while its lease is renewed again) (an agent killed or cut off: its workers' results will
   * be refused, their deliveries being over). First it ends those nodes' leases, in the same
   * transaction: no renewal or claim of theirs is taken from then on, however late it arrives (one
   * sent before the cut), so their agents rejoin with a new epoch. Returns how many, by node.
   *
   * Looking for those jobs reads every active job of the fleet, so a `look` does it only when it
   * ended a lease itself (a lapse nobody had seen): while every lease is live it reads one row per
   * node. A `sweep` looks whatever it ended: for the jobs a look left behind (rows a settlement
   * held locked just then, skipped) and those of a node forgotten before they were reclaimed.
   * SQLite, whose one supervisor puts back everything at its start, has nothing to reclaim.
   */
  reclaimLapsed(now: number, scope: ReclaimScope): Promise<ReadonlyMap<string, number>>
  /**
   * After a rejoin (this agent's lease lapsed and it claimed its node again, with a new epoch: see
   * ownedBy): the deliveries its workers still hold (`tokens`) that no other agent was given
   * meanwhile become the new epoch's, so their results count; every other active job of its node
   * from an earlier epoch goes back to the queue, due now, nothing counted (a claim whose answer
   * never arrived). Returns how many were kept and how many put back. SQLite, whose one supervisor
   * never lapses (its OS lock is held throughout), has nothing to adopt.
   */
  adopt(tokens: readonly string[], now: number): Promise<{ kept: number; released: number }>
  /** The earliest runAt of a waiting job of the queue that is not due yet, or null. */
  nextDueAt(queue: string, now: number): Promise<number | null>
  /**
   * How many jobs of the queue are due now (suspects included), counting no further than `atMost`:
   * what the dispatcher shares among the workers that ask, read without reading a whole backlog.
   */
  countDue(queue: string, now: number, atMost: number): Promise<number>
  /** One row per queue that has any job, by queue name; a queue asked for by name always gets a row. */
  counts(now: number, queue?: string): Promise<QueueCounts[]>
  getJob(id: string): Promise<Job | undefined>
  listJobs(queue: string, query: JobQuery, now: number): Promise<Job[]>
  /**
   * Puts dead-lettered or quarantined jobs (all of the state, or those ids) back to waiting, attempts and crashes reset.
   * Returns how many. A whole state may be done in several transactions (an adapter may batch it).
   */
  retry(queue: string, from: 'dead' | 'quarantined', now: number, ids?: readonly string[]): Promise<number>
  /**
   * Deletes jobs of the queue in that state (or those ids of it); returns how many. A whole state
   * may be deleted in several transactions (an adapter may batch it). `waiting` is every job not yet
   * delivered: due, delayed, and waiting for a retry; a job in flight (`active`) is never deleted.
   */
  purge(queue: string, state: PurgeState, ids?: readonly string[]): Promise<number>
  /** Deletes done jobs finished before `before`; returns how many. May run in several transactions. */
  pruneDone(before: number, queue?: string): Promise<number>
  /**
   * Calls `wake` whenever jobs may have become due, so that a dispatcher delivers them at once
   * rather than at its next poll. Every add, retry and settlement that puts jobs in the queue
   * through this object wakes, right after its commit; on PostgreSQL every other process's does
   * too (LISTEN/NOTIFY), while {@link JobWatch.everywhere} says so. `wake` is called from the
   * store's own callbacks: it should only schedule work, never throw.
   */
  watch(wake: JobWake): JobWatch
}
