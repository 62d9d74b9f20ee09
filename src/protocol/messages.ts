/**
 * Messages between the supervisor and a worker. Node workers exchange them over the IPC channel
 * that `child_process.spawn` opens with `serialization: 'json'`: one JSON object a line on the file
 * descriptor named by NODE_CHANNEL_FD, so a worker in any language can speak it.
 *
 * Worker → supervisor: hello, ready, hb (heartbeat), outcome (one unit of work done or failed).
 * Supervisor → worker: stop (graceful stop requested), restore (state saved from the worker this
 * one replaces), assign (a warm spare takes a slot's id).
 * @module
 */

export const PROTOCOL_VERSION = 1

export type WorkerMessage =
  | { t: 'hello'; v: number; sdk: string; pid: number }
  | { t: 'ready' }
  | { t: 'hb' }
  | { t: 'outcome'; ok: boolean; error?: string }

export interface RestoredState {
  /** The incident that replaced the previous worker. */
  incidentId: string | null
  /** How the previous worker ended. */
  previousExit: { exitCode: number | null; signal: string | null } | null
  /** Its last checkpoint, or null. */
  checkpoint: unknown
}

export type SupervisorMessage =
  | { t: 'stop'; reason: string; deadlineMs: number }
  | { t: 'restore'; state: RestoredState }
  | { t: 'assign'; workerId: string }

/** Validates a message from a worker; returns null for anything that is not one of ours. */
export function parseWorkerMessage(m: unknown): WorkerMessage | null {
  if (m === null || typeof m !== 'object') return null
  const msg = m as Record<string, unknown>
  switch (msg.t) {
    case 'hb':
      return HEARTBEAT
    case 'ready':
      return READY
    case 'hello':
      return {
        t: 'hello',
        v: typeof msg.v === 'number' ? msg.v : 0,
        sdk: typeof msg.sdk === 'string' ? msg.sdk : 'unknown',
        pid: typeof msg.pid === 'number' ? msg.pid : 0,
      }
    case 'outcome':
      if (typeof msg.ok !== 'boolean') return null
      return typeof msg.error === 'string'
        ? { t: 'outcome', ok: msg.ok, error: msg.error }
        : { t: 'outcome', ok: msg.ok }
    default:
      return null
  }
}

const HEARTBEAT: WorkerMessage = { t: 'hb' }
const READY: WorkerMessage = { t: 'ready' }

/** Environment variables the supervisor gives every worker. */
export const WORKER_ENV = {
  workerId: 'SHEPHERD_WORKER_ID',
  pool: 'SHEPHERD_POOL',
  index: 'SHEPHERD_INDEX',
  heartbeatMs: 'SHEPHERD_HEARTBEAT_MS',
} as const
