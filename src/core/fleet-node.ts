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

/**
 * What forgetting a node did (`shepherd nodes --forget`, Store.forgetNode): `forgotten`, with the
 * node as it was and how many saved worker states of it went with it; `alive`, nothing changed
 * (its lease is live: {@link nodeState}); `unknown`, no node of that name holds a lease.
 */
export type ForgetOutcome =
  | { kind: 'forgotten'; node: FleetNode; workerStates: number }
  | { kind: 'alive'; node: FleetNode }
  | { kind: 'unknown' }

/** How long ago the node's last heartbeat was (ms, never negative: hosts' clocks may differ a little). */
export function heartbeatAge(node: Pick<FleetNode, 'heartbeatAt'>, now: number): number {
  return Math.max(0, now - node.heartbeatAt)
}

/** One node as the API, the CLI and the dashboard show it (`GET /api/nodes`). */
export interface NodeView {
  name: string
  host: string
  pid: number
  version: string | null
  apiUrl: string | null
  state: NodeState
  /** Whether it leads the fleet now (runs the fleet-wide chores). */
  leader: boolean
  acquiredAt: number
  heartbeatAt: number
  /** How long ago its last heartbeat was, by the answering agent's clock (ms). */
  heartbeatAgeMs: number
  expiresAt: number
  epoch: number
  /** Worker slots serving (ready or degraded); null before its first heartbeat. */
  running: number | null
  /** Worker slots its pools want now; null before its first heartbeat. */
  desired: number | null
  /** Its worker slots (spares included) as of its last heartbeat; empty before the first. */
  workers: NodeWorker[]
}

/**
 * A node for people, at `now`. `leaderNode` is the node whose leadership is live, if any.
 * `live` replaces the recorded workload (the answering agent's own node, read from memory rather
 * than as of its last heartbeat).
 */
export function viewNode(
  node: FleetNode,
  now: number,
  leaderNode: string | null,
  live?: NodeWorkload,
): NodeView {
  const workload = live ?? node.workload
  const state = nodeState(node, now)
  return {
    name: node.name,
    host: node.host,
    pid: node.pid,
    version: node.version,
    apiUrl: node.apiUrl,
    state,
    leader: state === 'alive' && leaderNode === node.name,
    acquiredAt: node.acquiredAt,
    heartbeatAt: node.heartbeatAt,
    heartbeatAgeMs: heartbeatAge(node, now),
    expiresAt: node.expiresAt,
    epoch: node.epoch,
    running: workload?.running ?? null,
    desired: workload?.desired ?? null,
    workers: workload?.workers ?? [],
  }
}
