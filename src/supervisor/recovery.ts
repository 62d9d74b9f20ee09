/**
 * Carries out the recovery flow the core decides (src/core/incident.ts): opens an incident for a
 * sick worker, performs each effect (save state, wait, stop, start, restore, verify, retire,
 * escalate), and feeds each outcome back into the machine until it rests. What the slot shows
 * meanwhile, and what becomes of it after (ready, or failed and revived later), is the slot
 * machine's (src/core/slot.ts): every step is an event to it.
 * @module
 */
import type { ResolvedPool } from '../config/load.js'
import { describeExit, type ExitReport } from '../core/exit-report.js'
import { deadReport, FRESH_MEMORY, recentRestartTimes, restartedReport } from '../core/health.js'
import {
  advance,
  type Incident,
  type IncidentContext,
  type IncidentEffect,
  type IncidentInput,
  type IncidentPolicy,
  interruptIncident,
  isFinal,
  openIncident,
  type Transition,
} from '../core/incident.js'
import { type AnomalyCause, effectiveHistory, pruneRestartTimes } from '../core/restart-policy.js'
import type { Strategy } from '../core/strategy.js'
import type { Logger } from '../logger.js'
import type { Clock } from '../ports/clock.js'
import type { SavedWorkerState, Store } from '../ports/store.js'
import type { RestoredState } from '../protocol/messages.js'
import type { HeldSummary } from '../queue/dispatcher.js'
import type { WriteBehind } from '../store/write-behind.js'
import type { Emit } from './deps.js'
import { hasLiveProcess, type Slot } from './pool-runtime.js'
import type { Processes } from './processes.js'
import { plural, type SlotDispatch } from './slots.js'
import type { TimerSet } from './timer-set.js'
import type { ReadyHow, WorkerProcess } from './worker-process.js'

export interface OpenOptions {
  exit?: ExitReport
  /** A manual restart names its strategy. */
  strategy?: Strategy
  manual?: boolean
  /** The anomaly's {@link Anomaly.silentMs}. */
  silentMs?: number
}

/** What recovery uses of the dispatcher: the jobs a sick worker holds. */
export interface RecoveryJobs {
  held(wp: WorkerProcess): HeldSummary
  workerGone(wp: WorkerProcess, why: 'crash'): Promise<HeldSummary>
  drain(wp: WorkerProcess): void
}

export interface RecoveryDeps {
  clock: Clock
  timers: TimerSet
  random: () => number
  newId: () => string
  emit: Emit
  logger: Logger
  /** This agent's node name: every incident it opens carries it ({@link Incident.node}). */
  node: string
  writer: WriteBehind
  /** For the incidents a previous supervisor left open. */
  store: Pick<Store, 'listOpenIncidents' | 'saveIncident'>
  /** The supervisor whose store this one took over (it died), for the incidents it left open. */
  takeover?: string
  processes: Pick<Processes, 'spawn' | 'takeSpare'>
  jobs: RecoveryJobs
  /** Tells the slot machine each step (slots.ts). */
  dispatch: SlotDispatch
}

export class Recovery {
  /** Set at shutdown: flows under way stop at their next step. */
  private stopping = false

  constructor(private readonly d: RecoveryDeps) {}

  /** Shutdown begins. */
  stop(): void {
    this.stopping = true
  }

  /**
   * Opens an incident for the slot and starts its flow; returns the incident as opened. The caller
   * has made sure none is under way (the slot machine refuses a second one, and then nothing runs).
   */
  open(slot: Slot, cause: AnomalyCause, detail: string, o: OpenOptions = {}): Incident {
    const pool = slot.pool
    const proc = slot.status.proc
    // A crash is detected when its exit is seen, a moment before the incident opens: in between,
    // the jobs the worker held went back to the queue (the exit pipeline, processes.ts).
    const now = o.exit && proc?.exitedAt != null ? proc.exitedAt : this.d.clock.now()
    // A worker that ran past stable_after had a new fault, not a loop: its backoff and its restart
    // budget start from zero again.
    const uptime = proc && proc.readyAt !== null ? Math.max(0, (proc.exitedAt ?? now) - proc.startedAt) : 0
    slot.history = effectiveHistory(slot.history, uptime, pool.cfg.recovery.stable_after)
    if (uptime >= pool.cfg.recovery.stable_after) slot.restartTimes = []
    const t = openIncident(
      {
        id: this.d.newId(),
        workerId: slot.id,
        pool: pool.cfg.name,
        node: this.d.node,
        cause,
        detail,
        pid: proc?.pid ?? null,
        exit: o.exit ?? null,
        silentMs: o.silentMs ?? null,
        strategy: o.strategy,
        manual: o.manual,
      },
      this.ctx(slot, now),
    )
    if (this.d.dispatch(slot, { type: 'incident-opened', incident: t.incident, live: hasLiveProcess(slot) }))
      void this.drive(slot, t)
    return t.incident
  }

