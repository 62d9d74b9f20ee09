/**
 * The notifier contract, the delivery error that steers retries, and the HTTP delivery that the
 * Slack and webhook notifiers share.
 * @module
 */
import { systemClock } from '../adapters/system-clock.js'
import type { AnyEvent, EventSeverity } from '../core/events.js'

/** What a notifier is told besides the event. */
export interface DeliveryContext {
  /** Events of the same worker suppressed at this destination since its last message (dedup, rate limit). */
  suppressedBefore: number
  /**
   * Present when the message is a fleet-wide fact that this agent claimed in the store
   * (src/core/fleet-notification.ts): the messages of other nodes for the same fact that were not
   * sent since the fact's last message, and their nodes.
   */
  fleet?: FleetDeliveryContext
}

/** What a fleet-wide message says about the other nodes (see {@link DeliveryContext.fleet}). */
export interface FleetDeliveryContext {
  /** The node that sends this message. */
  node: string
  /** Other nodes' messages for the same fact not sent since its last message. */
  suppressedBefore: number
  /** Their nodes, each once, at most 20. */
  nodes: string[]
}

/**
 * One destination of notifications. `deliver` sends one event and settles when the destination
 * has accepted it; it rejects with a {@link DeliveryError} (anything else counts as retryable) and
 * stops when `signal` aborts. The dispatcher calls it one event at a time, in order.
 */
export interface Notifier {
  /** Unique among notifiers: the dispatcher's rate limits, logs and `notifier:failed` events use it. */
  readonly name: string
  /** Events below this severity are not sent here. */
  readonly minSeverity: EventSeverity
  /**
   * Event types taken here (`*`, types, prefixes such as `incident:`): what makes a notifier an
   * event hook. @defaultValue the notification events (core/notification-policy.ts)
   */
  readonly events?: readonly string[]
  /** Own rate limit, ms window. @defaultValue `notifications.rate_limit` */
  readonly rateLimit?: { max: number; window: number }
  /** Own dedup window, ms. @defaultValue `notifications.dedup_window` */
  readonly dedupWindow?: number
  /** Time limit of one attempt, ms. @defaultValue `notifications.timeout` */
  readonly timeoutMs?: number
  /**
   * The destination as every host of a fleet names it, never a secret (a digest of its URL), so
   * that hosts posting to the same place send a fleet-wide fact once between them.
   * @defaultValue none: the destination is a host's own, and it gets every host's messages
   */
  readonly fleetId?: string
  deliver(event: AnyEvent, ctx: DeliveryContext, signal: AbortSignal): Promise<void>
}

/** A notifier's name, severity floor and limits, as its options give them. */
export type DestinationOptions = Pick<
  Notifier,
  'name' | 'events' | 'rateLimit' | 'dedupWindow' | 'timeoutMs' | 'fleetId'
> & {
  minSeverity?: EventSeverity
}

/** What every notifier holds besides its transport: its name, severity floor and limits. */
export abstract class Destination implements Notifier {
  readonly name: string
  readonly minSeverity: EventSeverity
  readonly events: readonly string[] | undefined
  readonly rateLimit: { max: number; window: number } | undefined
  readonly dedupWindow: number | undefined
  readonly timeoutMs: number | undefined
  readonly fleetId: string | undefined

  /** @param defaultSeverity - the floor when the options set none. */
  constructor(o: DestinationOptions, defaultSeverity: EventSeverity) {
    this.name = o.name
    this.minSeverity = o.minSeverity ?? defaultSeverity
    this.events = o.events
    this.rateLimit = o.rateLimit
    this.dedupWindow = o.dedupWindow
    this.timeoutMs = o.timeoutMs
    this.fleetId = o.fleetId
  }

  abstract deliver(event: AnyEvent, ctx: DeliveryContext, signal: AbortSignal): Promise<void>
}

/** Why a delivery failed, and whether trying again can help. */
export class DeliveryError extends Error {
  /** A later attempt may succeed (429, 5xx, network failure, timeout). */
  readonly retryable: boolean
  /** The destination asked to wait this long before the next attempt (Retry-After), in ms. */
  readonly retryAfterMs: number | null
  /** HTTP status, when the destination answered. */
  readonly status: number | null

