/**
 * Routes about incidents: the list (newest first, filtered) and one incident with its timeline.
 * @module
 */
import type { Hono } from 'hono'

import { ShepherdError } from '../../errors.js'
import type { IncidentQuery } from '../../store/store.js'
import { type HttpContext, NO_QUERY, parseQuery } from '../context.js'
import {
  DEFAULT_INCIDENT_LIMIT,
  type IncidentResponse,
  IncidentsQuerySchema,
  type IncidentsResponse,
} from '../schemas.js'

export function incidentRoutes(app: Hono, { store }: HttpContext): void {
  app.get('/api/incidents', async (c) => {
    const { limit = DEFAULT_INCIDENT_LIMIT, worker, pool } = parseQuery(c, IncidentsQuerySchema)
    const filter: IncidentQuery = { limit }
    if (worker !== undefined) filter.workerId = worker
    if (pool !== undefined) filter.pool = pool
    return c.json<IncidentsResponse>({ incidents: await store.listIncidents(filter) })
  })

  app.get('/api/incidents/:id', async (c) => {
    parseQuery(c, NO_QUERY)
    const id = c.req.param('id')
    const incident = await store.getIncident(id)
    if (!incident) throw new ShepherdError('SHEPHERD_INCIDENT_NOT_FOUND', `no incident has id "${id}"`)
    return c.json<IncidentResponse>({ incident })
  })
}
