/**
 * The picture of the fleet that `/metrics` shows at scrape time: workers, pools and queue counts,
 * taken once per scrape from the supervisor's control API and one store query. The gauges of
 * registry.ts are set from it, so the rendering is a function of this snapshot (and of the
 * counters fed as things happened), and tests give it a fake one.
 * @module
 */
import type { WorkerState } from '../core/worker-state.js'
import type { JobStore, QueueCounts } from '../ports/job-store.js'
import { zeroCounts } from '../ports/job-store.js'
import type { SupervisorControl, WorkerView } from '../supervisor/view.js'

/** One worker (slot or warm spare) as the per-worker gauges show it. */
export interface WorkerSnapshot {
  /** Slot id (`email#2`) or spare id (`email#s1`). */
  id: string
  pool: string
  role: 'worker' | 'spare'
  state: WorkerState
  healthScore: number
  /** Restarts of this slot since the supervisor started (0 for a spare). */
  restarts: number
  /** CPU seconds of the slot's (or spare's) process trees since the supervisor started, as sampled. */
  cpuSeconds: number
  /** CPU of the process tree at the latest sample, percent of one core; null when unknown or no process. */
  cpuPercent: number | null
  /** Resident memory of the process tree at the latest sample, bytes; null when unknown or no process. */
  residentBytes: number | null
}

/** One pool as the per-pool gauges and counters show it. */
export interface PoolSnapshot {
  name: string
  minReplicas: number
  maxReplicas: number
  /** Slots ready or degraded with a live process. */
  serving: number
  spares: number
  /** Time at full strength over time observed since the supervisor started, 0..1. */
  availability: number
  /** Restarts of the pool's workers by incident cause, since the supervisor started. */
  restartsByCause: Record<string, number>
}

/** Everything the scrape-time gauges need. */
export interface FleetSnapshot {
  workers: WorkerSnapshot[]
  pools: PoolSnapshot[]
  /** One row per queue: every configured queue (zeros when it has no job) and every queue with jobs. */
  queues: QueueCounts[]
}

/** Where the registry gets a snapshot at each scrape. */
export type SnapshotSource = () => Promise<FleetSnapshot>

const MIB = 1024 * 1024

/**
 * Takes a snapshot from a running supervisor and its job store: one `listWorkers()`, one
 * `listPools()`, one `history()` and one `counts()` query, whatever the number of workers.
 * CPU and memory come from the worker's latest history sample when that sample belongs to the
 * process running now, else from its latest health report (spares have no history).
 * @param queues - queues that always get a row, with zeros when they have no job
 *   (`configuredQueues(config)`).
 * @example
 * ```ts
 * const source = () => takeFleetSnapshot(supervisor, store.jobs, clock.now(), configuredQueues(config))
 * ```
 */
export async function takeFleetSnapshot(
  supervisor: Pick<SupervisorControl, 'listWorkers' | 'listPools' | 'history'>,
  jobs: Pick<JobStore, 'counts'>,
  now: number,
  queues: readonly string[],
): Promise<FleetSnapshot> {
  const views = supervisor.listWorkers()
  const history = supervisor.history().workers
  const workers = views.map((w): WorkerSnapshot => {
    const usage = latestUsage(w, history[w.id])
    return {
      id: w.id,
      pool: w.pool,
      role: w.role,
      state: w.state,
      healthScore: w.healthScore,
      restarts: w.restarts,
      cpuSeconds: w.cpuSeconds,
      cpuPercent: usage.cpuPercent,
      residentBytes: usage.rssMb === null ? null : Math.round(usage.rssMb * MIB),
    }
  })
  const pools = supervisor.listPools().map((p): PoolSnapshot => ({
    name: p.name,
    minReplicas: p.replicas.min,
    maxReplicas: p.replicas.max,
    serving: p.serving,
    spares: p.spares,
    availability: p.availability,
    restartsByCause: p.restartsByCause,
  }))
  const counted = await jobs.counts(now)
  const byName = new Map(counted.map((c) => [c.queue, c]))
  for (const q of queues) if (!byName.has(q)) byName.set(q, zeroCounts(q))
  return { workers, pools, queues: [...byName.values()].sort((a, b) => a.queue.localeCompare(b.queue)) }
}

function latestUsage(
  w: WorkerView,
  samples: readonly { at: number; cpuPercent: number | null; rssMb: number | null }[] | undefined,
): { cpuPercent: number | null; rssMb: number | null } {
  if (w.pid === null) return { cpuPercent: null, rssMb: null }
  const last = samples?.[samples.length - 1]
  // A sample older than the process is its predecessor's: a restarted worker shows nothing until sampled.
  if (last && (w.startedAt === null || last.at >= w.startedAt)) {
    return { cpuPercent: last.cpuPercent, rssMb: last.rssMb }
  }
  const indicator = (name: 'cpu' | 'memory'): number | null => {
    const value = w.report?.indicators.find((i) => i.name === name)?.value
    return typeof value === 'number' ? value : null
  }
  return { cpuPercent: indicator('cpu'), rssMb: indicator('memory') }
}
