/**
 * Fans the supervisor's events out to the clients of `GET /api/events`, with bounds, and off the
 * recovery path:
 *
 * - **Off the recovery path.** The supervisor hands an event over by pushing it on a list; nothing
 *   is serialised or written until the next turn of the event loop, when one flush sends every
 *   event of that turn. A burst of 50 incidents costs the code that recovers them 50 pushes.
 * - **Serialised once.** Each event is turned into its SSE frame (`event:`/`data:` lines, UTF-8)
 *   once, whatever the number of clients. The frames of one turn go out as one chunk per distinct
 *   filter, shared by every client with that filter: one write per client per turn.
 * - **A bounded number of clients** ({@link EventStreamLimits.maxClients}): one more is refused
 *   (the route answers 503 with Retry-After), so a page left open in 500 tabs cannot cost more than
 *   the operator allowed.
 * - **A bounded buffer per client** ({@link EventStreamLimits.maxBufferedBytes}): a client that does
 *   not read (a stalled proxy, a suspended laptop) is dropped once what waits for it passes the
 *   bound, instead of the supervisor holding every event for it. An EventSource reconnects by
 *   itself and the dashboard refetches what it missed.
 * - One keepalive timer for all clients, not one each.
 * @module
 */
import { type AnyEvent, eventMatches, type EventSeverity, severityRank } from '../../core/events.js'
import type { EventSource } from './context.js'

/** Bounds of the event stream. */
export interface EventStreamLimits {
  /** Clients streaming at once; one more is refused. `api.max_event_clients` of the config. */
  maxClients: number
  /**
   * Bytes that may wait for one client (in Shepherd's queue, past what the socket took) before it
   * is dropped.
   * @defaultValue {@link DEFAULT_MAX_BUFFERED_BYTES}
   */
  maxBufferedBytes?: number
  /**
   * A comment line this often keeps proxies and browsers from closing an idle stream.
   * @defaultValue {@link KEEPALIVE_MS}
   */
  keepaliveMs?: number
}

/**
 * 256 KiB: hundreds of events, minutes of a busy fleet. A client that reads at all catches up from
 * far less; one that lets this much pile up has stopped reading, and holding more for it only
 * grows the supervisor (500 such clients held 260 MB before this bound).
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024
/** A comment line this often keeps proxies and browsers from closing an idle stream. */
export const KEEPALIVE_MS = 15_000

/** What one client asked for. */
export interface EventFilter {
  /** Event types or prefixes such as `incident:`; empty means every type. */
  types: readonly string[]
  /** The least severity sent. */
  severity: EventSeverity
}

/** How the broadcaster defers work and keeps time; the real ones by default (tests pass fakes). */
export interface BroadcastScheduler {
  /** Runs `fn` soon, after the current turn (setImmediate). */
  defer(fn: () => void): void
  /** Runs `fn` every `ms`; returns the cancel function. The timer must not keep the process alive. */
  every(ms: number, fn: () => void): () => void
}

const realScheduler: BroadcastScheduler = {
  defer: (fn) => void setImmediate(fn),
  every(ms, fn) {
    const timer = setInterval(fn, ms)
    timer.unref()
    return () => clearInterval(timer)
  },
}

/** Why a client was dropped. */
export type DropReason = 'buffer-full'

interface Client {
  filter: EventFilter
  /** Clients with equal keys want the same events. */
  key: string
  disconnect: (() => void) | undefined
  least: number
  controller: ReadableStreamDefaultController<Uint8Array>
}

const encoder = new TextEncoder()
const KEEPALIVE_FRAME = encoder.encode(': keepalive\n\n')

/**
 * One per HTTP app. Subscribes to the supervisor's events only while at least one client streams.
 * @example
 * ```ts
 * const hub = new EventBroadcaster(ctx.events, { maxClients: 100 })
 * const body = hub.open({ types: [], severity: 'info' }) // null when full
 * ```
 */
export class EventBroadcaster {
  readonly #source: EventSource
  readonly #maxClients: number
  readonly #maxBuffered: number
  readonly #keepaliveMs: number
  readonly #scheduler: BroadcastScheduler
  readonly #onDrop: (reason: DropReason, clients: number) => void
  readonly #clients = new Set<Client>()
  #pending: AnyEvent[] = []
  #flushScheduled = false
  #unsubscribe: (() => void) | null = null
  #stopKeepalive: (() => void) | null = null
  #dropped = 0

  constructor(
    source: EventSource,
    limits: EventStreamLimits,
    options: { scheduler?: BroadcastScheduler; onDrop?: (reason: DropReason, clients: number) => void } = {},
  ) {
    this.#source = source
    this.#maxClients = limits.maxClients
    this.#maxBuffered = limits.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
    this.#keepaliveMs = limits.keepaliveMs ?? KEEPALIVE_MS
    this.#scheduler = options.scheduler ?? realScheduler
    this.#onDrop = options.onDrop ?? (() => undefined)
  }

  /** Clients streaming now. */
  get clients(): number {
    return this.#clients.size
  }

