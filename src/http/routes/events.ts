/**
 * `GET /api/events`: the supervisor's events as server-sent events, as they happen. The dashboard
 * listens here; so can any tool (`curl -N`). Filters: `types` (comma-separated event types, or
 * prefixes ending in `:` such as `incident:`), `severity` (the least severity sent). With tokens
 * configured, `access_token` in the query stands in for the Authorization header (auth.ts).
 * The fan-out, its bounds and why it stays off the recovery path: event-broadcaster.ts.
 * @module
 */
import type { Hono } from 'hono'

import { ShepherdError } from '../../errors.js'
import { parseQuery } from '../context.js'
import { errorResponse } from '../errors.js'
import type { EventBroadcaster } from '../event-broadcaster.js'
import { EventsQuerySchema } from '../schemas.js'

export { EventsQuerySchema }

/** Seconds a refused client is asked to wait before it tries again. */
const RETRY_AFTER_S = 5

export function eventRoutes(app: Hono, hub: EventBroadcaster | undefined): void {
  app.get('/api/events', (c) => {
    const query = parseQuery(c, EventsQuerySchema)
    if (!hub) throw new ShepherdError('SHEPHERD_NOT_FOUND', 'this server has no event stream')
    const types =
      query.types
        ?.split(',')
        .map((t) => t.trim())
        .filter(Boolean) ?? []
    // Under @hono/node-server the Node response is in the context's env: a dropped client's
    // connection is destroyed there, quietly (an errored body would be logged as a failed response).
    const outgoing = (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing
    const body = hub.open(
      { types, severity: query.severity ?? 'info' },
      outgoing && (() => outgoing.destroy()),
    )
    if (!body) {
      return errorResponse(
        c,
        'SHEPHERD_EVENT_STREAM_FULL',
        `the event stream already has ${hub.maxClients} clients (api.max_event_clients); try again in ${RETRY_AFTER_S} s, or raise the limit`,
        { headers: { 'Retry-After': String(RETRY_AFTER_S) } },
      )
    }
    return new Response(body, {
      status: 200,
      headers: {
        'Content-Type': 'text/event-stream',
        'Cache-Control': 'no-cache',
        Connection: 'keep-alive',
      },
    })
  })
}
