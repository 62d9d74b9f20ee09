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
 * | GET    | /api/openapi.json        | the OpenAPI 3.1 document        |
 * | GET    | /metrics                 | Prometheus text (metrics.ts)    |
 *
 * Worker ids contain `#` (`email#2`), which a client must send percent-encoded (`email%232`);
 * path parameters are decoded before use. docs/api.md describes every route. With a token set
 * (auth.ts), every /api route and /metrics require it; the dashboard's files do not.
 * @module
 */
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { methodNotAllowed } from 'hono/method-not-allowed'

import { systemClock } from '../adapters/system-clock.js'
import { DEFAULT_MAX_EVENT_CLIENTS } from '../config/schema.js'
import { coerceError } from '../errors.js'
import { Queue } from '../queue/queue.js'
import { apiAuth } from './auth.js'
import { type HttpAppOptions, type HttpContext } from './context.js'
import { bodyTooLargeMessage, errorResponse, toErrorResponse } from './errors.js'
import { EventBroadcaster } from './event-broadcaster.js'
import { requestGuard, requireJson } from './request-guard.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { eventRoutes } from './routes/events.js'
import { incidentRoutes } from './routes/incidents.js'
import { metricsRoutes } from './routes/metrics.js'
import { openApiRoutes } from './routes/openapi.js'
import { queueRoutes } from './routes/queues.js'
import { workerRoutes } from './routes/workers.js'
import { API_BODY_LIMIT } from './schemas.js'

export type { HttpAppOptions, HttpContext } from './context.js'
export * from './schemas.js'

/**
 * Builds the control API. Routes live in routes/, one module per subject; errors are thrown as
 * ShepherdErrors and answered by the one mapping of errors.ts, so a new route only adds its handler.
 * @example
 * ```ts
 * const app = createHttpApp({ supervisor, store, config: loaded.config })
 * const res = await app.request('/api/workers/email%232')
 * ```
 */
export function createHttpApp(options: HttpAppOptions): Hono {
  const clock = options.clock ?? systemClock
  const ctx: HttpContext = {
    supervisor: options.supervisor,
    store: options.store,
    config: options.config,
    clock,
    queue: new Queue(options.store, options.config && { config: options.config }, clock, {
      onJobsAdded: () => options.supervisor.jobsAdded(),
    }),
    events: options.events,
    metrics: options.metrics,
  }
  const hub = ctx.events
    ? new EventBroadcaster(
        ctx.events,
        { maxClients: options.config?.api.max_event_clients ?? DEFAULT_MAX_EVENT_CLIENTS },
        { onDrop: options.onEventClientDropped },
      )
    : undefined
  const app = new Hono()

  // First what a web page could forge, then the token: a request without the right token learns
  // nothing else, and no body is read for it.
  app.use(requestGuard(options.hosts ?? {}))
  app.use(apiAuth(options.auth ?? {}))
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, allowed) =>
        errorResponse(
          c,
          'SHEPHERD_METHOD_NOT_ALLOWED',
          `${c.req.method} is not allowed on ${c.req.path}; allowed: ${allowed.join(', ')}`,
          { status: 405, headers: { Allow: allowed.join(', ') } },
        ),
    }),
  )
  app.use(requireJson())
  app.use(
    bodyLimit({
      maxSize: API_BODY_LIMIT,
      onError: (c) =>
        errorResponse(c, 'SHEPHERD_PAYLOAD_TOO_LARGE', bodyTooLargeMessage(API_BODY_LIMIT), { status: 413 }),
    }),
  )

  workerRoutes(app, ctx)
  incidentRoutes(app, ctx)
  queueRoutes(app, ctx)
  eventRoutes(app, hub)
  openApiRoutes(app)
  metricsRoutes(app, ctx)
  dashboardRoutes(app)

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