  /** Closes the slot's open incident as interrupted (shutdown, or a flow that failed). */
  interrupt(slot: Slot, reason: string): void {
    const inc = slot.status.incident
    if (!inc) return
    const next = advance(inc, { type: 'interrupt', reason }, this.ctx(slot, this.d.clock.now())).incident
    this.commit(slot, inc, next)
    this.d.dispatch(slot, { type: 'interrupted', incident: inc, reason })
  }

  /** Closes incidents a previous supervisor left open: its processes are gone. */
  async closeLeftovers(): Promise<void> {
    const now = this.d.clock.now()
    const { takeover } = this.d
    const reason = takeover
      ? `the supervisor died during the recovery: this one took its store over from ${takeover}`
      : 'the supervisor restarted during the recovery'
    for (const inc of await this.d.store.listOpenIncidents())
      await this.d.store.saveIncident(interruptIncident(inc, now, reason))
  }

  /** Carries out a transition's effects and feeds each outcome back into the machine until it rests. */
  private async drive(slot: Slot, first: Transition): Promise<void> {
    let t = first
    let shown: Incident | null = null
    const id = t.incident.id
    try {
      for (;;) {
        if (isFinal(t.incident.phase)) {
          // Act first (the worker is failed or ready), then announce, so that whoever hears
          // "recovered" or "escalated" finds the worker in that state.
          for (const e of t.effects) await this.run(slot, t.incident, e)
          this.commit(slot, shown, t.incident)
          return
        }
        this.commit(slot, shown, t.incident)
        if (shown) this.d.dispatch(slot, { type: 'incident-step', incident: t.incident })
        shown = t.incident
        let input: IncidentInput | null = null
        for (const e of t.effects) input = (await this.run(slot, t.incident, e)) ?? input
        const current = slot.status.incident
        if (!input || current?.id !== id || this.stopping) return
        t = advance(current, input, this.ctx(slot, this.d.clock.now()))
      }
    } catch (e) {
      this.d.logger.error({ err: e, incident: id, worker: slot.id }, 'recovery flow failed')
      if (slot.status.incident?.id !== id || this.stopping) return
      // The slot is failed (and revived later), not left half-recovered: nothing of it runs on.
      await this.stopSlot(slot, 'hard', 'recovery flow failed').catch(() => undefined)
      this.interrupt(slot, `internal error: ${(e as Error).message}`)
    }
  }

  private async run(slot: Slot, inc: Incident, e: IncidentEffect): Promise<IncidentInput | null> {
    const now = this.d.clock.now()
    switch (e.kind) {
      case 'save-state': {
        const state = this.collectState(slot, inc)
        this.d.writer.saveWorkerState(state)
        const exit = state.exit ? `, exit: ${describeExit(state.exit)}` : ''
        const jobs = await this.saveJobs(slot, inc)
        const checkpoint = state.checkpoint === null ? '' : ', its checkpoint'
        return {
          type: 'state-saved',
          detail: `${plural(state.logTail.length, 'log line')}, last health report${checkpoint}${exit}${jobs}`,
        }
      }
      case 'wait':
        this.d.dispatch(slot, {
          type: 'restarting',
          reason: `backoff ${e.ms} ms`,
          live: hasLiveProcess(slot),
        })
        await this.d.timers.sleep(e.ms)
        return { type: 'backoff-elapsed' }
      case 'stop': {
        const exit = await this.stopSlot(slot, e.mode, `${inc.cause}: ${inc.strategy}`)
        this.d.dispatch(slot, { type: 'restarting', reason: `stopped for incident ${inc.id}`, live: false })
        return { type: 'stopped', exit }
      }
      case 'start': {
        const { wp, fromSpare } = this.startReplacement(slot, e.surge)
        return { type: 'started', pid: wp.pid, spare: fromSpare }
      }
      case 'restore-state':
        return this.restore(slot, inc)
      case 'verify':
        return this.verify(slot, e.timeoutMs)
      case 'retire': {
        const old = slot.status.proc
        this.d.dispatch(slot, { type: 'retired' })
        const serving = slot.status.proc
        if (serving) this.assign(serving, slot.id)
        const timeoutMs = slot.pool.cfg.stop_timeout
        const exit = old?.alive
          ? await old.stop({ mode: e.mode, timeoutMs }, 'retired by scale recovery', now)
          : null
        return { type: 'retired', exit }
      }
      case 'escalate':
        await this.stopSlot(slot, 'hard', `escalated: ${e.reason}`)
        this.d.dispatch(slot, { type: 'escalated', incident: inc, reason: e.reason })
        slot.report = deadReport(this.d.clock.now(), `failed: ${e.reason}`)
        return null
      case 'recovered':
        this.d.dispatch(slot, { type: 'recovered', incident: inc })
        // The report was about the process that was replaced; the next check judges the new one.
        // Until then it runs, and its recent restarts count against it.
        slot.recentRestarts = recentRestartTimes(slot.recentRestarts, now)
        slot.report = restartedReport(now, slot.recentRestarts.length)
        slot.memory = FRESH_MEMORY
        return null
    }
  }