  constructor(
    message: string,
    o: { retryable: boolean; retryAfterMs?: number | null; status?: number | null; cause?: unknown },
  ) {
    super(message, { cause: o.cause })
    this.name = 'DeliveryError'
    this.retryable = o.retryable
    this.retryAfterMs = o.retryAfterMs ?? null
    this.status = o.status ?? null
  }
}

/**
 * Reads a Retry-After header (delay-seconds or an HTTP date) as milliseconds from `now`; null when
 * absent or unreadable. A date in the past means "now": 0.
 */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null
  const v = value.trim()
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000)
  const at = Date.parse(v)
  return Number.isNaN(at) ? null : Math.max(0, at - now)
}

/**
 * How much of an error response body goes into the error message. Slack explains a refusal in a
 * word or two (`invalid_token`, `no_service`, `channel_is_archived`); more is noise in a log line.
 */
const BODY_SNIPPET_CHARS = 200

/** Options of {@link postJson}. */
export interface PostJsonOptions {
  fetch: typeof fetch
  url: string
  body: unknown
  headers?: Record<string, string>
  signal: AbortSignal
  /** The clock Retry-After dates are read against. @defaultValue the system clock */
  now?: () => number
}

/**
 * POSTs `body` as JSON and classifies the outcome: 2xx delivers; 429 retries after Retry-After;
 * 5xx, network failures and timeouts retry; redirects and other 4xx (a wrong URL or token) do not,
 * since repeating the same request cannot fix them. Error messages never contain the URL: Slack
 * webhook URLs are secrets.
 */
export async function postJson(o: PostJsonOptions): Promise<void> {
  const headers = new Headers(o.headers)
  headers.set('content-type', 'application/json')
  if (!headers.has('user-agent')) headers.set('user-agent', 'shepherd')
  let res: Response
  try {
    res = await o.fetch(o.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(o.body),
      signal: o.signal,
      // A redirect would resend the headers (an Authorization token) to wherever it points;
      // configure the final URL instead.
      redirect: 'manual',
    })
  } catch (e) {
    throw requestFailed(e, o.signal)
  }
  let text = ''
  try {
    text = await res.text()
  } catch (e) {
    if (res.ok) throw requestFailed(e, o.signal)
  }
  if (res.ok) return
  const snippet = text.trim().slice(0, BODY_SNIPPET_CHARS)
  const said = snippet ? `: ${snippet}` : ''
  if (res.status === 429) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), (o.now ?? systemClock.now)())
    throw new DeliveryError(`HTTP 429 (rate limited)${said}`, { retryable: true, retryAfterMs, status: 429 })
  }
  if (res.status >= 500) {
    throw new DeliveryError(`HTTP ${res.status}${said}`, { retryable: true, status: res.status })
  }
  if (res.status >= 300 && res.status < 400) {
    throw new DeliveryError(`HTTP ${res.status}: the URL redirects; configure the final URL`, {
      retryable: false,
      status: res.status,
    })
  }
  throw new DeliveryError(`HTTP ${res.status}${said}`, { retryable: false, status: res.status })
}

function requestFailed(e: unknown, signal: AbortSignal): DeliveryError {
  if (signal.aborted) {
    const timedOut = isTimeout(signal.reason)
    return timedOut
      ? new DeliveryError('timed out waiting for the destination', { retryable: true, cause: e })
      : new DeliveryError('aborted', { retryable: false, cause: e })
  }
  return new DeliveryError(`network error: ${describeNetworkError(e)}`, { retryable: true, cause: e })
}

/** True for the reason AbortSignal.timeout aborts with (a DOMException named TimeoutError). */
export function isTimeout(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && 'name' in reason && reason.name === 'TimeoutError'
}

/** fetch says only "fetch failed"; the useful part (ECONNREFUSED 127.0.0.1:9) is in its cause. */
function describeNetworkError(e: unknown): string {
  const parts: string[] = []
  let cur: unknown = e
  for (let depth = 0; depth < 4 && cur instanceof Error; depth++) {
    const code = (cur as Error & { code?: unknown }).code
    parts.push(
      typeof code === 'string' && !cur.message.includes(code) ? `${cur.message} (${code})` : cur.message,
    )
    cur = cur.cause
  }
  return parts.length > 0 ? parts.join(': ') : String(e)
}
