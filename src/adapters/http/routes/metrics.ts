/**
 * `GET /metrics`: Shepherd's Prometheus metrics in the text exposition format (see
 * docs/metrics.md). Gauges are read from the supervisor and the store at each scrape; counters and
 * histograms are kept as things happen.
 * @module
 */
import { z } from 'zod'

import { ShepherdError } from '../../../errors.js'
import { type ApiRoute, defineRoute } from '../route.js'

export const metricsRoutes: readonly ApiRoute[] = [
  defineRoute(
    {
      method: 'get',
      path: '/metrics',
      operationId: 'getMetrics',
      tag: 'metrics',
      summary: 'Prometheus metrics, in the text exposition format',
      responses: {
        200: {
          description: 'The metrics (docs/metrics.md).',
          content: { 'text/plain': { schema: z.string() } },
        },
      },
      errors: ['SHEPHERD_NOT_FOUND'],
    },
    async (c) => {
      const metrics = c.var.ctx.metrics
      if (!metrics) throw new ShepherdError('SHEPHERD_NOT_FOUND', 'this server has no metrics')
      const text = await metrics.render()
      return c.text(text, 200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' })
    },
  ),
]
