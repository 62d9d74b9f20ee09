/**
 * Watches the store for the supervisor: every write's outcome goes through the core's store
 * health (src/core/store-health.ts), and its changes become events: one `store:failed`
 * (critical, notified) per outage, one `store:recovered` when writes work again. A periodic tick
 * (the daemon's timer) checks that the store file is still there and renews the lease: every
 * HEARTBEAT_MS while the store is healthy, and at every tick while it is not, so that a recovery
 * is seen within seconds even when nothing else writes.
 * @module
 */
import type { AnyEvent } from '../core/events.js'
import {
  HEALTHY_STORE,
  noteStoreWrite,
  STORE_PROBLEMS,
  type StoreHealth,
  type StoreHealthChange,
} from '../core/store-health.js'
import type { Logger } from '../logger.js'
import type { Store, StoreWrite } from '../ports/store.js'
import type { DroppedRecords } from './write-behind.js'

/**
 * A failed store counts as recovered once a write works with none failing for this long. Short
 * enough that people hear of a recovery within seconds; long enough that a nearly full disk, on
 * which small commits fit and larger ones do not, is one outage and not a string of them.
 */
export const RECOVERY_QUIET_MS = 2_000

/** How often the daemon calls {@link StoreMonitor.tick}. */
export const STORE_CHECK_MS = 1_000

export interface StoreMonitorOptions {
  store: Store
  storePath: string
  now: () => number
  record: (e: AnyEvent) => void
  logger: Logger
  /** The owner's lease renewal; none where another part renews it (a fleet's membership). */
  heartbeat?: (now: number) => Promise<unknown>
  heartbeatEveryMs: number
  /**
   * Records dropped so far because the store took no writes for too long (the write-behind's
   * `WriteBehind.dropped`); `store:recovered` says how many were dropped during its outage.
   * @defaultValue none are ever dropped
   */
  dropped?: () => DroppedRecords
}

export class StoreMonitor {
  #health: StoreHealth = HEALTHY_STORE
  #lastHeartbeat = -Infinity
  #ticking = false
  #off: (() => void) | null = null
  /** The drops counted when the outage began. */
  #droppedBefore: DroppedRecords = { events: 0, incidents: 0 }

  constructor(private readonly o: StoreMonitorOptions) {}

  /** Starts watching the store's writes. */
  start(): void {
    // Told from inside the store's write: handled after it, never inside it.
    this.#off ??= this.o.store.onWrite((w) => queueMicrotask(() => this.#note(w)))
  }

  stop(): void {
    this.#off?.()
    this.#off = null
  }

  /** The store's health now. */
  get health(): StoreHealth {
    return this.#health
  }

  /** The periodic check: is the file still there, and the heartbeat when due (every tick while failing). */
  async tick(now: number): Promise<void> {
    if (this.#ticking) return
    this.#ticking = true
    try {
      await this.o.store.check()
      const failing = this.#health.problem !== null
      if (!this.o.heartbeat || (!failing && now - this.#lastHeartbeat < this.o.heartbeatEveryMs)) return
      this.#lastHeartbeat = now
      await this.o.heartbeat(now)
    } catch (err) {
      // Told through onWrite already when it is the store's condition; anything else is logged.
      this.o.logger.debug({ err }, 'store check or lease heartbeat failed')
    } finally {
      this.#ticking = false
    }
  }

  #note(w: StoreWrite): void {
    const { health, change } = noteStoreWrite(this.#health, w, this.o.now(), RECOVERY_QUIET_MS)
    this.#health = health
    if (change) this.o.record(this.#event(change))
  }

  #event(change: StoreHealthChange): AnyEvent {
    const base = { at: this.o.now(), pool: null, workerId: null, incidentId: null }
    const storePath = this.o.storePath
    const droppedNow = this.o.dropped?.() ?? { events: 0, incidents: 0 }
    if (change.kind === 'failed') {
      this.#droppedBefore = droppedNow
      return {
        ...base,
        type: 'store:failed',
        severity: 'critical',
        message: `the store takes no writes: ${STORE_PROBLEMS[change.problem]}. ${change.message}`,
        data: { problem: change.problem, message: change.message, storePath },
      }
    }
    const dropped = {
      events: droppedNow.events - this.#droppedBefore.events,
      incidents: droppedNow.incidents - this.#droppedBefore.incidents,
    }
    const lost =
      dropped.events + dropped.incidents > 0
        ? `; ${dropped.events} events and ${dropped.incidents} incidents dropped, past what is kept in memory`
        : ''
    return {
      ...base,
      type: 'store:recovered',
      severity: 'info',
      message:
        `the store takes writes again after ${Math.round(change.downMs / 1000)} s ` +
        `(${STORE_PROBLEMS[change.problem]}; ${change.refused} writes refused meanwhile, kept and retried where a worker reported them${lost})`,
      data: { problem: change.problem, downMs: change.downMs, refused: change.refused, dropped, storePath },
    }
  }
}
