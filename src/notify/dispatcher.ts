/**
 * The notification dispatcher: takes every event the daemon publishes, asks the pure policy
 * (core/notification-policy.ts) which destinations get it, and delivers in the background. It is
 * built so that a destination that is down, slow or erroring can never slow or stop a recovery:
 * `publish` returns at once and never throws; each notifier has its own bounded queue, delivers in
 * order one event at a time, times out, retries with backoff, and finally gives up and says so.
 * @module
 */
import { backgroundTimers, nodeTimers } from '../adapters/timers.js'
import { formatDuration } from '../config/units.js'
import type { AnyEvent } from '../core/events.js'
import {
  fleetKeyOf,
  type FleetNotificationClaim,
  type FleetNotificationDecision,
} from '../core/fleet-notification.js'
import {
  decide,
  emptyPolicyState,
  type PolicyDestination,
  type PolicySettings,
  type PolicyState,
} from '../core/notification-policy.js'
import { coerceError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { TimerPort } from '../ports/clock.js'
import {
  DEFAULT_RETRY_BASE_MS,
  DEFAULT_RETRY_CAP_MS,
  deliverWithRetries,
  type DeliveryFailure,
} from './deliver-with-retries.js'
import type { FleetDeliveryContext, Notifier } from './notifier.js'

/** Options of {@link DispatcherOptions.fleet}. */
export interface DispatcherFleet {
  /** This agent's node name (`node.name`). */
  node: string
  /** The store's claim (Store.claimNotification). May reject or hang: the message is then sent. */
  claim: (claim: FleetNotificationClaim) => Promise<FleetNotificationDecision>
  /**
   * How long a message waits for its claim before it is sent anyway, ms. A store that is down or
   * slow must never hold back a notification (a duplicate beats a lost escalation); a claim on a
   * live PostgreSQL takes a few ms.
   * @defaultValue the destination's time limit of one delivery attempt (`notifications.timeout`,
   * 5 s): a claim may take as long as the delivery it stands before.
   */
  timeoutMs?: number
}

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
  /** @defaultValue {@link DEFAULT_RETRY_BASE_MS} */
  retryBaseMs?: number
  /** @defaultValue {@link DEFAULT_RETRY_CAP_MS} */
  retryCapMs?: number
  /**
   * The timers of attempt time limits and retry waits.
   * @defaultValue `backgroundTimers`: a pending retry alone never keeps the process alive.
   */
  timers?: TimerPort
  /**
   * The timer of {@link NotificationDispatcher.drain}'s time limit.
   * @defaultValue `nodeTimers`: whoever awaits drain wants the process to live until it resolves.
   */
  drainTimers?: TimerPort
  /**
   * Pending deliveries per notifier; when full, the oldest is dropped.
   * @defaultValue 1000: far more than the rate limits let through in normal operation (5 per worker
   * per 10 minutes), so it only fills while a destination is down; it bounds memory when it stays down.
   */
  maxQueue?: number
  /** Called once per delivery given up (not retryable, or out of retries). Must not throw; if it does, it is logged. */
  onDeliveryFailed?: (f: DeliveryFailure) => void
  /**
   * Sends the fleet-wide facts (src/core/fleet-notification.ts) once for the fleet: before it is
   * delivered, a message the policy passed is claimed in the store, and another node's live claim
   * suppresses it. `now` must then be epoch ms (agents compare claims). Only destinations with a
   * `fleetId` take part, and only with a dedup window > 0.
   * @defaultValue none: every message the policy passes is sent (one agent alone).
   */
  fleet?: DispatcherFleet
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
  /** Messages not sent because another node sent the same fleet-wide fact. */
  fleetSuppressed: number
}

interface Pending {
  event: AnyEvent
  suppressedBefore: number
  /** The fleet claim, made when the event was published; it never rejects. */
  claim?: Promise<FleetClaimOutcome>
}

/** A claim's outcome: the store's decision, or `unclaimed` when it could not be made (sent anyway). */
type FleetClaimOutcome = FleetNotificationDecision | { send: true; unclaimed: string }

