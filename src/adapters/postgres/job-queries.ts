/**
 * The SQL of the PostgreSQL JobStore adapter (pg-job-store.ts), kept apart from the code that runs
 * it, as data: the statements both adapters share (../sql/job-sql.ts), numbered, and PostgreSQL's
 * own. Every fixed statement is named, so each connection prepares it once. The schema is
 * `sql/postgres/0001_init.sql`; its comments say which query each index serves.
 *
 * Several agents claim from one table at once, each in its own READ COMMITTED transaction. What
 * keeps one delivery from going to two workers: a claim locks the rows it picks (`FOR UPDATE`) and
 * skips rows another claim holds (`SKIP LOCKED`), and PostgreSQL checks a locked row's conditions
 * again on its newest version, so a job another claim made active meanwhile is not taken. A
 * statement that changes rows a subquery chose repeats the subquery's conditions in its own WHERE,
 * for the same reason: they are checked again on the row as it is when it is changed.
 * @module
 */
import { CLAIM_ORDER, CLAIMED_COLUMNS, COLUMNS, CURRENT, NO_LEASE, PORTABLE_JOB_SQL } from '../sql/job-sql.js'
import { named, numbered } from './statements.js'

/**
 * The claim's fence: an agent claims only under its node's current epoch and while its lease is
 * live at the claim's `now` and not ended by the leader (its expiry after its last heartbeat: see
 * endLapsedLeases; one row of supervisor_leases, read once per statement). A claim sent before the
 * agent was cut off and run by the server after its lease lapsed, or after the leader reclaimed
 * its jobs, or after it rejoined with a new epoch, takes nothing: no job is stamped with an owner
 * that no longer holds it. A store that never claimed a node ($5 null: a library enqueuing, the
 * contract tests) is not fenced.
 */
const LEASE_HELD = `($5::text IS NULL OR EXISTS (SELECT 1 FROM supervisor_leases l
        WHERE l.node = $5 AND l.epoch = $6 AND l.expires_at > $2 AND l.expires_at > l.heartbeat_at))`

/**
 * A claim: parameters $1 worker, $2 now, $3 queue, $4 limit, $5 and $6 the claiming agent's node and
 * lease epoch (null for a store that never claimed its node). The CTE reads the first `limit` due
 * entries of jobs_claim (or jobs_suspects) in claim order, locking each and skipping those another
 * transaction holds; the UPDATE makes them active with the next delivery number. RETURNING gives
 * rows in no particular order; the store sorts the few it got.
 *
 * The `unsynced` variant commits without waiting for the WAL to reach the disk (the setting is the
 * transaction's own: `set_config(…, true)`), for a transaction that only claims. A claim lost to a
 * crash of the server in the moment before the next synced commit (any agent's ack flushes the WAL
 * through) leaves its jobs waiting, as they were; the worker that ran one meanwhile is refused as
 * stale and the job runs again: a duplicate of work in flight at a fault, as at-least-once allows.
 * The claim is visible to every other transaction at once, synced or not, so it changes nothing of
 * who may take a job.
 */
function claimSql(filter: string, unsynced = false): string {
  return claimPicked(`picked AS (${due(filter)} LIMIT $4 FOR UPDATE SKIP LOCKED)`, unsynced)
}

/**
 * The claim of a worker that holds nothing (`alone`), in one statement: one suspect if one is due,
 * else up to `limit` jobs never in a crash. The suspect is looked for first and kept (MATERIALIZED:
 * both later parts read the one row it locked); the clean jobs are read only when there is none (an
 * uncorrelated NOT EXISTS: a one-time filter, so no clean row is locked beside a suspect).
 */
function claimAloneSql(unsynced = false): string {
  return claimPicked(
    `suspect AS MATERIALIZED (${due('AND crashes > 0')} LIMIT 1 FOR UPDATE SKIP LOCKED),
    clean AS MATERIALIZED (${due('AND crashes = 0 AND NOT EXISTS (SELECT 1 FROM suspect)')} LIMIT $4
      FOR UPDATE SKIP LOCKED),
    picked AS (SELECT seq FROM suspect UNION ALL SELECT seq FROM clean)`,
    unsynced,
  )
}

/** The due jobs of a claim's queue that pass `filter`, in claim order, under the lease's fence. */
function due(filter: string): string {
  return `SELECT seq FROM jobs
      WHERE queue = $3 AND state = 'waiting' AND run_at <= $2 ${filter} AND ${LEASE_HELD}
      ORDER BY ${CLAIM_ORDER}`
}

/**
 * The claim of the rows the CTEs `ctes` name `picked` (distinct rows: a join, with nothing to make
 * unique): made active, every column returned.
 */
