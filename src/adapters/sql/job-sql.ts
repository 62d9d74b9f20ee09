/**
 * The SQL of the JobStore adapters that both databases run alike, kept apart from the code that
 * runs it, as data; the rows these statements return, read into the core's Job; and what both
 * adapters do around their statements (deliveries in claim order, one policy per queue per batch).
 * SQLite runs these as they are, PostgreSQL with the `?` placeholders numbered. What differs (the
 * claim: an index SQLite is told to use, row locks that PostgreSQL skips; the counts) is each
 * adapter's own: sqlite/job-queries.ts, postgres/job-queries.ts. The schemas are
 * `sql/sqlite/0002_jobs.sql` and `sql/postgres/`; their comments say which query each index serves.
 * @module
 */
import { deliveryToken } from '../../core/ids.js'
import {
  decideCrash,
  decideFailure,
  type Delivery,
  type Job,
  type JobPolicy,
  type JobState,
} from '../../core/job.js'
import type { SettleOutcome, SettleResult } from '../../ports/job-store.js'
import type { CheckedJob, ReadySettlement } from '../../store/job-checks.js'

/**
 * Rows deleted or retried per transaction by pruneDone, purge and retry of a whole state. A first
 * prune after a busy day can meet millions of done jobs; batches keep each write-lock hold short
 * (a few ms), so the supervisor's claims and settlements (and its heartbeat handling: better-sqlite3
 * is synchronous) never wait behind one long transaction, nor does a CLI purge in another process
 * make the supervisor's writes time out. Same size as the events' prune batch.
 */
export const JOB_BATCH = 5_000

/** Every column of `jobs`, in the order {@link JobRow} lists them. */
export const COLUMNS = `seq, id, queue, state, priority, run_at, created_at, updated_at, finished_at, attempts,
  max_attempts, crashes, timeout_ms, idempotency_key, delivery, lease_worker, lease_expires, last_error,
  last_stack, payload, checkpoint, progress, result, owner_node, owner_epoch`

/** The columns a claim returns, in the order {@link ClaimedRow} lists them: a DeliveredJob's, and seq. */
export const CLAIMED_COLUMNS = `seq, id, queue, priority, payload, delivery, attempts, max_attempts, crashes, timeout_ms,
  checkpoint`

/** The job named by a token's id, in the delivery the token names: the only one a settlement may change. */
export const CURRENT = `id = ? AND state = 'active' AND delivery = ?`

/** Leaving the active state: the lease ends with the delivery, and the job is no agent's any more. */
export const NO_LEASE = 'lease_worker = NULL, lease_expires = NULL, owner_node = NULL, owner_epoch = NULL'

/**
 * The claim order: highest priority first, then enqueue order. Each adapter's claim picks its rows
 * in this order; the rows an UPDATE … RETURNING gives come in no particular order and are sorted
 * back into it by {@link toDeliveries}.
 */
export const CLAIM_ORDER = 'priority DESC, seq'

/**
 * The statements both adapters run as they are (SQLite with `?`, PostgreSQL with the placeholders
 * numbered), each with the parameters in the order written.
 */
