/**
 * The embedded JobStore adapter: the durable queue in the store's SQLite file, on the store's own
 * connection (same pragmas: WAL, synchronous=FULL, busy_timeout). The schema is
 * `sql/sqlite/0002_jobs.sql`; its comments say which query each index serves.
 *
 * Every statement is prepared once, in the constructor. Every write method is one
 * `BEGIN IMMEDIATE` transaction (the write lock is taken before the first read, so a concurrent
 * writer in another process waits instead of failing with SQLITE_BUSY_SNAPSHOT halfway through);
 * the large deletes and updates an operator may ask for (pruneDone, purge and retry of a whole
 * state) run in batches of {@link JOB_BATCH}, one transaction each. Arguments are checked before
 * any transaction begins, so a bad one (SHEPHERD_BAD_REQUEST) changes nothing.
 * @module
 */
import { randomUUID } from 'node:crypto'
import { setImmediate as nextTurn } from 'node:timers/promises'

import type Database from 'better-sqlite3'

import { deliveryToken, parseDeliveryToken } from '../../core/ids.js'
import {
  decideCrash,
  decideFailure,
  type Delivery,
  type Job,
  type JobPolicy,
  type JobState,
  type NewJob,
} from '../../core/job.js'
import { ShepherdError } from '../../errors.js'
import {
  type AddResult,
  type ClaimRequest,
  type Exchange,
  type JobQuery,
  type JobStore,
  PURGE_STATES,
  type PurgeState,
  type QueueCounts,
  type Settlement,
  type SettleOutcome,
  type SettleResult,
  type SuspectRule,
  zeroCounts,
} from '../job-store.js'

/**
 * How the job store runs its statements: the owning store's error mapping, so that a refused job
 * write reads exactly like a refused incident write (SHEPHERD_STORE_WRITE_FAILED with the
 * operation, the file, the SQLite code and what to do) and a closed store is refused the same way.
 */
export interface SqliteGuard {
  /** Runs a write; any failure becomes SHEPHERD_STORE_WRITE_FAILED naming `operation`. */
  write<T>(operation: string, run: () => T): T
  /** Runs a read; any failure becomes SHEPHERD_INTERNAL naming `operation`. */
  read<T>(operation: string, run: () => T): T
}

/** Options of {@link SqliteJobStore}. */
export interface SqliteJobStoreOptions {
  /**
   * Makes the id of a job added without one.
   * @defaultValue `crypto.randomUUID`
   */
  newId?: () => string
}

/** Default page size of listJobs, as the port documents. */
const DEFAULT_LIST_LIMIT = 50
/** Largest page listJobs returns: a page is parsed into memory whole (payloads included). */
const MAX_LIST_LIMIT = 1_000

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

const SUSPECT_RULES: readonly SuspectRule[] = ['any', 'exclude', 'only', 'alone']

function checkClaim(c: ClaimRequest): ClaimRequest {
  checkName('queue', c.queue)
  checkName('worker', c.worker)
  checkInteger('limit', c.limit, 0)
  if (!SUSPECT_RULES.includes(c.suspects)) {
    throw badRequest(
      `Expected \`suspects\` to be one of ${SUSPECT_RULES.join(', ')}, got ${describe(c.suspects)}`,
    )
  }
  return c
}