interface Lane {
  notifier: Notifier
  /** The notifier as the policy sees it; its name (index and notifier name) keeps two notifiers with the same name apart. */
  destination: PolicyDestination
  queue: Pending[]
  busy: boolean
  delivered: number
  failed: number
  dropped: number
  fleetSuppressed: number
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
  readonly #timers: TimerPort
  readonly #drainTimers: TimerPort
  readonly #fleet: DispatcherFleet | undefined
  /** Aborted by close: ends every delivery in flight and every retry wait. */
  readonly #closing = new AbortController()
  readonly #idleWaiters = new Set<() => void>()
  #state: PolicyState = emptyPolicyState()

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
      delivered: 0,
      failed: 0,
      dropped: 0,
      fleetSuppressed: 0,
    }))
    this.#settings = o.settings
    this.#policy = {
      rateLimit: { max: o.settings.rate_limit.max, window: o.settings.rate_limit.window },
      dedupWindow: o.settings.dedup_window,
    }
    this.#now = o.now
    this.#random = o.random ?? Math.random
    this.#logger = o.logger
    this.#retryBaseMs = o.retryBaseMs ?? DEFAULT_RETRY_BASE_MS
    this.#retryCapMs = o.retryCapMs ?? DEFAULT_RETRY_CAP_MS
    this.#maxQueue = Math.max(1, o.maxQueue ?? 1000)
    this.#onDeliveryFailed = o.onDeliveryFailed
    this.#timers = o.timers ?? backgroundTimers
    this.#drainTimers = o.drainTimers ?? nodeTimers
    this.#fleet = o.fleet
  }

  get #closed(): boolean {
    return this.#closing.signal.aborted
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
        if (d.send)
          this.#enqueue(lane, {
            event,
            suppressedBefore: d.suppressedBefore,
            claim: this.#claim(lane, event, now),
          })
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
      const timer = this.#drainTimers.set(() => {
        this.#idleWaiters.delete(done)
        this.#logger.warn(
          { pending: this.stats().filter((s) => s.queued > 0 || s.inFlight) },
          `notifications not drained within ${formatDuration(timeoutMs)}`,
        )
        resolve()
      }, timeoutMs)
      const done = () => {
        this.#drainTimers.clear(timer)
        resolve()
      }
      this.#idleWaiters.add(done)
    })
  }

  /** Stops at once: aborts deliveries in flight, cancels retry timers, drops queued work. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closing.abort()
    let dropped = 0
    for (const lane of this.#lanes) {
      dropped += lane.queue.length
      lane.queue = []
    }
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
      fleetSuppressed: l.fleetSuppressed,
    }))
  }

  /**
   * Claims the message of a fleet-wide fact in the store, at once (claims of several agents are
   * ordered by when each saw the fact); undefined when the event or the destination is the host's
   * own. The promise never rejects: a claim that fails or outlasts the time limit sends.
   */
  #claim(lane: Lane, event: AnyEvent, now: number): Promise<FleetClaimOutcome> | undefined {
    const fleet = this.#fleet
    if (fleet === undefined) return undefined
    const key = fleetKeyOf(event, lane.notifier.fleetId)
    const windowMs = lane.destination.dedupWindow ?? this.#policy.dedupWindow
    if (key === null || !(windowMs > 0)) return undefined
    const timeoutMs = fleet.timeoutMs ?? lane.notifier.timeoutMs ?? this.#settings.timeout
    return new Promise<FleetClaimOutcome>((resolve) => {
      const timer = this.#timers.set(
        () =>
          resolve({ send: true, unclaimed: `no answer from the store within ${formatDuration(timeoutMs)}` }),
        timeoutMs,
      )
      const settle = (o: FleetClaimOutcome) => {
        this.#timers.clear(timer)
        resolve(o)
      }
      let claimed: Promise<FleetNotificationDecision>
      try {
        claimed = fleet.claim({ key, node: fleet.node, now, windowMs })
      } catch (e) {
        claimed = Promise.reject(e)
      }
      claimed.then(settle, (e: unknown) => settle({ send: true, unclaimed: coerceError(e).message }))
    })
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
        const fleet = item.claim === undefined ? undefined : await this.#fleetContext(lane, item, item.claim)
        if (fleet === null || this.#closed) continue
        await this.#deliver(lane, item, fleet)
      }
    } catch (e) {
      // #deliver catches everything it expects; this is the last line so a lane never dies silently.
      this.#logger.error({ err: coerceError(e), notifier: lane.notifier.name }, 'notification lane failed')
    } finally {
      lane.busy = false
      if (this.#isIdle()) this.#wakeIdleWaiters()
    }
  }

  /**
   * What a claimed message tells about the fleet, or null when another node sent it (it is counted
   * and logged, not sent). A claim that could not be made is logged and the message goes out as the
   * host's own.
   */
  async #fleetContext(
    lane: Lane,
    item: Pending,
    claim: Promise<FleetClaimOutcome>,
  ): Promise<FleetDeliveryContext | undefined | null> {
    const c = await claim
    const log = { notifier: lane.notifier.name, eventType: item.event.type, workerId: item.event.workerId }
    if ('unclaimed' in c) {
      this.#logger.warn({ ...log, error: c.unclaimed }, 'fleet notification claim failed; sending anyway')
      return undefined
    }
    if (!c.send) {
      lane.fleetSuppressed++
      this.#logger.debug({ ...log, reason: 'fleet-duplicate' }, 'notification suppressed')
      return null
    }
    return { node: this.#fleet?.node ?? '', suppressedBefore: c.suppressedBefore, nodes: c.nodes }
  }

  async #deliver(lane: Lane, item: Pending, fleet: FleetDeliveryContext | undefined): Promise<void> {
    const { notifier } = lane
    const ctx =
      fleet === undefined
        ? { suppressedBefore: item.suppressedBefore }
        : { suppressedBefore: item.suppressedBefore, fleet }
    const outcome = await deliverWithRetries({
      send: (signal) => notifier.deliver(item.event, ctx, signal),
      retries: this.#settings.retries,
      timeoutMs: notifier.timeoutMs ?? this.#settings.timeout,
      timers: this.#timers,
      random: this.#random,
      retryBaseMs: this.#retryBaseMs,
      retryCapMs: this.#retryCapMs,
      signal: this.#closing.signal,
      onRetry: ({ attempt, delayMs, error }) =>
        this.#logger.warn(
          { notifier: notifier.name, eventType: item.event.type, attempt, retryInMs: delayMs, error },
          'notification delivery failed; retrying',
        ),
    })
    switch (outcome.kind) {
      case 'delivered':
        lane.delivered++
        if (outcome.attempts > 1) {
          this.#logger.info(
            { notifier: notifier.name, eventType: item.event.type, attempts: outcome.attempts },
            'notification delivered',
          )
        }
        return
      case 'failed':
        return this.#giveUp(lane, item, outcome.error, outcome.attempts)
      case 'cancelled':
        // Closing is not a failure of the destination: nothing is reported.
        return
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

  #isIdle(): boolean {
    return this.#lanes.every((l) => !l.busy && l.queue.length === 0)
  }

  #wakeIdleWaiters(): void {
    const waiters = [...this.#idleWaiters]
    this.#idleWaiters.clear()
    for (const w of waiters) w()
  }
}
