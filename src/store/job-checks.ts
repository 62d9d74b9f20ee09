/**
 * The JobStore's argument checks and normalisations, apart from any adapter: a new job checked and
 * defaulted into the values of one insert, a settlement checked and its token parsed, a claim, a
 * listing, a retry or a purge checked. The SQLite adapter and a PostgreSQL one call these as they
 * are, before their transaction begins, so both refuse the same calls with the same words and a
 * refused call changes nothing.
 * @module
 */
import { parseDeliveryToken } from '../core/ids.js'
import type { JobState, NewJob } from '../core/job.js'
import {
  type ClaimRequest,
  type JobQuery,
  PURGE_STATES,
  type PurgeState,
  type Settlement,
  type SuspectRule,
} from '../ports/job-store.js'
import {
  badRequest,
  checkInteger,
  checkName,
  checkNumber,
  checkPositive,
  describe,
  toJson,
} from './checks.js'

/** Default page size of listJobs, as the port documents. */
export const DEFAULT_LIST_LIMIT = 50
/** Largest page listJobs returns: a page is parsed into memory whole (payloads included). */
export const MAX_LIST_LIMIT = 1_000

/** What `defaults(queue)` of JobStore.add gives. */
export interface JobDefaults {
  maxAttempts: number
  timeoutMs: number | null
}

/** A NewJob checked, defaulted and serialised: the values of one insert. */
export interface CheckedJob {
  id: string
  queue: string
  priority: number
  /** When it is due: `now` plus its delay, whole ms. */
  runAt: number
  createdAt: number
  maxAttempts: number
  timeoutMs: number | null
  idempotencyKey: string | null
  /** The payload as JSON text. */
  payload: string
}

/**
 * Checks the jobs of one add and gives each its id and its queue's defaults (asked once per queue).
 * @throws ShepherdError SHEPHERD_BAD_REQUEST naming the job and the field.
 */
export function checkNewJobs(
  jobs: unknown,
  now: number,
  defaults: (queue: string) => JobDefaults,
  newId: () => string,
): CheckedJob[] {
  if (!Array.isArray(jobs)) throw badRequest(`Expected \`jobs\` to be an array, got ${describe(jobs)}`)
  const perQueue = new Map<string, JobDefaults>()
  const defaultsOf = (queue: string): JobDefaults => {
    let d = perQueue.get(queue)
    if (!d) {
      d = checkDefaults(queue, defaults(queue))
      perQueue.set(queue, d)
    }
    return d
  }
  return (jobs as NewJob[]).map((job, i) => checkNewJob(job, i, now, defaultsOf, newId))
}

function checkNewJob(
  job: NewJob,
  i: number,
  now: number,
  defaultsOf: (queue: string) => JobDefaults,
  newId: () => string,
): CheckedJob {
  const at = `jobs[${i}]`
  if (typeof job !== 'object' || job === null)
    throw badRequest(`Expected \`${at}\` to be a job, got ${describe(job)}`)
  checkName(`${at}.queue`, job.queue)
  if (job.id !== undefined) checkName(`${at}.id`, job.id)
  if (job.idempotencyKey !== undefined) checkName(`${at}.idempotencyKey`, job.idempotencyKey)
  const id = job.id ?? newId()
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
  return {
    id,
    queue: job.queue,
    priority,
    runAt: Math.floor(now + delay),
    createdAt: now,
    maxAttempts,
    timeoutMs,
    idempotencyKey: job.idempotencyKey ?? null,
    payload,
  }
}

function checkDefaults(queue: string, d: JobDefaults): JobDefaults {
  return {
    maxAttempts: checkInteger(`defaults(${queue}).maxAttempts`, d.maxAttempts, 1),
    timeoutMs:
      d.timeoutMs === null ? null : Math.ceil(checkPositive(`defaults(${queue}).timeoutMs`, d.timeoutMs)),
  }
}

const SUSPECT_RULES: readonly SuspectRule[] = ['any', 'exclude', 'only', 'alone']

/** A claim request checked. */
export function checkClaim(c: ClaimRequest): ClaimRequest {
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

/** A settlement checked, its token parsed and its value serialised, before the transaction. */
export interface ReadySettlement {
  item: Settlement
  /** The token's job id; null when the token has no `:` and so names no job. */
  id: string | null
  /** The token's delivery number; -1 when it is not one (such a token matches no delivery). */
  delivery: number
  /** The JSON of the ack's result, the checkpoint's state or the progress value; null for none. */
  json: string | null
}

/**
 * Checks a batch of settlements (`name` is the argument: `items` of settle, `settlements` of
 * exchange); one bad item refuses the whole batch.
 */
export function checkSettlements(items: unknown, name: string): ReadySettlement[] {
  if (!Array.isArray(items)) throw badRequest(`Expected \`${name}\` to be an array, got ${describe(items)}`)
  return (items as Settlement[]).map(readySettlement)
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

const ALL_STATES: readonly JobState[] = ['waiting', 'active', 'done', 'dead', 'quarantined']
const LIST_STATES: ReadonlySet<string> = new Set([...ALL_STATES, 'delayed', 'failed'])

/** A listing's filter and page size checked, the default page size filled in. */
export function checkListQuery(query: JobQuery): { state: JobQuery['state']; limit: number } {
  const state = query.state
  if (state !== undefined && !LIST_STATES.has(state)) {
    throw badRequest(`Expected \`state\` to be one of ${[...LIST_STATES].join(', ')}, got ${describe(state)}`)
  }
  const limit = query.limit ?? DEFAULT_LIST_LIMIT
  checkInteger('limit', limit, 1, MAX_LIST_LIMIT)
  return { state, limit }
}

/** A job id asked for (getJob): any string, an unknown one is simply not found. */
export function checkJobId(id: unknown): asserts id is string {
  if (typeof id !== 'string') throw badRequest(`Expected \`id\` to be a string, got ${describe(id)}`)
}

/** The state a retry takes jobs from. */
export function checkRetryFrom(from: unknown): 'dead' | 'quarantined' {
  if (from !== 'dead' && from !== 'quarantined') {
    throw badRequest(`Expected \`from\` to be dead or quarantined, got ${describe(from)}`)
  }
  return from
}

/** The state a purge deletes. */
export function checkPurgeState(state: unknown): PurgeState {
  if (!PURGE_STATES.includes(state as PurgeState)) {
    throw badRequest(`Expected \`state\` to be ${PURGE_STATES.join(', ')}, got ${describe(state)}`)
  }
  return state as PurgeState
}
