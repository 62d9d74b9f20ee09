/**
 * The HTTP control API: a web-standard Hono app over the supervisor and the store. It binds no
 * port (node-server.ts does), so tests drive it in-process with `app.request()`.
 *
 * | method | path                     | answer                          |
 * |--------|--------------------------|---------------------------------|
 * | GET    | /api/health              | `{ ok, supervisor }`            |
 * | GET    | /api/workers             | `{ workers }`                   |
 * | GET    | /api/workers/:id         | `{ worker }`                    |
 * | POST   | /api/workers/:id/restart | 202 `{ incidentId }`            |
 * | GET    | /api/incidents           | `{ incidents }`                 |
 * | GET    | /api/incidents/:id       | `{ incident }`                  |
 * | GET    | /api/queues              | `{ queues }`                    |
 * | POST   | /api/queues/:queue/jobs  | 201 `{ jobs: [{ id, added }] }` |
 * | GET    | /api/queues/:queue/jobs  | `{ jobs }`                      |
 * | POST   | /api/queues/:queue/retry | `{ retried }`                   |
 * | POST   | /api/queues/:queue/purge | `{ purged }`                    |
 * | GET    | /api/jobs/:id            | `{ job }`                       |
 *
 * Worker ids contain `#` (`email#2`), which a client must send percent-encoded (`email%232`);
 * path parameters are decoded before use. docs/api.md describes every route.
 * @module
 */