/** A row of `jobs` as better-sqlite3 returns it. */
interface JobRow {
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

interface CountRow {
  state: JobState
  queue: string
  n: number
}

/** A NewJob checked, defaulted and serialised: the parameters of one INSERT. */
interface NewRow {
  id: string
  queue: string
  key: string | null
  params: readonly unknown[]
}

/** A settlement checked, its token parsed and its value serialised, before the transaction. */
interface ReadySettlement {
  item: Settlement
  /** The token's job id; null when the token has no `:` and so names no job. */
  id: string | null
  /** The token's delivery number; -1 when it is not one (such a token matches no delivery). */
  delivery: number
  /** The JSON of the ack's result, the checkpoint's state or the progress value; null for none. */
  json: string | null
}

type Statement<R = unknown> = Database.Statement<unknown[], R>

const ALL_STATES: readonly JobState[] = ['waiting', 'active', 'done', 'dead', 'quarantined']
const LIST_STATES: ReadonlySet<string> = new Set([...ALL_STATES, 'delayed', 'failed'])

/**
 * A JobStore on an open, migrated better-sqlite3 connection. `SqliteStore` builds one on its
 * own connection and exposes it as `store.jobs`; nothing else needs to construct it.
 */
export class SqliteJobStore implements JobStore {
  readonly #guard: SqliteGuard
  readonly #newId: () => string
  readonly #s: { [K in keyof typeof JOB_SQL]: Statement }
  readonly #add: Database.Transaction<(rows: readonly NewRow[]) => AddResult[]>
  readonly #db: Database.Database
  readonly #claim: Database.Transaction<(c: ClaimRequest, now: number) => Delivery[]>
  readonly #exchange: Database.Transaction<
    (
      items: readonly ReadySettlement[],
      claims: readonly ClaimRequest[],
      now: number,
      policy: (queue: string) => JobPolicy,
      random: () => number,
    ) => { settled: SettleResult[]; claimed: Delivery[][] }
  >
  readonly #settle: Database.Transaction<
    (
      items: readonly ReadySettlement[],
      now: number,
      policy: (queue: string) => JobPolicy,
      random: () => number,
    ) => SettleResult[]
  >
  readonly #counts: Database.Transaction<(now: number, queue: string | undefined) => QueueCounts[]>
  /** Any other write: `run` inside one transaction, returning how many jobs it changed. */
  readonly #tx: Database.Transaction<(run: () => number) => number>

