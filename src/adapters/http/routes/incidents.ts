/**
 * Routes about incidents: the list (newest first, filtered) and one incident with its timeline.
 * @module
 */
import { z } from 'zod'

import { ShepherdError } from '../../../errors.js'
import type { IncidentQuery } from '../../../ports/store.js'
import { IncidentResponseSchema, IncidentsResponseSchema } from '../responses.js'
import { type ApiRoute, defineRoute, json } from '../route.js'
import { DEFAULT_INCIDENT_LIMIT, IncidentsQuerySchema } from '../schemas.js'

export const incidentRoutes: readonly ApiRoute[] = [
  defineRoute(
    {
      method: 'get',
      path: '/api/incidents',
      operationId: 'listIncidents',
      tag: 'incidents',
      summary: 'Recent incidents, newest first',
      request: { query: IncidentsQuerySchema },
      responses: { 200: json(IncidentsResponseSchema, 'The incidents.') },
    },
    async (c) => {
      const { limit = DEFAULT_INCIDENT_LIMIT, worker, pool, node } = c.req.valid('query')
      const filter: IncidentQuery = { limit }
      if (worker !== undefined) filter.workerId = worker
      if (pool !== undefined) filter.pool = pool
      if (node !== undefined) filter.node = node
      return c.json({ incidents: await c.var.ctx.store.listIncidents(filter) }, 200)
    },
  ),

  defineRoute(
    {
      method: 'get',
      path: '/api/incidents/{id}',
      operationId: 'getIncident',
      tag: 'incidents',
      summary: 'One incident with its whole timeline',
      request: { params: z.strictObject({ id: z.string().describe('Incident id.') }) },
      responses: { 200: json(IncidentResponseSchema, 'The incident.') },
      errors: ['SHEPHERD_INCIDENT_NOT_FOUND'],
    },
    async (c) => {
      const { id } = c.req.valid('param')
      const incident = await c.var.ctx.store.getIncident(id)
      if (!incident) throw new ShepherdError('SHEPHERD_INCIDENT_NOT_FOUND', `no incident has id "${id}"`)
      return c.json({ incident }, 200)
    },
  ),
]