export const PORTABLE_JOB_SQL = {
  // ON CONFLICT DO NOTHING without a target covers both the id and the (queue, idempotency key)
  // uniqueness, in SQLite and PostgreSQL alike.
  insert: `INSERT INTO jobs (id, queue, state, priority, run_at, created_at, updated_at, attempts, max_attempts,
      crashes, timeout_ms, idempotency_key, delivery, payload)
    VALUES (?, ?, 'waiting', ?, ?, ?, ?, 0, ?, 0, ?, ?, 0, ?)
    ON CONFLICT DO NOTHING`,
  idByKey: 'SELECT id FROM jobs WHERE queue = ? AND idempotency_key = ?',
  byId: `SELECT ${COLUMNS} FROM jobs WHERE id = ?`,
  // An ack returns only the id of the job it finished: a done result carries no job (SettleResult).
  ack: `UPDATE jobs SET state = 'done', result = ?, finished_at = ?, updated_at = ?, ${NO_LEASE}
    WHERE ${CURRENT} RETURNING id`,
  // The ack of a job whose queue keeps no done jobs (keep_done 0): the row goes, as a prune would
  // take it later, and with it its idempotency key.
  ackDrop: `DELETE FROM jobs WHERE ${CURRENT} RETURNING id`,
  checkpoint: `UPDATE jobs SET checkpoint = ?, updated_at = ? WHERE ${CURRENT} RETURNING ${COLUMNS}`,
  progress: `UPDATE jobs SET progress = ?, updated_at = ? WHERE ${CURRENT} RETURNING ${COLUMNS}`,
  release: `UPDATE jobs SET state = 'waiting', run_at = ?, updated_at = ?, ${NO_LEASE}
    WHERE ${CURRENT} RETURNING ${COLUMNS}`,
  // The four below follow a read of the current delivery (`current`, each adapter's own) in the same
  // transaction, and name the row it found.
  retryLater: `UPDATE jobs SET state = 'waiting', run_at = ?, attempts = attempts + 1, last_error = ?,
      last_stack = ?, updated_at = ?, ${NO_LEASE}
    WHERE seq = ? RETURNING ${COLUMNS}`,
  deadLetter: `UPDATE jobs SET state = 'dead', attempts = attempts + 1, last_error = ?, last_stack = ?,
      finished_at = ?, updated_at = ?, ${NO_LEASE}
    WHERE seq = ? RETURNING ${COLUMNS}`,
  requeue: `UPDATE jobs SET state = 'waiting', run_at = ?, crashes = crashes + 1, updated_at = ?, ${NO_LEASE}
    WHERE seq = ? RETURNING ${COLUMNS}`,
  quarantine: `UPDATE jobs SET state = 'quarantined', crashes = crashes + 1, finished_at = ?, updated_at = ?,
      ${NO_LEASE}
    WHERE seq = ? RETURNING ${COLUMNS}`,
  // Every active job back to waiting: SQLite's rule (one supervisor per file, so whatever is active
  // was held by a run that is gone, whatever node name it had). PostgreSQL narrows it (releaseOwn).
  releaseAll: `UPDATE jobs SET state = 'waiting', run_at = ?, updated_at = ?, ${NO_LEASE}
    WHERE state = 'active'`,
  // The earliest run_at after now. run_at > created_at holds for every such job (created at or
  // before now by a clock that never runs backwards); said here, it lets PostgreSQL read its index
  // of put-off jobs alone (sql/postgres/0009_claim_index_alone.sql).
  nextDue: `SELECT run_at FROM jobs WHERE queue = ? AND state = 'waiting' AND run_at > ? AND run_at > created_at
    ORDER BY run_at LIMIT 1`,
  countStates: 'SELECT state, queue, count(*) AS n FROM jobs GROUP BY state, queue',
  // The IN list turns "every state of one queue" into five seeks of jobs_state_queue_seq (SQLite;
  // PostgreSQL's index leaves the waiting jobs out: pg's countQueueStates).
  countStatesOf: `SELECT state, queue, count(*) AS n FROM jobs
    WHERE state IN ('waiting', 'active', 'done', 'dead', 'quarantined') AND queue = ? GROUP BY state, queue`,
  // Newest first is the enqueue order backwards, stopping at `limit` jobs of the queue. No index on
  // (queue, seq): it would cost every enqueue a write for a dashboard listing, and with few queues
  // the newest jobs of any one of them are near the end of the table.
  list: `SELECT ${COLUMNS} FROM jobs WHERE queue = ? ORDER BY seq DESC LIMIT ?`,
  // A token of an earlier delivery must stay stale for ever: a retry keeps the delivery number.
  retryOne: `UPDATE jobs SET state = 'waiting', run_at = ?, attempts = 0, crashes = 0, finished_at = NULL,
      updated_at = ?
    WHERE id = ? AND state = ? AND queue = ?`,
  purgeOne: 'DELETE FROM jobs WHERE id = ? AND state = ? AND queue = ?',
} as const

