/**
 * What runs inside the PostgreSQL job store's transactions (pg-job-store.ts): an insert, a claim,
 * and settlements, as ../sql/job-sql.ts plans them, with a run of acks of distinct jobs in one
 * statement. Each function takes the transaction's connection.
 * @module
 */
import type { Delivery, JobPolicy } from '../../core/job.js'
import type { AddResult, ClaimRequest, Exchange, SettleResult, SuspectRule } from '../../ports/job-store.js'
import type { CheckedJob, ReadySettlement } from '../../store/job-checks.js'
import {
  changedResult,
  type ChangedRow,
  decidedStep,
  directStep,
  dropsDone,
  type JobOwner,
  type JobRow,
  onePolicyPerQueue,
  ownerValues,
  toDeliveries,
  toJob,
} from '../sql/job-sql.js'
import { wakePayload } from './job-listener.js'
import { JOB_STATEMENTS as S } from './job-queries.js'
import { type Queryable, row, rows, type Statement } from './statements.js'

type PolicyOf = (queue: string) => JobPolicy

/** Jobs inserted per statement: one array per column, a few hundred KiB of parameters at most. */
const INSERT_CHUNK = 1_000

/**
 * Whether an add is one statement (see {@link insertOne}), or needs a transaction of its own
 * ({@link insertAll}, then {@link notifyJobs}).
 */
export function isOneStatement(jobs: readonly CheckedJob[]): boolean {
  return jobs.length <= INSERT_CHUNK
}

/**
 * Inserts the jobs of one add, a statement per chunk, in the caller's transaction, and says of
 * each whether it was added; a duplicate (of a stored job, or of one earlier in the add) gets the
 * id of the job that has its key, or its own id when it is a duplicate by id.
 */
export async function insertAll(c: Queryable, jobs: readonly CheckedJob[]): Promise<AddResult[]> {
  const out: AddResult[] = []
  for (let i = 0; i < jobs.length; i += INSERT_CHUNK) {
    out.push(...(await insertChunk(c, S.insertMany, jobs.slice(i, i + INSERT_CHUNK))))
  }
  return out
}

/**
 * Inserts an add of at most INSERT_CHUNK jobs ({@link isOneStatement}) and sends its wake, in one
 * statement that commits by itself: one round trip for the whole add, where a transaction takes
 * four (BEGIN, insert, notify, COMMIT). Results as {@link insertAll}'s; a duplicate's lookup of the
 * job that has its key comes after the commit, reading committed rows as it would inside.
 */
export function insertOne(q: Queryable, jobs: readonly CheckedJob[]): Promise<AddResult[]> {
  return insertChunk(q, S.insertNotify, jobs)
}

async function insertChunk(
  q: Queryable,
  insert: Statement,
  chunk: readonly CheckedJob[],
): Promise<AddResult[]> {
  const inserted = await rows<{ id: string }>(q, insert, [
    chunk.map((r) => r.id),
    chunk.map((r) => r.queue),
    chunk.map((r) => r.priority),
    chunk.map((r) => r.runAt),
    chunk.map((r) => r.createdAt),
    chunk.map((r) => r.maxAttempts),
    chunk.map((r) => r.timeoutMs),
    chunk.map((r) => r.idempotencyKey),
    chunk.map((r) => r.payload),
  ])
  // Each id inserted stands for the first job of the chunk that has it.
  const fresh = new Set(inserted.map((r) => r.id))
  const out: AddResult[] = []
  for (const r of chunk) {
    if (fresh.delete(r.id)) out.push({ id: r.id, added: true })
    else out.push(await duplicate(q, r))
  }
  return out
}

/** A job that was not inserted: the job that has its key, or (a duplicate by id) its own id. */
async function duplicate(c: Queryable, r: CheckedJob): Promise<AddResult> {
  if (r.idempotencyKey !== null) {
    const existing = await row<{ id: string }>(c, S.idByKey, [r.queue, r.idempotencyKey])
    if (existing) return { id: existing.id, added: false }
  }
  return { id: r.id, added: false }
}

/** The one statement of each kind of claim (job-queries.ts: `alone` too is one statement). */
const CLAIMS: Record<SuspectRule, Statement> = {
  any: S.claim,
  exclude: S.claimClean,
  only: S.claimSuspect,
  alone: S.claimAlone,
}

/** The same, for a transaction that only claims (its commit does not wait for the disk). */
const UNSYNCED_CLAIMS: Record<SuspectRule, Statement> = {
  any: S.claimUnsynced,
  exclude: S.claimCleanUnsynced,
  only: S.claimSuspectUnsynced,
  alone: S.claimAloneUnsynced,
}

/**
 * One claim, in claim order, in one statement (see job-queries.ts for why no delivery goes to two
 * workers). `synced` false: the transaction only claims, and its commit need not wait for the disk
 * (job-queries.ts).
 */
export async function claimRows(
  c: Queryable,
  req: ClaimRequest,
  now: number,
  owner: JobOwner | null,
  synced = true,
): Promise<Delivery[]> {
  const statement = synced ? CLAIMS[req.suspects] : UNSYNCED_CLAIMS[req.suspects]
  return toDeliveries(
    await rows<JobRow>(c, statement, [req.worker, now, req.queue, req.limit, ...ownerValues(owner)]),
  )
}

