/**
 * The PostgreSQL JobStore adapter: the durable queue in the store's database, shared by every agent
 * of a fleet, on the store's pool. The schema is `sql/postgres/0001_init.sql`; the SQL is
 * job-queries.ts (claims lock the rows they pick and skip those another claim holds, so no delivery
 * goes to two workers).
 *
 * Every write method is one transaction through the store's guard (pg-guard.ts); the large deletes
 * and updates an operator may ask for (pruneDone, purge and retry of a whole state) run in batches
 * of {@link JOB_BATCH}, one transaction each. Arguments are checked with the same functions as the
 * SQLite adapter's before any transaction begins, the counts are made by the same function, and the
 * core decides what becomes of a failed or crashed job, so both adapters answer alike.
 * @module
 */
import { randomUUID } from 'node:crypto'

import type pg from 'pg'

import { parseDeliveryToken } from '../../core/ids.js'
import type { Delivery, Job, JobPolicy, NewJob } from '../../core/job.js'
import type {
  AddResult,
  ClaimRequest,
  Exchange,
  JobQuery,
  JobStore,
  JobWake,
  JobWatch,
  PurgeState,
  QueueCounts,
  ReclaimScope,
  Settlement,
  SettleResult,
  SuspectRule,
} from '../../ports/job-store.js'
import { checkIds, checkInteger, checkName, epochMs, plural } from '../../store/checks.js'
import {
  checkClaim,
  checkJobId,
  checkListQuery,
  checkNewJobs,
  checkPurgeState,
  checkRetryFrom,
  checkSettlements,
  type JobDefaults,
} from '../../store/job-checks.js'
import { countQueues } from '../../store/job-counts.js'
import { JobWakes, queuesAdded, queuesWoken } from '../../store/job-wakes.js'
import { type CountRow, JOB_BATCH, type JobOwner, type JobRow, toJob } from '../sql/job-sql.js'
import { JobListener } from './job-listener.js'
import { JOB_STATEMENTS as S, type WaitingRow } from './job-queries.js'
import {
  claimRows,
  insertAll,
  insertOne,
  isOneStatement,
  notifyJobs,
  oneStatement,
  settleAll,
} from './job-transactions.js'
import type { PgGuard } from './pg-guard.js'
import { changes, type Queryable, row, rows, type Statement } from './statements.js'

/** Options of {@link PostgresJobStore}. */
export interface PostgresJobStoreOptions {
  /**
   * Makes the id of a job added without one.
   * @defaultValue `crypto.randomUUID`
   */
  newId?: () => string
  /**
   * How to open the connection that listens for other processes' wakes (the store's client
   * settings). Without it, only what this object commits wakes its watchers.
   */
  listen?: pg.ClientConfig
}

/**
 * A JobStore on a migrated PostgreSQL database. `PostgresStore` builds one on its own pool and
 * exposes it as `store.jobs`; nothing else needs to construct it.
 */
export class PostgresJobStore implements JobStore {
  readonly #guard: PgGuard
  readonly #newId: () => string
  readonly #listener: JobListener | null
  readonly #wakes: JobWakes
  /** The agent whose claims this store makes, once its store claimed its node. */
  #owner: JobOwner | null = null

  constructor(guard: PgGuard, options: PostgresJobStoreOptions = {}) {
    this.#guard = guard
    this.#newId = options.newId ?? randomUUID
    const listener = options.listen
      ? new JobListener({ client: options.listen, wake: (queues) => this.#wakes.tell(queues) })
      : null
    this.#listener = listener
    // The listening connection is opened for the first watcher (a supervisor's dispatcher), not
    // for every process that opens the store to add a job.
    this.#wakes = new JobWakes({
      everywhere: () => listener?.listening ?? false,
      first: () => listener?.start(),
      last: () => void listener?.stop(),
    })
  }

  /**
   * Calls `wake` when jobs may have become due (see the port): at once for what this object
   * commits, and for every other process's adds, retries and requeues through the store's
   * listening connection (job-listener.ts), opened for the first watcher and closed after the last.
   */
  watch(wake: JobWake): JobWatch {
    return this.#wakes.watch(wake)
  }

  /**
   * The agent this store claims for from now on (its store calls this when it claims its node): its
   * claims stamp the jobs with it, and releaseAllActive leaves other live nodes' jobs alone.
   */
  ownedBy(owner: JobOwner): void {
    this.#owner = owner
  }

