/**
 * What an agent records about its workers with each heartbeat (`NodeWorkload`, src/core/fleet-node.ts):
 * counts for `shepherd nodes`, and one small entry per slot for `shepherd status` on other hosts.
 * Made from the supervisor's own views, so that the table of `status` reads the same whichever
 * agent answers.
 * @module
 */
import type { NodeWorkload } from '../core/fleet-node.js'
import type { PoolView, WorkerView } from './view.js'

/** The workload of a supervisor: its pools' counts and its slots (spares included) in brief. */
export function nodeWorkload(workers: readonly WorkerView[], pools: readonly PoolView[]): NodeWorkload {
  return {
    running: pools.reduce((n, p) => n + p.serving, 0),
    desired: pools.reduce((n, p) => n + p.workers, 0),
    workers: workers.map((w) => ({
      id: w.id,
      pool: w.pool,
      pid: w.pid,
      state: w.state,
      role: w.role,
      healthScore: w.healthScore,
      restarts: w.restarts,
      startedAt: w.startedAt,
      worst: w.worst,
      worstDetail: w.worstDetail,
    })),
  }
}
