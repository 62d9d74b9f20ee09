/**
 * `GET /api/events`: the supervisor's events as server-sent events, as they happen. The dashboard
 * listens here; so can any tool (`curl -N`). Filters: `types` (comma-separated event types, or
 * prefixes ending in `:` such as `incident:`), `severity` (the least severity sent). With tokens
 * configured, `access_token` in the query stands in for the Authorization header (auth.ts).
 * @module
 */
import type { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'

import { type AnyEvent, eventMatches, severityRank } from '../../core/events.js'
import { ShepherdError } from '../../errors.js'
import { type HttpContext, parseQuery } from '../context.js'
import { EventsQuerySchema } from '../schemas.js'

export { EventsQuerySchema }

/** A comment line this often keeps proxies and browsers from closing an idle stream. */
const KEEPALIVE_MS = 15_000

export function eventRoutes(app: Hono, ctx: HttpContext): void {
  app.get('/api/events', (c) => {
    const query = parseQuery(c, EventsQuerySchema)
    const subscribe = ctx.events
    if (!subscribe) throw new ShepherdError('SHEPHERD_NOT_FOUND', 'this server has no event stream')
    const wanted =
      query.types
        ?.split(',')
        .map((t) => t.trim())
        .filter(Boolean) ?? []
    const least = severityRank(query.severity ?? 'info')
    return streamSSE(c, async (stream) => {
      let closed = false
      const unsubscribe = subscribe((event: AnyEvent) => {
        if (closed) return
        if (severityRank(event.severity) < least) return
        if (wanted.length > 0 && !eventMatches(event.type, wanted)) return
        void stream.writeSSE({ event: event.type, data: JSON.stringify(event) }).catch(() => undefined)
      })
      const keepalive = setInterval(
        () => void stream.write(': keepalive\n\n').catch(() => undefined),
        KEEPALIVE_MS,
      )
      keepalive.unref()
      await new Promise<void>((resolve) => stream.onAbort(resolve))
      closed = true
      clearInterval(keepalive)
      unsubscribe()
    })
  })
}
