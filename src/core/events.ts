/**
 * Events: immutable records of what happened, the one source for the log, notifications, the
 * store and (later) metrics and the dashboard. Names are namespaced `noun:verb`.
 * @module
 */
import type { Incident } from './incident.js'

export const EVENT_SEVERITIES = ['info', 'warning', 'critical'] as const
export type EventSeverity = (typeof EVENT_SEVERITIES)[number]

export function severityRank(s: EventSeverity): number {
  return EVENT_SEVERITIES.indexOf(s)
}

export interface EventDataMap {
  'supervisor:started': { pools: string[]; workers: number; apiUrl: string }
  'supervisor:stopping': { reason: string }
  'supervisor:stopped': { reason: string }
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
  'worker:revived': { afterMs: number; incidentId: string | null }
  'notifier:failed': { notifier: string; error: string; eventType: string; attempts: number }
  'pool:scaled': { from: number; to: number; reason: string }
  'worker:signal': { status: 'healthy' | 'degraded' | 'unhealthy'; reason: string; source: string }
  'job:dead-lettered': { jobId: string; queue: string; attempts: number; error: string | null }
  'job:quarantined': { jobId: string; queue: string; crashes: number; error: string | null }
  'job:requeued': { queue: string; count: number; reason: 'crash' | 'release'; jobIds: string[] }
  'job:stale': { jobId: string; queue: string; token: string; kind: string }
  'job:timeout': { jobId: string; queue: string; token: string; timeoutMs: number }
}

export type EventType = keyof EventDataMap

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
  data: EventDataMap[T]
}

export type AnyEvent = { [T in EventType]: ShepherdEvent<T> }[EventType]
