/**
 * Routes about the supervisor and its workers: health, the worker list, one worker, restarts.
 * @module
 */
import type { Hono } from 'hono'

import { ShepherdError } from '../../errors.js'
import { type HttpContext, NO_QUERY, parsePart, parseQuery, readJsonBody } from '../context.js'
import {
  type HealthResponse,
  type HistoryResponse,
  type PoolsResponse,
  RestartBodySchema,
  type RestartResponse,
  SignalBodySchema,
  type SignalResponse,
  type WorkerResponse,
  type WorkersResponse,
} from '../schemas.js'

export function workerRoutes(app: Hono, { supervisor }: HttpContext): void {
  app.get('/api/health', (c) => {
    parseQuery(c, NO_QUERY)
    return c.json<HealthResponse>({ ok: true, supervisor: supervisor.info() })
  })

  app.get('/api/workers', (c) => {
    parseQuery(c, NO_QUERY)
    return c.json<WorkersResponse>({ workers: supervisor.listWorkers() })
  })

  app.get('/api/workers/:id', (c) => {
    parseQuery(c, NO_QUERY)
    const id = c.req.param('id')
    const worker = supervisor.getWorker(id)
    if (!worker) throw new ShepherdError('SHEPHERD_WORKER_NOT_FOUND', `no worker has id "${id}"`)
    return c.json<WorkerResponse>({ worker })
  })

  app.get('/api/pools', (c) => {
    parseQuery(c, NO_QUERY)
    return c.json<PoolsResponse>({ pools: supervisor.listPools() })
  })

  app.get('/api/history', (c) => {
    parseQuery(c, NO_QUERY)
    return c.json<HistoryResponse>(supervisor.history())
  })

  app.post('/api/workers/:id/signals', async (c) => {
    parseQuery(c, NO_QUERY)
    const id = c.req.param('id')
    const body = parsePart('body', SignalBodySchema, await readJsonBody(c))
    const { incidentId } = await supervisor.signal(id, {
      status: body.status,
      reason: body.reason,
      source: body.source ?? 'api',
    })
    if (incidentId !== null) c.header('Location', `/api/incidents/${encodeURIComponent(incidentId)}`)
    return c.json<SignalResponse>({ incidentId }, incidentId === null ? 200 : 202)
  })

  app.post('/api/workers/:id/restart', async (c) => {
    parseQuery(c, NO_QUERY)
    const id = c.req.param('id')
    const body = parsePart('body', RestartBodySchema, await readJsonBody(c))
    const { incidentId } = await supervisor.restartWorker(id, { hard: body.hard ?? false })
    c.header('Location', `/api/incidents/${encodeURIComponent(incidentId)}`)
    return c.json<RestartResponse>({ incidentId }, 202)
  })
}
