/**
 * What an enqueue may say about a job: one schema for the library (`Queue.add`), the HTTP API and
 * the CLI, so that all three accept and refuse the same things.
 * @module
 */
import { z } from 'zod'

import { parseDuration } from '../config/units.js'
import type { NewJob } from '../core/job.js'

/**
 * Milliseconds as a number (as in JavaScript timers), or a duration string with its unit such as
 * "500ms", "30s", "2m". A bare numeric string is refused: in config files a plain number means
 * seconds, here it means milliseconds, and guessing would be wrong half the time.
 */
const millis = z.union([z.number().finite().min(0), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return Math.round(v)
  const ms = /^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$/i.test(v) ? parseDuration(v) : null
  if (typeof ms === 'number') return ms
  ctx.addIssue({
    code: 'custom',
    message: 'expected milliseconds as a number, or a duration with its unit such as "500ms", "30s", "2m"',
  })
  return z.NEVER
})

export const EnqueueOptionsSchema = z.strictObject({
  id: z.string().min(1).max(200).optional().describe('Job id; an existing id makes the add a duplicate.'),
  idempotencyKey: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('An existing key in the queue makes the add a duplicate (nothing changes).'),
  delay: millis.optional().describe('Not delivered before this many ms (or "30s", "2m").'),
  priority: z.number().int().optional().describe('Higher runs first; default 0.'),
  maxAttempts: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('Deliveries before a failing job is dead-lettered.'),
  timeout: millis.optional().describe('A delivery running longer fails (ms, or "30s").'),
})

export type EnqueueOptions = z.input<typeof EnqueueOptionsSchema>

/** The body of `POST /api/queues/:queue/jobs` and of each line of `shepherd enqueue` on stdin. */
export const EnqueueBodySchema = EnqueueOptionsSchema.extend({
  payload: z.json().describe('The job’s payload: any JSON value.'),
})

export const QUEUE_NAME = /^[A-Za-z0-9_.-]+$/

/** Turns validated options into the store's NewJob. */
export function toNewJob(queue: string, payload: unknown, o: z.output<typeof EnqueueOptionsSchema>): NewJob {
  return {
    queue,
    payload,
    id: o.id,
    idempotencyKey: o.idempotencyKey,
    delay: o.delay,
    priority: o.priority,
    maxAttempts: o.maxAttempts,
    timeout: o.timeout,
  }
}