  /**
   * @param db - an open connection whose schema includes migration 0002 (`jobs`).
   * @param guard - runs reads and writes with the owning store's error mapping.
   * @param options - {@link SqliteJobStoreOptions}.
   * @throws the SQLite error of a statement that cannot be prepared (no `jobs` table: the schema is
   *   older than this code); `SqliteStore` reports it as SHEPHERD_STORE_OPEN_FAILED.
   */
  constructor(db: Database.Database, guard: SqliteGuard, options: SqliteJobStoreOptions = {}) {
    this.#guard = guard
    this.#newId = options.newId ?? randomUUID
    this.#s = Object.fromEntries(Object.entries(JOB_SQL).map(([name, sql]) => [name, db.prepare(sql)])) as {
      [K in keyof typeof JOB_SQL]: Statement
    }
    this.#add = db.transaction((rows: readonly NewRow[]) => rows.map((r) => this.#insert(r)))
    this.#claim = db.transaction((c: ClaimRequest, now: number) => this.#claimRows(c, now))
    this.#settle = db.transaction(
      (
        items: readonly ReadySettlement[],
        now: number,
        policy: (queue: string) => JobPolicy,
        random: () => number,
      ) => this.#settleAll(items, now, policy, random),
    )
    this.#exchange = db.transaction(
      (
        items: readonly ReadySettlement[],
        claims: readonly ClaimRequest[],
        now: number,
        policy: (queue: string) => JobPolicy,
        random: () => number,
      ) => ({
        settled: this.#settleAll(items, now, policy, random),
        claimed: claims.map((c) => this.#claimRows(c, now)),
      }),
    )
    this.#db = db
    this.#counts = db.transaction((now: number, queue: string | undefined) => this.#countAll(now, queue))
    this.#tx = db.transaction((run: () => number) => run())
  }

  /**
   * Adds the jobs in one transaction, in order. A job whose id exists already, or whose
   * (queue, idempotency key) does (in any state, done included until pruned; also earlier in the
   * same batch), is a duplicate: `added: false` and nothing changes. For a key that matched, `id` is
   * the existing job's.
   * @throws ShepherdError `SHEPHERD_BAD_REQUEST` naming the job when a field is invalid or the
   *   payload is not JSON (nothing is added); `SHEPHERD_STORE_WRITE_FAILED` when the write fails.
   */
  async add(
    jobs: readonly NewJob[],
    now: number,
    defaults: (queue: string) => { maxAttempts: number; timeoutMs: number | null },
  ): Promise<AddResult[]> {
    const t = epochMs('now', now)
    if (!Array.isArray(jobs)) throw badRequest(`Expected \`jobs\` to be an array, got ${describe(jobs)}`)
    const perQueue = new Map<string, { maxAttempts: number; timeoutMs: number | null }>()
    const defaultsOf = (queue: string) => {
      let d = perQueue.get(queue)
      if (!d) {
        d = checkDefaults(queue, defaults(queue))
        perQueue.set(queue, d)
      }
      return d
    }
    const rows = jobs.map((job, i) => this.#newRow(job, i, t, defaultsOf))
    if (rows.length === 0) return []
    const queues = [...new Set(rows.map((r) => r.queue))].join(', ')
    return this.#guard.write(`add ${plural(rows.length, 'job')} to ${queues}`, () =>
      this.#add.immediate(rows),
    )
  }

  /**
   * Leases up to `limit` due jobs of the queue to `worker`, highest priority first, then in enqueue
   * order, and returns them in that order with their delivery tokens. Each becomes active, its
   * delivery number one higher, its lease held by `worker` until `now + timeoutMs` (no expiry
   * without a timeout).
   */
  async claim(
    queue: string,
    limit: number,
    worker: string,
    now: number,
    suspects: SuspectRule = 'any',
  ): Promise<Delivery[]> {
    const t = epochMs('now', now)
    const c = checkClaim({ queue, limit, worker, suspects })
    if (limit === 0) return []
    return this.#lightly(() =>
      this.#guard.write(`claim jobs of ${queue} for ${worker}`, () => this.#claim.immediate(c, t)),
    )
  }

  /**
   * Settlements, then claims, in one transaction: the supervisor's whole turn costs one commit. A
   * turn with claims only commits without waiting for the disk (see #lightly).
   */
  async exchange(
    settlements: readonly Settlement[],
    claims: readonly ClaimRequest[],
    now: number,
    policy: (queue: string) => JobPolicy,
    random: () => number,
  ): Promise<Exchange> {
    const t = epochMs('now', now)
    if (!Array.isArray(settlements)) {
      throw badRequest(`Expected \`settlements\` to be an array, got ${describe(settlements)}`)
    }
    const ready = settlements.map(readySettlement)
    const requests = claims.map(checkClaim).filter((c) => c.limit > 0)
    if (ready.length + requests.length === 0) return { settled: [], claimed: claims.map(() => []) }
    const run = (): Exchange => {
      const r = this.#exchange.immediate(ready, requests, t, policy, random)
      // Put back the empty answers of the claims that asked for nothing.
      let k = 0
      return { settled: r.settled, claimed: claims.map((c) => (c.limit > 0 ? r.claimed[k++]! : [])) }
    }
    const what = `settle ${plural(ready.length, 'delivery', 'deliveries')} and claim for ${plural(requests.length, 'worker', 'workers')}`
    return ready.length > 0 ? this.#guard.write(what, run) : this.#lightly(() => this.#guard.write(what, run))
  }

  /**
   * Runs a write that need not reach the disk before it returns: a claim. If power fails before a
   * later commit syncs the log, the claim is lost and its jobs are simply still waiting, which is
   * what at-least-once allows; and every settlement commit (synchronous=FULL) syncs the log up to
   * itself, claims before it included. Acknowledged work keeps its full durability.
   */
  #lightly<T>(run: () => T): T {
    this.#db.pragma('synchronous = NORMAL')
    try {
      return run()
    } finally {
      this.#db.pragma('synchronous = FULL')
    }
  }

  #claimRows(c: ClaimRequest, now: number): Delivery[] {
    const take = (stmt: Statement, limit: number): JobRow[] =>
      (stmt as Statement<JobRow>).all(c.worker, now, now, c.queue, now, limit)
    let rows: JobRow[]
    switch (c.suspects) {
      case 'only':
        rows = take(this.#s.claimSuspect, c.limit)
        break
      case 'exclude':
        rows = take(this.#s.claimClean, c.limit)
        break
      case 'alone': {
        const suspect = take(this.#s.claimSuspect, 1)
        rows = suspect.length > 0 ? suspect : take(this.#s.claimClean, c.limit)
        break
      }
      case 'any':
        rows = take(this.#s.claim, c.limit)
        break
    }
    rows.sort((a, b) => b.priority - a.priority || a.seq - b.seq)
    return rows.map((r) => {
      const job = toJob(r)
      return { job, token: deliveryToken(job.id, job.delivery) }
    })
  }

  #settleAll(
    items: readonly ReadySettlement[],
    now: number,
    policy: (queue: string) => JobPolicy,
    random: () => number,
  ): SettleResult[] {
    // One policy per queue per batch: the caller's function may build it from the config.
    const policies = new Map<string, JobPolicy>()
    const policyOf = (queue: string): JobPolicy => {
      let p = policies.get(queue)
      if (!p) {
        p = policy(queue)
        policies.set(queue, p)
      }
      return p
    }
    return items.map((r) => this.#settleOne(r, now, policyOf, random))
  }

  /**
   * Applies the settlements in order, in one transaction, with the core's rules (decideFailure,
   * decideCrash). A token that is not its job's current delivery (an earlier delivery, a job no
   * longer active, a job that does not exist, or no token at all) gives `stale` and changes nothing.
   * @throws ShepherdError `SHEPHERD_BAD_REQUEST` naming the item when its kind is unknown, its token
   *   or error is not a string, or its result, checkpoint or progress is not JSON: the whole batch
   *   is refused before anything is written.
   */
  async settle(
    items: readonly Settlement[],
    now: number,
    policy: (queue: string) => JobPolicy,
    random: () => number,
  ): Promise<SettleResult[]> {
    const t = epochMs('now', now)
    if (!Array.isArray(items)) throw badRequest(`Expected \`items\` to be an array, got ${describe(items)}`)
    const ready = items.map(readySettlement)
    if (ready.length === 0) return []
    return this.#guard.write(`settle ${plural(ready.length, 'delivery', 'deliveries')}`, () =>
      this.#settle.immediate(ready, t, policy, random),
    )
  }

  /** Every active job back to waiting, due now, lease cleared, nothing counted; returns how many. */
  async releaseAllActive(now: number): Promise<number> {
    const t = epochMs('now', now)
    return this.#guard.write('release all active jobs', () =>
      this.#tx.immediate(() => this.#s.releaseAll.run(t, t).changes),
    )
  }

  /** The earliest runAt after `now` among the queue's waiting jobs, or null (one index seek). */
  async nextDueAt(queue: string, now: number): Promise<number | null> {
    const t = epochMs('now', now)
    checkName('queue', queue)
    return this.#guard.read(`find when the next job of ${queue} is due`, () => {
      const row = (this.#s.nextDue as Statement<{ run_at: number }>).get(queue, t)
      return row ? row.run_at : null
    })
  }

  /**
   * One row per queue that has any job, sorted by name (or only `queue`: zeros when it has none),
   * counted from the indexes in one read transaction, so the numbers are of one moment.
   */
  async counts(now: number, queue?: string): Promise<QueueCounts[]> {
    const t = epochMs('now', now)
    if (queue !== undefined) checkName('queue', queue)
    return this.#guard.read(queue === undefined ? 'count jobs' : `count the jobs of ${queue}`, () =>
      this.#counts.deferred(t, queue),
    )
  }

  /** The job as it is now, or undefined for an unknown id. */
  async getJob(id: string): Promise<Job | undefined> {
    if (typeof id !== 'string') throw badRequest(`Expected \`id\` to be a string, got ${describe(id)}`)
    return this.#guard.read(`read job ${id}`, () => {
      const row = (this.#s.byId as Statement<JobRow>).get(id)
      return row ? toJob(row) : undefined
    })
  }

  /**
   * The queue's jobs newest first (enqueue order, backwards). `state` filters: a JobState, where
   * `waiting` means due now (as in counts); `delayed` is waiting but not due; `failed` is waiting
   * after at least one error.
   * @throws ShepherdError `SHEPHERD_BAD_REQUEST` for an unknown state or a limit that is not an
   *   integer from 1 to 1000.
   */
  async listJobs(queue: string, query: JobQuery, now: number): Promise<Job[]> {
    const t = epochMs('now', now)
    checkName('queue', queue)
    const state = query.state
    if (state !== undefined && !LIST_STATES.has(state)) {
      throw badRequest(
        `Expected \`state\` to be one of ${[...LIST_STATES].join(', ')}, got ${describe(state)}`,
      )
    }
    const limit = query.limit ?? DEFAULT_LIST_LIMIT
    checkInteger('limit', limit, 1, MAX_LIST_LIMIT)
    return this.#guard.read(`list the jobs of ${queue}`, () => {
      const rows = ((): unknown[] => {
        switch (state) {
          case undefined:
            return this.#s.list.all(queue, limit)
          case 'waiting':
            return this.#s.listDue.all(queue, t, limit)
          case 'delayed':
            return this.#s.listDelayed.all(queue, t, limit)
          case 'failed':
            return this.#s.listFailed.all(queue, limit)
          default:
            return this.#s.listState.all(state, queue, limit)
        }
      })()
      return (rows as JobRow[]).map(toJob)
    })
  }

  /**
   * Dead-lettered or quarantined jobs (all of the state, or those of `ids` in it) back to waiting,
   * due now, attempts and crashes at 0, finished_at cleared; returns how many. The checkpoint, the
   * last error and the delivery number are kept. A whole state is retried in batches.
   */
  async retry(
    queue: string,
    from: 'dead' | 'quarantined',
    now: number,
    ids?: readonly string[],
  ): Promise<number> {
    const t = epochMs('now', now)
    checkName('queue', queue)
    if (from !== 'dead' && from !== 'quarantined') {
      throw badRequest(`Expected \`from\` to be dead or quarantined, got ${describe(from)}`)
    }
    const what = `retry the ${from} jobs of ${queue}`
    if (ids !== undefined) {
      checkIds(ids)
      return this.#eachId(what, ids, (id) => this.#s.retryOne.run(t, t, id, from, queue).changes)
    }
    return this.#inBatches(what, () => this.#s.retryBatch.run(t, t, from, queue, JOB_BATCH).changes)
  }

  /**
   * Deletes the queue's jobs in that state (or those of `ids` in it); returns how many. A whole
   * state is deleted in batches, one transaction each; a batch that fails leaves the earlier ones
   * deleted.
   */
  async purge(queue: string, state: PurgeState, ids?: readonly string[]): Promise<number> {
    checkName('queue', queue)
    if (!PURGE_STATES.includes(state)) {
      throw badRequest(`Expected \`state\` to be ${PURGE_STATES.join(', ')}, got ${describe(state)}`)
    }
    const what = `purge the ${state} jobs of ${queue}`
    if (ids !== undefined) {
      checkIds(ids)
      return this.#eachId(what, ids, (id) => this.#s.purgeOne.run(id, state, queue).changes)
    }
    return this.#inBatches(what, () => this.#s.purgeBatch.run(state, queue, JOB_BATCH).changes)
  }

  /**
   * Deletes done jobs finished before `before` (their idempotency keys become free again) in
   * batches of {@link JOB_BATCH}, yielding to the event loop between batches; returns how many.
   */
  async pruneDone(before: number, queue?: string): Promise<number> {
    const bound = epochMs('before', before)
    if (queue !== undefined) checkName('queue', queue)
    return this.#inBatches(`prune done jobs${queue ? ` of ${queue}` : ''} finished before ${bound}`, () =>
      queue === undefined
        ? this.#s.pruneDone.run(bound, JOB_BATCH).changes
        : this.#s.pruneDoneOf.run(bound, queue, JOB_BATCH).changes,
    )
  }

  #newRow(
    job: NewJob,
    i: number,
    now: number,
    defaultsOf: (queue: string) => { maxAttempts: number; timeoutMs: number | null },
  ): NewRow {
    const at = `jobs[${i}]`
    if (typeof job !== 'object' || job === null)
      throw badRequest(`Expected \`${at}\` to be a job, got ${describe(job)}`)
    checkName(`${at}.queue`, job.queue)
    if (job.id !== undefined) checkName(`${at}.id`, job.id)
    if (job.idempotencyKey !== undefined) checkName(`${at}.idempotencyKey`, job.idempotencyKey)
    const id = job.id ?? this.#newId()
    const named = `${at}.payload (job ${id} of ${job.queue})`
    const payload = job.payload === undefined ? 'null' : toJson(job.payload, named)
    const delay = job.delay === undefined ? 0 : checkNumber(`${at}.delay`, job.delay, 0)
    const priority = job.priority === undefined ? 0 : checkInteger(`${at}.priority`, job.priority)
    const d = defaultsOf(job.queue)
    const maxAttempts =
      job.maxAttempts === undefined ? d.maxAttempts : checkInteger(`${at}.maxAttempts`, job.maxAttempts, 1)
    // A timeout keeps whole milliseconds, rounded up so that a tiny one is never "no limit".
    const timeoutMs =
      job.timeout === undefined ? d.timeoutMs : Math.ceil(checkPositive(`${at}.timeout`, job.timeout))
    const key = job.idempotencyKey ?? null
    return {
      id,
      queue: job.queue,
      key,
      params: [
        id,
        job.queue,
        priority,
        Math.floor(now + delay),
        now,
        now,
        maxAttempts,
        timeoutMs,
        key,
        payload,
      ],
    }
  }

  #insert(r: NewRow): AddResult {
    if (this.#s.insert.run(...r.params).changes === 1) return { id: r.id, added: true }
    if (r.key !== null) {
      const existing = (this.#s.idByKey as Statement<{ id: string }>).get(r.queue, r.key)
      if (existing) return { id: existing.id, added: false }
    }
    return { id: r.id, added: false }
  }

  #settleOne(
    r: ReadySettlement,
    now: number,
    policyOf: (queue: string) => JobPolicy,
    random: () => number,
  ): SettleResult {
    const { item, id, delivery } = r
    const s = this.#s as { [K in keyof typeof JOB_SQL]: Statement<JobRow> }
    const done = (outcome: SettleOutcome, row: JobRow | undefined): SettleResult =>
      row ? { token: item.token, kind: item.kind, outcome, job: toJob(row) } : this.#stale(r)
    if (id === null) return this.#stale(r)
    switch (item.kind) {
      case 'ack':
        return done('done', s.ack.get(r.json, now, now, id, delivery))
      case 'checkpoint':
        return done('saved', s.checkpoint.get(r.json, now, id, delivery))
      case 'progress':
        return done('saved', s.progress.get(r.json, now, id, delivery))
      case 'release':
        return done('released', s.release.get(now, now, id, delivery))
      case 'fail': {
        const row = s.current.get(id, delivery)
        if (!row) return this.#stale(r)
        const decision = decideFailure(toJob(row), now, policyOf(row.queue), random)
        const stack = item.stack ?? null
        return decision.kind === 'retry'
          ? done('retry', s.retryLater.get(Math.floor(decision.runAt), item.error, stack, now, row.seq))
          : done('dead', s.deadLetter.get(item.error, stack, now, now, row.seq))
      }
      case 'crash': {
        const row = s.current.get(id, delivery)
        if (!row) return this.#stale(r)
        return decideCrash(toJob(row), policyOf(row.queue)).kind === 'requeue'
          ? done('requeued', s.requeue.get(now, now, row.seq))
          : done('quarantined', s.quarantine.get(now, now, row.seq))
      }
      default:
        return assertNever(item)
    }
  }

  /** A refused settlement: the job as it is (undefined when the token names no job). */
  #stale(r: ReadySettlement): SettleResult {
    const row = r.id === null ? undefined : (this.#s.byId as Statement<JobRow>).get(r.id)
    return { token: r.item.token, kind: r.item.kind, outcome: 'stale', job: row ? toJob(row) : undefined }
  }

  #countAll(now: number, queue: string | undefined): QueueCounts[] {
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
    const states = (
      queue === undefined ? this.#s.countStates.all() : this.#s.countStatesOf.all(queue)
    ) as CountRow[]
    const one = (stmt: Statement, ...params: unknown[]): number | null =>
      (stmt as Statement<{ n: number | null }>).get(...params)?.n ?? null
    for (const { state, queue: q, n } of states) {
      const c = rowOf(q)
      switch (state) {
        case 'waiting': {
          c.delayed = one(this.#s.countDelayedOf, q, now) ?? 0
          c.waiting = n - c.delayed
          c.failed = one(this.#s.countFailedOf, q) ?? 0
          const oldest = c.waiting > 0 ? one(this.#s.oldestDueOf, q, now) : null
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
    const since = now - 60_000
    const throughput = (
      queue === undefined ? this.#s.countThroughput.all(since) : this.#s.countThroughputOf.all(since, queue)
    ) as { queue: string; n: number }[]
    for (const { queue: q, n } of throughput) rowOf(q).throughputPerMinute = n
    return [...byQueue.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0))
  }

  /** Applies `one` to each distinct id, all in one transaction; returns how many jobs changed. */
  #eachId(operation: string, ids: readonly string[], one: (id: string) => number): number {
    return this.#guard.write(operation, () =>
      this.#tx.immediate(() => {
        let n = 0
        for (const id of new Set(ids)) n += one(id)
        return n
      }),
    )
  }

  /**
   * Runs a batch statement, one transaction each, until a batch affects fewer than
   * {@link JOB_BATCH} jobs, yielding to the event loop between batches.
   */
  async #inBatches(operation: string, batch: () => number): Promise<number> {
    let total = 0
    for (;;) {
      const n = this.#guard.write(operation, () => this.#tx.immediate(batch))
      total += n
      if (n < JOB_BATCH) return total
      await nextTurn()
    }
  }
}

