/**
 * The embedded JobStore adapter: the durable queue in the store's SQLite file, on the store's own
 * connection (same pragmas: WAL, synchronous=FULL, busy_timeout). The schema is
 * `sql/sqlite/0002_jobs.sql`; the SQL is job-queries.ts; what runs inside the transactions (an
 * insert, a claim, the settlements, the reads of the counts) is job-transactions.ts.
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

import { type Delivery, type Job, type JobPolicy, type NewJob } from '../../core/job.js'
import {
  type AddResult,
  type ClaimRequest,
  type Exchange,
  type JobQuery,
  type JobStore,
  type JobWake,
  type JobWatch,
  type PurgeState,
  type QueueCounts,
  type Settlement,
  type SettleResult,
  type SuspectRule,
} from '../../ports/job-store.js'
import { checkIds, checkInteger, checkName, epochMs, plural } from '../../store/checks.js'
import {
  checkClaim,
  type CheckedJob,
  checkJobId,
  checkListQuery,
  checkNewJobs,
  checkPurgeState,
  checkRetryFrom,
  checkSettlements,
  type JobDefaults,
  type ReadySettlement,
} from '../../store/job-checks.js'
import { countQueues } from '../../store/job-counts.js'
import { JobWakes, queuesAdded, queuesWoken } from '../../store/job-wakes.js'
import { type JobOwner, type JobRow, toJob } from '../sql/job-sql.js'
import { JOB_BATCH } from './job-queries.js'
import {
  claimRows,
  countSource,
  insertJob,
  type JobStatements,
  prepareJobStatements,
  settleAll,
  type Statement,
} from './job-transactions.js'
import type { SqliteGuard } from './store-guard.js'

/** Options of {@link SqliteJobStore}. */
export interface SqliteJobStoreOptions {
  /**
   * Makes the id of a job added without one.
   * @defaultValue `crypto.randomUUID`
   */
  newId?: () => string
}

type Ready = readonly ReadySettlement[]
type PolicyOf = (queue: string) => JobPolicy
type Random = () => number

/**
 * A JobStore on an open, migrated better-sqlite3 connection. `SqliteStore` builds one on its
 * own connection and exposes it as `store.jobs`; nothing else needs to construct it.
 */
