/**
 * The shapes of the control API: limits, request schemas (zod, the same ones the routes validate
 * with and the OpenAPI document is generated from) and response bodies.
 * @module
 */
import { z } from 'zod'

import {
  EVENT_SEVERITIES,
  EVENT_TYPES,
  eventMatches,
  type EventType,
  isEventPattern,
} from '../../core/events.js'
import { JOB_LIST_STATES, PURGE_STATES } from '../../ports/job-store.js'
import { EnqueueBodySchema, QueueNameSchema } from '../../queue/enqueue.js'

/**
 * Largest request body accepted, in bytes. The API takes small JSON commands only; the limit
 * keeps a careless or hostile client from making the supervisor buffer megabytes.
 * @defaultValue 65536 (64 KiB)
 */
export const API_BODY_LIMIT = 64 * 1024

/** Largest `limit` of `GET /api/incidents`: enough for any screen, small enough to answer fast. */
export const MAX_INCIDENT_LIMIT = 1000

/** `limit` of `GET /api/incidents` when the query has none. */
export const DEFAULT_INCIDENT_LIMIT = 50

/** Largest `limit` of `GET /api/events/recorded`, as of the incident list. */
export const MAX_EVENT_LIMIT = 1000

/** `limit` of `GET /api/events/recorded` when the query has none (the store's own default). */
export const DEFAULT_EVENT_LIMIT = 100

/**
 * Most jobs one `POST /api/queues/:queue/jobs` adds, and most ids a retry or purge names. One
 * request is one transaction: 1000 small jobs take a few ms of the store's write lock, and fit
 * the 64 KiB body limit when their payloads are small (about 60 bytes each); larger imports go
 * through several requests, or `shepherd enqueue` on stdin.
 */
export const MAX_ENQUEUE_BATCH = 1000

/** Largest `limit` of `GET /api/queues/:queue/jobs`: the store's largest page (payloads included). */
export const MAX_JOB_LIMIT = 1000

/** `limit` of `GET /api/queues/:queue/jobs` when the query has none. */
export const DEFAULT_JOB_LIMIT = 50

/** Body of `POST /api/workers/:id/restart`; an empty body is `{}`, a soft restart. */
export const RestartBodySchema = z
  .strictObject({
    hard: z
      .boolean()
      .optional()
      .describe('true: hard_restart (SIGKILL of the process group); default soft_restart.'),
  })
  .meta({ id: 'RestartBody', description: 'A manual restart.' })

/**
 * A count in the query: sent as text (`?limit=20`), taken as an integer from 1 to `max`, and
 * described to clients as that integer (the document says `integer`, so a generated client sends a
 * number). Digits only: `1e3`, `1.0` and `+5` are refused rather than guessed at.
 */
const limitParam = (max: number) =>
  z
    .string()
    .transform((s, ctx) => {
      const n = /^\d+$/.test(s) ? Number(s) : NaN
      if (!Number.isInteger(n) || n < 1 || n > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected an integer from 1 to ${max}, got ${JSON.stringify(s)}`,
        })
        return z.NEVER
      }
      return n
    })
    .meta({ type: 'integer', minimum: 1, maximum: max })

const nonEmpty = (what: string) => z.string().min(1, `expected ${what}, got an empty string`)

/** An event sequence number in the query (`?after=120`): digits only, as {@link limitParam}. */
const seqParam = z
  .string()
  .transform((s, ctx) => {
    const n = /^\d+$/.test(s) ? Number(s) : NaN
    if (!Number.isSafeInteger(n)) {
      ctx.addIssue({
        code: 'custom',
        message: `expected an event sequence number (an integer ≥ 0), got ${JSON.stringify(s)}`,
      })
      return z.NEVER
    }
    return n
  })
  .meta({ type: 'integer', minimum: 0 })

/**
 * Event types in the query, comma-separated, each an exact type or a prefix ending in `:`
 * (`incident:`), as the event stream takes them; taken as the types they name. A pattern that names
 * no type is refused rather than matching nothing.
 */
const eventTypesParam = z
  .string()
  .transform((s, ctx) => {
    const patterns = s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
    const unknown = patterns.find((p) => !isEventPattern(p))
    if (unknown !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(unknown)} is no event type nor a prefix of one`,
      })
      return z.NEVER
    }
    return EVENT_TYPES.filter((t) => eventMatches(t, patterns)) as EventType[]
  })
  .meta({ type: 'string' })

/** Query of `GET /api/incidents`. */
export const IncidentsQuerySchema = z
  .strictObject({
    limit: limitParam(MAX_INCIDENT_LIMIT)
      .optional()
      .describe(`Newest first, at most this many (1..${MAX_INCIDENT_LIMIT}).`),
    worker: nonEmpty('a worker id').optional().describe('Only incidents of this worker id.'),
    pool: nonEmpty('a pool name').optional().describe('Only incidents of this pool.'),
    node: nonEmpty('a node name')
      .optional()
      .describe('Only incidents of the agent with this node name (on a store that agents share).'),
  })
  .describe('Filters of the incident list.')

