/**
 * What the parts of the supervisor share: its dependencies, its timers (the only timers in
 * Shepherd's recovery path; all cleared at shutdown), the clock, event emission, and the one place
 * that moves a worker slot from state to state.
 * @module
 */
import { randomBytes } from 'node:crypto'

import { type LongTimeout, setLongTimeout } from '../adapters/timers.js'
import type { LoadedConfig } from '../config/load.js'
import { noteAvailability } from '../core/availability.js'
import type { Clock } from '../core/clock.js'
import type { AnyEvent, EventDataMap, EventSeverity, EventType } from '../core/events.js'
import { canMove, type WorkerState } from '../core/worker-state.js'
import type { Logger } from '../logger.js'
import type { runProbe as RunProbe } from '../process/probes.js'
import type { TreeSample } from '../process/proc.js'
import type { ProcessSpawner } from '../process/types.js'
import type { Store } from '../store/store.js'
import type { WriteBehind } from '../store/write-behind.js'
import { servingCount, type Slot } from './pool-runtime.js'

/** What the supervisor needs from /proc. */
export interface ProcPort {
  sampleTrees(roots: readonly number[]): Map<number, TreeSample>
  readProcState(pid: number): string | null
  /** Start ticks of the process with this pid (it names the process), or null when there is none. */
  readStartTicks(pid: number): number | null
}

export interface SupervisorDeps {
  loaded: LoadedConfig
  spawner: ProcessSpawner
  store: Store
  /** Where incidents and saved states are written (batched off the recovery path). */
  writer: WriteBehind
  clock: Clock
  proc: ProcPort
  runProbe: typeof RunProbe
  /** Receives every event: the daemon logs, persists and notifies. Must not throw. */
  emit: (event: AnyEvent) => void
  /** Every job a worker finished or failed (for metrics); jobs are too many to be events. */
  onJob?: (pool: string, queue: string, ok: boolean, ms: number | null) => void
  logger: Logger
  /** Environment every worker inherits (default: process.env). */
  baseEnv?: Record<string, string | undefined>
  random?: () => number
  newId?: () => string
  version?: string
  apiUrl?: string
  /** The supervisor whose store this one took over (it died), for the incidents it left open. */
  takeover?: string
}

export type Timer = LongTimeout

export interface EventOrigin {
  pool?: string | null
  workerId?: string | null
  incidentId?: string | null
}

export class SupervisorKernel {
  readonly random: () => number
  readonly newId: () => string
  readonly logger: Logger
  /** Set once shutdown begins: no new recoveries, spares or checks from then on. */
  stopping = false
  private readonly timers = new Set<Timer>()
  private readonly intervals = new Set<ReturnType<typeof setInterval>>()

  constructor(readonly deps: SupervisorDeps) {
    this.random = deps.random ?? Math.random
    this.newId = deps.newId ?? defaultId
    this.logger = deps.logger
  }

  now(): number {
    return this.deps.clock.now()
  }

  /** A one-shot timer of any length that shutdown cancels. */
  later(ms: number, fn: () => void): Timer {
    const t = setLongTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    this.timers.add(t)
    return t
  }

  cancel(t: Timer): void {
    t.clear()
    this.timers.delete(t)
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve))
  }

  /** A repeating timer that shutdown cancels; `ms` is a config duration, within setInterval's limit (schema.ts). */
  every(ms: number, fn: () => void): void {
    this.intervals.add(setInterval(fn, ms))
  }

  cancelAll(): void {
    for (const t of this.timers) t.clear()
    for (const t of this.intervals) clearInterval(t)
    this.timers.clear()
    this.intervals.clear()
  }

  emit<T extends EventType>(
    type: T,
    severity: EventSeverity,
    origin: EventOrigin,
    message: string,
    data: EventDataMap[T],
  ): void {
    const event = {
      type,
      at: this.now(),
      severity,
      message,
      pool: origin.pool ?? null,
      workerId: origin.workerId ?? null,
      incidentId: origin.incidentId ?? null,
      data,
    } as AnyEvent
    try {
      this.deps.emit(event)
    } catch (e) {
      this.logger.error({ err: e, type }, 'event listener failed')
    }
  }

  /** The one way a slot changes state; every move is a `worker:state` event. */
  setState(slot: Slot, to: WorkerState, reason: string): void {
    const from = slot.state
    if (from === to) return
    if (!canMove(from, to))
      this.logger.debug({ worker: slot.id, from, to, reason }, 'unusual worker state move')
    slot.state = to
    const pool = slot.pool
    pool.availability = noteAvailability(
      pool.availability,
      this.now(),
      servingCount(pool) >= pool.cfg.replicas.min,
    )
    this.emit(
      'worker:state',
      'info',
      { pool: slot.pool.cfg.name, workerId: slot.id, incidentId: slot.incident?.id ?? null },
      `${slot.id} ${from} → ${to}: ${reason}`,
      { from, to, reason, pid: slot.proc?.alive ? slot.proc.pid : null },
    )
  }
}

/** Time-ordered, short, unique enough to type: `mhx3k2a-4f1c`. */
function defaultId(): string {
  return `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`
}