/** A row of `jobs` as the drivers return it (PostgreSQL's BIGINTs read as numbers). */
export interface JobRow {
  seq: number
  id: string
  queue: string
  state: JobState
  priority: number
  run_at: number
  created_at: number
  updated_at: number
  finished_at: number | null
  attempts: number
  max_attempts: number
  crashes: number
  timeout_ms: number | null
  idempotency_key: string | null
  delivery: number
  lease_worker: string | null
  lease_expires: number | null
  last_error: string | null
  last_stack: string | null
  payload: string
  checkpoint: string | null
  progress: string | null
  result: string | null
  /** The node of the agent whose claim made the job active (null when not active, or claimed by a store with no node). */
  owner_node: string | null
  /** That agent's lease epoch at the claim. */
  owner_epoch: number | null
}

/**
 * The agent whose claims a job store stamps on the jobs it makes active: its node and its lease's
 * epoch (see src/core/supervisor-lease.ts). A store that never claimed its node (the CLI, a
 * library) stamps null.
 */
export interface JobOwner {
  node: string
  epoch: number
}

/** The claim parameters of an owner, or of none. */
export function ownerValues(owner: JobOwner | null): [string | null, number | null] {
  return owner === null ? [null, null] : [owner.node, owner.epoch]
}

export interface CountRow {
  state: JobState
  queue: string
  n: number
}

/** A row read into the core's Job: JSON columns parsed. */
export function toJob(r: JobRow): Job {
  return {
    id: r.id,
    queue: r.queue,
    payload: JSON.parse(r.payload) as unknown,
    state: r.state,
    priority: r.priority,
    runAt: r.run_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    crashes: r.crashes,
    timeoutMs: r.timeout_ms,
    idempotencyKey: r.idempotency_key,
    delivery: r.delivery,
    leaseWorker: r.lease_worker,
    leaseExpires: r.lease_expires,
    ownerNode: r.owner_node,
    ownerEpoch: r.owner_epoch,
    lastError: r.last_error,
    lastStack: r.last_stack,
    checkpoint: r.checkpoint === null ? null : (JSON.parse(r.checkpoint) as unknown),
    progress: r.progress === null ? null : (JSON.parse(r.progress) as unknown),
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
  }
}

/** The values of `insert` for a checked job, in its parameters' order. */
export function insertValues(r: CheckedJob): unknown[] {
  return [
    r.id,
    r.queue,
    r.priority,
    r.runAt,
    r.createdAt,
    r.createdAt,
    r.maxAttempts,
    r.timeoutMs,
    r.idempotencyKey,
    r.payload,
  ]
}

/** A row a claim returns ({@link CLAIMED_COLUMNS}). */
export type ClaimedRow = Pick<
  JobRow,
  | 'seq'
  | 'id'
  | 'queue'
  | 'priority'
  | 'payload'
  | 'delivery'
  | 'attempts'
  | 'max_attempts'
  | 'crashes'
  | 'timeout_ms'
  | 'checkpoint'
>

/** Claimed rows as deliveries, in claim order (highest priority first, then enqueue order). */
export function toDeliveries(rows: ClaimedRow[]): Delivery[] {
  rows.sort((a, b) => b.priority - a.priority || a.seq - b.seq)
  return rows.map((r) => ({
    job: {
      id: r.id,
      queue: r.queue,
      payload: JSON.parse(r.payload) as unknown,
      priority: r.priority,
      delivery: r.delivery,
      attempts: r.attempts,
      maxAttempts: r.max_attempts,
      crashes: r.crashes,
      timeoutMs: r.timeout_ms,
      checkpoint: r.checkpoint === null ? null : (JSON.parse(r.checkpoint) as unknown),
    },
    token: deliveryToken(r.id, r.delivery),
  }))
}

/**
 * The caller's policy function, asked once per queue in a batch of settlements: the caller may
 * build each policy from the config.
 */
export function onePolicyPerQueue(policy: (queue: string) => JobPolicy): (queue: string) => JobPolicy {
  const policies = new Map<string, JobPolicy>()
  return (queue) => {
    let p = policies.get(queue)
    if (!p) {
      p = policy(queue)
      policies.set(queue, p)
    }
    return p
  }
}