  /** Stops every process of the slot (the sick one and a failed replacement). */
  private async stopSlot(slot: Slot, mode: 'graceful' | 'hard', reason: string): Promise<ExitReport> {
    const timeoutMs = slot.pool.cfg.stop_timeout
    const procs = [slot.status.proc, slot.status.surge].filter((p): p is WorkerProcess => p !== null)
    if (procs.some((p) => p.alive)) this.d.dispatch(slot, { type: 'stopping', reason })
    const exits = await Promise.all(procs.map((p) => p.stop({ mode, timeoutMs }, reason, this.d.clock.now())))
    const exit = exits[0] ?? slot.lastExit ?? noExit(this.d.clock.now())
    slot.lastExit = exit
    this.d.dispatch(slot, { type: 'stopped', reason: describeExit(exit) })
    return exit
  }

  /** A warm spare if one is ready, else a new process; `surge` keeps the sick one serving meanwhile. */
  private startReplacement(slot: Slot, surge: boolean): { wp: WorkerProcess; fromSpare: boolean } {
    const pool = slot.pool
    const now = this.d.clock.now()
    slot.restartTimes = pruneRestartTimes([...slot.restartTimes, now], now, pool.cfg.recovery.restart_limit)
    slot.restarts++
    slot.recentRestarts = [...recentRestartTimes(slot.recentRestarts, now), now]
    const incident = slot.status.incident
    const cause = incident?.cause ?? 'manual'
    pool.restartsByCause[cause] = (pool.restartsByCause[cause] ?? 0) + 1
    const spare = this.d.processes.takeSpare(pool)
    const wp = spare ? spare.proc : this.d.processes.spawn(pool, slot.id, slot.index)
    if (spare) this.assign(wp, slot.id)
    this.d.emit(
      'worker:spawned',
      'info',
      { pool: pool.cfg.name, workerId: slot.id, incidentId: incident?.id ?? null },
      spare
        ? `warm spare ${spare.id} (pid ${wp.pid}) takes the place of ${slot.id}`
        : `${slot.id} restarted (pid ${wp.pid})`,
      { pid: wp.pid, spare: spare !== null },
    )
    const beside = surge && (slot.status.proc?.alive ?? false)
    this.d.dispatch(slot, { type: 'spawned', proc: wp, pid: wp.pid, surge: beside })
    return { wp, fromSpare: spare !== null }
  }

  private assign(wp: WorkerProcess, id: string): void {
    wp.currentId = id
    wp.mp.send({ t: 'assign', workerId: id })
  }

  private async restore(slot: Slot, inc: Incident): Promise<IncidentInput> {
    const saved = await this.d.writer.loadWorkerState(slot.id)
    const state: RestoredState = {
      incidentId: inc.id,
      previousExit: inc.exit ? { exitCode: inc.exit.exitCode, signal: inc.exit.signal } : null,
      checkpoint: saved?.checkpoint ?? null,
    }
    ;(slot.status.surge ?? slot.status.proc)?.restore({ t: 'restore', state })
    const checkpoint = state.checkpoint === null ? 'no checkpoint' : 'the last checkpoint'
    return { type: 'restored', detail: `handed over the previous exit and ${checkpoint}` }
  }

  private verify(slot: Slot, timeoutMs: number): Promise<IncidentInput> {
    const wp = slot.status.surge ?? slot.status.proc
    if (!wp || !wp.alive) {
      const reason = wp?.exit ? `the replacement ${describeExit(wp.exit)}` : 'no replacement process'
      return Promise.resolve({ type: 'verify-failed', reason })
    }
    if (wp.readyHow !== null) return Promise.resolve({ type: 'ready', how: readyText(wp.readyHow, wp) })
    return new Promise((resolve) => {
      let done = false
      const finish = (input: IncidentInput): void => {
        if (done) return
        done = true
        this.d.timers.cancel(timer)
        cancelReady()
        resolve(input)
      }
      const timer = this.d.timers.later(timeoutMs, () =>
        finish({ type: 'verify-failed', reason: `not ready within ${timeoutMs} ms (verify_timeout)` }),
      )
      const cancelReady = wp.onReady((how: ReadyHow) => finish({ type: 'ready', how: readyText(how, wp) }))
      void wp.mp.exited.then((exit) =>
        finish({
          type: 'verify-failed',
          reason: `the replacement ${describeExit(exit)} before it was ready`,
        }),
      )
    })
  }

