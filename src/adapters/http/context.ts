/**
 * What the control API is built from (`createHttpApp`'s options) and what its routes share.
 * @module
 */
import type { Config } from '../../config/schema.js'
import type { AnyEvent } from '../../core/events.js'
import type { StoreHealth } from '../../core/store-health.js'
import type { MetricsEndpoint } from '../../metrics/registry.js'
import type { Clock } from '../../ports/clock.js'
import type { Store } from '../../ports/store.js'
import type { Queue } from '../../queue/queue.js'
import type { SupervisorControl } from '../../supervisor/view.js'
import type { ApiTokens } from './auth.js'
import type { DropReason, EventBroadcaster } from './event-broadcaster.js'
import type { RequestGuardOptions } from './request-guard.js'

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
   * This agent's node name: its entry in `GET /api/nodes` shows its workers as they are now, rather
   * than as of its last heartbeat.
   * @defaultValue none: every node as recorded at its last heartbeat
   */
  node?: string
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
  /**
   * Whether the store takes writes, for `GET /api/health` (the daemon passes its store monitor's).
   * @defaultValue the store counts as taking writes: nothing watches it
   */
  storeHealth?: () => StoreHealth
  /**
   * Records an event that a request caused (a node forgotten): the daemon passes its own record,
   * which logs, stores and notifies it as any other event of this agent's.
   * @defaultValue nothing is recorded
   */
  record?: (event: AnyEvent) => void
}

/** Subscribes to every event; returns the unsubscribe function. */
export type EventSource = (listener: (event: AnyEvent) => void) => () => void

/** What the routes share, built once by createHttpApp; a handler finds it in `c.var.ctx`. */
export interface HttpContext {
  supervisor: SupervisorControl
  store: Store
  /** The queue service: every queue route goes through it, and it wakes the supervisor. */
  queue: Queue
  /** The event stream's fan-out; none when the app was built without events. */
  events: EventBroadcaster | undefined
  metrics: MetricsEndpoint | undefined
  storeHealth: () => StoreHealth
  /** The API's clock (ages, counts). */
  clock: Clock
  /** This agent's node name, or null when not told (HttpAppOptions.node). */
  node: string | null
  /** The OpenAPI document (openapi.ts), built once. */
  openApiDocument: () => Record<string, unknown>
  /** Records an event a request caused (HttpAppOptions.record). */
  record: (event: AnyEvent) => void
}