export async function settleAll(
  c: Queryable,
  items: readonly ReadySettlement[],
  now: number,
  policy: PolicyOf,
  random: () => number,
): Promise<SettleResult[]> {
  const policyOf = onePolicyPerQueue(policy)
  const out: SettleResult[] = []
  for (let i = 0; i < items.length;) {
    const acks = ackRun(items, i, policyOf)
    if (acks.length > 1) {
      out.push(...(await ackMany(c, acks, now, policyOf)))
      i += acks.length
    } else {
      out.push(await settleOne(c, items[i]!, now, policyOf, random))
      i++
    }
  }
  return out
}

/**
 * The acks from `start` on that can go in one statement: consecutive, each naming a job, no job
 * twice, all deleting their jobs or all keeping them (dropsDone). Acks of distinct jobs touch
 * distinct rows, so one statement does what they would one by one.
 */
function ackRun(items: readonly ReadySettlement[], start: number, policyOf: PolicyOf): ReadySettlement[] {
  const run: ReadySettlement[] = []
  const ids = new Set<string>()
  const drop = items[start] !== undefined && dropsDone(items[start], policyOf)
  for (let i = start; i < items.length; i++) {
    const r = items[i]!
    if (r.item.kind !== 'ack' || r.id === null || ids.has(r.id) || dropsDone(r, policyOf) !== drop) break
    ids.add(r.id)
    run.push(r)
  }
  return run
}

/**
 * Acks several jobs in one statement (an ackRun: kept as done, or deleted); an ack that changed
 * nothing is stale, as alone. The statement returns the ids of the jobs it finished, and nothing
 * else: a done result carries no job.
 */
async function ackMany(
  c: Queryable,
  acks: readonly ReadySettlement[],
  now: number,
  policyOf: PolicyOf,
): Promise<SettleResult[]> {
  const ids = acks.map((r) => r.id)
  const deliveries = acks.map((r) => r.delivery)
  const changed = dropsDone(acks[0]!, policyOf)
    ? await rows<{ id: string }>(c, S.ackDropMany, [ids, deliveries])
    : await rows<{ id: string }>(c, S.ackMany, [ids, deliveries, acks.map((r) => r.json), now])
  const done = new Set(changed.map((r) => r.id))
  const out: SettleResult[] = []
  for (const r of acks)
    out.push(done.has(r.id!) ? changedResult(r, 'done', { id: r.id! }) : await stale(c, r))
  return out
}

/**
 * One settlement, as ../sql/job-sql.ts plans it: an ack, checkpoint, progress or release changes the
 * current delivery directly; a failure or a crash locks the current delivery's row (`current` … FOR
 * UPDATE) and the core decides on it. A token that is not its job's current delivery gives `stale`
 * and changes nothing.
 */
async function settleOne(
  c: Queryable,
  r: ReadySettlement,
  now: number,
  policyOf: PolicyOf,
  random: () => number,
): Promise<SettleResult> {
  if (r.id === null) return stale(c, r)
  const named = { ...r, id: r.id }
  let step = directStep(named, now, policyOf)
  if (step === null) {
    const current = await row<JobRow>(c, S.current, [r.id, r.delivery])
    if (!current) return stale(c, r)
    step = decidedStep(r, current, now, policyOf, random)
  }
  const changed = await row<ChangedRow>(c, S[step.statement], step.values)
  return changed ? changedResult(r, step.outcome, changed) : stale(c, r)
}

/** A refused settlement: the job as it is (undefined when the token names no job). */
async function stale(c: Queryable, r: ReadySettlement): Promise<SettleResult> {
  const found = r.id === null ? undefined : await row<JobRow>(c, S.byId, [r.id])
  return { token: r.item.token, kind: r.item.kind, outcome: 'stale', job: found ? toJob(found) : undefined }
}

/**
 * Wakes every listening agent for these queues (null: any) once this transaction commits: one
 * notification per transaction, never per job (nothing is sent for an empty list).
 */
export async function notifyJobs(c: Queryable, queues: readonly string[] | null): Promise<void> {
  if (queues !== null && queues.length === 0) return
  await rows(c, S.notify, [wakePayload(queues)])
}

/**
 * An exchange that is one statement, which needs no transaction of its own making: the claim of one
 * worker (a turn of the dispatcher's with one worker asking), or a run of acks of distinct jobs (its
 * group commit of a busy turn; acks put nothing back, so nothing is notified). Null for any other.
 * The claims' answers come in the order of `claims` (those that asked for nothing get none).
 */
export function oneStatement(
  ready: readonly ReadySettlement[],
  requests: readonly ClaimRequest[],
  owner: JobOwner | null,
  policy: PolicyOf,
): ((q: Queryable, claims: readonly ClaimRequest[], now: number) => Promise<Exchange>) | null {
  const asking = requests.filter((r) => r.limit > 0)
  if (ready.length === 0 && asking.length === 1) {
    const req = asking[0]!
    return async (q, claims, now) => {
      const got = await claimRows(q, req, now, owner, false)
      return { settled: [], claimed: claims.map((c) => (c.limit > 0 ? got : [])) }
    }
  }
  const policyOf = onePolicyPerQueue(policy)
  if (asking.length === 0 && ready.length > 1 && ackRun(ready, 0, policyOf).length === ready.length) {
    return async (q, claims, now) => ({
      settled: await ackMany(q, ready, now, policyOf),
      claimed: claims.map(() => []),
    })
  }
  return null
}
