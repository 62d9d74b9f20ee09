/**
 * What a worker slot is, what it is told and what it asks for: its phases and the worker states
 * each shows, its state, its events, its effects and its timers. The machine that moves it is
 * slot.ts.
 * @module
 */
import type { ExitReport } from './exit-report.js'
import type { Incident } from './incident.js'
import type { AnomalyCause } from './restart-policy.js'
import { isServing, type WorkerState } from './worker-state.js'

export const SLOT_PHASES = {
  running: 'its process runs (or starts); no recovery is under way',
  recovering: 'an incident is under way',
  failed: 'escalated: no process until the next revive attempt',
  trial: 'a revive attempt: back once it has run stable_after',
  leaving: 'stopping for good: the supervisor stops, or the pool scaled in',
} as const

export type SlotPhase = keyof typeof SLOT_PHASES

/** The worker states a slot shows in each phase. */
export const PHASE_STATES: { readonly [P in SlotPhase]: readonly WorkerState[] } = {
  running: ['starting', 'ready', 'degraded', 'exited'],
  recovering: ['starting', 'ready', 'degraded', 'stopping', 'exited', 'restarting'],
  failed: ['failed'],
  trial: ['starting', 'ready', 'degraded'],
  leaving: ['stopping', 'exited'],
}

/** A failed worker's time out of service, from its escalation until a revive attempt passes. */
export interface Outage {
  /** When the fault that led to the escalation was detected. */
  since: number
  /** The incident that escalated. */
  incidentId: string
  /** Revive attempts so far. */
  attempts: number
  lastFailure: string
}

export interface SlotState<P> {
  phase: SlotPhase
  state: WorkerState
  /** The slot's process: the one serving, starting, or the last one (dead) when there is none. */
  proc: P | null
  /** Scale recovery: the replacement started while `proc` still serves. */
  surge: P | null
  /** The incident under way (phase recovering), as last committed. */
  incident: Incident | null
  /** The revive attempt on trial: its number, and when its process became ready. */
  trial: { attempt: number; readyAt: number | null } | null
  /** Out of service since an escalation, until a revived process has run stable_after. */
  outage: Outage | null
}

/** A new slot, before its first process. */
export function newSlot<P>(): SlotState<P> {
  return {
    phase: 'running',
    state: 'starting',
    proc: null,
    surge: null,
    incident: null,
    trial: null,
    outage: null,
  }
}

/** The slot's timers: the machine arms them (effect `arm`) and is told when they fire. */
export type SlotTimer =
  /** A first start must be ready within verify_timeout. */
  | 'start-verify'
  /** A failed worker is tried again. */
  | 'revive'
  /** A revive attempt must be ready within verify_timeout… */
  | 'trial-verify'
  /** …and then run stable_after. */
  | 'trial-stable'

export interface SlotAnomaly {
  cause: AnomalyCause
  detail: string
  silentMs?: number
}

export type SlotEvent<P> =
  /** A process was started for the slot: its first, a replacement (`surge`: beside the sick one), a revive attempt. */
  | { type: 'spawned'; proc: P; pid: number; surge?: boolean }
  | { type: 'ready'; proc: P; how: string }
  /** A health check found the process healthy (`ailing` null) or with a warning. */
  | { type: 'health'; proc: P; ailing: string | null }
  /** Something is wrong with the process: a check, the watchdog, a probe. */
  | { type: 'anomaly'; proc: P; anomaly: SlotAnomaly }
  /** The process answered for a job given away: it must not run on. */
  | { type: 'stale'; proc: P; detail: string }
  | { type: 'exit'; proc: P; exit: ExitReport }
  /** An outside monitor's verdict (degraded, or healthy again: `external` says whether its was the worst indicator). */
  | { type: 'signal'; status: 'degraded' | 'healthy'; detail: string; external: boolean }
  | { type: 'timer'; timer: SlotTimer; proc: P | null }
  /** An incident opened for the slot; `live`: a process of the slot is still running. */
  | { type: 'incident-opened'; incident: Incident; live: boolean }
  | { type: 'incident-step'; incident: Incident }
  /** The incident stops the slot's processes (one is running); then they have. */
  | { type: 'stopping'; reason: string }
  | { type: 'stopped'; reason: string }
  /** The incident waits for, or is about to start, a replacement. */
  | { type: 'restarting'; reason: string; live: boolean }
  /** Scale recovery: the replacement serves; the sick process is retired. */
  | { type: 'retired' }
  | { type: 'recovered'; incident: Incident }
  | { type: 'escalated'; incident: Incident; reason: string }
  /** The incident ended unfinished: at shutdown, or the flow failed (a bug; the slot is failed and revived). */
  | { type: 'interrupted'; incident: Incident; reason: string }
  | { type: 'scale-in'; reason: string }
  /** The supervisor stops: no recovery from now on; then every process has stopped. */
  | { type: 'shutdown'; reason: string; live: boolean }
  | { type: 'shut'; reason: string }

export type SlotEffect<P> =
  /** A move of the worker state, to announce (`worker:state`). */
  | { kind: 'state'; from: WorkerState; to: WorkerState; reason: string }
  | { kind: 'open-incident'; anomaly: SlotAnomaly; exit?: ExitReport }
  | { kind: 'arm'; timer: SlotTimer; ms: number; proc: P | null }
  /** Start a process for revive attempt `attempt`. */
  | { kind: 'spawn-trial'; attempt: number }
  /** Kill the process at once (a failed revive attempt, a stale worker). */
  | { kind: 'kill'; proc: P; reason: string }
  /** The revive attempt's process is ready: its restarts start from zero again. */
  | { kind: 'reset-backoff' }
  | { kind: 'revived'; attempts: number; afterMs: number; incidentId: string }
  | { kind: 'still-failing'; outage: Outage }

export interface SlotPolicy {
  verify_timeout: number
  revive_interval: number
  stable_after: number
}

export interface SlotContext {
  now: number
  policy: SlotPolicy
}

export interface SlotTransition<P> {
  slot: SlotState<P>
  effects: SlotEffect<P>[]
}

/** Whether the slot's process is watched for hangs now: it serves, and nothing else is under way. */
export function isWatched<P>(s: SlotState<P>): boolean {
  return (s.phase === 'running' || s.phase === 'trial') && isServing(s.state)
}

/** Whether the slot may be retired by a scale-in: it serves, and no recovery or revive attempt is under way. */
export function canScaleIn<P>(s: SlotState<P>): boolean {
  return s.phase === 'running' && isServing(s.state)
}
