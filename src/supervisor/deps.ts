/**
 * What the supervisor is given (its ports and settings), and the event emitter its parts share.
 * The composition root (src/daemon.ts) builds the real adapters; unit tests pass fakes
 * (test/unit/supervisor/harness.ts).
 * @module
 */
import { randomBytes } from 'node:crypto'

import type { LoadedConfig } from '../config/load.js'
import type { AnyEvent, EventDataMap, EventSeverity, EventType } from '../core/events.js'
import type { Logger } from '../logger.js'
import type { Clock, Scheduler } from '../ports/clock.js'
import type { PoolLog, ProbeRunner, ProcessSpawner, ProcPort } from '../ports/process.js'
import type { Store } from '../ports/store.js'
import type { FinishedJobs } from '../queue/dispatcher.js'
import type { WriteBehind } from '../store/write-behind.js'

export interface SupervisorDeps {
  loaded: LoadedConfig
  spawner: ProcessSpawner
  store: Store
  /** Where incidents and saved states are written (batched off the recovery path). */
  writer: WriteBehind
  /** The supervisor's clock; a step back is absorbed (steadyClock). */
  clock: Clock
  /** The timers of recovery, health checks and the dispatcher; they go with `clock`. */
  timers: Scheduler
  proc: ProcPort
  runProbe: ProbeRunner
  /** Opens the log of a pool's worker output. */
  openLog: (pool: string) => PoolLog
  /** Receives every event: the daemon logs, persists and notifies. Must not throw. */
  emit: (event: AnyEvent) => void
  /** The jobs a worker finished or failed, per message of its (for metrics); jobs are too many to be events. */
  onJobs?: (pool: string, queue: string, jobs: FinishedJobs) => void
  logger: Logger
  /** Environment every worker inherits (default: process.env). */
  baseEnv?: Record<string, string | undefined>
  random?: () => number
  newId?: () => string
  version?: string
  apiUrl?: string
  /** The supervisor whose store this one took over (it died), for the incidents it left open. */
  takeover?: string
  /**
   * Whether jobs may be claimed now: in a fleet, only while this agent's lease is surely live.
   * @defaultValue always
   */
  mayClaimJobs?: () => boolean
}

export interface EventOrigin {
  pool?: string | null
  workerId?: string | null
  incidentId?: string | null
}

/** Emits one event, stamped with the supervisor's time (or `at`, the time of the change it tells). */
export type Emit = <T extends EventType>(
  type: T,
  severity: EventSeverity,
  origin: EventOrigin,
  message: string,
  data: EventDataMap[T],
  at?: number,
) => void

/** The supervisor's emitter: a listener that throws is logged, never felt by the flow that emitted. */
export function eventEmitter(sink: (event: AnyEvent) => void, clock: Clock, logger: Logger): Emit {
  return (type, severity, origin, message, data, at) => {
    const event = {
      type,
      at: at ?? clock.now(),
      severity,
      message,
      pool: origin.pool ?? null,
      workerId: origin.workerId ?? null,
      incidentId: origin.incidentId ?? null,
      data,
    } as AnyEvent
    try {
      sink(event)
    } catch (e) {
      logger.error({ err: e, type }, 'event listener failed')
    }
  }
}

/** Time-ordered, short, unique enough to type: `mhx3k2a-4f1c`. */
export function timeOrderedId(now: number): string {
  return `${now.toString(36)}-${randomBytes(2).toString('hex')}`
}
