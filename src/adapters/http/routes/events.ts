/**
 * `GET /api/events`: the supervisor's events as server-sent events, as they happen. The dashboard
 * listens here; so can any tool (`curl -N`). Filters: `types` (comma-separated event types, or
 * prefixes ending in `:` such as `incident:`), `severity` (the least severity sent). With tokens
 * configured, `access_token` in the query stands in for the Authorization header (auth.ts).
 * The fan-out, its bounds and why it stays off the recovery path: event-broadcaster.ts.
 *
 * `GET /api/events/recorded`: the events the store holds, oldest first, paged by `after`; on a
 * store that agents share, every agent's, each naming its node (`?node=` keeps one agent's).
 * @module
 */
import { z } from 'zod'

import type { AnyEvent } from '../../../core/events.js'
import { ShepherdError } from '../../../errors.js'
import type { EventQuery } from '../../../ports/store.js'
import { QUERY_TOKEN_PARAM } from '../auth.js'
import { errorResponse } from '../errors.js'
import { RecordedEventsResponseSchema } from '../responses.js'
import { type ApiRoute, defineRoute, json } from '../route.js'
import { DEFAULT_EVENT_LIMIT, EventsQuerySchema, RecordedEventsQuerySchema } from '../schemas.js'

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

  defineRoute(
    {
      method: 'get',
      path: '/api/events/recorded',
      operationId: 'listRecordedEvents',
      tag: 'events',
      summary: 'The store’s events, oldest first: every agent’s on a shared store',
      description:
        'Page with `after` (the last `seq` of the previous page). Each event names the agent that recorded it (`node`); `?node=` keeps one agent’s.',
      request: { query: RecordedEventsQuerySchema },
      responses: { 200: json(RecordedEventsResponseSchema, 'The events.') },
    },
    async (c) => {
      const { after, limit = DEFAULT_EVENT_LIMIT, types, worker, node } = c.req.valid('query')
      const filter: EventQuery = { limit }
      if (after !== undefined) filter.afterSeq = after
      if (types !== undefined) filter.types = types
      if (worker !== undefined) filter.workerId = worker
      if (node !== undefined) filter.node = node
      const events = await c.var.ctx.store.listEvents(filter)
      return c.json({ events: events.map(recorded) }, 200)
    },
  ),
]

/** An event read from the store, which always gives it its seq and node (null before nodes were recorded). */
function recorded(e: AnyEvent) {
  return { ...e, seq: e.seq ?? 0, node: e.node ?? null }
}
