/**
 * Events: immutable records of what happened, the one source for the log, notifications, the
 * store and (later) metrics and the dashboard. Names are namespaced `noun:verb`.
 * @module
 */
import type { Incident } from './incident.js'
import type { Leadership, LeadershipLoss } from './leadership.js'
import type { StoreProblem } from './store-health.js'
import type { SupervisorLease } from './supervisor-lease.js'

export const EVENT_SEVERITIES = ['info', 'warning', 'critical'] as const
export type EventSeverity = (typeof EVENT_SEVERITIES)[number]

export function severityRank(s: EventSeverity): number {
  return EVENT_SEVERITIES.indexOf(s)
}

export interface EventDataMap {
  'supervisor:started': { pools: string[]; workers: number; apiUrl: string }
  'supervisor:stopping': { reason: string }
  'supervisor:stopped': { reason: string }
  /** This supervisor took the store over from one that died (or whose lease expired). */
  'supervisor:takeover': { previous: SupervisorLease; reason: 'dead' | 'expired' }
  'worker:state': { from: string; to: string; reason: string; pid: number | null }
  'worker:spawned': { pid: number; spare: boolean }
  'worker:exit': {
    pid: number
    exitCode: number | null
    signal: string | null
    killedByUs: boolean
    forced: boolean
    durationMs: number
  }
  'health:changed': { from: string; to: string; score: number; worst: string | null; detail: string }
  'incident:opened': { incident: Incident }
  'incident:step': { incident: Incident; step: string; detail: string }
  'incident:recovered': { incident: Incident }
  'incident:escalated': { incident: Incident; reason: string }
  'incident:interrupted': { incident: Incident }
  'worker:revived': {
    /** Time out of service: from the fault that led to the escalation to the revived worker's readiness. */
    afterMs: number
    /** The incident that escalated. */
    incidentId: string | null
    /** Revive attempts it took, this one included. */
    attempts: number
  }
  'worker:still-failing': {
    /** Revive attempts so far, all failed. */
    attempts: number
    /** When the fault that led to the escalation was detected. */
    since: number
    incidentId: string
    /** Why the latest attempt failed. */
    lastFailure: string
  }
  'notifier:failed': { notifier: string; error: string; eventType: string; attempts: number }
  'pool:scaled': { from: number; to: number; reason: string }
  'worker:signal': { status: 'healthy' | 'degraded' | 'unhealthy'; reason: string; source: string }
  'job:dead-lettered': { jobId: string; queue: string; attempts: number; error: string | null }
  'job:quarantined': { jobId: string; queue: string; crashes: number; error: string | null }
  'job:requeued': { queue: string; count: number; reason: 'crash' | 'release'; jobIds: string[] }
  'job:stale': { jobId: string; queue: string; token: string; kind: string }
  'job:timeout': { jobId: string; queue: string; token: string; timeoutMs: number }
  /** Writes to the store fail (full, read-only) or are refused (deleted, taken): once per outage. */
  'store:failed': { problem: StoreProblem; message: string; storePath: string }
  /**
   * Writes work again after a full, read-only or unreachable store; `dropped`: the events and
   * incidents recorded during the outage that were dropped past the bound kept in memory.
   */
  'store:recovered': {
    problem: StoreProblem
    downMs: number
    refused: number
    dropped: { events: number; incidents: number }
    storePath: string
  }
  /** This agent took the fleet's leadership (src/core/leadership.ts): it runs the fleet-wide chores. */
  'leader:elected': { leader: Leadership; previous: Leadership | null }
  /** This agent no longer leads: its renewals failed, another agent holds it, or it resigned. */
  'leader:lost': { leader: Leadership; reason: LeadershipLoss; now: Leadership | null }
  /**
   * This agent's lease may have lapsed (no renewal answered for a lease's length): it claims
   * nothing, its workers run on, and the `held` jobs they hold may be given to other agents.
   */
  'node:lapsed': { node: string; epoch: number; held: number }
  /**
   * This agent holds its lease again, with a new epoch (a rejoin): `kept` jobs its workers still
   * held and nobody took are its own again; `released` others of its node went back to the queue.
   */
  'node:rejoined': { node: string; epoch: number; previousEpoch: number; kept: number; released: number }
  /** The leader put back in the queue the active jobs of agents whose lease lapsed (`nodes`: how many each). */
  'job:reclaimed': { count: number; nodes: Record<string, number> }
  /**
   * The leader closed as interrupted the open incidents of an agent whose lease lapsed (`node`):
   * nobody carried their recovery on. `incidents`: their ids, oldest first.
   */
  'node:incidents-closed': { node: string; incidents: string[] }
  /**
   * A dead node was taken off the fleet (`shepherd nodes --forget`, `DELETE /api/nodes/{name}`),
   * through this agent's API: its lease (at `epoch`) and `workerStates` saved worker states went.
   */
  'node:forgotten': { node: string; epoch: number; workerStates: number }
}

