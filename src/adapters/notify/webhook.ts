/**
 * A generic webhook: each notified event as a JSON POST, for incident tools, chat bridges and
 * anything else that takes HTTP.
 * @module
 */
import type { AnyEvent, EventSeverity } from '../../core/events.js'
import {
  type DeliveryContext,
  Destination,
  type FleetDeliveryContext,
  postJson,
} from '../../notify/notifier.js'

/** The JSON body a webhook receives. */
export interface WebhookPayload {
  /** The event exactly as the store keeps it (its `seq` may be absent: delivery does not wait for the store). */
  event: AnyEvent
  /** Events of the same worker suppressed at this webhook since its previous message (dedup, rate limit). */
  suppressedBefore: number
  /**
   * Present when the event is a fleet-wide fact this agent claimed (docs/notifications.md, "In a
   * fleet"): the sending node, and how many messages of the same fact other nodes did not send
   * since its last one, and their nodes.
   */
  fleet?: FleetDeliveryContext
  source: 'shepherd'
}

/** Options of {@link WebhookNotifier}. */
export interface WebhookNotifierOptions {
  /** Unique among notifiers; appears in logs and `notifier:failed` events instead of the URL. */
  name: string
  url: string
  /** @defaultValue `'info'`: a machine receiver filters for itself, so it gets every notified event. */
  minSeverity?: EventSeverity
  /** Extra headers, e.g. `Authorization`. `content-type` is always `application/json`. */
  headers?: Record<string, string>
  /** @defaultValue the global fetch */
  fetch?: typeof fetch
  /** The clock Retry-After dates are read against. @defaultValue the system clock */
  now?: () => number
  /** Event types taken, for an event hook (`hooks:`). @defaultValue the notification events */
  events?: readonly string[]
  /** An event hook's own rate limit. @defaultValue `notifications.rate_limit` */
  rateLimit?: { max: number; window: number }
  /** An event hook's own dedup window, ms. @defaultValue `notifications.dedup_window` */
  dedupWindow?: number
  /** An event hook's own time limit per attempt, ms. @defaultValue `notifications.timeout` */
  timeoutMs?: number
  /** See Notifier.fleetId. @defaultValue none */
  fleetId?: string
}

/** Builds the body a webhook receives. */
export function webhookPayload(event: AnyEvent, ctx: DeliveryContext): WebhookPayload {
  return ctx.fleet === undefined
    ? { event, suppressedBefore: ctx.suppressedBefore, source: 'shepherd' }
    : { event, suppressedBefore: ctx.suppressedBefore, fleet: ctx.fleet, source: 'shepherd' }
}

/**
 * POSTs {@link WebhookPayload} with the configured headers. 2xx delivers; 429 (honouring
 * Retry-After), 5xx, network failures and timeouts are retried; other 4xx and redirects are not.
 */
export class WebhookNotifier extends Destination {
  readonly #url: string
  readonly #headers: Record<string, string>
  readonly #fetch: typeof fetch
  readonly #now: (() => number) | undefined

  constructor(o: WebhookNotifierOptions) {
    super(o, 'info')
    this.#url = o.url
    this.#headers = o.headers ?? {}
    this.#fetch = o.fetch ?? fetch
    this.#now = o.now
  }

  /** Sends one event; rejects with a DeliveryError that says whether to retry. */
  async deliver(event: AnyEvent, ctx: DeliveryContext, signal: AbortSignal): Promise<void> {
    await postJson({
      fetch: this.#fetch,
      url: this.#url,
      body: webhookPayload(event, ctx),
      headers: this.#headers,
      signal,
      now: this.#now,
    })
  }
}
