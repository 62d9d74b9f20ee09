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
import { MAX_TIMER_MS } from '../ports/clock.js'
import {
  type JobMessage,
  PROTOCOL_VERSION,
  type RestoredState,
  type SettleItem,
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

/**
 * Saves this worker's own state (not a job's). When the worker is replaced, its replacement
 * receives the last one through `onRestore` / `restoredState().checkpoint`.
 */
export function checkpoint(state: unknown): void {
  send({ t: 'checkpoint', state })
}

/** A job as a handler sees it. */
export interface Job<T = unknown> {
  id: string
  queue: string
  payload: T
  /** 1 for the first delivery. */
  delivery: number
  /** Failed attempts before this delivery. */
  attempts: number
  maxAttempts: number
}

export interface JobContext {
  job: Job
  /**
   * This delivery. The token is refused once the job has been given to another worker, so use it
   * to make side effects idempotent (e.g. as a request id).
   */
  attempt: { token: string; number: number }
  /** The last state a handler saved with `checkpoint()` for this job, or null: resume from it. */
  restoredState: unknown
  /** Saves progress state; a later delivery of this job (after a crash, say) gets it as restoredState. */
  checkpoint(state: unknown): void
  /** Reports progress (any JSON value), shown by `shepherd jobs`. */
  progress(value: unknown): void
  /** Aborted when Shepherd stops this worker gracefully: finish or give up the job soon. */
  signal: AbortSignal
  /** Lines prefixed with the job id, in the pool's log. */
  logger: { info(message: string): void; warn(message: string): void; error(message: string): void }
}

export type JobHandler<T = unknown> = (job: Job<T>, ctx: JobContext) => unknown

let working = false
const inFlight = new Set<Promise<void>>()
let pending: SettleItem[] = []
let flushScheduled = false

/**
 * Takes jobs from the pool's queue (`queue:` in the config) and runs `handler` for each, up to
 * `concurrency` at once (default: the pool's `concurrency`). What the handler returns acks the
 * job (the value is stored as its result); what it throws fails it: it is retried with backoff,
 * then dead-lettered with its error and stack. A graceful stop waits for the jobs in flight.
 *
 * @example
 * ```js
 * import { work } from 'shepherd/worker'
 * work(async (job, ctx) => {
 *   const done = ctx.restoredState?.sent ?? 0
 *   for (let i = done; i < job.payload.to.length; i++) {
 *     await send(job.payload.to[i], { idempotencyKey: `${ctx.attempt.token}:${i}` })
 *     ctx.checkpoint({ sent: i + 1 })
 *   }
 * })
 * ```
 */
export function work<T = unknown>(handler: JobHandler<T>, options: { concurrency?: number } = {}): void {
  if (working) throw new Error('work() was called twice: one handler per worker')
  working = true
  const concurrency = options.concurrency ?? (Number(process.env[WORKER_ENV.concurrency]) || 1)
  limit = concurrency
  runner = handler as JobHandler
  process.on('message', (raw: unknown) => {
    const m = raw as SupervisorMessage
    if (m?.t !== 'jobs') return
    // The supervisor may send short jobs ahead of time (prefetch): at most `concurrency` run at once.
    for (const j of m.jobs) waiting.push(j)
    startWaiting()
  })
  // Waiting for jobs is this worker's reason to live: keep the channel (and the process) open.
  process.channel?.ref()
  send({ t: 'work', concurrency })
  ready()
}

let limit = 1
let runner: JobHandler | null = null
const waiting: JobMessage[] = []

function startWaiting(): void {
  while (!stopping && runner && inFlight.size < limit && waiting.length > 0) {
    const p: Promise<void> = run(runner, waiting.shift()!).then(() => {
      inFlight.delete(p)
      startWaiting()
    })
    inFlight.add(p)
  }
}

/** One context per delivery; methods live on the prototype, so a job costs no closures. */
class DeliveryContext implements JobContext {
  readonly attempt: { token: string; number: number }
  readonly restoredState: unknown
  readonly signal = stopSignal
  #logger: JobContext['logger'] | null = null

  constructor(
    readonly job: Job,
    private readonly token: string,
    checkpoint: unknown,
  ) {
    this.attempt = { token, number: job.delivery }
    this.restoredState = checkpoint ?? null
  }

  checkpoint(state: unknown): void {
    settle({ k: 'checkpoint', token: this.token, state })
  }

  progress(value: unknown): void {
    settle({ k: 'progress', token: this.token, value })
  }

  get logger(): JobContext['logger'] {
    if (!this.#logger) {
      const prefix = `[job ${this.job.id}]`
      this.#logger = {
        info: (msg) => console.log(`${prefix} ${msg}`),
        warn: (msg) => console.warn(`${prefix} ${msg}`),
        error: (msg) => console.error(`${prefix} ${msg}`),
      }
    }
    return this.#logger
  }
}

async function run(handler: JobHandler, m: JobMessage): Promise<void> {
  const job: Job = {
    id: m.id,
    queue: m.queue,
    payload: m.payload,
    delivery: m.delivery,
    attempts: m.attempts,
    maxAttempts: m.maxAttempts,
  }
  const started = performance.now()
  try {
    const result = await handler(job, new DeliveryContext(job, m.token, m.checkpoint))
    const ms = Math.round(performance.now() - started)
    settle(result === undefined ? { k: 'ack', token: m.token, ms } : { k: 'ack', token: m.token, result, ms })
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e))
    const ms = Math.round(performance.now() - started)
    settle({ k: 'fail', token: m.token, error: err.message || err.name, stack: err.stack, ms })
  }
}

/** Settlements go out in one message per turn of the event loop: fewer, larger IPC writes. */
function settle(item: SettleItem): void {
  pending.push(item)
  if (flushScheduled) return
  flushScheduled = true
  setImmediate(() => void flush())
}

function flush(): Promise<void> {
  flushScheduled = false
  if (pending.length === 0) return Promise.resolve()
  const items = pending
  pending = []
  return new Promise((resolve) => {
    if (!supervised || !process.connected) return resolve()
    try {
      process.send!({ t: 'settle', items } satisfies WorkerMessage, undefined, undefined, () => resolve())
    } catch {
      resolve()
    }
  })
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

async function stop(reason: string, reportable = true): Promise<void> {
  if (stopping) return
  stopping = true
  stopController.abort(new Error(`stopped by Shepherd: ${reason}`))
  // Jobs received ahead and not started go back to the queue for another worker, counting nothing.
  for (const j of waiting.splice(0)) settle({ k: 'release', token: j.token })
  // Jobs in flight finish first (Shepherd SIGKILLs after stop_timeout whatever happens), and their
  // acks are on the wire before the process exits. Without a supervisor nobody would hear them.
  await Promise.allSettled([...stopHandlers.map(async (h) => h(reason)), ...(reportable ? inFlight : [])])
  if (reportable) await flush()
  process.exit(0)
}

function connect(): void {
  // The supervisor sets at most 5 s; a value from elsewhere stays within what setInterval takes.
  const heartbeatMs = Math.min(
    MAX_TIMER_MS,
    Math.max(20, Number(process.env[WORKER_ENV.heartbeatMs]) || 1000),
  )
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
  process.on('disconnect', () => void stop('supervisor disconnected', false))
  // The channel must not keep an otherwise finished worker alive.
  process.channel?.unref()
}

if (supervised) connect()