function claimPicked(ctes: string, unsynced: boolean): string {
  return `WITH ${unsynced ? UNSYNCED_CTE : ''}${ctes}
    UPDATE jobs SET state = 'active', delivery = delivery + 1, lease_worker = $1,
      lease_expires = CASE WHEN timeout_ms IS NULL THEN NULL ELSE $2 + timeout_ms END, updated_at = $2,
      owner_node = $5, owner_epoch = $6
    FROM ${unsynced ? 'unsynced, ' : ''}picked AS p(picked) WHERE jobs.seq = p.picked
    RETURNING ${CLAIMED_COLUMNS}`
}

/** The transaction's commit does not wait for the WAL flush (see {@link claimSql}). */
const UNSYNCED_CTE = `unsynced AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS off),
    `

/**
 * The store's notification channel, as SQL: computed by the server from the schema the
 * connection's tables are in (`current_schema()`), so that the notifying connections and the
 * listening one (job-listener.ts) agree: `shepherd_jobs.<schema>`, or `shepherd_jobs.<md5 of the
 * schema>` where that would pass PostgreSQL's 63 bytes.
 */
export const CHANNEL_SQL = `CASE WHEN octet_length('shepherd_jobs.' || current_schema()) <= 63
  THEN 'shepherd_jobs.' || current_schema() ELSE 'shepherd_jobs.' || md5(current_schema()) END`

/**
 * The longest payload of a wake, in bytes: PostgreSQL refuses payloads of 8000 bytes and more, and
 * a wake for so many queues that their list would be longer wakes them all (an empty payload).
 */
export const WAKE_PAYLOAD_MAX_BYTES = 7_899

/**
 * The rows of one add, in the order given ($1…$9: one array per column). Rows are inserted in that
 * order (WITH ORDINALITY), so seq keeps enqueue order and, of two rows with the same id or key in
 * one add, the first is the one added.
 */
const INSERT_JOBS = `INSERT INTO jobs (id, queue, state, priority, run_at, created_at, updated_at, attempts,
      max_attempts, crashes, timeout_ms, idempotency_key, delivery, payload)
    SELECT v.id, v.queue, 'waiting', v.priority, v.run_at, v.created_at, v.created_at, 0, v.max_attempts, 0,
      v.timeout_ms, v.idempotency_key, 0, v.payload
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
      $7::bigint[], $8::text[], $9::text[])
      WITH ORDINALITY AS v(id, queue, priority, run_at, created_at, max_attempts, timeout_ms,
        idempotency_key, payload, n)
    ORDER BY v.n
    ON CONFLICT DO NOTHING`

