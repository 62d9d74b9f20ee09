/**
 * The SQL of the embedded JobStore adapter (sqlite-job-store.ts), kept apart from the code that runs
 * it, as data: one statement per operation, prepared once per store. The statements both adapters
 * share are ../sql/job-sql.ts; these are SQLite's own: the claims, the read of a current delivery,
 * and the counts and listings that name their index. The schema is `sql/sqlite/0002_jobs.sql`; its
 * comments say which query each index serves.
 * @module
 */
import { CLAIM_ORDER, CLAIMED_COLUMNS, COLUMNS, CURRENT, PORTABLE_JOB_SQL } from '../sql/job-sql.js'

export { JOB_BATCH } from '../sql/job-sql.js'

// The subquery reads the first `limit` due entries of the index (covering: no row is read to
// choose) and stops. RETURNING gives rows in no particular order; the store sorts the few it got.
function claimSql(index: string, filter: string): string {
  return `UPDATE jobs SET state = 'active', delivery = delivery + 1, lease_worker = ?, owner_node = ?,
      owner_epoch = ?, lease_expires = CASE WHEN timeout_ms IS NULL THEN NULL ELSE ? + timeout_ms END,
      updated_at = ?
    WHERE seq IN (
      SELECT seq FROM jobs INDEXED BY ${index}
      WHERE queue = ? AND state = 'waiting' AND run_at <= ? ${filter}
      ORDER BY ${CLAIM_ORDER} LIMIT ?)
    RETURNING ${CLAIMED_COLUMNS}`
}

/**
 * The SQL of every statement, prepared once per store. Exported for tests that read the query
 * plans (EXPLAIN QUERY PLAN) of the statements the store really runs.
 *
 * `INDEXED BY` names the index a time-sensitive query must use where SQLite, without statistics,
 * would otherwise prefer `jobs_state_queue_seq` for its `state = ?` term and read every row of that
 * state (or sort a whole backlog). It is SQLite's documented guard for exactly this: the statement
 * fails to prepare, rather than silently slowing down, if the index is ever dropped or renamed.
 */
export const JOB_SQL = {
  ...PORTABLE_JOB_SQL,
  // The subquery reads the first `limit` due entries of jobs_claim (covering: no row is read to
  // choose) and stops. RETURNING gives rows in no particular order; the store sorts the few it got.
  claim: claimSql('jobs_claim', ''),
  // Only jobs with no crash behind them: crashes is in jobs_claim, so the filter reads no row.
  claimClean: claimSql('jobs_claim', 'AND crashes = 0'),
  // One suspect, from the small index of suspects.
  claimSuspect: claimSql('jobs_suspects', 'AND crashes > 0'),
  // A write transaction (BEGIN IMMEDIATE) holds the whole file: nothing changes the row in between.
  current: `SELECT ${COLUMNS} FROM jobs WHERE ${CURRENT}`,
  // The first `atMost` due entries of jobs_claim, as a claim reads them (covering), and no further.
  countDue: `SELECT count(*) AS n FROM (SELECT 1 FROM jobs INDEXED BY jobs_claim
    WHERE queue = ? AND state = 'waiting' AND run_at <= ? LIMIT ?)`,
  // Counting reads index entries only: jobs_state_queue_seq for the states, then per queue with
  // waiting jobs a range of jobs_waiting_run_at (delayed; the oldest due), jobs_retrying (failed),
  // and a range of jobs_done_finished_at for the last minute's throughput. A count is linear in
  // what it counts (SQLite keeps no counts), so the large ranges are walked once, in the index.
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
  // A write transaction holds the whole file, so the state the subquery chose is the state the
  // outer statement changes (PostgreSQL, where rows change under a statement, checks it again).
  // Retried jobs leave the state, so each batch picks the next ones. delivery is kept: a token of
  // an earlier delivery must stay stale for ever.
  retryBatch: `UPDATE jobs SET state = 'waiting', run_at = ?, attempts = 0, crashes = 0, finished_at = NULL,
      updated_at = ?
    WHERE seq IN (SELECT seq FROM jobs WHERE state = ? AND queue = ? LIMIT ?)`,
  purgeBatch: 'DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE state = ? AND queue = ? LIMIT ?)',
  pruneDone: `DELETE FROM jobs WHERE seq IN (
    SELECT seq FROM jobs INDEXED BY jobs_done_finished_at WHERE state = 'done' AND finished_at < ? LIMIT ?)`,
  pruneDoneOf: `DELETE FROM jobs WHERE seq IN (
    SELECT seq FROM jobs INDEXED BY jobs_done_finished_at
    WHERE state = 'done' AND finished_at < ? AND queue = ? LIMIT ?)`,
} as const