  /**
   * The jobs the sick worker holds. A dead or hung worker's go back to the queue now, before its
   * replacement starts (counting toward quarantine); a worker that stops gracefully takes no new
   * jobs and may finish the ones it has. A worker that exited gave its jobs back as the first step
   * of its exit, before this incident opened.
   */
  private async saveJobs(slot: Slot, inc: Incident): Promise<string> {
    const wp = slot.status.proc
    if (!wp) return ''
    const said = (held: HeldSummary, how: string): string => {
      const checkpointed = held.checkpointed > 0 ? ` (${held.checkpointed} with checkpoints)` : ''
      return held.jobs > 0 ? `; ${plural(held.jobs, 'job')} in flight ${how}${checkpointed}` : ''
    }
    if (wp.jobsReturned) return said(wp.jobsReturned, 'went back to the queue at its exit')
    if (!wp.alive || inc.severity === 'severe')
      return said(await this.d.jobs.workerGone(wp, 'crash'), 'back to the queue')
    const held = this.d.jobs.held(wp)
    this.d.jobs.drain(wp)
    return said(held, 'left to finish')
  }

  private collectState(slot: Slot, inc: Incident): SavedWorkerState {
    const proc = slot.status.proc
    return {
      workerId: slot.id,
      pool: slot.pool.cfg.name,
      savedAt: this.d.clock.now(),
      incidentId: inc.id,
      logTail: proc ? proc.tail.lines() : [],
      lastReport: slot.report,
      exit: inc.exit ?? slot.lastExit,
      checkpoint: proc?.checkpoint ?? null,
    }
  }

  /** Queues the incident for the store, and emits events for its new steps (after `prev`, as last shown). */
  private commit(slot: Slot, prev: Incident | null, next: Incident): void {
    this.d.writer.saveIncident(next)
    const origin = { pool: next.pool, workerId: next.workerId, incidentId: next.id }
    const who = next.workerId
    if (!prev) {
      const message = `${who}: ${next.cause}, ${next.detail}; recovering with ${next.strategy}`
      this.d.emit('incident:opened', 'warning', origin, message, { incident: next })
    }
    // The first step ("detected") is the opening itself.
    for (const step of next.timeline.slice(prev ? prev.timeline.length : 1)) {
      this.d.emit('incident:step', 'info', origin, `${who} ${step.step}: ${step.detail}`, {
        incident: next,
        step: step.step,
        detail: step.detail,
      })
    }
    if (!isFinal(next.phase)) return
    const took = Math.max(0, (next.endedAt ?? this.d.clock.now()) - next.detectedAt)
    const attempts = plural(next.attempt, 'attempt')
    switch (next.phase) {
      case 'recovered':
        this.d.emit(
          'incident:recovered',
          'info',
          origin,
          `${who} recovered in ${took} ms (${next.cause}, ${next.strategy}, ${attempts})`,
          {
            incident: next,
          },
        )
        break
      case 'escalated':
        this.d.emit(
          'incident:escalated',
          'critical',
          origin,
          `${who} escalated after ${attempts}: ${next.escalationReason ?? ''}`,
          {
            incident: next,
            reason: next.escalationReason ?? '',
          },
        )
        break
      case 'interrupted':
        this.d.emit('incident:interrupted', 'info', origin, `${who} recovery interrupted`, { incident: next })
        return
    }
    slot.history = {
      consecutive: slot.history.consecutive + Math.max(1, next.attempt),
      lastRestartAt: this.d.clock.now(),
    }
  }

  private ctx(slot: Slot, now: number): IncidentContext {
    return {
      now,
      policy: policyOf(slot.pool.cfg),
      random: this.d.random,
      restartTimes: slot.restartTimes,
      consecutiveRestarts: slot.history.consecutive,
    }
  }
}

function policyOf(cfg: ResolvedPool): IncidentPolicy {
  const r = cfg.recovery
  return {
    strategies: cfg.strategies,
    max_retries: r.max_retries,
    backoff: { retry_delay: r.retry_delay, max_retry_delay: r.max_retry_delay, jitter: r.jitter },
    restart_limit: r.restart_limit,
    verify_timeout: r.verify_timeout,
  }
}

function readyText(how: ReadyHow, wp: WorkerProcess): string {
  switch (how) {
    case 'sdk':
      return `pid ${wp.pid} said ready (SDK)`
    case 'probe':
      return `pid ${wp.pid} passed its probes`
    case 'uptime':
      return `pid ${wp.pid} stayed up for min_uptime`
  }
}

/** When the slot's process is long gone and nothing recorded its exit. */
function noExit(at: number): ExitReport {
  return {
    pid: 0,
    exitCode: null,
    signal: null,
    killedByUs: false,
    forced: false,
    spawnFailed: false,
    at,
    durationMs: 0,
  }
}