const PG_JOB_SQL = {
  // At an agent's start, the active jobs of its node ($3; null for a store that never claimed one),
  // those of no owner (claimed before sql/postgres/0004_job_owner.sql), and those of a node with no
  // live lease (a node renamed or gone for good): never those of another live agent.
  releaseOwn: `${numbered(PORTABLE_JOB_SQL.releaseAll)}
    AND (owner_node IS NULL OR owner_node = $3 OR NOT EXISTS (SELECT 1 FROM supervisor_leases l
      WHERE l.node = jobs.owner_node AND l.expires_at > $4))`,
  // The leader's reclaim, first ($1 now, $2 its own node): the leases of other nodes that expired
  // by $1 are ended, their expiry set to their last heartbeat (a live lease's is always later). No
  // renewal or claim of an ended lease is taken (see renew and LEASE_HELD), however late it
  // arrives and whatever its send time says (one held up in a link that was cut): its holder's next
  // renewal is refused (lapsed) and it claims its node again, with a new epoch. Run before the
  // jobs' reclaim, in its transaction: a renewal that comes between waits for the row, then finds
  // it ended; one that came before left the lease live, and its jobs are not reclaimed.
  endLapsedLeases: `UPDATE supervisor_leases SET expires_at = heartbeat_at
    WHERE expires_at <= $1 AND expires_at > heartbeat_at AND node IS DISTINCT FROM $2`,
  // Then the active jobs of other nodes with no live lease, their nodes named: run by a look that
  // ended a lease, and by the leader's sweep once a lease (JobStore.reclaimLapsed), since it reads
  // every active job. Rows a worker's settlement holds locked are skipped: the sweep takes them.
  reclaimLapsed: `WITH lapsed AS (SELECT seq, owner_node FROM jobs
      WHERE state = 'active' AND owner_node IS NOT NULL AND owner_node IS DISTINCT FROM $2
        AND NOT EXISTS (SELECT 1 FROM supervisor_leases l
        WHERE l.node = jobs.owner_node AND l.expires_at > $1)
      FOR UPDATE SKIP LOCKED)
    UPDATE jobs SET state = 'waiting', run_at = $1, updated_at = $1, ${NO_LEASE}
    FROM lapsed WHERE jobs.seq = lapsed.seq
    RETURNING jobs.queue, lapsed.owner_node`,
  // A rejoin ($1 node, $2 its new epoch, $3 ids and $4 deliveries its workers still hold): the
  // deliveries its workers hold, not given to another agent meanwhile, are the new epoch's…
  adoptHeld: `UPDATE jobs SET owner_epoch = $2
    FROM unnest($3::text[], $4::bigint[]) AS h(id, delivery)
    WHERE jobs.id = h.id AND jobs.delivery = h.delivery AND jobs.state = 'active'
      AND jobs.owner_node = $1 AND jobs.owner_epoch < $2`,
  // …and the node's other active jobs of earlier epochs, which no worker here holds (claims whose
  // answer was lost with the link), go back to the queue ($3 now), nothing counted.
  releaseStale: `UPDATE jobs SET state = 'waiting', run_at = $3, updated_at = $3, ${NO_LEASE}
    WHERE state = 'active' AND owner_node = $1 AND owner_epoch < $2
    RETURNING queue`,
  // The wake of a write that put jobs in the queue ($1 the payload: the queues, as JSON), sent
  // with its transaction's commit: one per transaction, whatever the number of jobs.
  notify: `SELECT pg_notify(${CHANNEL_SQL}, $1)`,
  // Acks of several jobs in one statement ($1 ids, $2 deliveries, $3 results as JSON text, $4 now):
  // the supervisor's group commit of a busy turn. Each changes only its own job's current delivery,
  // as the single ack does, and returns only the id of the job it finished, as the single ack does.
  ackMany: `UPDATE jobs SET state = 'done', result = v.result, finished_at = $4, updated_at = $4,
      lease_worker = NULL, lease_expires = NULL, owner_node = NULL, owner_epoch = NULL
    FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(id, delivery, result)
    WHERE jobs.id = v.id AND jobs.state = 'active' AND jobs.delivery = v.delivery
    RETURNING jobs.id`,
  // The acks of several jobs of queues that keep no done jobs ($1 ids, $2 deliveries): deleted, each
  // only at its current delivery, as ackDrop alone.
  ackDropMany: `DELETE FROM jobs USING unnest($1::text[], $2::bigint[]) AS v(id, delivery)
    WHERE jobs.id = v.id AND jobs.state = 'active' AND jobs.delivery = v.delivery
    RETURNING jobs.id`,
  // A chunk of the jobs of one add (INSERT_JOBS), in a transaction that notifies (notify) once.
  insertMany: `${INSERT_JOBS}
    RETURNING id`,
  // The jobs of one add and its wake in one statement, which commits by itself (autocommit): one
  // round trip. The wake names the queues that got jobs (as `notify` does; the list as JSON, or ''
  // for any queue when it is too long) and is sent only when some job was added; the CTE that sends
  // it is computed once (MATERIALIZED), and only if the insert returned a row (the join reads it for
  // the first). PostgreSQL delivers it at the commit, as with `notify`.
  insertNotify: `WITH inserted AS (${INSERT_JOBS}
      RETURNING id, queue),
    woken AS MATERIALIZED (SELECT pg_notify(${CHANNEL_SQL},
        CASE WHEN octet_length(list) <= ${WAKE_PAYLOAD_MAX_BYTES} THEN list ELSE '' END)
      FROM (SELECT json_agg(DISTINCT queue)::text AS list FROM inserted) AS queues WHERE list IS NOT NULL)
    SELECT inserted.id FROM inserted LEFT JOIN woken ON true`,
  claim: claimSql(''),
  claimClean: claimSql('AND crashes = 0'),
  claimSuspect: claimSql('AND crashes > 0'),
  claimUnsynced: claimSql('', true),
  claimCleanUnsynced: claimSql('AND crashes = 0', true),
  claimSuspectUnsynced: claimSql('AND crashes > 0', true),
  claimAlone: claimAloneSql(),
  claimAloneUnsynced: claimAloneSql(true),
  // The first $3 due entries of jobs_claim for queue $1 at $2, and no further (a bounded range).
  countDue: `SELECT count(*) AS n FROM (SELECT 1 FROM jobs
    WHERE queue = $1 AND state = 'waiting' AND run_at <= $2 LIMIT $3) AS due`,
  // The current delivery, locked until the transaction ends: the core decides on this row, and the
  // update that follows names it by seq.
  current: `SELECT ${COLUMNS} FROM jobs WHERE ${numbered(CURRENT)} FOR UPDATE`,
  // The numbers counts needs beyond the states, for every queue with waiting jobs at once ($1 now):
  // delayed, waiting for a retry, and the oldest due job's creation time.
  waiting: `SELECT queue, count(*) FILTER (WHERE run_at > $1) AS delayed,
      count(*) FILTER (WHERE attempts > 0) AS failed, min(created_at) FILTER (WHERE run_at <= $1) AS oldest
    FROM jobs WHERE state = 'waiting' GROUP BY queue`,
  waitingOf: `SELECT queue, count(*) FILTER (WHERE run_at > $1) AS delayed,
      count(*) FILTER (WHERE attempts > 0) AS failed, min(created_at) FILTER (WHERE run_at <= $1) AS oldest
    FROM jobs WHERE state = 'waiting' AND queue = $2 GROUP BY queue`,
  // Jobs done after $1, per queue (jobs_done_finished_at).
  doneSince: `SELECT queue, count(*) AS n FROM jobs WHERE state = 'done' AND finished_at > $1 GROUP BY queue`,
  doneSinceOf: `SELECT queue, count(*) AS n FROM jobs
    WHERE state = 'done' AND finished_at > $1 AND queue = $2 GROUP BY queue`,
  // Every state of one queue ($1), each where an index holds it: the waiting jobs in jobs_claim, the
  // done ones in jobs_done_finished_at, the others in jobs_state_queue_seq (sql/postgres/0009 and
  // 0011 say why each left it).
  countQueueStates: `SELECT 'waiting' AS state, queue, count(*) AS n FROM jobs
      WHERE state = 'waiting' AND queue = $1 GROUP BY queue
    UNION ALL SELECT 'done' AS state, queue, count(*) AS n FROM jobs
      WHERE state = 'done' AND queue = $1 GROUP BY queue
    UNION ALL SELECT state, queue, count(*) AS n FROM jobs
      WHERE state IN ('active', 'dead', 'quarantined') AND queue = $1 GROUP BY state, queue`,
  // A state's jobs newest first (jobs_state_queue_seq backwards; done jobs: the primary key
  // backwards, or jobs_done_finished_at; jobs_retrying for failed).
  listState: `SELECT ${COLUMNS} FROM jobs WHERE state = $1 AND queue = $2 ORDER BY seq DESC LIMIT $3`,
  listDue: `SELECT ${COLUMNS} FROM jobs
    WHERE state = 'waiting' AND queue = $1 AND run_at <= $2 ORDER BY seq DESC LIMIT $3`,
  // run_at > created_at: as nextDue says, so that jobs_delayed serves it.
  listDelayed: `SELECT ${COLUMNS} FROM jobs
    WHERE state = 'waiting' AND queue = $1 AND run_at > $2 AND run_at > created_at ORDER BY seq DESC LIMIT $3`,
  listFailed: `SELECT ${COLUMNS} FROM jobs
    WHERE state = 'waiting' AND attempts > 0 AND queue = $1 ORDER BY seq DESC LIMIT $2`,
  // Batches of a whole state ($1 now, $2 state, $3 queue, $4 batch size). Retried jobs leave the
  // state, so each batch picks the next ones; the delivery number is kept.
  retryBatch: `UPDATE jobs SET state = 'waiting', run_at = $1, attempts = 0, crashes = 0, finished_at = NULL,
      updated_at = $1
    WHERE state = $2 AND queue = $3 AND seq IN (SELECT seq FROM jobs WHERE state = $2 AND queue = $3 LIMIT $4)`,
  // $1 state, $2 queue, $3 batch size: never a job a claim made active meanwhile.
  purgeBatch: `DELETE FROM jobs
    WHERE state = $1 AND queue = $2 AND seq IN (SELECT seq FROM jobs WHERE state = $1 AND queue = $2 LIMIT $3)`,
  pruneDone: `DELETE FROM jobs WHERE state = 'done' AND seq IN (
    SELECT seq FROM jobs WHERE state = 'done' AND finished_at < $1 LIMIT $2)`,
  pruneDoneOf: `DELETE FROM jobs WHERE state = 'done' AND seq IN (
    SELECT seq FROM jobs WHERE state = 'done' AND finished_at < $1 AND queue = $2 LIMIT $3)`,
} as const

/** Every statement of the PostgreSQL job store, named. */
export const JOB_STATEMENTS = {
  ...named('job', PORTABLE_JOB_SQL, true),
  ...named('pgjob', PG_JOB_SQL, false),
}

/** A row of `waiting`/`waitingOf`. */
export interface WaitingRow {
  queue: string
  delayed: number
  failed: number
  oldest: number | null
}
