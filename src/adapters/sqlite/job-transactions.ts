/**
 * What runs inside the SQLite job store's transactions (sqlite-job-store.ts): an insert, a claim,
 * settlements as ../sql/job-sql.ts plans them, and the reads of the counts. Each function takes the
 * store's prepared statements (job-queries.ts, prepared once by {@link prepareJobStatements}); the
 * store runs it inside its `BEGIN IMMEDIATE` (or, for the counts, deferred) transaction.
 * @module
 */
import type Database from 'better-sqlite3'

import type { Delivery, JobPolicy } from '../../core/job.js'
import type { AddResult, ClaimRequest, SettleResult } from '../../ports/job-store.js'
import type { CheckedJob, ReadySettlement } from '../../store/job-checks.js'
import type { CountSource } from '../../store/job-counts.js'
import {
  changedResult,
  type ChangedRow,
  type CountRow,
  decidedStep,
  directStep,
  insertValues,
  type JobOwner,
  type JobRow,
  onePolicyPerQueue,
  ownerValues,
  toDeliveries,
  toJob,
} from '../sql/job-sql.js'
import { JOB_SQL } from './job-queries.js'

export type Statement<R = unknown> = Database.Statement<unknown[], R>

/** Every statement of {@link JOB_SQL}, prepared on one connection. */
export type JobStatements = { [K in keyof typeof JOB_SQL]: Statement }

type PolicyOf = (queue: string) => JobPolicy

/**
 * Prepares every statement of {@link JOB_SQL} on the connection.
 * @throws the SQLite error of a statement that cannot be prepared (no `jobs` table, or an index
 *   an `INDEXED BY` names is missing: the schema is older than this code).
 */
export function prepareJobStatements(db: Database.Database): JobStatements {
  return Object.fromEntries(
    Object.entries(JOB_SQL).map(([name, sql]) => [name, db.prepare(sql)]),
  ) as JobStatements
}

/**
 * Inserts one job of an add and says whether it was added; a duplicate (of a stored job, or of one
 * earlier in the add) gets the id of the job that has its key, or its own id when it is a duplicate
 * by id.
 */
export function insertJob(s: JobStatements, r: CheckedJob): AddResult {
  const inserted = s.insert.run(...insertValues(r))
  if (inserted.changes === 1) return { id: r.id, added: true }
  if (r.idempotencyKey !== null) {
    const existing = (s.idByKey as Statement<{ id: string }>).get(r.queue, r.idempotencyKey)
    if (existing) return { id: existing.id, added: false }
  }
  return { id: r.id, added: false }
}

/** One claim, in claim order, its jobs stamped with `owner` (null: a store that never claimed its node). */
export function claimRows(
  s: JobStatements,
  c: ClaimRequest,
  now: number,
  owner: JobOwner | null,
): Delivery[] {
  const take = (stmt: Statement, limit: number): JobRow[] =>
    (stmt as Statement<JobRow>).all(c.worker, ...ownerValues(owner), now, now, c.queue, now, limit)
  switch (c.suspects) {
    case 'only':
      return toDeliveries(take(s.claimSuspect, c.limit))
    case 'exclude':
      return toDeliveries(take(s.claimClean, c.limit))
    case 'alone': {
      const suspect = take(s.claimSuspect, 1)
      return toDeliveries(suspect.length > 0 ? suspect : take(s.claimClean, c.limit))
    }
    case 'any':
      return toDeliveries(take(s.claim, c.limit))
  }
}

/** Applies the settlements in order, with the core's rules (decideFailure, decideCrash). */
export function settleAll(
  s: JobStatements,
  items: readonly ReadySettlement[],
  now: number,
  policy: PolicyOf,
  random: () => number,
): SettleResult[] {
  const policyOf = onePolicyPerQueue(policy)
  return items.map((r) => settleOne(s, r, now, policyOf, random))
}

/**
 * One settlement, as ../sql/job-sql.ts plans it: an ack, checkpoint, progress or release changes
 * the current delivery directly; a failure or a crash reads it and the core decides. A token that
 * is not its job's current delivery gives `stale` and changes nothing.
 */
function settleOne(
  s: JobStatements,
  r: ReadySettlement,
  now: number,
  policyOf: PolicyOf,
  random: () => number,
): SettleResult {
  if (r.id === null) return stale(s, r)
  let step = directStep({ ...r, id: r.id }, now, policyOf)
  if (step === null) {
    const current = (s.current as Statement<JobRow>).get(r.id, r.delivery)
    if (!current) return stale(s, r)
    step = decidedStep(r, current, now, policyOf, random)
  }
  const changed = (s[step.statement] as Statement<ChangedRow>).get(...step.values)
  return changed ? changedResult(r, step.outcome, changed) : stale(s, r)
}

/** A refused settlement: the job as it is (undefined when the token names no job). */
function stale(s: JobStatements, r: ReadySettlement): SettleResult {
  const row = r.id === null ? undefined : (s.byId as Statement<JobRow>).get(r.id)
  return { token: r.item.token, kind: r.item.kind, outcome: 'stale', job: row ? toJob(row) : undefined }
}

/** What counts read, from the indexes (see JOB_SQL). */
export function countSource(s: JobStatements): CountSource {
  const one = (stmt: Statement, ...params: unknown[]): number | null =>
    (stmt as Statement<{ n: number | null }>).get(...params)?.n ?? null
  return {
    states: (queue) => (queue === undefined ? s.countStates.all() : s.countStatesOf.all(queue)) as CountRow[],
    delayed: (queue, now) => one(s.countDelayedOf, queue, now) ?? 0,
    failed: (queue) => one(s.countFailedOf, queue) ?? 0,
    oldestDue: (queue, now) => one(s.oldestDueOf, queue, now),
    doneSince: (since, queue) =>
      (queue === undefined ? s.countThroughput.all(since) : s.countThroughputOf.all(since, queue)) as {
        queue: string
        n: number
      }[],
  }
}