function toJob(r: JobRow): Job {
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

function readySettlement(item: Settlement, i: number): ReadySettlement {
  const at = `items[${i}]`
  if (typeof item !== 'object' || item === null)
    throw badRequest(`Expected \`${at}\` to be a settlement, got ${describe(item)}`)
  if (typeof item.token !== 'string')
    throw badRequest(`Expected \`${at}.token\` to be a string, got ${describe(item.token)}`)
  const named = (field: string) => `${at}.${field} (${item.kind} of ${item.token})`
  let json: string | null = null
  switch (item.kind) {
    case 'ack':
      json = item.result === undefined ? null : toJson(item.result, named('result'))
      break
    case 'checkpoint':
      json = item.state === undefined ? null : toJson(item.state, named('state'))
      break
    case 'progress':
      json = item.value === undefined ? null : toJson(item.value, named('value'))
      break
    case 'fail':
      if (typeof item.error !== 'string')
        throw badRequest(`Expected \`${named('error')}\` to be a string, got ${describe(item.error)}`)
      if (item.stack !== undefined && typeof item.stack !== 'string') {
        throw badRequest(`Expected \`${named('stack')}\` to be a string, got ${describe(item.stack)}`)
      }
      break
    case 'crash':
    case 'release':
      break
    default: {
      const kind = (item as { kind?: unknown }).kind
      throw badRequest(
        `Expected \`${at}.kind\` to be ack, fail, checkpoint, progress, crash or release, got ${describe(kind)}`,
      )
    }
  }
  const token = parseDeliveryToken(item.token)
  return { item, id: token?.jobId ?? null, delivery: token?.delivery ?? -1, json }
}

function assertNever(x: never): never {
  throw new Error(`unhandled settlement ${JSON.stringify(x)}`)
}

/** JSON text of a value the caller gives; undefined inside objects drops out as JSON says. */
function toJson(value: unknown, what: string): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (e) {
    throw badRequest(
      `Expected \`${what}\` to be a JSON value: ${e instanceof Error ? e.message : String(e)}`,
      e,
    )
  }
  if (text === undefined) throw badRequest(`Expected \`${what}\` to be a JSON value, got ${describe(value)}`)
  return text
}

