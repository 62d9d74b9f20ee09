/**
 * `GET /metrics`: Shepherd's Prometheus metrics in the text exposition format (see
 * docs/metrics.md). Gauges are read from the supervisor and the store at each scrape; counters and
 * histograms are kept as things happen.
 * @module
 */
import type { Hono } from 'hono'

import { ShepherdError } from '../../errors.js'
import { type HttpContext, NO_QUERY, parseQuery } from '../context.js'

/** Mounts `GET /metrics`; it answers 404 when the app was built without metrics. */
export function metricsRoutes(app: Hono, ctx: HttpContext): void {
  app.get('/metrics', async (c) => {
    parseQuery(c, NO_QUERY)
    const metrics = ctx.metrics
    if (!metrics) throw new ShepherdError('SHEPHERD_NOT_FOUND', 'this server has no metrics')
    const text = await metrics.render()
    return c.body(text, 200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' })
  })
}
