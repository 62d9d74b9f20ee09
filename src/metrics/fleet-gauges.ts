/**
 * The gauges (and the counters the supervisor already keeps) that are set at scrape time, by
 * prom-client `collect()` hooks, from one {@link FleetSnapshot} per scrape: workers by state, each
 * worker's health, CPU, memory and restarts, each pool's strength and availability, each queue's
 * jobs. The counters fed as things happen are registry.ts's.
 * @module
 */
import { Counter, Gauge, type Registry } from 'prom-client'

import { ANOMALY_CAUSES, type AnomalyCause } from '../core/restart-policy.js'
import { WORKER_STATES, type WorkerState } from '../core/worker-state.js'
import type { QueueCounts } from '../ports/job-store.js'
import type { FleetSnapshot } from './snapshot.js'

/** The `state` label of `shepherd_queue_jobs`, and the count of {@link QueueCounts} each reads. */
export const QUEUE_STATES = {
  waiting: 'waiting',
  delayed: 'delayed',
  in_flight: 'inFlight',
  done: 'done',
  failed: 'failed',
  dead_lettered: 'deadLettered',
  quarantined: 'quarantined',
} as const satisfies Record<string, keyof QueueCounts>

const STATES = Object.keys(WORKER_STATES) as WorkerState[]
const CAUSES = Object.keys(ANOMALY_CAUSES) as AnomalyCause[]

/**
 * Registers the scrape-time metrics on `registers`; `snap` gives the snapshot of the scrape under
 * way (one per scrape, shared by every hook), `name` the full name of a metric.
 */
export function registerFleetGauges(
  registers: Registry[],
  snap: () => Promise<FleetSnapshot>,
  version: string,
  name: (metric: string) => string,
): void {
  new Gauge({
    name: name('supervisor_info'),
    help: 'Always 1; the label says which version of Shepherd runs.',
    labelNames: ['version'] as const,
    registers,
  }).set({ version }, 1)

  new Gauge({
    name: name('workers'),
    help: 'Worker slots of each pool by state (warm spares are counted in shepherd_pool_spares).',
    labelNames: ['pool', 'state'] as const,
    registers,
    async collect() {
      const s = await snap()
      this.reset()
      const counts = new Map<string, Record<WorkerState, number>>()
      for (const p of s.pools) counts.set(p.name, zeroStates())
      for (const w of s.workers) {
        if (w.role !== 'worker') continue
        let c = counts.get(w.pool)
        if (!c) counts.set(w.pool, (c = zeroStates()))
        c[w.state]++
      }
      for (const [pool, c] of counts) for (const state of STATES) this.set({ pool, state }, c[state])
    },
  })

  perWorker('worker_health_score', 'Health score of each worker, 0 (dead or hung) to 100 (healthy).', (w) =>
    Number.isFinite(w.healthScore) ? w.healthScore : null,
  )
  perWorker(
    'worker_cpu_percent',
    "CPU of each worker's process tree at its latest health check, in percent of one core.",
    (w) => w.cpuPercent,
  )
  new Counter({
    name: name('worker_cpu_seconds_total'),
    help: "CPU time of each worker's process trees (every process that held the slot), in seconds, read at health checks since the supervisor started; time of a process that exits between two checks is not seen.",
    labelNames: ['pool', 'worker'] as const,
    registers,
    async collect() {
      const s = await snap()
      this.reset()
      for (const w of s.workers) this.inc({ pool: w.pool, worker: w.id }, w.cpuSeconds)
    },
  })
  perWorker(
    'worker_resident_memory_bytes',
    "Resident memory of each worker's process tree at its latest health check, in bytes.",
    (w) => w.residentBytes,
  )
  function perWorker(
    metric: string,
    help: string,
    value: (w: FleetSnapshot['workers'][number]) => number | null,
  ) {
    new Gauge({
      name: name(metric),
      help,
      labelNames: ['pool', 'worker'] as const,
      registers,
      async collect() {
        const s = await snap()
        this.reset()
        for (const w of s.workers) {
          const v = value(w)
          if (v !== null) this.set({ pool: w.pool, worker: w.id }, v)
        }
      },
    })
  }

  new Counter({
    name: name('worker_restarts_total'),
    help: 'Restarts of each worker slot since the supervisor started.',
    labelNames: ['pool', 'worker'] as const,
    registers,
    async collect() {
      const s = await snap()
      this.reset()
      for (const w of s.workers) if (w.role === 'worker') this.inc({ pool: w.pool, worker: w.id }, w.restarts)
    },
  })

  new Counter({
    name: name('restarts_total'),
    help: "Processes started to recover a pool's workers (warm spares taking over included), by incident cause, since the supervisor started.",
    labelNames: ['pool', 'cause'] as const,
    registers,
    async collect() {
      const s = await snap()
      this.reset()
      for (const p of s.pools) {
        for (const cause of CAUSES) this.inc({ pool: p.name, cause }, 0)
        for (const [cause, n] of Object.entries(p.restartsByCause)) this.inc({ pool: p.name, cause }, n)
      }
    },
  })

  poolGauge(
    'pool_availability_ratio',
    'Share of time each pool had at least replicas.min workers serving, since the supervisor started (0..1).',
    (p) => p.availability,
  )
  poolGauge(
    'pool_serving_workers',
    'Workers of each pool ready or degraded with a live process.',
    (p) => p.serving,
  )
  poolGauge(
    'pool_min_replicas',
    'replicas.min of each pool: the pool is at full strength with this many serving.',
    (p) => p.minReplicas,
  )
  poolGauge(
    'pool_max_replicas',
    'replicas.max of each pool: queue-driven scaling grows the pool up to it.',
    (p) => p.maxReplicas,
  )
  poolGauge(
    'pool_spares',
    'Warm spares of each pool: started and ready, idle until a worker dies.',
    (p) => p.spares,
  )
  function poolGauge(metric: string, help: string, value: (p: FleetSnapshot['pools'][number]) => number) {
    new Gauge({
      name: name(metric),
      help,
      labelNames: ['pool'] as const,
      registers,
      async collect() {
        const s = await snap()
        this.reset()
        for (const p of s.pools) this.set({ pool: p.name }, value(p))
      },
    })
  }

  new Gauge({
    name: name('queue_jobs'),
    help: 'Jobs of each queue by state: waiting (due now), delayed, in_flight, done (kept keep_done), failed (waiting for a retry), dead_lettered, quarantined.',
    labelNames: ['queue', 'state'] as const,
    registers,
    async collect() {
      const s = await snap()
      this.reset()
      for (const q of s.queues) {
        for (const [state, key] of Object.entries(QUEUE_STATES)) this.set({ queue: q.queue, state }, q[key])
      }
    },
  })
  new Gauge({
    name: name('queue_oldest_waiting_seconds'),
    help: 'Age of the oldest job of each queue that is due and not yet delivered, in seconds (0 when none).',
    labelNames: ['queue'] as const,
    registers,
    async collect() {
      const s = await snap()
      this.reset()
      for (const q of s.queues) this.set({ queue: q.queue }, q.oldestWaitingMs / 1000)
    },
  })
}

function zeroStates(): Record<WorkerState, number> {
  return Object.fromEntries(STATES.map((s) => [s, 0])) as Record<WorkerState, number>
}
