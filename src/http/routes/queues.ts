/**
 * Routes about queues and jobs: counts, enqueue (one or a batch), listing, retry, purge, one job.
 * @module
 */
import type { Hono } from 'hono'

import { ShepherdError } from '../../errors.js'
import { EnqueueBodySchema } from '../../queue/enqueue.js'
import {
  type HttpContext,
  isRecord,
  NO_QUERY,
  parsePart,
  parseQuery,
  queueParam,
  readJsonBody,
} from '../context.js'
import { parseRequestPart } from '../errors.js'
import {
  DEFAULT_JOB_LIMIT,
  EnqueueBatchSchema,
  type EnqueueResponse,
  type JobResponse,
  JobsQuerySchema,
  type JobsResponse,
  PurgeBodySchema,
  type PurgeJobsResponse,
  type QueuesResponse,
  RetryBodySchema,
  type RetryJobsResponse,
} from '../schemas.js'

export function queueRoutes(app: Hono, { queue: service }: HttpContext): void {
  app.get('/api/queues', async (c) => {
    parseQuery(c, NO_QUERY)
    return c.json<QueuesResponse>({ queues: await service.overview() })
  })

  app.post('/api/queues/:queue/jobs', async (c) => {
    parseQuery(c, NO_QUERY)
    const queue = queueParam(c)
    const body = await readJsonBody(c)
    const isBatch = isRecord(body) && Object.hasOwn(body, 'jobs')
    const parsed = isBatch
      ? parseRequestPart('body', EnqueueBatchSchema, body)
      : parseRequestPart('body', EnqueueBodySchema, body)
    const items = 'jobs' in parsed ? parsed.jobs : [parsed]
    const jobs = await service.addMany(queue, items)
    return c.json<EnqueueResponse>({ jobs }, 201)
  })

  app.get('/api/queues/:queue/jobs', async (c) => {
    const { state, limit = DEFAULT_JOB_LIMIT } = parseQuery(c, JobsQuerySchema)
    const queue = queueParam(c)
    const jobs = await service.list(queue, { state, limit })
    return c.json<JobsResponse>({ jobs })
  })

  app.post('/api/queues/:queue/retry', async (c) => {
    parseQuery(c, NO_QUERY)
    const queue = queueParam(c)
    const body = parsePart('body', RetryBodySchema, await readJsonBody(c))
    const retried = await service.retry(queue, body.from, body.ids)
    return c.json<RetryJobsResponse>({ retried })
  })

  app.post('/api/queues/:queue/purge', async (c) => {
    parseQuery(c, NO_QUERY)
    const queue = queueParam(c)
    const body = parsePart('body', PurgeBodySchema, await readJsonBody(c))
    const purged = await service.purge(queue, body.state, body.ids)
    return c.json<PurgeJobsResponse>({ purged })
  })

  app.get('/api/jobs/:id', async (c) => {
    parseQuery(c, NO_QUERY)
    const id = c.req.param('id')
    const job = await service.getJob(id)
    if (!job) throw new ShepherdError('SHEPHERD_JOB_NOT_FOUND', `no job has id "${id}"`)
    return c.json<JobResponse>({ job })
  })
}
