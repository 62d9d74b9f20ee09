/**
 * Messages between the supervisor and a worker. Node workers exchange them over the IPC channel
 * that `child_process.spawn` opens with `serialization: 'json'`: one JSON object a line on the file
 * descriptor named by NODE_CHANNEL_FD, so a worker in any language can speak it.
 *
 * Worker → supervisor: hello, ready, hb (heartbeat), outcome (one unit of work done or failed),
 * work (ready for jobs, with its concurrency), settle (acks, failures, checkpoints and progress of
 * jobs, batched), checkpoint (the worker's own state, for its replacement).
 * Supervisor → worker: stop (graceful stop requested), restore (state saved from the worker this
 * one replaces), assign (a warm spare takes a slot's id), jobs (deliveries, batched).
 * @module
 */

export const PROTOCOL_VERSION = 1

export type WorkerMessage =
  | { t: 'hello'; v: number; sdk: string; pid: number }
  | { t: 'ready' }
  | { t: 'hb' }
  | { t: 'outcome'; ok: boolean; error?: string }
  | { t: 'work'; concurrency: number }
  | { t: 'settle'; items: SettleItem[] }
  | { t: 'checkpoint'; state: unknown }

/** What a worker says about one delivery; `token` names the delivery. */
export type SettleItem =
  /** `ms`: how long the handler ran (optional; it steers prefetch). */
  | { k: 'ack'; token: string; result?: unknown; ms?: number }
  | { k: 'fail'; token: string; error: string; stack?: string; ms?: number }
  | { k: 'checkpoint'; token: string; state: unknown }
  | { k: 'progress'; token: string; value: unknown }
  /** A delivery the worker received ahead (prefetch) and will not run: back to the queue, nothing counted. */
  | { k: 'release'; token: string }

/** One delivery of a job to a worker. */
export interface JobMessage {
  /** The attempt token: `<job id>:<delivery>`. Every settle item about this delivery carries it. */
  token: string
  id: string
  queue: string
  payload: unknown
  /** 1 for the first delivery. */
  delivery: number
  /** Failed attempts before this delivery. */
  attempts: number
  maxAttempts: number
  /** The last checkpoint a handler saved for this job, or null. */
  checkpoint: unknown
  /** ms this delivery may run, or null. */
  timeoutMs: number | null
}

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
  | { t: 'jobs'; jobs: JobMessage[] }

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
    case 'work':
      return typeof msg.concurrency === 'number' && Number.isInteger(msg.concurrency) && msg.concurrency > 0
        ? { t: 'work', concurrency: msg.concurrency }
        : null
    case 'settle':
      return Array.isArray(msg.items) ? { t: 'settle', items: msg.items.filter(isSettleItem) } : null
    case 'checkpoint':
      return { t: 'checkpoint', state: msg.state ?? null }
    default:
      return null
  }
}

function isSettleItem(x: unknown): x is SettleItem {
  if (x === null || typeof x !== 'object') return false
  const i = x as Record<string, unknown>
  if (typeof i.token !== 'string') return false
  switch (i.k) {
    case 'ack':
    case 'checkpoint':
    case 'progress':
    case 'release':
      return true
    case 'fail':
      return typeof i.error === 'string'
    default:
      return false
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
  concurrency: 'SHEPHERD_CONCURRENCY',
  queue: 'SHEPHERD_QUEUE',
} as const
