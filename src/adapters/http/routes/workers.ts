/**
 * Routes about the supervisor and its workers: health, the worker list, one worker, pools,
 * history, restarts and outside health signals.
 * @module
 */
import { z } from 'zod'

import { viewStoreHealth } from '../../../core/store-health.js'
import { ShepherdError } from '../../../errors.js'
import {
  FleetHistorySchema,
  HealthResponseSchema,
  IncidentOpenedSchema,
  NoIncidentSchema,
  PoolsResponseSchema,
  WorkerResponseSchema,
  WorkersResponseSchema,
} from '../responses.js'
import { type ApiRoute, defineRoute, json, jsonBody } from '../route.js'
import { RestartBodySchema, SignalBodySchema } from '../schemas.js'

/** The `{id}` of a worker route. */
const WorkerParams = z.strictObject({
  id: z.string().describe('Worker id, percent-encoded: `email#2` is `email%232`.'),
})

const LOCATION = { Location: 'The incident: `/api/incidents/{id}`.' }

function incidentLocation(id: string): string {
  return `/api/incidents/${encodeURIComponent(id)}`
}

export const workerRoutes: readonly ApiRoute[] = [
  defineRoute(
    {
      method: 'get',
      path: '/api/health',
      operationId: 'getHealth',
      tag: 'supervisor',
      summary: 'Whether a supervisor answers, which one, and whether its store takes writes',
      description:
        'Answers from memory, so it answers while the store does not (a full disk, PostgreSQL restarting): `store` says so.',
      responses: { 200: json(HealthResponseSchema, 'It answers.') },
    },
    (c) =>
      c.json(
        {
          ok: true as const,
          supervisor: c.var.ctx.supervisor.info(),
          store: viewStoreHealth(c.var.ctx.storeHealth()),
        },
        200,
      ),
  ),

  defineRoute(
    {
      method: 'get',
      path: '/api/workers',
      operationId: 'listWorkers',
      tag: 'workers',
      summary: 'Every worker slot, spares included',
      responses: { 200: json(WorkersResponseSchema, 'The workers.') },
    },
    (c) => c.json({ workers: c.var.ctx.supervisor.listWorkers() }, 200),
  ),

  defineRoute(
    {
      method: 'get',
      path: '/api/workers/{id}',
      operationId: 'getWorker',
      tag: 'workers',
      summary: 'One worker',
      request: { params: WorkerParams },
      responses: { 200: json(WorkerResponseSchema, 'The worker.') },
      errors: ['SHEPHERD_WORKER_NOT_FOUND'],
    },
    (c) => {
      const { id } = c.req.valid('param')
      const worker = c.var.ctx.supervisor.getWorker(id)
      if (!worker) throw new ShepherdError('SHEPHERD_WORKER_NOT_FOUND', `no worker has id "${id}"`)
      return c.json({ worker }, 200)
    },
  ),

  defineRoute(
    {
      method: 'get',
      path: '/api/pools',
      operationId: 'listPools',
      tag: 'workers',
      summary: 'Every pool: size, serving workers, availability, restarts by cause',
      responses: { 200: json(PoolsResponseSchema, 'The pools.') },
    },
    (c) => c.json({ pools: c.var.ctx.supervisor.listPools() }, 200),
  ),

  defineRoute(
    {
      method: 'get',
      path: '/api/history',
      operationId: 'getHistory',
      tag: 'workers',
      summary: 'Recent samples per worker and per queue, oldest first',
      responses: { 200: json(FleetHistorySchema, 'The samples.') },
    },
    (c) => c.json(c.var.ctx.supervisor.history(), 200),
  ),

  defineRoute(
    {
      method: 'post',
      path: '/api/workers/{id}/restart',
      operationId: 'restartWorker',
      tag: 'workers',
      summary: 'Restart a worker: opens a manual incident',
      description: 'Answers once the incident is opened, not when it ends; follow it at the Location.',
      request: { params: WorkerParams, body: jsonBody(RestartBodySchema, false) },
      responses: { 202: json(IncidentOpenedSchema, 'The incident is open.', LOCATION) },
      errors: ['SHEPHERD_WORKER_NOT_FOUND', 'SHEPHERD_RECOVERY_IN_PROGRESS', 'SHEPHERD_SUPERVISOR_STOPPING'],
    },
    async (c) => {
      const { id } = c.req.valid('param')
      const body = c.req.valid('json')
      const { incidentId } = await c.var.ctx.supervisor.restartWorker(id, { hard: body.hard ?? false })
      return c.json({ incidentId }, 202, { Location: incidentLocation(incidentId) })
    },
  ),

  defineRoute(
    {
      method: 'post',
      path: '/api/workers/{id}/signals',
      operationId: 'signalWorker',
      tag: 'workers',
      summary: "An outside monitor's verdict about a worker",
      request: { params: WorkerParams, body: jsonBody(SignalBodySchema, true) },
      responses: {
        202: json(IncidentOpenedSchema, 'unhealthy: an incident was opened (cause external).', LOCATION),
        200: json(NoIncidentSchema, 'Noted; no incident was opened.'),
      },
      errors: ['SHEPHERD_WORKER_NOT_FOUND', 'SHEPHERD_RECOVERY_IN_PROGRESS', 'SHEPHERD_SUPERVISOR_STOPPING'],
    },
    async (c) => {
      const { id } = c.req.valid('param')
      const body = c.req.valid('json')
      const { incidentId } = await c.var.ctx.supervisor.signal(id, {
        status: body.status,
        reason: body.reason,
        source: body.source ?? 'api',
      })
      if (incidentId === null) return c.json({ incidentId }, 200)
      return c.json({ incidentId }, 202, { Location: incidentLocation(incidentId) })
    },
  ),
]
