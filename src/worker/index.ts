/**
 * The worker SDK. A Node worker imports it and is supervised closely: heartbeats from its event
 * loop (so a frozen loop is seen as a hang), a ready handshake (so a restart counts as recovered
 * only once the worker says it is), outcomes of its units of work (for the error rate), and a
 * graceful stop (SIGTERM or the supervisor's stop message aborts `stopSignal` and runs `onStop`
 * handlers, then the process exits once they have finished).
 *
 * Outside Shepherd (no IPC channel) every function is a harmless no-op, so the same code runs
 * under a plain `node` too.
 *
 * @example
 * ```js
 * import { ready, onStop, reportSuccess, reportFailure, stopSignal } from 'shepherd/worker'
 * ready()
 * while (!stopSignal.aborted) {
 *   try { await doOneUnit(); reportSuccess() } catch (e) { reportFailure(e) }
 * }
 * ```
 * @module
 */
import {
  PROTOCOL_VERSION,
  type RestoredState,
  type SupervisorMessage,
  WORKER_ENV,
  type WorkerMessage,
} from '../protocol/messages.js'

export type { RestoredState } from '../protocol/messages.js'

type StopHandler = (reason: string) => void | Promise<void>
type RestoreHandler = (state: RestoredState) => void

const stopController = new AbortController()
const stopHandlers: StopHandler[] = []
const restoreHandlers: RestoreHandler[] = []
let restored: RestoredState | null = null
let stopping = false

/** True when this process runs under a Shepherd supervisor. */
export const supervised = typeof process.send === 'function' && !!process.env[WORKER_ENV.workerId]

/** This worker's id (`email#2`), or null outside Shepherd. A warm spare gets its slot's id when promoted. */
export let workerId: string | null = process.env[WORKER_ENV.workerId] ?? null

/** The pool this worker belongs to, or null outside Shepherd. */
export const pool: string | null = process.env[WORKER_ENV.pool] ?? null

/** Aborted when Shepherd asks this worker to stop (SIGTERM, or its stop message). */
export const stopSignal: AbortSignal = stopController.signal

/** Tells Shepherd this worker is ready for work. Until then a restart is not counted as recovered. */
export function ready(): void {
  send({ t: 'ready' })
}

/** Records one unit of work done. */
export function reportSuccess(): void {
  send({ t: 'outcome', ok: true })
}

/** Records one unit of work failed; the error rate over a window decides whether the worker is recovered. */
export function reportFailure(error?: unknown): void {
  const text = error instanceof Error ? error.message : error === undefined ? undefined : String(error)
  send(
    text === undefined
      ? { t: 'outcome', ok: false }
      : { t: 'outcome', ok: false, error: text.slice(0, 1000) },
  )
}

/**
 * Runs `handler` when Shepherd stops this worker gracefully. The process exits once every handler
 * has settled, so finish the current unit of work here; Shepherd sends SIGKILL after the pool's
 * stop_timeout whatever happens.
 */
export function onStop(handler: StopHandler): void {
  stopHandlers.push(handler)
}

/** Runs `handler` with the state saved from the worker this one replaced (at most once). */
export function onRestore(handler: RestoreHandler): void {
  restoreHandlers.push(handler)
  if (restored) handler(restored)
}

/** The state handed over from the worker this one replaced, once it has arrived. */
export function restoredState(): RestoredState | null {
  return restored
}

function send(message: WorkerMessage): void {
  if (!supervised || !process.connected) return
  try {
    process.send!(message, undefined, undefined, ignoreSendError)
  } catch {
    // The channel closed between the check and the send: the supervisor is gone.
  }
}

function ignoreSendError(): void {}

async function stop(reason: string): Promise<void> {
  if (stopping) return
  stopping = true
  stopController.abort(new Error(`stopped by Shepherd: ${reason}`))
  await Promise.allSettled(stopHandlers.map(async (h) => h(reason)))
  process.exit(0)
}

function connect(): void {
  const heartbeatMs = Math.max(20, Number(process.env[WORKER_ENV.heartbeatMs]) || 1000)
  send({ t: 'hello', v: PROTOCOL_VERSION, sdk: 'node', pid: process.pid })
  // Sent from the event loop, so a loop blocked by a busy handler stops them: that is the hang signal.
  setInterval(() => send({ t: 'hb' }), heartbeatMs).unref()
  process.on('message', (raw: unknown) => {
    const m = raw as SupervisorMessage
    if (m?.t === 'stop') void stop(m.reason)
    else if (m?.t === 'restore' && !restored) {
      restored = m.state
      for (const h of restoreHandlers) h(m.state)
    } else if (m?.t === 'assign') workerId = m.workerId
  })
  process.on('SIGTERM', () => void stop('SIGTERM'))
  // The supervisor died (even by SIGKILL): don't linger as an orphan nobody watches.
  process.on('disconnect', () => void stop('supervisor disconnected'))
  // The channel must not keep an otherwise finished worker alive.
  process.channel?.unref()
}

if (supervised) connect()
