/**
 * `GET /api/events`: the supervisor's events as server-sent events, as they happen. The dashboard
 * listens here; so can any tool (`curl -N`). Filters: `types` (comma-separated event types, or
 * prefixes ending in `:` such as `incident:`), `severity` (the least severity sent). With tokens
 * configured, `access_token` in the query stands in for the Authorization header (auth.ts).
 * The fan-out, its bounds and why it stays off the recovery path: event-broadcaster.ts.
 * @module
 */
import { z } from 'zod'

import { ShepherdError } from '../../../errors.js'
import { QUERY_TOKEN_PARAM } from '../auth.js'
import { errorResponse } from '../errors.js'
import { type ApiRoute, defineRoute } from '../route.js'
import { EventsQuerySchema } from '../schemas.js'

export { EventsQuerySchema }

/** Seconds a refused client is asked to wait before it tries again. */
const RETRY_AFTER_S = 5

export const eventRoutes: readonly ApiRoute[] = [
  defineRoute(
    {
      method: 'get',
      path: '/api/events',
      operationId: 'streamEvents',
      tag: 'events',
      summary: "The supervisor's events as server-sent events, as they happen",
      description: `Each message's \`event\` is the event type and its \`data\` the event as JSON (src/core/events.ts). A browser's EventSource cannot send headers, so this route alone also takes the token as \`?${QUERY_TOKEN_PARAM}=\`.`,
      request: { query: EventsQuerySchema },
      responses: {
        200: {
          description:
            'The stream; a comment line every 15 s keeps it open. A client that stops reading is dropped once 256 KiB of events waits for it.',
          content: { 'text/event-stream': { schema: z.string() } },
        },
      },
      security: [{ bearerAuth: ['read'] }, { accessToken: ['read'] }],
      errors: ['SHEPHERD_NOT_FOUND', 'SHEPHERD_EVENT_STREAM_FULL'],
    },
    (c) => {
      const query = c.req.valid('query')
      const hub = c.var.ctx.events
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
    },
  ),
]
