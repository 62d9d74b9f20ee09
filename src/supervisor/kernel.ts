/**
 * What the parts of the supervisor share: its dependencies, its timers (the only timers in
 * Shepherd's recovery path; all cleared at shutdown), the clock, event emission, and the one place
 * that moves a worker slot from state to state.
 * @module
 */
import { randomBytes } from 'node:crypto'

import type { LoadedConfig } from '../config/load.js'
import { noteAvailability } from '../core/availability.js'
import { type Clock, type Scheduler, steadyClock } from '../core/clock.js'
import type { AnyEvent, EventDataMap, EventSeverity, EventType } from '../core/events.js'
import { canMove, type WorkerState } from '../core/worker-state.js'
import type { Logger } from '../logger.js'
import type { runProbe as RunProbe } from '../process/probes.js'
import type { TreeSample } from '../process/proc.js'
import type { ProcessSpawner } from '../process/types.js'
import type { Store } from '../store/store.js'
import type { WriteBehind } from '../store/write-behind.js'
import { servingCount, type Slot } from './pool-runtime.js'
import { type Timer, TimerSet } from './timer-set.js'

/** What the supervisor needs from /proc. */
export interface ProcPort {
  sampleTrees(roots: readonly number[]): Map<number, TreeSample>
  readProcState(pid: number): string | null
  /** Start ticks of the process with this pid (it names the process), or null when there is none. */
  readStartTicks(pid: number): number | null
}

/** Where a pool's worker output goes (its log file; see src/process/log-files.ts). */
export interface PoolLog {
  write(workerId: string, stream: 'out' | 'err', lines: string[]): void
  close(): void
}

export interface SupervisorDeps {
  loaded: LoadedConfig
  spawner: ProcessSpawner
  store: Store
  /** Where incidents and saved states are written (batched off the recovery path). */
  writer: WriteBehind
  clock: Clock
  /** The timers of recovery, health checks and the dispatcher; they go with `clock`. */
  timers: Scheduler
  proc: ProcPort
  runProbe: typeof RunProbe
  /** Opens the log of a pool's worker output. */
  openLog: (pool: string) => PoolLog
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

export type { Timer }

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
  private readonly timers: TimerSet
  private readonly clock: Clock

  constructor(readonly deps: SupervisorDeps) {
    this.clock = steadyClock(deps.clock)
    this.random = deps.random ?? Math.random
    this.newId = deps.newId ?? (() => timeOrderedId(this.clock.now()))
    this.logger = deps.logger
    this.timers = new TimerSet(deps.timers)
  }

  now(): number {
    return this.clock.now()
  }

  /** A one-shot timer of any length that shutdown cancels. */
  later(ms: number, fn: () => void): Timer {
    return this.timers.later(ms, fn)
  }

  cancel(t: Timer): void {
    this.timers.cancel(t)
  }

  sleep(ms: number): Promise<void> {
    return this.timers.sleep(ms)
  }

  /** A repeating timer that shutdown cancels. */
  every(ms: number, fn: () => void): void {
    this.timers.every(ms, fn)
  }

  cancelAll(): void {
    this.timers.close()
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
function timeOrderedId(now: number): string {
  return `${now.toString(36)}-${randomBytes(2).toString('hex')}`
}