/** The `:queue` of a queue route: a queue name, as the enqueue API and the config accept it. */
export const QueueParamSchema = z.strictObject({ queue: QueueNameSchema })

/** Body of `POST /api/queues/:queue/jobs` for many jobs: each item is an {@link EnqueueBodySchema}. */
export const EnqueueBatchSchema = z
  .strictObject({
    jobs: z
      .array(EnqueueBodySchema)
      .min(1)
      .max(MAX_ENQUEUE_BATCH)
      .describe(`The jobs, 1..${MAX_ENQUEUE_BATCH}, added in one transaction.`),
  })
  .meta({ id: 'EnqueueBatch', description: 'Many jobs at once.' })

/** Query of `GET /api/queues/:queue/jobs`. */
export const JobsQuerySchema = z
  .strictObject({
    state: z
      .enum(JOB_LIST_STATES)
      .optional()
      .describe(
        'Only jobs in this state: waiting (due now), delayed (waiting, not due yet), failed (waiting for a retry after an error), active, done, dead, quarantined.',
      ),
    limit: limitParam(MAX_JOB_LIMIT)
      .optional()
      .describe(`Newest first, at most this many (1..${MAX_JOB_LIMIT}); default ${DEFAULT_JOB_LIMIT}.`),
  })
  .describe('Filters of the job list.')

const jobIds = z
  .array(z.string().min(1))
  .min(1)
  .max(MAX_ENQUEUE_BATCH)
  .optional()
  .describe(`Only these jobs (1..${MAX_ENQUEUE_BATCH} ids); without it, every job of the state.`)

/** Body of `POST /api/queues/:queue/retry`. */
export const RetryBodySchema = z
  .strictObject({
    from: z.enum(['dead', 'quarantined']).describe('Which jobs to put back in the queue.'),
    ids: jobIds,
  })
  .meta({
    id: 'RetryBody',
    description: 'Dead-lettered or quarantined jobs back to waiting, due now, attempts and crashes reset.',
  })

/** Body of `POST /api/queues/:queue/purge`. */
export const PurgeBodySchema = z
  .strictObject({
    state: z
      .enum(PURGE_STATES)
      .describe(
        'Which jobs to delete: waiting (not yet delivered: due, delayed or waiting for a retry; never one in flight), dead, quarantined or done.',
      ),
    ids: jobIds,
  })
  .meta({ id: 'PurgeBody', description: 'Deletes jobs for good.' })

/** Body of `POST /api/workers/:id/signals`: an outside monitor's verdict about a worker. */
export const SignalBodySchema = z
  .strictObject({
    status: z
      .enum(['healthy', 'degraded', 'unhealthy'])
      .describe('unhealthy: recover the worker (cause external); degraded: a warning; healthy: withdraw.'),
    reason: z.string().min(1).max(1000).describe('What the monitor saw, in a sentence.'),
    source: z.string().min(1).max(100).optional().describe('Who says so, e.g. `grafana`; default `api`.'),
  })
  .meta({ id: 'SignalBody', description: 'An outside health signal.' })

/** Query of `GET /api/events/recorded`. */
export const RecordedEventsQuerySchema = z
  .strictObject({
    after: seqParam
      .optional()
      .describe('Only events after this sequence number: the last `seq` of the previous page.'),
    limit: limitParam(MAX_EVENT_LIMIT)
      .optional()
      .describe(`Oldest first, at most this many (1..${MAX_EVENT_LIMIT}); default ${DEFAULT_EVENT_LIMIT}.`),
    types: eventTypesParam
      .optional()
      .describe('Comma-separated event types, or prefixes such as `incident:`; default every type.'),
    worker: nonEmpty('a worker id').optional().describe('Only events of this worker id.'),
    node: nonEmpty('a node name')
      .optional()
      .describe('Only events of the agent with this node name (on a store that agents share).'),
  })
  .describe('Filters of the recorded events.')

/** Query of `GET /api/events`. */
export const EventsQuerySchema = z
  .strictObject({
    types: z
      .string()
      .optional()
      .describe('Comma-separated event types, or prefixes such as `incident:`; default every type.'),
    severity: z.enum(EVENT_SEVERITIES).optional().describe('The least severity sent; default info (all).'),
    access_token: z
      .string()
      .optional()
      .describe(
        'The API token, for a browser’s EventSource, which cannot send an Authorization header. Taken by this route only; prefer the header elsewhere (URLs end up in logs).',
      ),
  })
  .describe('Filters of the event stream.')
