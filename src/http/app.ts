/**
 * The HTTP control API: a web-standard Hono app over the supervisor and the store. It binds no
 * port (node-server.ts does), so tests drive it in-process with `app.request()`.
 *
 * | method | path                          | answer                       |
 * |--------|-------------------------------|------------------------------|
 * | GET    | /api/health                   | `{ ok, supervisor }`         |
 * | GET    | /api/workers                  | `{ workers }`                |
 * | GET    | /api/workers/:id              | `{ worker }`                 |
 * | POST   | /api/workers/:id/restart      | 202 `{ incidentId }`         |
 * | GET    | /api/incidents                | `{ incidents }`              |
 * | GET    | /api/incidents/:id            | `{ incident }`               |
 *
 * Worker ids contain `#` (`email#2`), which a client must send percent-encoded (`email%232`);
 * path parameters are decoded before use. docs/api.md describes every route.
 * @module
 */
import { type Context, Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { methodNotAllowed } from 'hono/method-not-allowed'
import { z } from 'zod'

import type { Incident } from '../core/incident.js'
import { coerceError, ShepherdError } from '../errors.js'
import type { IncidentQuery, Store } from '../store/store.js'
import type { SupervisorControl, SupervisorInfo, WorkerView } from '../supervisor/view.js'
import { bodyTooLargeMessage, errorResponse, requestValidationError, toErrorResponse } from './errors.js'

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

/** What `createHttpApp` serves. */
export interface HttpAppOptions {
  /** The running supervisor. */
  supervisor: SupervisorControl
  /** Where incidents are read from. */
  store: Store
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

/** Body of `POST /api/workers/:id/restart`; an empty body is `{}`, a soft restart. */
export const RestartBodySchema = z
  .strictObject({
    hard: z
      .boolean()
      .optional()
      .describe('true: hard_restart (SIGKILL of the process group); default soft_restart.'),
  })
  .describe('A manual restart.')

const limitParam = z.string().transform((s, ctx) => {
  const n = /^\d+$/.test(s) ? Number(s) : NaN
  if (!Number.isInteger(n) || n < 1 || n > MAX_INCIDENT_LIMIT) {
    ctx.addIssue({
      code: 'custom',
      message: `expected an integer from 1 to ${MAX_INCIDENT_LIMIT}, got ${JSON.stringify(s)}`,
    })
    return z.NEVER
  }
  return n
})

const nonEmpty = (what: string) => z.string().min(1, `expected ${what}, got an empty string`)

/** Query of `GET /api/incidents`. */
export const IncidentsQuerySchema = z
  .strictObject({
    limit: limitParam.optional().describe(`Newest first, at most this many (1..${MAX_INCIDENT_LIMIT}).`),
    worker: nonEmpty('a worker id').optional().describe('Only incidents of this worker id.'),
    pool: nonEmpty('a pool name').optional().describe('Only incidents of this pool.'),
  })
  .describe('Filters of the incident list.')

/**
 * Builds the control API. Routes are plain Hono handlers; errors are thrown as ShepherdErrors and
 * answered by the one mapping of errors.ts, so a new route only adds its handler.
 * @example
 * ```ts
 * const app = createHttpApp({ supervisor, store })
 * const res = await app.request('/api/workers/email%232')
 * ```
 */
export function createHttpApp(options: HttpAppOptions): Hono {
  const { supervisor, store } = options
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
    const body = RestartBodySchema.safeParse(await readJsonBody(c), { reportInput: true })
    if (!body.success)
      throw requestValidationError('body', body.error.issues, Object.keys(RestartBodySchema.shape))
    const { incidentId } = await supervisor.restartWorker(id, { hard: body.data.hard ?? false })
    c.header('Location', `/api/incidents/${encodeURIComponent(incidentId)}`)
    return c.json<RestartResponse>({ incidentId }, 202)
  })

  app.get('/api/incidents', async (c) => {
    const query = IncidentsQuerySchema.safeParse(c.req.query(), { reportInput: true })
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
