/**
 * One running process of a pool, with what the supervisor knows about it: SDK handshake, ready
 * state, heartbeats, outcomes of its work, probe results, its log tail and its process tree.
 * A slot's process changes on every restart; this object lives exactly as long as its process.
 * @module
 */
import type { ExitReport } from '../core/exit-report.js'
import type { ProbeState } from '../core/health.js'
import { LineTail } from '../core/line-tail.js'
import type { ManagedProcess, StopOptions } from '../ports/process.js'
import { parseWorkerMessage, type SupervisorMessage, type WorkerMessage } from '../protocol/messages.js'
import type { HeldSummary } from '../queue/dispatcher.js'

export type ReadyHow = 'sdk' | 'probe' | 'uptime'

export interface OutcomeWindow {
  total: number
  failed: number
}

export class WorkerProcess {
  /** Unique per process (log routing, CPU meter); never reused. */
  readonly key: string
  /** The id shown in logs and status: its slot's id, or a spare's id until promoted. */
  currentId: string
  readonly portOffset: number | null
  /** The slot index it was started for (SHEPHERD_INDEX, the {index} probe placeholder). */
  readonly index: number
  /** When it was spawned, by the supervisor's clock (every age and uptime is on that one clock). */
  readonly startedAt: number
  /** When the supervisor saw it exit, by its clock; null while it runs. */
  exitedAt: number | null = null
  readonly tail: LineTail
  sdk = false
  readyAt: number | null = null
  readyHow: ReadyHow | null = null
  lastHeartbeatAt: number | null = null
  /** Since when the process has been seen stopped (T) or in uninterruptible sleep (D). */
  stuckSince: number | null = null
  /** The last look at /proc that saw the process running (neither T nor D). */
  lastRunningAt: number | null = null
  lastProcState: string | null = null
  /** Start time in clock ticks (/proc): with the pid, names this process in the store's registry. */
  startTicks: number | null = null
  /** Descendants seen at the last check, killed along with the group on stop. */
  descendants: number[] = []
  probes: ProbeState[] = []
  /** The worker's own last checkpoint (SDK `checkpoint()`), handed to its replacement. */
  checkpoint: unknown = null
  /** The jobs it held, given back to the queue when it exited (the first step of its exit). */
  jobsReturned: HeldSummary | null = null
  /** Outcomes counted per second, oldest first: constant work per outcome at any job rate. */
  private outcomes: Array<{ second: number; total: number; failed: number }> = []
  private readyWaiters: Array<(how: ReadyHow) => void> = []
  private readonly listeners: Array<(message: WorkerMessage) => void> = []
  private pendingRestore: SupervisorMessage | null = null
  private stopRequested = false

  constructor(
    readonly mp: ManagedProcess,
    o: {
      key: string
      id: string
      index: number
      startedAt: number
      portOffset: number | null
      tailLines: number
      probeNames: Array<{ name: string; threshold: number }>
    },
  ) {
    this.key = o.key
    this.index = o.index
    this.startedAt = o.startedAt
    this.currentId = o.id
    this.portOffset = o.portOffset
    this.tail = new LineTail(o.tailLines)
    this.probes = o.probeNames.map((p) => ({
      name: p.name,
      failures: 0,
      threshold: p.threshold,
      lastDetail: 'not run yet',
    }))
  }

  get pid(): number {
    return this.mp.pid
  }
  get exit(): ExitReport | null {
    return this.mp.exit
  }
  get alive(): boolean {
    return this.mp.exit === null
  }
  get stopping(): boolean {
    return this.stopRequested
  }

  /** Subscribes to the process's messages (the dispatcher: requests for work and settlements). */
  onMessage(listener: (message: WorkerMessage) => void): void {
    this.listeners.push(listener)
  }

  /**
   * Handles one IPC message: handshake, heartbeats, outcomes and checkpoints here, then it goes to
   * the listeners ({@link onMessage}). Any message is a sign of life.
   */
  receive(raw: unknown, now: number): void {
    const m = parseWorkerMessage(raw)
    if (!m) return
    this.lastHeartbeatAt = now
    switch (m.t) {
      case 'hello':
        this.sdk = true
        if (this.pendingRestore) {
          this.mp.send(this.pendingRestore)
          this.pendingRestore = null
        }
        break
      case 'ready':
        this.sdk = true
        this.markReady(now, 'sdk')
        break
      case 'outcome':
        this.recordOutcome(now, m.ok)
        break
      case 'checkpoint':
        this.checkpoint = m.state
        break
    }
    for (const l of this.listeners) l(m)
  }

  /** One unit of work done or failed, for the error rate. */
  recordOutcome(now: number, ok: boolean): void {
    const second = Math.floor(now / 1000)
    let last = this.outcomes[this.outcomes.length - 1]
    if (!last || last.second !== second) {
      last = { second, total: 0, failed: 0 }
      this.outcomes.push(last)
      // A worker nobody asks about (no check runs) keeps at most an hour of seconds.
      if (this.outcomes.length > 3600) this.outcomes.shift()
    }
    last.total++
    if (!ok) last.failed++
  }

  markReady(now: number, how: ReadyHow): void {
    if (this.readyAt !== null) return
    this.readyAt = now
    this.readyHow = how
    const waiters = this.readyWaiters
    this.readyWaiters = []
    for (const w of waiters) w(how)
  }

  /** Calls `fn` once the process is ready (at once if it already is). */
  onReady(fn: (how: ReadyHow) => void): () => void {
    if (this.readyAt !== null) {
      fn(this.readyHow!)
      return () => {}
    }
    this.readyWaiters.push(fn)
    return () => {
      this.readyWaiters = this.readyWaiters.filter((w) => w !== fn)
    }
  }

  /** Sends a protocol message; false when the channel is closed. */
  send(message: SupervisorMessage): boolean {
    return this.mp.send(message)
  }

  /** Hands saved state to the worker: now if its SDK has said hello, else as soon as it does. */
  restore(message: SupervisorMessage): void {
    if (this.sdk) this.mp.send(message)
    else this.pendingRestore = message
  }

  outcomeWindow(now: number, windowMs: number): OutcomeWindow {
    const from = now - windowMs
    let drop = 0
    const fromSecond = Math.floor(from / 1000)
    while (drop < this.outcomes.length && this.outcomes[drop]!.second < fromSecond) drop++
    if (drop > 0) this.outcomes.splice(0, drop)
    let total = 0
    let failed = 0
    for (const b of this.outcomes) {
      total += b.total
      failed += b.failed
    }
    return { total, failed }
  }

  heartbeatAge(now: number): number | null {
    if (!this.sdk) return null
    return Math.max(0, now - (this.lastHeartbeatAt ?? this.startedAt))
  }

  /** Graceful stops tell the SDK first, so its stop signal fires even before SIGTERM lands. */
  stop(options: StopOptions, reason: string, now: number): Promise<ExitReport> {
    this.stopRequested = true
    if (options.mode === 'graceful' && this.alive) {
      this.mp.send({ t: 'stop', reason, deadlineMs: now + options.timeoutMs } satisfies SupervisorMessage)
    }
    return this.mp.stop(options, this.descendants)
  }
}
