/**
 * The fleet as the store records it: one entry per agent (node) that holds a lease, with what it
 * said about its workers at its last heartbeat, and whether it is alive. Pure: the store reads the
 * rows, the caller gives the time.
 *
 * ```
 * lease not expired ─> alive
 * lease expired     ─> dead (killed, cut off, or stopped renewing; its jobs are reclaimed)
 * ```
 *
 * A clean stop deletes the node's lease row (docs/store.md): a node stopped cleanly is no longer
 * listed, so there is no `stopped` state. A dead node stays listed until an agent takes its name
 * again.
 * @module
 */
import type { IndicatorName } from './health.js'
import type { WorkerState } from './worker-state.js'

/** One worker slot as its agent records it with each heartbeat: what `shepherd status` shows. */
export interface NodeWorker {
  /** Slot id, e.g. `email#2`; spares are `email#s1`. */
  id: string
  pool: string
  pid: number | null
  state: WorkerState
  role: 'worker' | 'spare'
  healthScore: number
  restarts: number
  /** When its process started (epoch ms), null without one. */
  startedAt: number | null
  worst: IndicatorName | null
  worstDetail: string | null
}

/** What an agent records about its workers with each heartbeat. */
export interface NodeWorkload {
  /** Worker slots ready or degraded with a live process (spares not counted). */
  running: number
  /** Worker slots its pools want now (replicas, grown or shrunk by scaling; spares not counted). */
  desired: number
  workers: NodeWorker[]
}

/** One agent of the fleet, as its lease row records it. */
export interface FleetNode {
  /** The node's name (`node.name`, SHEPHERD_NODE, else its host name). */
  name: string
  host: string
  pid: number
  /** Shepherd's version on that agent; null for an agent older than this field. */
  version: string | null
  apiUrl: string | null
  /** When this agent took its lease (epoch ms). */
  acquiredAt: number
  heartbeatAt: number
  expiresAt: number
  epoch: number
  /** Its workers as of its last heartbeat; null before its first one. */
  workload: NodeWorkload | null
}

export const NODE_STATES = {
  alive: 'its lease is live: it renews it',
  dead: 'its lease expired: killed, cut off from the store, or hung',
} as const

export type NodeState = keyof typeof NODE_STATES

/** Alive while its lease is live; dead once it expired (the leader then reclaims its jobs). */
export function nodeState(node: Pick<FleetNode, 'expiresAt'>, now: number): NodeState {
  return now < node.expiresAt ? 'alive' : 'dead'
}

/** How long ago the node's last heartbeat was (ms, never negative: hosts' clocks may differ a little). */
export function heartbeatAge(node: Pick<FleetNode, 'heartbeatAt'>, now: number): number {
  return Math.max(0, now - node.heartbeatAt)
}
