/**
 * What an enqueue may say about a job: one schema for the library (`Queue.add`), the HTTP API and
 * the CLI, so that all three accept and refuse the same things.
 * @module
 */
import { z } from 'zod'

import { LONG_DURATION_LIMIT, parseDuration } from '../config/units.js'
import type { NewJob } from '../core/job.js'

/**
 * Milliseconds as a number (as in JavaScript timers), or a duration string with its unit such as
 * "500ms", "30s", "2m". A bare numeric string is refused: in config files a plain number means
 * seconds, here it means milliseconds, and guessing would be wrong half the time. At most
 * {@link LONG_DURATION_LIMIT} (3650 days): a delay of 400 days runs in 400 days.
 */
const millis = z.union([z.number().finite().min(0), z.string()]).transform((v, ctx) => {
  const ms =
    typeof v === 'number'
      ? Math.round(v)
      : /^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$/i.test(v)
        ? parseDuration(v)
        : null
  if (typeof ms !== 'number') {
    ctx.addIssue({
      code: 'custom',
      message: 'expected milliseconds as a number, or a duration with its unit such as "500ms", "30s", "2m"',
    })
    return z.NEVER
  }
  if (ms > LONG_DURATION_LIMIT.ms) {
    ctx.addIssue({
      code: 'custom',
      message: `expected at most ${LONG_DURATION_LIMIT.text}, got ${JSON.stringify(v)} (${typeof v})`,
    })
    return z.NEVER
  }
  return ms
})

/**
 * How deep a job's payload may nest arrays and objects. Far beyond any real payload, and far
 * below the depth at which validating, storing (JSON.stringify) or handing it to a worker would
 * run out of stack: a 4 KB body of 2,000 brackets once got a 500.
 */
export const MAX_PAYLOAD_DEPTH = 64

/**
 * Whether `value` nests arrays and objects more than `max` levels deep (a scalar is 0 levels,
 * `[]` one). It walks without recursion, so any depth is safe to ask about, and stops at the first
 * value too deep.
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }]
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!
    if (typeof v !== 'object' || v === null) continue
    if (depth + 1 > max) return true
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push({ v: child, depth: depth + 1 })
  }
  return false
}

/** The message of a payload nested too deep: the same from the API, the CLI and `Queue.add`. */
const TOO_DEEP = `expected JSON nested at most ${MAX_PAYLOAD_DEPTH} levels deep, got deeper`

const JSON_VALUE = z.json()

/**
 * Any JSON value, required, checked for depth before zod's recursive JSON schema looks at it. The
 * OpenAPI document says "any JSON value" rather than spelling out the recursive type: a typed
 * client (openapi-fetch) cannot take a recursive type in a request body.
 */
const payload = z.unknown().superRefine((v, ctx) => {
  if (v === undefined) ctx.addIssue({ code: 'custom', message: 'required: expected a JSON value' })
  else if (nestedDeeperThan(v, MAX_PAYLOAD_DEPTH)) ctx.addIssue({ code: 'custom', message: TOO_DEEP })
  else if (!JSON_VALUE.safeParse(v).success)
    ctx.addIssue({ code: 'custom', message: 'expected a JSON value' })
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

/**
 * One job to add: the body of `POST /api/queues/:queue/jobs`, each line of `shepherd enqueue` on
 * stdin, each job of `Queue.addMany`. Its output is branded {@link CheckedJob}: a job that went
 * through it, which `Queue.addChecked` takes without checking it again.
 */
export const EnqueueBodySchema = EnqueueOptionsSchema.extend({
  payload: payload.describe(
    `The job’s payload: any JSON value, nested at most ${MAX_PAYLOAD_DEPTH} levels deep.`,
  ),
})
  .brand<'CheckedJob'>()
  .meta({ id: 'EnqueueBody', description: 'One job.' })

/** A job {@link EnqueueBodySchema} accepted (durations in ms). */
export type CheckedJob = z.output<typeof EnqueueBodySchema>

export const QUEUE_NAME = /^[A-Za-z0-9_.-]+$/

/** A queue name, as the config, the API, the CLI and `Queue` take it. */
export const QueueNameSchema = z
  .string()
  .regex(QUEUE_NAME, 'expected a queue name of letters, digits, "_", "." or "-"')
  .describe('Queue name: letters, digits, "_", "." or "-".')

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
