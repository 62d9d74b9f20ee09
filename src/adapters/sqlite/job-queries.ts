/**
 * The SQL of the embedded JobStore adapter (sqlite-job-store.ts), kept apart from the code that runs
 * it, as data: one statement per operation, prepared once per store; and the rows it returns, read
 * into the core's Job. The schema is `sql/sqlite/0002_jobs.sql`; its comments say which query each
 * index serves.
 * @module
 */
import type { Job, JobState } from '../../core/job.js'

/**
 * Rows deleted or retried per transaction by pruneDone, purge and retry of a whole state. A first
 * prune after a busy day can meet millions of done jobs; batches keep each write-lock hold short
 * (a few ms), so the supervisor's claims and settlements (and its heartbeat handling: better-sqlite3
 * is synchronous) never wait behind one long transaction, nor does a CLI purge in another process
 * make the supervisor's writes time out. Same size as the events' prune batch.
 */
export const JOB_BATCH = 5_000

/** Every column of `jobs`, in the order {@link JobRow} lists them. */
const COLUMNS = `seq, id, queue, state, priority, run_at, created_at, updated_at, finished_at, attempts,
  max_attempts, crashes, timeout_ms, idempotency_key, delivery, lease_worker, lease_expires, last_error,
  last_stack, payload, checkpoint, progress, result`

/** The job named by a token's id, in the delivery the token names: the only one a settlement may change. */
const CURRENT = `id = ? AND state = 'active' AND delivery = ?`

/** Leaving the active state: the lease ends with the delivery. */
const NO_LEASE = 'lease_worker = NULL, lease_expires = NULL'

/**
 * The SQL of every statement, prepared once per store. Exported for tests that read the query
 * plans (EXPLAIN QUERY PLAN) of the statements the store really runs.
 *
 * `INDEXED BY` names the index a time-sensitive query must use where SQLite, without statistics,
 * would otherwise prefer `jobs_state_queue_seq` for its `state = ?` term and read every row of that
 * state (or sort a whole backlog). It is SQLite's documented guard for exactly this: the statement
 * fails to prepare, rather than silently slowing down, if the index is ever dropped or renamed.
 */
// The subquery reads the first `limit` due entries of the index (covering: no row is read to
// choose) and stops. RETURNING gives rows in no particular order; the store sorts the few it got.
function claimSql(index: string, filter: string): string {
  return `UPDATE jobs SET state = 'active', delivery = delivery + 1, lease_worker = ?,
      lease_expires = CASE WHEN timeout_ms IS NULL THEN NULL ELSE ? + timeout_ms END, updated_at = ?
    WHERE seq IN (
      SELECT seq FROM jobs INDEXED BY ${index}
      WHERE queue = ? AND state = 'waiting' AND run_at <= ? ${filter}
      ORDER BY priority DESC, seq LIMIT ?)
    RETURNING ${COLUMNS}`
}