  /** Clients dropped for not reading, since the start. */
  get dropped(): number {
    return this.#dropped
  }

  /** The most clients at once. */
  get maxClients(): number {
    return this.#maxClients
  }

  /**
   * A new client's stream of SSE frames, or null when {@link EventStreamLimits.maxClients} already
   * stream. The stream ends when the client goes away (the HTTP server cancels it) or is dropped.
   * @param disconnect - ends the client's connection; a dropped client is cut off with it. Without
   *   it (in-process requests), the stream errors instead.
   */
  open(filter: EventFilter, disconnect?: () => void): ReadableStream<Uint8Array> | null {
    if (this.#clients.size >= this.#maxClients) return null
    let client: Client | undefined
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          const key = `${filter.severity}|${filter.types.join(',')}`
          client = { filter, key, disconnect, least: severityRank(filter.severity), controller }
          this.#add(client)
        },
        cancel: () => {
          if (client) this.#remove(client)
        },
      },
      // Queued bytes, not chunks, so that the bound is in bytes whatever the events' sizes.
      { highWaterMark: 0, size: (chunk) => chunk.byteLength },
    )
    return stream
  }

  #add(client: Client): void {
    this.#clients.add(client)
    if (this.#clients.size === 1) {
      this.#unsubscribe = this.#source((event) => this.#publish(event))
      this.#stopKeepalive = this.#scheduler.every(this.#keepaliveMs, () => this.#keepalive())
    }
  }

  #remove(client: Client): void {
    if (!this.#clients.delete(client)) return
    if (this.#clients.size === 0) {
      this.#unsubscribe?.()
      this.#unsubscribe = null
      this.#stopKeepalive?.()
      this.#stopKeepalive = null
      this.#pending = []
    }
  }

  /** The supervisor's side: a push, nothing more, in the turn that produced the event. */
  #publish(event: AnyEvent): void {
    this.#pending.push(event)
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    this.#scheduler.defer(() => this.#flush())
  }

  #flush(): void {
    this.#flushScheduled = false
    const events = this.#pending
    this.#pending = []
    if (events.length === 0 || this.#clients.size === 0) return
    const frames = events.map((e) => ({ event: e, bytes: sseFrame(e), rank: severityRank(e.severity) }))
    // Clients with the same filter (most take every event) share one chunk per turn: one buffer,
    // one write each, however many events the turn had.
    const chunks = new Map<string, Uint8Array | null>()
    for (const client of [...this.#clients]) {
      if (this.#behind(client)) continue
      let chunk = chunks.get(client.key)
      if (chunk === undefined) {
        const wanted = client.filter.types
        const parts = frames
          .filter(
            (f) => f.rank >= client.least && (wanted.length === 0 || eventMatches(f.event.type, wanted)),
          )
          .map((f) => f.bytes)
        chunk = parts.length === 0 ? null : parts.length === 1 ? parts[0]! : Buffer.concat(parts)
        chunks.set(client.key, chunk)
      }
      if (chunk) this.#enqueue(client, chunk)
    }
  }

  #keepalive(): void {
    for (const client of [...this.#clients]) if (!this.#behind(client)) this.#enqueue(client, KEEPALIVE_FRAME)
  }

  /**
   * Whether a client is too far behind, and so dropped: more than the bound still waits for it from
   * earlier turns. What one turn adds is not counted against it (a burst of 50 incidents can be
   * larger than the bound, and a client that reads catches up in a moment); what it has not read
   * by the next turn is. The frames are shared by every client, so a client's backlog holds
   * references to them rather than copies.
   */
  #behind(client: Client): boolean {
    // desiredSize is the highWaterMark (0) minus what is queued: minus the bytes waiting for it.
    if (-(client.controller.desiredSize ?? 0) <= this.#maxBuffered) return false
    this.#drop(client)
    return true
  }

  #enqueue(client: Client, bytes: Uint8Array): boolean {
    try {
      client.controller.enqueue(bytes)
      return true
    } catch {
      // Closed in between (the client went away and its cancel is on its way).
      this.#remove(client)
      return false
    }
  }

  #drop(client: Client): void {
    this.#remove(client)
    this.#dropped++
    if (client.disconnect) {
      // The server's connection ends; the stream is cancelled from there, and what waited in it
      // is garbage.
      client.disconnect()
    } else {
      try {
        // error(), not close(): close() would wait for the queued bytes to be read, which is what
        // this client does not do; error() discards them.
        client.controller.error(new Error('event stream client dropped: it stopped reading'))
      } catch {
        // Already closed.
      }
    }
    this.#onDrop('buffer-full', this.#clients.size)
  }

  /** Ends every client's stream (the server is closing). */
  close(): void {
    for (const client of [...this.#clients]) {
      this.#remove(client)
      try {
        client.controller.close()
      } catch {
        // Already closed.
      }
    }
  }
}

/** One event as a server-sent-events frame. JSON has no raw newlines, so `data` is one line. */
export function sseFrame(event: AnyEvent): Uint8Array {
  return encoder.encode(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)
}