  /** The server process of the listening connection while it listens (for pg_terminate_backend). */
  get listenerPid(): number | null {
    return this.#listener?.pid ?? null
  }

  /** Closes the listening connection (the store closes its pool after). */
  async close(): Promise<void> {
    await this.#listener?.stop()
  }

  /**
   * Adds the jobs in one transaction, in order; a duplicate id or (queue, idempotency key), in any
   * state or earlier in the batch, is `added: false` and changes nothing (a key names the job that
   * has it).
   */
  async add(
    jobs: readonly NewJob[],
    now: number,
    defaults: (queue: string) => JobDefaults,
  ): Promise<AddResult[]> {
    const checked = checkNewJobs(jobs, epochMs('now', now), defaults, this.#newId)
    if (checked.length === 0) return []
    const queues = [...new Set(checked.map((r) => r.queue))].join(', ')
    const what = `add ${plural(checked.length, 'job')} to ${queues}`
    const added = isOneStatement(checked)
      ? await this.#guard.writeOne(what, (q) => insertOne(q, checked))
      : await this.#guard.write(what, async (c) => {
          const out = await insertAll(c, checked)
          await notifyJobs(c, queuesAdded(checked, out))
          return out
        })
    this.#wakes.tell(queuesAdded(checked, added))
    return added
  }

  /** Leases up to `limit` due jobs of the queue to `worker`, in claim order (see the port). */
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
    return this.#guard.write(`claim jobs of ${queue} for ${worker}`, (q) =>
      claimRows(q, c, t, this.#owner, false),
    )
  }

  /**
   * Settlements, then claims, in one transaction: the supervisor's whole turn costs one commit. One
   * that only claims commits without waiting for the WAL flush (job-queries.ts says why that is safe).
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
    const requests = claims.map(checkClaim)
    if (ready.length + requests.filter((c) => c.limit > 0).length === 0) {
      return { settled: [], claimed: claims.map(() => []) }
    }
    const what = `settle ${plural(ready.length, 'delivery', 'deliveries')} and claim for ${plural(requests.length, 'worker', 'workers')}`
    const alone = oneStatement(ready, requests, this.#owner, policy)
    if (alone !== null) return this.#guard.writeOne(what, (q) => alone(q, claims, t))
    const done = await this.#guard.write(what, async (c) => {
      const settled = await this.#settleAll(c, ready, t, policy, random)
      const claimed: Delivery[][] = []
      // Claims alone commit without waiting for the disk; with settlements, the commit waits.
      const synced = ready.length > 0
      for (const r of requests) claimed.push(r.limit > 0 ? await claimRows(c, r, t, this.#owner, synced) : [])
      return { settled, claimed }
    })
    this.#wakes.tell(queuesWoken(done.settled))
    return done
  }

  /** Applies settlements in order, in one transaction, with the core's rules; a stale token changes nothing. */
  async settle(
    items: readonly Settlement[],
    now: number,
    policy: (queue: string) => JobPolicy,
    random: () => number,
  ): Promise<SettleResult[]> {
    const t = epochMs('now', now)
    const ready = checkSettlements(items, 'items')
    if (ready.length === 0) return []
    const settled = await this.#guard.write(`settle ${plural(ready.length, 'delivery', 'deliveries')}`, (c) =>
      this.#settleAll(c, ready, t, policy, random),
    )
    this.#wakes.tell(queuesWoken(settled))
    return settled
  }

  /** Settlements, and the notification of the queues whose jobs they put back, in the caller's transaction. */
  async #settleAll(
    c: Queryable,
    ready: Parameters<typeof settleAll>[1],
    now: number,
    policy: (queue: string) => JobPolicy,
    random: () => number,
  ): Promise<SettleResult[]> {
    const settled = await settleAll(c, ready, now, policy, random)
    await notifyJobs(c, queuesWoken(settled))
    return settled
  }

  /**
   * This agent's active jobs back to waiting, due now, lease cleared, nothing counted, with those of
   * no owner and of nodes whose lease has expired (renamed or gone); returns how many. The jobs of
   * another agent whose lease is live stay its own.
   */
  async releaseAllActive(now: number): Promise<number> {
    const t = epochMs('now', now)
    const n = await this.#guard.write('release all active jobs', async (c) => {
      const released = await changes(c, S.releaseOwn, [t, t, this.#owner?.node ?? null, t])
      if (released > 0) await notifyJobs(c, null)
      return released
    })
    if (n > 0) this.#wakes.tell(null)
    return n
  }

  /**
   * See JobStore.reclaimLapsed: the lapsed leases ended, then their jobs put back, in one
   * transaction (job-queries.ts says why in this order), its wake sent with its commit. A look that
   * ended no lease reads no job.
   */
  async reclaimLapsed(now: number, scope: ReclaimScope): Promise<ReadonlyMap<string, number>> {
    const t = epochMs('now', now)
    const own = this.#owner?.node ?? null
    const reclaimed = await this.#guard.write('reclaim the jobs of agents whose lease lapsed', async (c) => {
      const ended = await changes(c, S.endLapsedLeases, [t, own])
      if (ended === 0 && scope === 'look') return []
      const rs = await rows<{ queue: string; owner_node: string }>(c, S.reclaimLapsed, [t, own])
      if (rs.length > 0) await notifyJobs(c, [...new Set(rs.map((r) => r.queue))])
      return rs
    })
    const byNode = new Map<string, number>()
    for (const r of reclaimed) byNode.set(r.owner_node, (byNode.get(r.owner_node) ?? 0) + 1)
    if (reclaimed.length > 0) this.#wakes.tell([...new Set(reclaimed.map((r) => r.queue))])
    return byNode
  }

  /** See JobStore.adopt: one transaction, the wake of what it put back sent with its commit. */
  async adopt(tokens: readonly string[], now: number): Promise<{ kept: number; released: number }> {
    const owner = this.#owner
    if (owner === null) return { kept: 0, released: 0 }
    const held = tokens.flatMap((token) => {
      const p = parseDeliveryToken(token)
      return p?.delivery ? [{ id: p.jobId, delivery: p.delivery }] : []
    })
    const t = epochMs('now', now)
    const ids = held.map((h) => h.id)
    const deliveries = held.map((h) => h.delivery)
    const [kept, released] = await this.#guard.write(
      'keep the jobs this agent holds after its rejoin',
      async (c) => {
        const kept = await changes(c, S.adoptHeld, [owner.node, owner.epoch, ids, deliveries])
        const released = (await rows<{ queue: string }>(c, S.releaseStale, [owner.node, owner.epoch, t])).map(
          (r) => r.queue,
        )
        if (released.length > 0) await notifyJobs(c, [...new Set(released)])
        return [kept, released] as const
      },
    )
    if (released.length > 0) this.#wakes.tell([...new Set(released)])
    return { kept, released: released.length }
  }

  /** The earliest runAt after `now` among the queue's waiting jobs, or null. */
  async nextDueAt(queue: string, now: number): Promise<number | null> {
    const t = epochMs('now', now)
    checkName('queue', queue)
    return this.#guard.read(`find when the next job of ${queue} is due`, async (q) => {
      return (await row<{ run_at: number }>(q, S.nextDue, [queue, t]))?.run_at ?? null
    })
  }

  /** How many jobs of the queue are due at `now`, up to `atMost` (a bounded range of jobs_claim). */
  async countDue(queue: string, now: number, atMost: number): Promise<number> {
    const t = epochMs('now', now)
    checkName('queue', queue)
    if (checkInteger('atMost', atMost, 0) === 0) return 0
    return this.#guard.read(`count the due jobs of ${queue}`, async (q) => {
      return (await row<{ n: number }>(q, S.countDue, [queue, t, atMost]))?.n ?? 0
    })
  }

  /**
   * One row per queue that has any job, sorted by name (or only `queue`: zeros when it has none),
   * from three grouped reads in one REPEATABLE READ transaction, so the numbers are of one moment.
   */
  async counts(now: number, queue?: string): Promise<QueueCounts[]> {
    const t = epochMs('now', now)
    if (queue !== undefined) checkName('queue', queue)
    const one = queue === undefined ? [] : [queue]
    return this.#guard.snapshot(
      queue === undefined ? 'count jobs' : `count the jobs of ${queue}`,
      async (c) => {
        const states = await rows<CountRow>(c, queue === undefined ? S.countStates : S.countQueueStates, one)
        const waiting = new Map(
          (await rows<WaitingRow>(c, queue === undefined ? S.waiting : S.waitingOf, [t, ...one])).map((w) => [
            w.queue,
            w,
          ]),
        )
        const done = await rows<{ queue: string; n: number }>(
          c,
          queue === undefined ? S.doneSince : S.doneSinceOf,
          [t - 60_000, ...one],
        )
        return countQueues(
          {
            states: () => states,
            delayed: (q) => waiting.get(q)?.delayed ?? 0,
            failed: (q) => waiting.get(q)?.failed ?? 0,
            oldestDue: (q) => waiting.get(q)?.oldest ?? null,
            doneSince: () => done,
          },
          t,
          queue,
        )
      },
    )
  }

  /** The job as it is now, or undefined for an unknown id. */
  async getJob(id: string): Promise<Job | undefined> {
    checkJobId(id)
    return this.#guard.read(`read job ${id}`, async (q) => {
      const r = await row<JobRow>(q, S.byId, [id])
      return r ? toJob(r) : undefined
    })
  }

  /** The queue's jobs newest first, filtered as the port says. */
  async listJobs(queue: string, query: JobQuery, now: number): Promise<Job[]> {
    const t = epochMs('now', now)
    checkName('queue', queue)
    const { state, limit } = checkListQuery(query)
    const [s, values]: [Statement, unknown[]] = (() => {
      switch (state) {
        case undefined:
          return [S.list, [queue, limit]]
        case 'waiting':
          return [S.listDue, [queue, t, limit]]
        case 'delayed':
          return [S.listDelayed, [queue, t, limit]]
        case 'failed':
          return [S.listFailed, [queue, limit]]
        default:
          return [S.listState, [state, queue, limit]]
      }
    })()
    return this.#guard.read(`list the jobs of ${queue}`, async (q) =>
      (await rows<JobRow>(q, s, values)).map(toJob),
    )
  }

  /** Dead-lettered or quarantined jobs back to waiting (see the port); a whole state in batches. */
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
    const woke = async (c: Queryable, n: number): Promise<number> => {
      if (n > 0) await notifyJobs(c, [queue])
      return n
    }
    if (ids !== undefined) checkIds(ids)
    const n =
      ids !== undefined
        ? await this.#eachId(what, ids, (c, id) => changes(c, S.retryOne, [t, t, id, from, queue]), woke)
        : await this.#inBatches(what, async (c) =>
            woke(c, await changes(c, S.retryBatch, [t, from, queue, JOB_BATCH])),
          )
    if (n > 0) this.#wakes.tell([queue])
    return n
  }

  /** Deletes the queue's jobs in that state (or those of `ids` in it); a whole state in batches. */
  async purge(queue: string, state: PurgeState, ids?: readonly string[]): Promise<number> {
    checkName('queue', queue)
    checkPurgeState(state)
    const what = `purge the ${state} jobs of ${queue}`
    if (ids !== undefined) {
      checkIds(ids)
      return this.#eachId(what, ids, (c, id) => changes(c, S.purgeOne, [id, state, queue]))
    }
    return this.#inBatches(what, (c) => changes(c, S.purgeBatch, [state, queue, JOB_BATCH]))
  }

  /** Deletes done jobs finished before `before`, in batches; returns how many. */
  async pruneDone(before: number, queue?: string): Promise<number> {
    const bound = epochMs('before', before)
    if (queue !== undefined) checkName('queue', queue)
    return this.#inBatches(`prune done jobs${queue ? ` of ${queue}` : ''} finished before ${bound}`, (c) =>
      queue === undefined
        ? changes(c, S.pruneDone, [bound, JOB_BATCH])
        : changes(c, S.pruneDoneOf, [bound, queue, JOB_BATCH]),
    )
  }

  /**
   * Applies `one` to each distinct id, all in one transaction, then `then` (in it) to how many jobs
   * changed; returns how many.
   */
  #eachId(
    operation: string,
    ids: readonly string[],
    one: (c: Queryable, id: string) => Promise<number>,
    then: (c: Queryable, n: number) => Promise<number> = async (_, n) => n,
  ) {
    return this.#guard.write(operation, async (c) => {
      let n = 0
      for (const id of new Set(ids)) n += await one(c, id)
      return then(c, n)
    })
  }

  /** Runs a batch statement, one transaction each, until a batch affects fewer than JOB_BATCH jobs. */
  async #inBatches(operation: string, batch: (c: Queryable) => Promise<number>): Promise<number> {
    let total = 0
    for (;;) {
      const n = await this.#guard.write(operation, batch)
      total += n
      if (n < JOB_BATCH) return total
    }
  }
}
