/**
 * The notification dispatcher: takes every event the daemon publishes, asks the pure policy
 * (core/notification-policy.ts) which destinations get it, and delivers in the background. It is
 * built so that a destination that is down, slow or erroring can never slow or stop a recovery:
 * `publish` returns at once and never throws; each notifier has its own bounded queue, delivers in
 * order one event at a time, times out, retries with backoff, and finally gives up and says so.
 * @module
 */
import path from 'node:path'

import type { Config, HookConfig } from '../config/schema.js'
import { formatDuration } from '../config/units.js'
import type { AnyEvent } from '../core/events.js'
import {
  decide,
  emptyPolicyState,
  HOOK_NAME_PREFIX,
  type PolicyDestination,
  type PolicySettings,
  type PolicyState,
  retryDelay,
} from '../core/notification-policy.js'
import { coerceError } from '../errors.js'
import type { Logger } from '../logger.js'
import { CommandNotifier } from './command.js'
import { DeliveryError, isTimeout, type Notifier } from './notifier.js'
import { SlackNotifier } from './slack.js'
import { WebhookNotifier } from './webhook.js'

/** The `notifications` settings the dispatcher uses (durations in ms), as the config yields them. */
export interface DispatcherSettings {
  /** At most `max` messages per worker per destination in any sliding `window` ms; escalations always pass. */
  rate_limit: { max: number; window: number }
  /** The same (type, worker, cause) is sent once per this many ms per destination. */
  dedup_window: number
  /** Retries after a failed, retryable delivery. */
  retries: number
  /** Timeout of one delivery attempt, ms. */
  timeout: number
}

/** A delivery that was given up: the daemon turns it into a `notifier:failed` event. */
export interface DeliveryFailure {
  notifier: string
  eventType: string
  error: string
  /** Attempts made, the first included. */
  attempts: number
}

/** Options of {@link NotificationDispatcher}. */
export interface DispatcherOptions {
  /** The destinations, usually from {@link createNotifiers}. Each gets its own queue. */
  notifiers: Notifier[]
  /** `config.notifications` can be passed as it is. */
  settings: DispatcherSettings
  /** The clock the policy's windows run on; the daemon's monotonic clock. */
  now: () => number
  /** @defaultValue Math.random (jitter of retry delays) */
  random?: () => number
  /** Where retries, give-ups and dropped notifications are logged (never a URL). */
  logger: Logger
  /** @defaultValue 1000: a Slack or proxy hiccup is usually over within a second or two. */
  retryBaseMs?: number
  /**
   * @defaultValue 30000: with the default 3 retries the backoff never reaches it (≈1 s, 2 s, 4 s);
   * it bounds larger `retries` so a message is never held back for minutes between attempts.
   */
  retryCapMs?: number
  /**
   * Pending deliveries per notifier; when full, the oldest is dropped.
   * @defaultValue 1000: far more than the rate limits let through in normal operation (5 per worker
   * per 10 minutes), so it only fills while a destination is down; it bounds memory when it stays down.
   */
  maxQueue?: number
  /** Called once per delivery given up (not retryable, or out of retries). Must not throw; if it does, it is logged. */
  onDeliveryFailed?: (f: DeliveryFailure) => void
}

/** Counters of one notifier, for metrics and tests. */
export interface NotifierStats {
  notifier: string
  /** Deliveries waiting, the one in flight excluded. */
  queued: number
  inFlight: boolean
  delivered: number
  /** Deliveries given up. */
  failed: number
  /** Deliveries dropped because the queue was full. */
  dropped: number
}

/**
 * A Retry-After longer than this is not waited for: the delivery is given up and reported. Every
 * later message of the destination waits behind the one being retried, and one that is more than
 * five minutes late is rarely worth holding the queue for.
 */
export const MAX_RETRY_AFTER_MS = 300_000

interface Pending {
  event: AnyEvent
  suppressedBefore: number
}

interface Lane {
  notifier: Notifier
  /** The notifier as the policy sees it; its name (index and notifier name) keeps two notifiers with the same name apart. */
  destination: PolicyDestination
  queue: Pending[]
  busy: boolean
  /** Aborts the attempt in flight. */
  attempt: AbortController | null
  delivered: number
  failed: number
  dropped: number
}

interface Sleep {
  timer: NodeJS.Timeout
  wake: () => void
}