export class SqliteJobStore implements JobStore {
  readonly #guard: SqliteGuard
  readonly #newId: () => string
  /** Wakes for what this object commits: other processes' adds are found by polling. */
  readonly #wakes = new JobWakes()
  readonly #s: JobStatements
  readonly #add: Database.Transaction<(rows: readonly CheckedJob[]) => AddResult[]>
  readonly #db: Database.Database
  /** The agent whose claims this store makes, once its store claimed its node. */
  #owner: JobOwner | null = null
  readonly #claim: Database.Transaction<(c: ClaimRequest, now: number) => Delivery[]>
  readonly #exchange: Database.Transaction<
    (items: Ready, claims: readonly ClaimRequest[], now: number, policy: PolicyOf, random: Random) => Exchange
  >
  readonly #settle: Database.Transaction<
    (items: Ready, now: number, policy: PolicyOf, random: Random) => SettleResult[]
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
    const s = prepareJobStatements(db)
    this.#s = s
    this.#add = db.transaction((rows: readonly CheckedJob[]) => rows.map((r) => insertJob(s, r)))
    this.#claim = db.transaction((c: ClaimRequest, now: number) => claimRows(s, c, now, this.#owner))
    this.#settle = db.transaction((items: Ready, now: number, policy: PolicyOf, random: Random) =>
      settleAll(s, items, now, policy, random),
    )
    this.#exchange = db.transaction(
      (items: Ready, claims: readonly ClaimRequest[], now: number, policy: PolicyOf, random: Random) => ({
        settled: settleAll(s, items, now, policy, random),
        claimed: claims.map((c) => claimRows(s, c, now, this.#owner)),
      }),
    )
    this.#db = db
    const source = countSource(s)
    this.#counts = db.transaction((now: number, queue: string | undefined) => countQueues(source, now, queue))
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
    defaults: (queue: string) => JobDefaults,
  ): Promise<AddResult[]> {
    const rows = checkNewJobs(jobs, epochMs('now', now), defaults, this.#newId)
    if (rows.length === 0) return []
    const queues = [...new Set(rows.map((r) => r.queue))].join(', ')
    const added = await this.#guard.write(`add ${plural(rows.length, 'job')} to ${queues}`, () =>
      this.#add.immediate(rows),
    )
    this.#wakes.tell(queuesAdded(rows, added))
    return added
  }

  /**
   * The agent this store claims for from now on (its store calls this when it claims its node): its
   * claims stamp the jobs with it.
   */
  ownedBy(owner: JobOwner): void {
    this.#owner = owner
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
    const ready = checkSettlements(settlements, 'settlements')
    const requests = claims.map(checkClaim).filter((c) => c.limit > 0)
    if (ready.length + requests.length === 0) return { settled: [], claimed: claims.map(() => []) }
    const run = (): Exchange => {
      const r = this.#exchange.immediate(ready, requests, t, policy, random)
      // Put back the empty answers of the claims that asked for nothing.
      let k = 0
      return { settled: r.settled, claimed: claims.map((c) => (c.limit > 0 ? r.claimed[k++]! : [])) }
    }
    const what = `settle ${plural(ready.length, 'delivery', 'deliveries')} and claim for ${plural(requests.length, 'worker', 'workers')}`
    if (ready.length === 0) return this.#lightly(() => this.#guard.write(what, run))
    const done = await this.#guard.write(what, run)
    this.#wakes.tell(queuesWoken(done.settled))
    return done
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
    const ready = checkSettlements(items, 'items')
    if (ready.length === 0) return []
    const settled = await this.#guard.write(`settle ${plural(ready.length, 'delivery', 'deliveries')}`, () =>
      this.#settle.immediate(ready, t, policy, random),
    )
    this.#wakes.tell(queuesWoken(settled))
    return settled
  }

  /**
   * Every active job back to waiting, due now, lease cleared, nothing counted; returns how many. A
   * SQLite store has one supervisor (its OS lock), so whatever is active was held by a run that is
   * gone, whatever node name that run had (a container's host name changes at every start).
   */
  async releaseAllActive(now: number): Promise<number> {
    const t = epochMs('now', now)
    const n = await this.#guard.write('release all active jobs', () =>
      this.#tx.immediate(() => this.#s.releaseAll.run(t, t).changes),
    )
    if (n > 0) this.#wakes.tell(null)
    return n
  }

  /** See JobStore.reclaimLapsed: nothing here; the one supervisor put everything back at its start. */
  async reclaimLapsed(): Promise<ReadonlyMap<string, number>> {
    return new Map()
  }

  /** See JobStore.adopt: nothing here; the one supervisor's lease never lapses. */
  async adopt(): Promise<{ kept: number; released: number }> {
    return { kept: 0, released: 0 }
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

  /** How many jobs of the queue are due at `now`, up to `atMost` (a bounded range of the claim index). */
  async countDue(queue: string, now: number, atMost: number): Promise<number> {
    const t = epochMs('now', now)
    checkName('queue', queue)
    if (checkInteger('atMost', atMost, 0) === 0) return 0
    return this.#guard.read(
      `count the due jobs of ${queue}`,
      () => (this.#s.countDue as Statement<{ n: number }>).get(queue, t, atMost)!.n,
    )
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
    checkJobId(id)
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
    const { state, limit } = checkListQuery(query)
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
    checkRetryFrom(from)
    const what = `retry the ${from} jobs of ${queue}`
    if (ids !== undefined) checkIds(ids)
    const n =
      ids !== undefined
        ? this.#eachId(what, ids, (id) => this.#s.retryOne.run(t, t, id, from, queue).changes)
        : await this.#inBatches(what, () => this.#s.retryBatch.run(t, t, from, queue, JOB_BATCH).changes)
    if (n > 0) this.#wakes.tell([queue])
    return n
  }

  /**
   * Calls `wake` after every commit of this object that put jobs in the queue (see the port). Jobs
   * that another process adds to the file (the CLI, a `Queue` elsewhere) wake nobody: `everywhere`
   * is false, and the dispatcher finds them by polling.
   */
  watch(wake: JobWake): JobWatch {
    return this.#wakes.watch(wake)
  }

  /**
   * Deletes the queue's jobs in that state (or those of `ids` in it); returns how many. A whole
   * state is deleted in batches, one transaction each; a batch that fails leaves the earlier ones
   * deleted.
   */
  async purge(queue: string, state: PurgeState, ids?: readonly string[]): Promise<number> {
    checkName('queue', queue)
    checkPurgeState(state)
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