import { type Context, Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { methodNotAllowed } from 'hono/method-not-allowed'
import { z } from 'zod'

import { systemClock } from '../adapters/system-clock.js'
import { queueSettings } from '../config/load.js'
import { type Config, QueueSchema } from '../config/schema.js'
import type { Clock } from '../core/clock.js'
import type { Incident } from '../core/incident.js'
import type { Job } from '../core/job.js'
import { coerceError, ShepherdError } from '../errors.js'
import { EnqueueBodySchema, QUEUE_NAME, toNewJob } from '../queue/enqueue.js'
import { queueOverview } from '../queue/queue.js'
import type { AddResult, QueueCounts } from '../store/job-store.js'
import { JOB_LIST_STATES } from '../store/job-store.js'
import type { IncidentQuery, Store } from '../store/store.js'
import type { SupervisorControl, SupervisorInfo, WorkerView } from '../supervisor/view.js'
import {
  bodyTooLargeMessage,
  errorResponse,
  parseRequest,
  requestValidationError,
  toErrorResponse,
} from './errors.js'

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

/** What `createHttpApp` serves. */
export interface HttpAppOptions {
  /** The running supervisor. */
  supervisor: SupervisorControl
  /** Where incidents and jobs are read and jobs written. */
  store: Store
  /**
   * The loaded config (`LoadedConfig.config`): each queue's defaults for an enqueue
   * (`queues.<name>.max_attempts`, `timeout`), and the queues `GET /api/queues` always lists.
   * @defaultValue none: every queue gets the schema's queue defaults and `GET /api/queues` lists
   *   only queues that have jobs. The daemon always passes its config.
   */
  config?: Config
  /**
   * The time of enqueues, retries and counts.
   * @defaultValue the system clock (monotonic epoch ms), as the supervisor uses
   */
  clock?: Clock
  /**
   * Called with every unexpected error before it is answered as a 500, so that the daemon can log
   * it with its stack (the response never carries one).
   * @defaultValue nothing is called
   */
  onInternalError?: (error: Error, request: { method: string; path: string }) => void
}

/** Body of `GET /api/health`. */
export interface HealthResponse {
  ok: true
  supervisor: SupervisorInfo
}

/** Body of `GET /api/workers`. */
export interface WorkersResponse {
  workers: WorkerView[]
}

/** Body of `GET /api/workers/:id`. */
export interface WorkerResponse {
  worker: WorkerView
}

/** Body of `POST /api/workers/:id/restart` (202). */
export interface RestartResponse {
  incidentId: string
}

/** Body of `GET /api/incidents`. */
export interface IncidentsResponse {
  incidents: Incident[]
}

/** Body of `GET /api/incidents/:id`. */
export interface IncidentResponse {
  incident: Incident
}

/** Body of `POST /api/queues/:queue/jobs` (201). `added` is false for a duplicate (by id or key). */
export interface EnqueueResponse {
  jobs: AddResult[]
}

/** Body of `GET /api/queues`. */
export interface QueuesResponse {
  queues: QueueCounts[]
}

/** Body of `GET /api/queues/:queue/jobs`. */
export interface JobsResponse {
  jobs: Job[]
}

/** Body of `GET /api/jobs/:id`. */
export interface JobResponse {
  job: Job
}

/** Body of `POST /api/queues/:queue/retry`. */
export interface RetryJobsResponse {
  /** Jobs put back in the queue. */
  retried: number
}

/** Body of `POST /api/queues/:queue/purge`. */
export interface PurgeJobsResponse {
  /** Jobs deleted. */
  purged: number
}

/** Body of `POST /api/workers/:id/restart`; an empty body is `{}`, a soft restart. */
export const RestartBodySchema = z
  .strictObject({
    hard: z
      .boolean()
      .optional()
      .describe('true: hard_restart (SIGKILL of the process group); default soft_restart.'),
  })
  .describe('A manual restart.')

const limitParam = (max: number) =>
  z.string().transform((s, ctx) => {
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

const nonEmpty = (what: string) => z.string().min(1, `expected ${what}, got an empty string`)

/** Query of `GET /api/incidents`. */
export const IncidentsQuerySchema = z
  .strictObject({
    limit: limitParam(MAX_INCIDENT_LIMIT)
      .optional()
      .describe(`Newest first, at most this many (1..${MAX_INCIDENT_LIMIT}).`),
    worker: nonEmpty('a worker id').optional().describe('Only incidents of this worker id.'),
    pool: nonEmpty('a pool name').optional().describe('Only incidents of this pool.'),
  })
  .describe('Filters of the incident list.')

/** The `:queue` of a queue route: a queue name, as the enqueue API and the config accept it. */
export const QueueParamSchema = z.strictObject({
  queue: z.string().superRefine((s, ctx) => {
    if (!QUEUE_NAME.test(s)) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a queue name of letters, digits, "_", "." or "-", got ${JSON.stringify(s)}`,
      })
    }
  }),
})

/** Body of `POST /api/queues/:queue/jobs` for many jobs: each item is an {@link EnqueueBodySchema}. */
export const EnqueueBatchSchema = z
  .strictObject({
    jobs: z
      .array(EnqueueBodySchema)
      .min(1)
      .max(MAX_ENQUEUE_BATCH)
      .describe(`The jobs, 1..${MAX_ENQUEUE_BATCH}, added in one transaction.`),
  })
  .describe('Many jobs at once.')

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
  .describe('Dead-lettered or quarantined jobs back to waiting, due now, attempts and crashes reset.')

/** Body of `POST /api/queues/:queue/purge`. */
export const PurgeBodySchema = z
  .strictObject({
    state: z.enum(['dead', 'quarantined', 'done']).describe('Which jobs to delete.'),
    ids: jobIds,
  })
  .describe('Deletes jobs for good.')

/** The queue's defaults for a job that sets none: `queues.<name>` of the config, else the schema's. */
function jobDefaults(
  config: Config | undefined,
): (queue: string) => { maxAttempts: number; timeoutMs: number | null } {
  return (queue) => {
    const s = config ? queueSettings(config, queue) : QueueSchema.parse({})
    return { maxAttempts: s.max_attempts, timeoutMs: s.timeout ?? null }
  }
}

/**
 * Builds the control API. Routes are plain Hono handlers; errors are thrown as ShepherdErrors and
 * answered by the one mapping of errors.ts, so a new route only adds its handler.
 * @example
 * ```ts
 * const app = createHttpApp({ supervisor, store, config: loaded.config })
 * const res = await app.request('/api/workers/email%232')
 * ```
 */
export function createHttpApp(options: HttpAppOptions): Hono {
  const { supervisor, store, config } = options
  const clock = options.clock ?? systemClock
  const defaults = jobDefaults(config)
  const app = new Hono()

  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, allowed) =>
        errorResponse(
          c,
          'SHEPHERD_METHOD_NOT_ALLOWED',
          `${c.req.method} is not allowed on ${c.req.path}; allowed: ${allowed.join(', ')}`,
          {
            status: 405,
            headers: { Allow: allowed.join(', ') },
          },
        ),
    }),
  )
  app.use(
    bodyLimit({
      maxSize: API_BODY_LIMIT,
      onError: (c) =>
        errorResponse(c, 'SHEPHERD_PAYLOAD_TOO_LARGE', bodyTooLargeMessage(API_BODY_LIMIT), { status: 413 }),
    }),
  )

  app.get('/api/health', (c) => c.json<HealthResponse>({ ok: true, supervisor: supervisor.info() }))

  app.get('/api/workers', (c) => c.json<WorkersResponse>({ workers: supervisor.listWorkers() }))

  app.get('/api/workers/:id', (c) => {
    const id = c.req.param('id')
    const worker = supervisor.getWorker(id)
    if (!worker) throw new ShepherdError('SHEPHERD_WORKER_NOT_FOUND', `no worker has id "${id}"`)
    return c.json<WorkerResponse>({ worker })
  })

  app.post('/api/workers/:id/restart', async (c) => {
    const id = c.req.param('id')
    const body = parseRequest(RestartBodySchema, await readJsonBody(c))
    if (!body.success)
      throw requestValidationError('body', body.error.issues, Object.keys(RestartBodySchema.shape))
    const { incidentId } = await supervisor.restartWorker(id, { hard: body.data.hard ?? false })
    c.header('Location', `/api/incidents/${encodeURIComponent(incidentId)}`)
    return c.json<RestartResponse>({ incidentId }, 202)
  })

  app.get('/api/incidents', async (c) => {
    const query = parseRequest(IncidentsQuerySchema, c.req.query())
    if (!query.success) {
      throw requestValidationError('query', query.error.issues, Object.keys(IncidentsQuerySchema.shape))
    }
    const { limit = DEFAULT_INCIDENT_LIMIT, worker, pool } = query.data
    const filter: IncidentQuery = { limit }
    if (worker !== undefined) filter.workerId = worker
    if (pool !== undefined) filter.pool = pool
    const incidents = await store.listIncidents(filter)
    return c.json<IncidentsResponse>({ incidents })
  })

  app.get('/api/incidents/:id', async (c) => {
    const id = c.req.param('id')
    const incident = await store.getIncident(id)
    if (!incident) throw new ShepherdError('SHEPHERD_INCIDENT_NOT_FOUND', `no incident has id "${id}"`)
    return c.json<IncidentResponse>({ incident })
  })

  app.get('/api/queues', async (c) =>
    c.json<QueuesResponse>({ queues: await queueOverview(store.jobs, clock.now(), config) }),
  )

  app.post('/api/queues/:queue/jobs', async (c) => {
    const queue = queueParam(c)
    const body = await readJsonBody(c)
    const isBatch = isRecord(body) && Object.hasOwn(body, 'jobs')
    const parsed = isBatch ? parseRequest(EnqueueBatchSchema, body) : parseRequest(EnqueueBodySchema, body)
    if (!parsed.success) {
      const jobKeys = Object.keys(EnqueueBodySchema.shape)
      throw requestValidationError('body', parsed.error.issues, (at) =>
        isBatch && at.length === 0 ? Object.keys(EnqueueBatchSchema.shape) : jobKeys,
      )
    }
    const items = 'jobs' in parsed.data ? parsed.data.jobs : [parsed.data]
    const jobs = await store.jobs.add(
      items.map((j) => toNewJob(queue, j.payload, j)),
      clock.now(),
      defaults,
    )
    if (jobs.some((j) => j.added)) supervisor.jobsAdded()
    return c.json<EnqueueResponse>({ jobs }, 201)
  })

  app.get('/api/queues/:queue/jobs', async (c) => {
    const queue = queueParam(c)
    const query = parseRequest(JobsQuerySchema, c.req.query())
    if (!query.success)
      throw requestValidationError('query', query.error.issues, Object.keys(JobsQuerySchema.shape))
    const { state, limit = DEFAULT_JOB_LIMIT } = query.data
    const jobs = await store.jobs.listJobs(queue, { state, limit }, clock.now())
    return c.json<JobsResponse>({ jobs })
  })

  app.post('/api/queues/:queue/retry', async (c) => {
    const queue = queueParam(c)
    const body = parseRequest(RetryBodySchema, await readJsonBody(c))
    if (!body.success)
      throw requestValidationError('body', body.error.issues, Object.keys(RetryBodySchema.shape))
    const retried = await store.jobs.retry(queue, body.data.from, clock.now(), body.data.ids)
    if (retried > 0) supervisor.jobsAdded()
    return c.json<RetryJobsResponse>({ retried })
  })

  app.post('/api/queues/:queue/purge', async (c) => {
    const queue = queueParam(c)
    const body = parseRequest(PurgeBodySchema, await readJsonBody(c))
    if (!body.success)
      throw requestValidationError('body', body.error.issues, Object.keys(PurgeBodySchema.shape))
    const purged = await store.jobs.purge(queue, body.data.state, body.data.ids)
    return c.json<PurgeJobsResponse>({ purged })
  })

  app.get('/api/jobs/:id', async (c) => {
    const id = c.req.param('id')
    const job = await store.jobs.getJob(id)
    if (!job) throw new ShepherdError('SHEPHERD_JOB_NOT_FOUND', `no job has id "${id}"`)
    return c.json<JobResponse>({ job })
  })

  app.notFound((c) => errorResponse(c, 'SHEPHERD_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`))

  app.onError((thrown, c) => {
    const response = toErrorResponse(thrown, c)
    if (response.status >= 500 && options.onInternalError) {
      options.onInternalError(coerceError(thrown), { method: c.req.method, path: c.req.path })
    }
    return response
  })

  return app
}

/** The `:queue` path parameter, checked; SHEPHERD_BAD_REQUEST naming `path.queue` when it is not a queue name. */
function queueParam(c: Context): string {
  const params = parseRequest(QueueParamSchema, { queue: c.req.param('queue') })
  if (!params.success) throw requestValidationError('path', params.error.issues)
  return params.data.queue
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The request body as JSON; an empty body is `{}`. */
async function readJsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text()
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text) as unknown
  } catch (cause) {
    throw new ShepherdError('SHEPHERD_BAD_REQUEST', 'body is not valid JSON', {
      cause,
      details: { reason: coerceError(cause).message },
    })
  }
}