export type EventType = keyof EventDataMap

/**
 * Every event type once, at runtime: the config checks hook filters against it. Typed as a record
 * so that an event added to {@link EventDataMap} and not here fails to compile.
 */
const EVENT_TYPE_TABLE: Record<EventType, true> = {
  'supervisor:started': true,
  'supervisor:stopping': true,
  'supervisor:stopped': true,
  'supervisor:takeover': true,
  'worker:state': true,
  'worker:spawned': true,
  'worker:exit': true,
  'health:changed': true,
  'incident:opened': true,
  'incident:step': true,
  'incident:recovered': true,
  'incident:escalated': true,
  'incident:interrupted': true,
  'worker:revived': true,
  'worker:still-failing': true,
  'notifier:failed': true,
  'pool:scaled': true,
  'worker:signal': true,
  'job:dead-lettered': true,
  'job:quarantined': true,
  'job:requeued': true,
  'job:stale': true,
  'job:timeout': true,
  'store:failed': true,
  'store:recovered': true,
  'leader:elected': true,
  'leader:lost': true,
  'node:lapsed': true,
  'node:rejoined': true,
  'job:reclaimed': true,
  'node:incidents-closed': true,
  'node:forgotten': true,
}

/** Every event type, in the order of {@link EventDataMap}. */
export const EVENT_TYPES = Object.keys(EVENT_TYPE_TABLE) as readonly EventType[]

/**
 * Whether an event type passes a filter: `*` (every type), an exact type (`incident:escalated`),
 * or a prefix ending in `:` (`incident:`, `job:`). An empty filter passes nothing.
 * @example
 * ```ts
 * eventMatches('incident:opened', ['incident:']) // true
 * eventMatches('worker:exit', ['job:', 'incident:escalated']) // false
 * ```
 */
export function eventMatches(type: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => p === '*' || (p.endsWith(':') ? type.startsWith(p) : type === p))
}

/** Whether a filter pattern can match anything: `*`, a known type, or a prefix of one. */
export function isEventPattern(pattern: string): boolean {
  return pattern === '*' || EVENT_TYPES.some((t) => eventMatches(t, [pattern]))
}

export interface ShepherdEvent<T extends EventType = EventType> {
  /** Store sequence number, set when persisted. */
  seq?: number
  type: T
  at: number
  severity: EventSeverity
  /** A sentence for people: what happened. */
  message: string
  pool: string | null
  workerId: string | null
  incidentId: string | null
  /**
   * The agent that recorded it: its node name (`node.name`, `SHEPHERD_NODE` or the host name). The
   * daemon's `record()` sets it on every event; events read from the store carry it (null for those
   * stored before nodes were recorded). Absent on an event not yet recorded.
   */
  node?: string | null
  data: EventDataMap[T]
}

export type AnyEvent = { [T in EventType]: ShepherdEvent<T> }[EventType]