/**
 * Fans events out to notifiers without ever making the caller wait.
 *
 * @example
 * ```ts
 * const dispatcher = new NotificationDispatcher({
 *   notifiers: createNotifiers(config.notifications, { configFile }),
 *   settings: config.notifications,
 *   now: () => clock.now(),
 *   logger,
 *   onDeliveryFailed: (f) => emit('notifier:failed', f),
 * })
 * bus.on('event', (e) => dispatcher.publish(e))
 * // at shutdown
 * await dispatcher.drain(5000)
 * dispatcher.close()
 * ```
 */
export class NotificationDispatcher {
  readonly #lanes: Lane[]
  readonly #settings: DispatcherSettings
  readonly #policy: PolicySettings
  readonly #now: () => number
  readonly #random: () => number
  readonly #logger: Logger
  readonly #retryBaseMs: number
  readonly #retryCapMs: number
  readonly #maxQueue: number
  readonly #onDeliveryFailed: ((f: DeliveryFailure) => void) | undefined
  readonly #sleeps = new Set<Sleep>()
  readonly #idleWaiters = new Set<() => void>()
  #state: PolicyState = emptyPolicyState()
  #closed = false

  constructor(o: DispatcherOptions) {
    this.#lanes = o.notifiers.map((notifier, i) => ({
      notifier,
      destination: {
        name: `${i}:${notifier.name}`,
        minSeverity: notifier.minSeverity,
        events: notifier.events,
        rateLimit: notifier.rateLimit,
        dedupWindow: notifier.dedupWindow,
      },
      queue: [],
      busy: false,
      attempt: null,
      delivered: 0,
      failed: 0,
      dropped: 0,
    }))
    this.#settings = o.settings
    this.#policy = {
      rateLimit: { max: o.settings.rate_limit.max, window: o.settings.rate_limit.window },
      dedupWindow: o.settings.dedup_window,
    }
    this.#now = o.now
    this.#random = o.random ?? Math.random
    this.#logger = o.logger
    this.#retryBaseMs = o.retryBaseMs ?? 1000
    this.#retryCapMs = o.retryCapMs ?? 30_000
    this.#maxQueue = Math.max(1, o.maxQueue ?? 1000)
    this.#onDeliveryFailed = o.onDeliveryFailed
  }

  /**
   * Offers one event to every notifier. Returns at once and never throws: the decision is pure and
   * in memory, and delivery happens in the background. Events that are not notifiable (including
   * `notifier:failed`) are ignored, so it is safe to publish every event.
   */
  publish(event: AnyEvent): void {
    if (this.#closed) return
    try {
      const now = this.#now()
      for (const lane of this.#lanes) {
        const d = decide(this.#state, event, lane.destination, now, this.#policy)
        this.#state = d.state
        if (d.send) this.#enqueue(lane, { event, suppressedBefore: d.suppressedBefore })
        else if (d.reason === 'duplicate' || d.reason === 'rate-limited') {
          this.#logger.debug(
            {
              notifier: lane.notifier.name,
              eventType: event.type,
              workerId: event.workerId,
              reason: d.reason,
            },
            'notification suppressed',
          )
        }
      }
    } catch (e) {
      this.#logger.error({ err: coerceError(e), eventType: event.type }, 'notification dispatch failed')
    }
  }

  /**
   * Resolves once every queue is empty and nothing is in flight, or when `timeoutMs` has passed,
   * whichever is first (it never rejects). Used at shutdown, before {@link close}.
   */
  drain(timeoutMs: number): Promise<void> {
    if (this.#closed || this.#isIdle()) return Promise.resolve()
    return new Promise((resolve) => {
      // Not unref'd: whoever awaits drain wants the process to live until it resolves.
      const timer = setTimeout(() => {
        this.#idleWaiters.delete(done)
        this.#logger.warn(
          { pending: this.stats().filter((s) => s.queued > 0 || s.inFlight) },
          `notifications not drained within ${formatDuration(timeoutMs)}`,
        )
        resolve()
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      this.#idleWaiters.add(done)
    })
  }

  /** Stops at once: aborts deliveries in flight, cancels retry timers, drops queued work. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    let dropped = 0
    for (const lane of this.#lanes) {
      dropped += lane.queue.length
      lane.queue = []
      lane.attempt?.abort(new DeliveryError('the dispatcher was closed', { retryable: false }))
    }
    for (const s of this.#sleeps) {
      clearTimeout(s.timer)
      s.wake()
    }
    this.#sleeps.clear()
    if (dropped > 0)
      this.#logger.warn({ dropped }, 'notification dispatcher closed with undelivered notifications')
    this.#wakeIdleWaiters()
  }

  /** Counters per notifier, in the order the notifiers were given. */
  stats(): NotifierStats[] {
    return this.#lanes.map((l) => ({
      notifier: l.notifier.name,
      queued: l.queue.length,
      inFlight: l.busy,
      delivered: l.delivered,
      failed: l.failed,
      dropped: l.dropped,
    }))
  }

  #enqueue(lane: Lane, item: Pending): void {
    if (lane.queue.length >= this.#maxQueue) {
      const old = lane.queue.shift()
      lane.dropped++
      this.#logger.warn(
        {
          notifier: lane.notifier.name,
          droppedEventType: old?.event.type,
          droppedWorkerId: old?.event.workerId,
          dropped: lane.dropped,
          maxQueue: this.#maxQueue,
        },
        'notification queue full; dropped the oldest notification',
      )
    }
    lane.queue.push(item)
    if (!lane.busy) void this.#run(lane)
  }

  async #run(lane: Lane): Promise<void> {
    lane.busy = true
    try {
      for (let item = lane.queue.shift(); item !== undefined && !this.#closed; item = lane.queue.shift()) {
        await this.#deliver(lane, item)
      }
    } catch (e) {
      // #deliver catches everything it expects; this is the last line so a lane never dies silently.
      this.#logger.error({ err: coerceError(e), notifier: lane.notifier.name }, 'notification lane failed')
    } finally {
      lane.busy = false
      if (this.#isIdle()) this.#wakeIdleWaiters()
    }
  }

  async #deliver(lane: Lane, item: Pending): Promise<void> {
    const { notifier } = lane
    const maxAttempts = 1 + Math.max(0, this.#settings.retries)
    for (let attempt = 1; ; attempt++) {
      const failure = await this.#attempt(lane, item)
      if (this.#closed) return
      if (failure === null) {
        lane.delivered++
        if (attempt > 1) {
          this.#logger.info(
            { notifier: notifier.name, eventType: item.event.type, attempts: attempt },
            'notification delivered',
          )
        }
        return
      }
      let giveUp = !failure.retryable || attempt >= maxAttempts
      let error = failure.message
      let delay = retryDelay(attempt, this.#retryBaseMs, this.#retryCapMs, this.#random)
      if (!giveUp && failure.retryAfterMs !== null) {
        if (failure.retryAfterMs > MAX_RETRY_AFTER_MS) {
          giveUp = true
          error = `${error}; Retry-After ${formatDuration(failure.retryAfterMs)} is longer than ${formatDuration(MAX_RETRY_AFTER_MS)}`
        } else {
          // Honour Retry-After: never sooner than asked; the backoff still spreads several hosts.
          delay = Math.max(delay, failure.retryAfterMs)
        }
      }
      if (giveUp) {
        this.#giveUp(lane, item, error, attempt)
        return
      }
      this.#logger.warn(
        { notifier: notifier.name, eventType: item.event.type, attempt, retryInMs: delay, error },
        'notification delivery failed; retrying',
      )
      await this.#sleep(delay)
      if (this.#closed) return
    }
  }

  /** One attempt under the delivery timeout; null when delivered, else why not. */
  async #attempt(
    lane: Lane,
    item: Pending,
  ): Promise<{ message: string; retryable: boolean; retryAfterMs: number | null } | null> {
    const ctrl = new AbortController()
    lane.attempt = ctrl
    const timeoutMs = lane.notifier.timeoutMs ?? this.#settings.timeout
    // Our own timer rather than AbortSignal.timeout, so it is cleared as soon as the attempt settles
    // instead of living for the whole timeout after every delivery.
    const timer = setTimeout(
      () => ctrl.abort(new DOMException(`timed out after ${formatDuration(timeoutMs)}`, 'TimeoutError')),
      timeoutMs,
    )
    timer.unref()
    try {
      const delivery = Promise.resolve().then(() =>
        lane.notifier.deliver(item.event, { suppressedBefore: item.suppressedBefore }, ctrl.signal),
      )
      await untilAborted(delivery, ctrl.signal)
      return null
    } catch (e) {
      if (ctrl.signal.aborted && isTimeout(ctrl.signal.reason)) {
        return {
          message: `timed out after ${formatDuration(timeoutMs)}`,
          retryable: true,
          retryAfterMs: null,
        }
      }
      if (e instanceof DeliveryError)
        return { message: e.message, retryable: e.retryable, retryAfterMs: e.retryAfterMs }
      // A notifier should reject with DeliveryError; anything else is most likely a transport failure.
      return { message: coerceError(e).message, retryable: true, retryAfterMs: null }
    } finally {
      clearTimeout(timer)
      lane.attempt = null
    }
  }

  #giveUp(lane: Lane, item: Pending, error: string, attempts: number): void {
    lane.failed++
    const failure: DeliveryFailure = {
      notifier: lane.notifier.name,
      eventType: item.event.type,
      error,
      attempts,
    }
    this.#logger.error(
      { ...failure, workerId: item.event.workerId, incidentId: item.event.incidentId },
      'notification delivery failed; giving up',
    )
    if (!this.#onDeliveryFailed) return
    try {
      this.#onDeliveryFailed(failure)
    } catch (e) {
      this.#logger.error({ err: coerceError(e) }, 'onDeliveryFailed threw')
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const s: Sleep = {
        timer: setTimeout(() => {
          this.#sleeps.delete(s)
          resolve()
        }, ms),
        wake: resolve,
      }
      // A retry wait alone must not keep the process alive; drain() does that when someone waits.
      s.timer.unref()
      this.#sleeps.add(s)
    })
  }

  #isIdle(): boolean {
    return this.#lanes.every((l) => !l.busy && l.queue.length === 0)
  }

  #wakeIdleWaiters(): void {
    const waiters = [...this.#idleWaiters]
    this.#idleWaiters.clear()
    for (const w of waiters) w()
  }
}

