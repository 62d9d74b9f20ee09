/**
 * The HTTP control API: a web-standard Hono app over the supervisor, the store and the queue
 * service. It binds no port (node-server.ts does), so tests drive it in-process with
 * `app.request()`.
 *
 * Each route is defined once, with its request and response schemas, beside its handler in
 * routes/ (route.ts says how); the OpenAPI document (openapi.ts) and docs/api.md's route table are
 * generated from those definitions. Worker ids contain `#` (`email#2`), which a client must send
 * percent-encoded (`email%232`); path parameters are decoded before use. With a token set
 * (auth.ts), every /api route and /metrics require it; the dashboard's files do not.
 * @module
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import { methodNotAllowed } from 'hono/method-not-allowed'

import { DEFAULT_MAX_EVENT_CLIENTS } from '../../config/schema.js'
import { HEALTHY_STORE } from '../../core/store-health.js'
import { coerceError } from '../../errors.js'
import { Queue } from '../../queue/queue.js'
import { systemClock } from '../system-clock.js'
import { apiAuth } from './auth.js'
import { bodyLimit } from './body-limit.js'
import type { HttpAppOptions, HttpContext } from './context.js'
import { bodyTooLargeMessage, errorResponse, toErrorResponse } from './errors.js'
import { EventBroadcaster } from './event-broadcaster.js'
import { API_ROUTES, openApiDocument } from './openapi.js'
import { requestGuard, requireJson } from './request-guard.js'
import { type ApiEnv, mountRoutes } from './route.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { API_BODY_LIMIT } from './schemas.js'

export type { HttpAppOptions, HttpContext } from './context.js'
export * from './responses.js'
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
export function createHttpApp(options: HttpAppOptions): OpenAPIHono<ApiEnv> {
  const clock = options.clock ?? systemClock
  const ctx: HttpContext = {
    supervisor: options.supervisor,
    store: options.store,
    queue: new Queue(options.store, options.config && { config: options.config }, clock),
    events:
      options.events &&
      new EventBroadcaster(
        options.events,
        { maxClients: options.config?.api.max_event_clients ?? DEFAULT_MAX_EVENT_CLIENTS },
        { onDrop: options.onEventClientDropped },
      ),
    metrics: options.metrics,
    storeHealth: options.storeHealth ?? (() => HEALTHY_STORE),
    clock,
    node: options.node ?? null,
    openApiDocument,
    record: options.record ?? (() => undefined),
  }
  const app = new OpenAPIHono<ApiEnv>()
  app.use(async (c, next) => {
    c.set('ctx', ctx)
    await next()
  })

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
    bodyLimit(API_BODY_LIMIT, (c) =>
      errorResponse(c, 'SHEPHERD_PAYLOAD_TOO_LARGE', bodyTooLargeMessage(API_BODY_LIMIT), { status: 413 }),
    ),
  )

  mountRoutes(app, API_ROUTES)
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