/** A statement a settlement runs (a key of PORTABLE_JOB_SQL), its values, and its outcome if it changes a row. */
export interface SettleStep {
  statement:
    | 'ack'
    | 'ackDrop'
    | 'checkpoint'
    | 'progress'
    | 'release'
    | 'retryLater'
    | 'deadLetter'
    | 'requeue'
    | 'quarantine'
  values: unknown[]
  outcome: SettleOutcome
}

/**
 * What a settlement's statement returned of the row it changed: every column, but an ack's returns
 * the id alone.
 */
export type ChangedRow = JobRow | { id: string }

/**
 * The result of a settlement that changed its job: with the job as it is after it, but for an ack,
 * whose done result carries no job (the port's SettleResult).
 */
export function changedResult(r: ReadySettlement, outcome: SettleOutcome, changed: ChangedRow): SettleResult {
  const result: SettleResult = { token: r.item.token, kind: r.item.kind, outcome }
  if ('seq' in changed) result.job = toJob(changed)
  return result
}

/**
 * The step of an ack, checkpoint, progress or release, which changes the token's current delivery
 * (if it is one) without reading it first; null for a failure or a crash, which the core decides on
 * the current row ({@link decidedStep}). `r.id` is the token's job id (not null). The ack of a
 * queue that keeps no done jobs deletes its job (`ackDrop`: {@link dropsDone}).
 */
export function directStep(
  r: ReadySettlement & { id: string },
  now: number,
  policyOf: (queue: string) => JobPolicy,
): SettleStep | null {
  const { id, delivery } = r
  switch (r.item.kind) {
    case 'ack':
      return dropsDone(r, policyOf)
        ? { statement: 'ackDrop', values: [id, delivery], outcome: 'done' }
        : { statement: 'ack', values: [r.json, now, now, id, delivery], outcome: 'done' }
    case 'checkpoint':
      return { statement: 'checkpoint', values: [r.json, now, id, delivery], outcome: 'saved' }
    case 'progress':
      return { statement: 'progress', values: [r.json, now, id, delivery], outcome: 'saved' }
    case 'release':
      return { statement: 'release', values: [now, now, id, delivery], outcome: 'released' }
    case 'fail':
    case 'crash':
      return null
    default: {
      const never: never = r.item
      throw new Error(`unhandled settlement ${JSON.stringify(never)}`)
    }
  }
}

/** Whether an ack deletes its job: it names a queue that keeps no done jobs (JobPolicy.keepDone). */
export function dropsDone(r: ReadySettlement, policyOf: (queue: string) => JobPolicy): boolean {
  return r.item.kind === 'ack' && r.item.queue !== undefined && !policyOf(r.item.queue).keepDone
}

/**
 * The step of a failure or a crash, with the core's rules (decideFailure, decideCrash) applied to
 * the current delivery's row, which the adapter read in the same transaction. A handler's error
 * and stack keep no U+0000 (PostgreSQL cannot hold it in text; both adapters store the same).
 */
export function decidedStep(
  r: ReadySettlement,
  current: JobRow,
  now: number,
  policyOf: (queue: string) => JobPolicy,
  random: () => number,
): SettleStep {
  const item = r.item
  if (item.kind === 'fail') {
    const decision = decideFailure(toJob(current), now, policyOf(current.queue), random)
    const error = item.error.replaceAll('\0', '\uFFFD')
    const stack = item.stack?.replaceAll('\0', '\uFFFD') ?? null
    return decision.kind === 'retry'
      ? {
          statement: 'retryLater',
          values: [Math.floor(decision.runAt), error, stack, now, current.seq],
          outcome: 'retry',
        }
      : { statement: 'deadLetter', values: [error, stack, now, now, current.seq], outcome: 'dead' }
  }
  return decideCrash(toJob(current), policyOf(current.queue)).kind === 'requeue'
    ? { statement: 'requeue', values: [now, now, current.seq], outcome: 'requeued' }
    : { statement: 'quarantine', values: [now, now, current.seq], outcome: 'quarantined' }
}