/**
 * Settles like `p`, or rejects with the signal's reason as soon as it aborts, so a notifier that
 * ignores its signal cannot hold its queue past the timeout.
 */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    if (signal.aborted) {
      onAbort()
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

/** Options of {@link createNotifiers} and {@link createHookNotifiers}. */
export interface CreateNotifiersOptions {
  /** The config file path, quoted in the commands of Slack messages; command hooks run in its directory. */
  configFile: string
  /** @defaultValue the global fetch */
  fetch?: typeof fetch
  /**
   * The environment command hooks start from.
   * @defaultValue process.env
   */
  env?: Record<string, string | undefined>
}

/**
 * Builds the notifiers the config asks for: Slack (named `slack`) when `notifications.slack` is
 * set, then one per webhook, named `webhook:<host>` (`webhook:<host>#2` for a second one on the same
 * host) so that logs and `notifier:failed` events never show a URL that may carry a token.
 */
export function createNotifiers(n: Config['notifications'], o: CreateNotifiersOptions): Notifier[] {
  const out: Notifier[] = []
  if (n.slack) {
    out.push(
      new SlackNotifier({
        webhookUrl: n.slack.webhook_url,
        minSeverity: n.slack.min_severity,
        configFile: o.configFile,
        fetch: o.fetch,
        locale: n.locale,
      }),
    )
  }
  const seen = new Map<string, number>()
  for (const w of n.webhooks) {
    const host = new URL(w.url).host
    const count = (seen.get(host) ?? 0) + 1
    seen.set(host, count)
    out.push(
      new WebhookNotifier({
        name: count === 1 ? `webhook:${host}` : `webhook:${host}#${count}`,
        url: w.url,
        minSeverity: w.min_severity,
        headers: w.headers,
        fetch: o.fetch,
      }),
    )
  }
  return out
}

/**
 * Builds the event hooks of the config's `hooks:` list, in order: a url hook is a
 * {@link WebhookNotifier} named `hook:<host>`, a command hook a {@link CommandNotifier} named
 * `hook:<command's file name>` (`#2`, `#3` for later ones with the same name). Names never carry a
 * URL, its query or the arguments, which may hold secrets. Each hook takes the event types of its
 * `events` filter, and its own timeout, rate limit and dedup window where it sets them.
 */
export function createHookNotifiers(hooks: readonly HookConfig[], o: CreateNotifiersOptions): Notifier[] {
  const seen = new Map<string, number>()
  const nameOf = (base: string): string => {
    const count = (seen.get(base) ?? 0) + 1
    seen.set(base, count)
    return count === 1 ? `${HOOK_NAME_PREFIX}${base}` : `${HOOK_NAME_PREFIX}${base}#${count}`
  }
  return hooks.map((h): Notifier => {
    const common = {
      minSeverity: h.min_severity,
      events: h.events,
      rateLimit: h.rate_limit,
      dedupWindow: h.dedup_window,
      timeoutMs: h.timeout,
    }
    if (h.url !== undefined) {
      return new WebhookNotifier({
        ...common,
        name: nameOf(new URL(h.url).host),
        url: h.url,
        headers: h.headers,
        fetch: o.fetch,
      })
    }
    // The schema guarantees exactly one of url and command.
    const command = h.command!
    return new CommandNotifier({
      ...common,
      name: nameOf(path.basename(command)),
      command,
      args: h.args,
      cwd: path.dirname(o.configFile),
      env: o.env,
    })
  })
}
