/**
 * The supervisor's live picture of a pool: its slots (one per replica, with a stable id such as
 * `email#2`) with each worker's restart history for the restart budget, and its warm spares.
 * @module
 */
import type { ResolvedPool } from '../config/load.js'
import { type Availability, startAvailability } from '../core/availability.js'
import type { ExitReport } from '../core/exit-report.js'
import { FRESH_MEMORY, type HealthMemory, type HealthReport } from '../core/health.js'
import { workerId } from '../core/ids.js'
import { EMPTY_HISTORY, type RestartHistory } from '../core/restart-policy.js'
import { FRESH_SCALE, type ScaleState } from '../core/scaling.js'
import { newSlot, type SlotState } from '../core/slot-model.js'
import { isServing } from '../core/worker-state.js'
import { WORKER_ENV } from '../protocol/messages.js'
import type { WorkerProcess } from './worker-process.js'

export interface Slot {
  readonly id: string
  readonly index: number
  readonly pool: PoolRuntime
  /**
   * Its phase, worker state, processes, incident, revive attempt and outage: the slot machine's
   * (src/core/slot.ts), changed only through Slots.dispatch (slots.ts).
   */
  status: SlotState<WorkerProcess>
  /** Restarts since it was last stable, for the backoff. */
  history: RestartHistory
  /**
   * Start times of this worker's restarts since it last ran for stable_after, pruned to the restart
   * window: the restart budget. A stable run clears it, so a new fault never inherits old ones.
   */
  restartTimes: number[]
  restarts: number
  /** Start times of this slot's recent restarts (within RECENT_RESTARTS_WINDOW_MS), for its health score. */
  recentRestarts: number[]
  /** CPU seconds of this slot's process trees, as sampled at health checks, since the supervisor started. */
  cpuSeconds: number
  report: HealthReport | null
  memory: HealthMemory
  lastExit: ExitReport | null
  /** Recent health samples, oldest first, for sparklines. */
  samples: WorkerSample[]
  /** A health verdict from outside (POST /api/workers/:id/signals), shown as the `external` indicator. */
  external: { status: 'degraded' | 'unhealthy'; reason: string; source: string; at: number } | null
}

export interface Spare {
  readonly id: string
  proc: WorkerProcess
  /** CPU seconds of the spare's process tree, as sampled at health checks. */
  cpuSeconds: number
  report: HealthReport | null
  memory: HealthMemory
}

export interface PoolRuntime {
  readonly cfg: ResolvedPool
  readonly slots: Slot[]
  spares: Spare[]
  /** Spares that died before becoming ready, in a row: backs off their replacement. */
  spareFailures: number
  /** Queue-driven scaling. */
  scale: ScaleState
  /** Recent throughput readings (jobs per minute), for the baseline a drop is judged against. */
  throughputHistory: number[]
  /** A health check of the pool is under way (checks read the store, so one may outlast a tick). */
  checking: boolean
  /** Time at full strength (replicas.min serving) over time observed. */
  availability: Availability
  /** Restarts of the pool's workers by the cause of their incident. */
  restartsByCause: Record<string, number>
  /** The queue's recent readings, for charts (oldest first, at most HISTORY_LENGTH). */
  queueHistory: QueueSample[]
}

/** How many recent samples are kept per worker and per queue, for sparklines and charts. */
export const HISTORY_LENGTH = 60

export interface WorkerSample {
  at: number
  cpuPercent: number | null
  rssMb: number | null
  healthScore: number
}

export interface QueueSample {
  at: number
  waiting: number
  inFlight: number
  perMinute: number
}

/** Appends to a bounded history. */
export function pushSample<T>(history: T[], sample: T): void {
  history.push(sample)
  if (history.length > HISTORY_LENGTH) history.splice(0, history.length - HISTORY_LENGTH)
}

/** Slots serving now (ready or degraded, with a live process). */
export function servingCount(pool: PoolRuntime): number {
  let n = 0
  for (const s of pool.slots) if (isServing(s.status.state) && s.status.proc?.alive) n++
  return n
}

export function createPool(cfg: ResolvedPool, now: number): PoolRuntime {
  const pool: PoolRuntime = {
    cfg,
    slots: [],
    spares: [],
    spareFailures: 0,
    scale: FRESH_SCALE,
    throughputHistory: [],
    checking: false,
    availability: startAvailability(now, false),
    restartsByCause: {},
    queueHistory: [],
  }
  for (let i = 1; i <= cfg.replicas.min; i++) pool.slots.push(createSlot(pool, i))
  return pool
}

export function createSlot(pool: PoolRuntime, index: number): Slot {
  return {
    id: workerId(pool.cfg.name, index),
    index,
    pool,
    status: newSlot(),
    history: EMPTY_HISTORY,
    restartTimes: [],
    restarts: 0,
    recentRestarts: [],
    cpuSeconds: 0,
    report: null,
    memory: FRESH_MEMORY,
    lastExit: null,
    samples: [],
    external: null,
  }
}

/** Whether a process of the slot (its own, or a replacement beside it) is running. */
export function hasLiveProcess(slot: Slot): boolean {
  return (slot.status.proc?.alive ?? false) || (slot.status.surge?.alive ?? false)
}

/** The slot a process serves (as its own, or as the replacement beside it), if any. */
export function slotOf(pool: PoolRuntime, wp: WorkerProcess): Slot | undefined {
  return pool.slots.find((s) => s.status.proc === wp || s.status.surge === wp)
}

/** Every live process of the pool: slot processes, surges and spares. */
export function liveProcesses(pool: PoolRuntime): WorkerProcess[] {
  const out: WorkerProcess[] = []
  for (const s of pool.slots) {
    if (s.status.proc?.alive) out.push(s.status.proc)
    if (s.status.surge?.alive) out.push(s.status.surge)
  }
  for (const sp of pool.spares) if (sp.proc.alive) out.push(sp.proc)
  return out
}

/** The lowest port offset no live process of the pool holds, or null when the pool has no port. */
export function freePortOffset(pool: PoolRuntime): number | null {
  if (pool.cfg.port === undefined) return null
  const taken = new Set(liveProcesses(pool).map((p) => p.portOffset))
  let offset = 0
  while (taken.has(offset)) offset++
  return offset
}

/**
 * Heartbeats come five times per hang timeout, so a hang is told apart from a late heartbeat with
 * a wide margin, but never more often than every 20 ms or less often than every 5 s.
 */
export function heartbeatInterval(hangTimeoutMs: number): number {
  return Math.min(5000, Math.max(20, Math.floor(hangTimeoutMs / 5)))
}

export function workerEnv(
  pool: ResolvedPool,
  base: Record<string, string | undefined>,
  id: string,
  index: number,
  portOffset: number | null,
): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v
  Object.assign(env, pool.env)
  env[WORKER_ENV.workerId] = id
  env[WORKER_ENV.pool] = pool.name
  env[WORKER_ENV.index] = String(index)
  env[WORKER_ENV.heartbeatMs] = String(heartbeatInterval(pool.hang_timeout))
  if (pool.port !== undefined && portOffset !== null) env.PORT = String(pool.port + portOffset)
  if (pool.queue !== undefined) env[WORKER_ENV.queue] = pool.queue
  env[WORKER_ENV.concurrency] = String(pool.concurrency)
  return env
}
