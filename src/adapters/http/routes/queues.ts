/**
 * Routes about queues and jobs: counts, enqueue (one or a batch), listing, retry, purge, one job.
 * Each is a call of the queue service (src/queue/queue.ts), which also wakes the supervisor's
 * dispatcher when jobs were added or put back.
 * @module
 */
import { z } from 'zod'

import { ShepherdError } from '../../../errors.js'
import { EnqueueBodySchema } from '../../../queue/enqueue.js'
import {
  EnqueueResponseSchema,
  JobResponseSchema,
  JobsResponseSchema,
  PurgeJobsResponseSchema,
  QueuesResponseSchema,
  RetryJobsResponseSchema,
} from '../responses.js'
import { type ApiRoute, defineRoute, json, jsonBody, STORE_WRITE_ERRORS } from '../route.js'
import {
  DEFAULT_JOB_LIMIT,
  EnqueueBatchSchema,
  JobsQuerySchema,
  PurgeBodySchema,
  QueueParamSchema,
  RetryBodySchema,
} from '../schemas.js'

export const queueRoutes: readonly ApiRoute[] = [
  defineRoute(
    {
      method: 'get',
      path: '/api/queues',
      operationId: 'listQueues',
      tag: 'queues',
      summary: 'The counts of every queue that has jobs or that the config names',
      responses: { 200: json(QueuesResponseSchema, 'The queues.') },
    },
    async (c) => c.json({ queues: await c.var.ctx.queue.overview() }, 200),
  ),

  defineRoute(
    {
      method: 'post',
      path: '/api/queues/{queue}/jobs',
      operationId: 'enqueue',
      tag: 'queues',
      summary: 'Add one job, or many in one transaction',
      request: {
        params: QueueParamSchema,
        body: jsonBody(z.union([EnqueueBodySchema, EnqueueBatchSchema]), true),
      },
      responses: {
        201: json(
          EnqueueResponseSchema,
          'Added; `added` is false for a duplicate (by id or idempotency key).',
        ),
      },
      errors: STORE_WRITE_ERRORS,
    },
    async (c) => {
      const { queue } = c.req.valid('param')
      const body = c.req.valid('json')
      const jobs = await c.var.ctx.queue.addChecked(queue, 'jobs' in body ? body.jobs : [body])
      return c.json({ jobs }, 201)
    },
  ),

  defineRoute(
    {
      method: 'get',
      path: '/api/queues/{queue}/jobs',
      operationId: 'listJobs',
      tag: 'queues',
      summary: "The queue's jobs, newest first",
      request: { params: QueueParamSchema, query: JobsQuerySchema },
      responses: { 200: json(JobsResponseSchema, 'The jobs.') },
    },
    async (c) => {
      const { queue } = c.req.valid('param')
      const { state, limit = DEFAULT_JOB_LIMIT } = c.req.valid('query')
      return c.json({ jobs: await c.var.ctx.queue.list(queue, { state, limit }) }, 200)
    },
  ),

  defineRoute(
    {
      method: 'post',
      path: '/api/queues/{queue}/retry',
      operationId: 'retryJobs',
      tag: 'queues',
      summary: 'Put dead-lettered or quarantined jobs back to waiting',
      request: { params: QueueParamSchema, body: jsonBody(RetryBodySchema, true) },
      responses: { 200: json(RetryJobsResponseSchema, 'How many moved.') },
      errors: STORE_WRITE_ERRORS,
    },
    async (c) => {
      const { queue } = c.req.valid('param')
      const { from, ids } = c.req.valid('json')
      return c.json({ retried: await c.var.ctx.queue.retry(queue, from, ids) }, 200)
    },
  ),

  defineRoute(
    {
      method: 'post',
      path: '/api/queues/{queue}/purge',
      operationId: 'purgeJobs',
      tag: 'queues',
      summary: 'Delete jobs in a state, for good',
      request: { params: QueueParamSchema, body: jsonBody(PurgeBodySchema, true) },
      responses: { 200: json(PurgeJobsResponseSchema, 'How many were deleted.') },
      errors: STORE_WRITE_ERRORS,
    },
    async (c) => {
      const { queue } = c.req.valid('param')
      const { state, ids } = c.req.valid('json')
      return c.json({ purged: await c.var.ctx.queue.purge(queue, state, ids) }, 200)
    },
  ),

  defineRoute(
    {
      method: 'get',
      path: '/api/jobs/{id}',
      operationId: 'getJob',
      tag: 'queues',
      summary: 'One job',
      request: { params: z.strictObject({ id: z.string().describe('Job id.') }) },
      responses: { 200: json(JobResponseSchema, 'The job.') },
      errors: ['SHEPHERD_JOB_NOT_FOUND'],
    },
    async (c) => {
      const { id } = c.req.valid('param')
      const job = await c.var.ctx.queue.getJob(id)
      if (!job) throw new ShepherdError('SHEPHERD_JOB_NOT_FOUND', `no job has id "${id}"`)
      return c.json({ job }, 200)
    },
  ),
]
