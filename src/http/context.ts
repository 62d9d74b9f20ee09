/**
 * What every route of the control API works with, and the few helpers they share to read
 * requests: one way to parse a body, a query, a queue name.
 * @module
 */
import type { Context } from 'hono'
import { z } from 'zod'

import type { Config } from '../config/schema.js'
import type { Clock } from '../core/clock.js'
import type { AnyEvent } from '../core/events.js'
import { coerceError, ShepherdError } from '../errors.js'
import type { MetricsEndpoint } from '../metrics/registry.js'
import type { Queue } from '../queue/queue.js'
import type { Store } from '../store/store.js'
import type { SupervisorControl } from '../supervisor/view.js'
import type { ApiTokens } from './auth.js'
import { parseRequestPart, type RequestIssue } from './errors.js'
import type { DropReason } from './event-broadcaster.js'
import type { RequestGuardOptions } from './request-guard.js'
import { QueueParamSchema } from './schemas.js'

/** What `createHttpApp` serves. */
export interface HttpAppOptions {
  /** The running supervisor. */
  supervisor: SupervisorControl
  /** Where incidents and jobs are read and jobs written. */
  store: Store
  /**
   * The API tokens (`resolveApiTokens` in auth.ts). With a token set, `/api/*` and `/metrics`
   * require one; the read token allows GET and HEAD only.
   * @defaultValue no tokens: every request is allowed, which the daemon permits on loopback only
   */
  auth?: ApiTokens
  /**
   * The host names the API answers to and the rules for browsers (request-guard.ts).
   * @defaultValue IP addresses and localhost only
   */
  hosts?: RequestGuardOptions
  /**
   * The loaded config (`LoadedConfig.config`): each queue's defaults for an enqueue
   * (`queues.<name>.max_attempts`, `timeout`), and the queues `GET /api/queues` always lists.
   * @defaultValue none: every queue gets the schema's queue defaults and `GET /api/queues` lists
   *   only queues that have jobs. The daemon always passes its config.
   */
  config?: Config
  /**
   * The time of enqueues, retries and counts.
   * @defaultValue the system clock (monotonic epoch ms), as the supervisor uses
   */
  clock?: Clock
  /**
   * Called with every unexpected error before it is answered as a 500, so that the daemon can log
   * it with its stack (the response never carries one).
   * @defaultValue nothing is called
   */
  onInternalError?: (error: Error, request: { method: string; path: string }) => void
  /**
   * The supervisor's events as they happen, for `GET /api/events` (server-sent events).
   * @defaultValue none: the route answers 404
   */
  events?: EventSource
  /**
   * Called when an event-stream client is dropped for not reading (event-broadcaster.ts), so that
   * the daemon can log it.
   * @defaultValue nothing is called
   */
  onEventClientDropped?: (reason: DropReason, clients: number) => void
  /**
   * Shepherd's Prometheus metrics, for `GET /metrics` (the daemon passes its `createMetrics()`).
   * @defaultValue none: the route answers 404
   */
  metrics?: MetricsEndpoint
}

/** Subscribes to every event; returns the unsubscribe function. */
export type EventSource = (listener: (event: AnyEvent) => void) => () => void

/** What the routes share, built once by createHttpApp. */
export interface HttpContext {
  supervisor: SupervisorControl
  store: Store
  config: Config | undefined
  clock: Clock
  /** The queue service: every queue route goes through it, and it wakes the supervisor. */
  queue: Queue
  events: EventSource | undefined
  metrics: MetricsEndpoint | undefined
}

/** The `:queue` path parameter, checked; SHEPHERD_BAD_REQUEST naming `path.queue` when it is not a queue name. */
export function queueParam(c: Context): string {
  return parseRequestPart('path', QueueParamSchema, { queue: c.req.param('queue') }).queue
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The request body as JSON; an empty body is `{}`. */
export async function readJsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text()
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text) as unknown
  } catch (cause) {
    throw new ShepherdError('SHEPHERD_BAD_REQUEST', 'body is not valid JSON', {
      cause,
      details: { reason: coerceError(cause).message },
    })
  }
}

/** The query of a route that takes no parameters. */
export const NO_QUERY = z.strictObject({})

/**
 * The query of a request, by the one rule every API route follows: each parameter the route's
 * schema names, at most once; anything else is refused (SHEPHERD_BAD_REQUEST naming it) before the
 * route does anything. A route without parameters passes {@link NO_QUERY}. A parameter given twice
 * is refused rather than one of its values silently taken.
 * @example
 * ```ts
 * const { limit = 50 } = parseQuery(c, IncidentsQuerySchema)
 * ```
 */
export function parseQuery<S extends z.ZodObject>(c: Context, schema: S): z.output<S> {
  const all = c.req.queries()
  const parsed = parsePart(
    'query',
    schema,
    Object.fromEntries(Object.entries(all).map(([k, values]) => [k, values[0]])),
  )
  const repeated: RequestIssue[] = Object.entries(all)
    .filter(([, values]) => values.length > 1)
    .map(([k, values]) => ({ path: `query.${k}`, message: `expected one value, got ${values.length}` }))
  if (repeated.length > 0) {
    throw new ShepherdError(
      'SHEPHERD_BAD_REQUEST',
      repeated.map((i) => `${i.path}: ${i.message}`).join('; '),
      {
        details: { issues: repeated },
      },
    )
  }
  return parsed
}

/** Parses a request part (`body`, `query`) with a strict object schema; SHEPHERD_BAD_REQUEST naming what is wrong. */
export function parsePart<S extends z.ZodObject>(
  part: 'body' | 'query',
  schema: S,
  value: unknown,
): z.output<S> {
  return parseRequestPart(part, schema, value)
}
