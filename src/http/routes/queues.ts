/**
 * Routes about queues and jobs: counts, enqueue (one or a batch), listing, retry, purge, one job.
 * @module
 */
import type { Hono } from 'hono'

import { ShepherdError } from '../../errors.js'
import { EnqueueBodySchema, toNewJob } from '../../queue/enqueue.js'
import { queueOverview } from '../../queue/queue.js'
import {
  type HttpContext,
  isRecord,
  NO_QUERY,
  parsePart,
  parseQuery,
  queueParam,
  readJsonBody,
} from '../context.js'
import { parseRequest, requestValidationError } from '../errors.js'
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

export function queueRoutes(app: Hono, { supervisor, store, config, clock, defaults }: HttpContext): void {
  app.get('/api/queues', async (c) => {
    parseQuery(c, NO_QUERY)
    return c.json<QueuesResponse>({ queues: await queueOverview(store.jobs, clock.now(), config) })
  })

  app.post('/api/queues/:queue/jobs', async (c) => {
    parseQuery(c, NO_QUERY)
    const queue = queueParam(c)
    const body = await readJsonBody(c)
    const isBatch = isRecord(body) && Object.hasOwn(body, 'jobs')
    const parsed = isBatch ? parseRequest(EnqueueBatchSchema, body) : parseRequest(EnqueueBodySchema, body)
    if (!parsed.success) {
      const jobKeys = Object.keys(EnqueueBodySchema.shape)
      throw requestValidationError('body', parsed.error.issues, (at) =>
        isBatch && at.length === 0 ? Object.keys(EnqueueBatchSchema.shape) : jobKeys,
      )
    }
    const items = 'jobs' in parsed.data ? parsed.data.jobs : [parsed.data]
    const jobs = await store.jobs.add(
      items.map((j) => toNewJob(queue, j.payload, j)),
      clock.now(),
      defaults,
    )
    if (jobs.some((j) => j.added)) supervisor.jobsAdded()
    return c.json<EnqueueResponse>({ jobs }, 201)
  })

  app.get('/api/queues/:queue/jobs', async (c) => {
    const { state, limit = DEFAULT_JOB_LIMIT } = parseQuery(c, JobsQuerySchema)
    const queue = queueParam(c)
    const jobs = await store.jobs.listJobs(queue, { state, limit }, clock.now())
    return c.json<JobsResponse>({ jobs })
  })

  app.post('/api/queues/:queue/retry', async (c) => {
    parseQuery(c, NO_QUERY)
    const queue = queueParam(c)
    const body = parsePart('body', RetryBodySchema, await readJsonBody(c))
    const retried = await store.jobs.retry(queue, body.from, clock.now(), body.ids)
    if (retried > 0) supervisor.jobsAdded()
    return c.json<RetryJobsResponse>({ retried })
  })

  app.post('/api/queues/:queue/purge', async (c) => {
    parseQuery(c, NO_QUERY)
    const queue = queueParam(c)
    const body = parsePart('body', PurgeBodySchema, await readJsonBody(c))
    const purged = await store.jobs.purge(queue, body.state, body.ids)
    return c.json<PurgeJobsResponse>({ purged })
  })

  app.get('/api/jobs/:id', async (c) => {
    parseQuery(c, NO_QUERY)
    const id = c.req.param('id')
    const job = await store.jobs.getJob(id)
    if (!job) throw new ShepherdError('SHEPHERD_JOB_NOT_FOUND', `no job has id "${id}"`)
    return c.json<JobResponse>({ job })
  })
}