function checkDefaults(
  queue: string,
  d: { maxAttempts: number; timeoutMs: number | null },
): { maxAttempts: number; timeoutMs: number | null } {
  return {
    maxAttempts: checkInteger(`defaults(${queue}).maxAttempts`, d.maxAttempts, 1),
    timeoutMs:
      d.timeoutMs === null ? null : Math.ceil(checkPositive(`defaults(${queue}).timeoutMs`, d.timeoutMs)),
  }
}

/**
 * Times go into the columns as whole epoch milliseconds (the daemon's monotonic clock has a
 * fraction; PostgreSQL's BIGINT has none). Flooring `now` changes no comparison with a stored time.
 */
function epochMs(name: string, t: number): number {
  return Math.floor(checkNumber(name, t))
}

function checkNumber(name: string, v: unknown, min?: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (min !== undefined && v < min)) {
    const range = min === undefined ? '' : ` ≥ ${min}`
    throw badRequest(`Expected \`${name}\` to be a finite number${range}, got ${describe(v)}`)
  }
  return v
}

function checkPositive(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw badRequest(`Expected \`${name}\` to be a number of milliseconds > 0, got ${describe(v)}`)
  }
  return v
}

function checkInteger(name: string, v: unknown, min?: number, max?: number): number {
  if (
    typeof v !== 'number' ||
    !Number.isSafeInteger(v) ||
    (min !== undefined && v < min) ||
    (max !== undefined && v > max)
  ) {
    const range =
      min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min !== undefined ? ` ≥ ${min}` : ''
    throw badRequest(`Expected \`${name}\` to be an integer${range}, got ${describe(v)}`)
  }
  return v
}

function checkName(name: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) {
    throw badRequest(`Expected \`${name}\` to be a non-empty string, got ${describe(v)}`)
  }
  return v
}

function checkIds(ids: unknown): asserts ids is readonly string[] {
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
    throw badRequest(`Expected \`ids\` to be an array of job ids, got ${describe(ids)}`)
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `\`${v}\` (string)`
  if (typeof v === 'bigint') return `\`${v}n\` (bigint)`
  if (typeof v === 'function' || typeof v === 'symbol') return `a ${typeof v}`
  return `\`${String(v)}\` (${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v})`
}

function badRequest(message: string, cause?: unknown): ShepherdError {
  return new ShepherdError('SHEPHERD_BAD_REQUEST', message, cause === undefined ? undefined : { cause })
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}