export const JOB_SQL = {
  // ON CONFLICT DO NOTHING without a target covers both the id and the (queue, idempotency key)
  // uniqueness, and is the same in PostgreSQL.
  insert: `INSERT INTO jobs (id, queue, state, priority, run_at, created_at, updated_at, attempts, max_attempts,
      crashes, timeout_ms, idempotency_key, delivery, payload)
    VALUES (?, ?, 'waiting', ?, ?, ?, ?, 0, ?, 0, ?, ?, 0, ?)
    ON CONFLICT DO NOTHING`,
  idByKey: 'SELECT id FROM jobs WHERE queue = ? AND idempotency_key = ?',
  // The subquery reads the first `limit` due entries of jobs_claim (covering: no row is read to
  // choose) and stops. RETURNING gives rows in no particular order; the store sorts the few it got.
  claim: claimSql('jobs_claim', ''),
  // Only jobs with no crash behind them: crashes is in jobs_claim, so the filter reads no row.
  claimClean: claimSql('jobs_claim', 'AND crashes = 0'),
  // One suspect, from the small index of suspects.
  claimSuspect: claimSql('jobs_suspects', 'AND crashes > 0'),
  byId: `SELECT ${COLUMNS} FROM jobs WHERE id = ?`,
  current: `SELECT ${COLUMNS} FROM jobs WHERE ${CURRENT}`,
  ack: `UPDATE jobs SET state = 'done', result = ?, finished_at = ?, updated_at = ?, ${NO_LEASE}
    WHERE ${CURRENT} RETURNING ${COLUMNS}`,
  checkpoint: `UPDATE jobs SET checkpoint = ?, updated_at = ? WHERE ${CURRENT} RETURNING ${COLUMNS}`,
  progress: `UPDATE jobs SET progress = ?, updated_at = ? WHERE ${CURRENT} RETURNING ${COLUMNS}`,
  release: `UPDATE jobs SET state = 'waiting', run_at = ?, updated_at = ?, ${NO_LEASE}
    WHERE ${CURRENT} RETURNING ${COLUMNS}`,
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
  releaseAll: `UPDATE jobs SET state = 'waiting', run_at = ?, updated_at = ?, ${NO_LEASE} WHERE state = 'active'`,
  nextDue: `SELECT run_at FROM jobs WHERE queue = ? AND state = 'waiting' AND run_at > ? ORDER BY run_at LIMIT 1`,
  // The first `atMost` due entries of jobs_claim, as a claim reads them (covering), and no further.
  countDue: `SELECT count(*) AS n FROM (SELECT 1 FROM jobs INDEXED BY jobs_claim
    WHERE queue = ? AND state = 'waiting' AND run_at <= ? LIMIT ?)`,
  // Counting reads index entries only: jobs_state_queue_seq for the states, then per queue with
  // waiting jobs a range of jobs_waiting_run_at (delayed; the oldest due), jobs_retrying (failed),
  // and a range of jobs_done_finished_at for the last minute's throughput. A count is linear in
  // what it counts (SQLite keeps no counts), so the large ranges are walked once, in the index.
  countStates: 'SELECT state, queue, count(*) AS n FROM jobs GROUP BY state, queue',
  // The IN list turns "every state of one queue" into five seeks of jobs_state_queue_seq.
  countStatesOf: `SELECT state, queue, count(*) AS n FROM jobs
    WHERE state IN ('waiting', 'active', 'done', 'dead', 'quarantined') AND queue = ? GROUP BY state, queue`,
  countDelayedOf: `SELECT count(*) AS n FROM jobs INDEXED BY jobs_waiting_run_at
    WHERE state = 'waiting' AND queue = ? AND run_at > ?`,
  oldestDueOf: `SELECT min(created_at) AS n FROM jobs INDEXED BY jobs_waiting_run_at
    WHERE state = 'waiting' AND queue = ? AND run_at <= ?`,
  countFailedOf: `SELECT count(*) AS n FROM jobs INDEXED BY jobs_retrying
    WHERE state = 'waiting' AND attempts > 0 AND queue = ?`,
  countThroughput: `SELECT queue, count(*) AS n FROM jobs INDEXED BY jobs_done_finished_at
    WHERE state = 'done' AND finished_at > ? GROUP BY queue`,
  countThroughputOf: `SELECT queue, count(*) AS n FROM jobs INDEXED BY jobs_done_finished_at
    WHERE state = 'done' AND finished_at > ? AND queue = ? GROUP BY queue`,
  // Newest first is the rowid backwards, stopping at `limit` jobs of the queue. No index on
  // (queue, seq): it would cost every enqueue a write for a dashboard listing, and with few queues
  // the newest jobs of any one of them are near the end of the table.
  list: `SELECT ${COLUMNS} FROM jobs WHERE queue = ? ORDER BY seq DESC LIMIT ?`,
  // jobs_state_queue_seq gives a state's jobs newest first; the due and delayed filters read the
  // row. Without INDEXED BY those would range over jobs_waiting_run_at and sort every due job to
  // find the newest 50.
  listState: `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_state_queue_seq
    WHERE state = ? AND queue = ? ORDER BY seq DESC LIMIT ?`,
  listDue: `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_state_queue_seq
    WHERE state = 'waiting' AND queue = ? AND run_at <= ? ORDER BY seq DESC LIMIT ?`,
  listDelayed: `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_state_queue_seq
    WHERE state = 'waiting' AND queue = ? AND run_at > ? ORDER BY seq DESC LIMIT ?`,
  listFailed: `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_retrying
    WHERE state = 'waiting' AND attempts > 0 AND queue = ? ORDER BY seq DESC LIMIT ?`,
  // Retried jobs leave the state, so each batch picks the next ones. delivery is kept: a token of
  // an earlier delivery must stay stale for ever.
  retryBatch: `UPDATE jobs SET state = 'waiting', run_at = ?, attempts = 0, crashes = 0, finished_at = NULL,
      updated_at = ?
    WHERE seq IN (SELECT seq FROM jobs WHERE state = ? AND queue = ? LIMIT ?)`,
  retryOne: `UPDATE jobs SET state = 'waiting', run_at = ?, attempts = 0, crashes = 0, finished_at = NULL,
      updated_at = ?
    WHERE id = ? AND state = ? AND queue = ?`,
  purgeBatch: 'DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE state = ? AND queue = ? LIMIT ?)',
  purgeOne: 'DELETE FROM jobs WHERE id = ? AND state = ? AND queue = ?',
  pruneDone: `DELETE FROM jobs WHERE seq IN (
    SELECT seq FROM jobs INDEXED BY jobs_done_finished_at WHERE state = 'done' AND finished_at < ? LIMIT ?)`,
  pruneDoneOf: `DELETE FROM jobs WHERE seq IN (
    SELECT seq FROM jobs INDEXED BY jobs_done_finished_at
    WHERE state = 'done' AND finished_at < ? AND queue = ? LIMIT ?)`,
} as const

/** A row of `jobs` as better-sqlite3 returns it. */
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
    lastError: r.last_error,
    lastStack: r.last_stack,
    checkpoint: r.checkpoint === null ? null : (JSON.parse(r.checkpoint) as unknown),
    progress: r.progress === null ? null : (JSON.parse(r.progress) as unknown),
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
  }
}
