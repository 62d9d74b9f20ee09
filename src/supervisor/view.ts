/**
 * What the supervisor shows of itself to the HTTP API and the CLI. These shapes are the API's
 * JSON bodies; their key names are part of the CLI's `--json` contract.
 * @module
 */
import type { HealthReport, IndicatorName, Verdict } from '../core/health.js'
import type { WorkerState } from '../core/worker-state.js'

export interface WorkerView {
  /** Slot id, e.g. `email#2`; spares are `email#s1`. */
  id: string
  pool: string
  pid: number | null
  state: WorkerState
  /** `worker` serves the pool; `spare` is warm and idle, ready to take a dead worker's place. */
  role: 'worker' | 'spare'
  healthScore: number
  verdict: Verdict
  /** The indicator with the largest penalty, null when healthy. */
  worst: IndicatorName | null
  worstDetail: string | null
  /** Restarts of this slot since the supervisor started. */
  restarts: number
  /** Restarts of this slot in the last 10 minutes (RECENT_RESTARTS_WINDOW_MS); they lower its score. */
  recentRestarts: number
  /**
   * CPU time of this slot's processes (each one's whole tree), in seconds, since the supervisor
   * started, as read at health checks: time of a process that exits between two checks is not seen.
   */
  cpuSeconds: number
  startedAt: number | null
  uptimeMs: number | null
  /** The incident under way, if any. */
  incidentId: string | null
  lastExit: { exitCode: number | null; signal: string | null; at: number } | null
  /** Whether the worker talks to Shepherd through the SDK. */
  sdk: boolean
  report: HealthReport | null
}

export interface SupervisorInfo {
  pid: number
  version: string
  startedAt: number
  configFile: string
  pools: string[]
  apiUrl: string
}

export interface PoolView {
  name: string
  queue: string | null
  replicas: { min: number; max: number }
  /** Slots now (grows and shrinks with queue-driven scaling). */
  workers: number
  /** Slots ready or degraded with a live process. */
  serving: number
  spares: number
  /** Time at full strength (replicas.min serving) over time observed, since the supervisor started. */
  availability: number
  observedMs: number
  fullMs: number
  /** Restarts of the pool's workers by incident cause. */
  restartsByCause: Record<string, number>
}

export interface WorkerSampleView {
  at: number
  cpuPercent: number | null
  rssMb: number | null
  healthScore: number
}

export interface QueueSampleView {
  at: number
  waiting: number
  inFlight: number
  perMinute: number
}

/** Recent samples for charts: per worker (by slot id) and per queue, oldest first. */
export interface FleetHistory {
  workers: Record<string, WorkerSampleView[]>
  queues: Record<string, QueueSampleView[]>
}

/** A verdict about a worker from an outside monitor. */
export interface SignalRequest {
  /** unhealthy: recover it (cause `external`); degraded: a warning; healthy: withdraws the signal. */
  status: 'healthy' | 'degraded' | 'unhealthy'
  reason: string
  /** Who says so (shown with the reason), e.g. `grafana`. */
  source: string
}

export interface RestartRequest {
  hard: boolean
}

/** The supervisor as the HTTP API drives it. */
export interface SupervisorControl {
  info(): SupervisorInfo
  listWorkers(): WorkerView[]
  /** undefined when no worker has that id. */
  getWorker(id: string): WorkerView | undefined
  /**
   * Opens a manual incident (soft_restart, or hard_restart with `hard`). Resolves once the
   * incident is opened, not when it ends. Throws ShepherdError SHEPHERD_WORKER_NOT_FOUND,
   * SHEPHERD_RECOVERY_IN_PROGRESS or SHEPHERD_SUPERVISOR_STOPPING.
   */
  restartWorker(id: string, request: RestartRequest): Promise<{ incidentId: string }>
  /** Every pool, with its strength, availability and restarts. */
  listPools(): PoolView[]
  /** Recent samples of every worker and queue. */
  history(): FleetHistory
  /**
   * Records an outside monitor's verdict. `unhealthy` opens an incident with cause `external` and
   * resolves with its id; `degraded` makes the worker degraded until withdrawn (`healthy`).
   * Throws like restartWorker.
   */
  signal(id: string, request: SignalRequest): Promise<{ incidentId: string | null }>
}
