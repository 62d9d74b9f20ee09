/**
 * Carries out the recovery flow the core decides (src/core/incident.ts): opens an incident for a
 * sick worker, performs each effect (save state, wait, stop, start, restore, verify, retire,
 * escalate), and feeds each outcome back into the machine until it rests. Also brings escalated
 * workers back at the slow revive interval.
 * @module
 */
import type { ResolvedPool } from '../config/load.js'
import { formatDuration } from '../config/units.js'
import { describeExit, type ExitReport } from '../core/exit-report.js'
import { deadReport, FRESH_MEMORY, recentRestartTimes, restartedReport } from '../core/health.js'
import {
  advance,
  type Incident,
  type IncidentContext,
  type IncidentEffect,
  type IncidentInput,
  type IncidentPolicy,
  isFinal,
  openIncident,
  type Transition,
} from '../core/incident.js'
import {
  type AnomalyCause,
  effectiveHistory,
  EMPTY_HISTORY,
  pruneRestartTimes,
  stillFailingDigestDue,
} from '../core/restart-policy.js'
import type { Strategy } from '../core/strategy.js'
import type { RestoredState } from '../protocol/messages.js'
import type { Dispatcher } from '../queue/dispatcher.js'
import type { SavedWorkerState } from '../store/store.js'
import type { SupervisorKernel, Timer } from './kernel.js'
import type { Outage, Slot } from './pool-runtime.js'
import type { Processes } from './processes.js'
import type { ReadyHow, WorkerProcess } from './worker-process.js'

export interface OpenOptions {
  exit?: ExitReport
  /** A manual restart names its strategy. */
  strategy?: Strategy
  manual?: boolean
  /** The anomaly's {@link Anomaly.silentMs}. */
  silentMs?: number
}

export class Recovery {
  /** Revive attempts under way, and how to end each as failed. */
  readonly #trials = new Map<Slot, (why: string) => void>()

  constructor(
    private readonly k: SupervisorKernel,
    private readonly processes: Processes,
    private readonly dispatcher: Dispatcher<WorkerProcess>,
  ) {}

  /** Opens an incident for the slot and starts its flow; returns the incident as opened. */
  open(slot: Slot, cause: AnomalyCause, detail: string, o: OpenOptions = {}): Incident {
    const now = this.k.now()
    const pool = slot.pool
    slot.reviving = false
    // A worker that ran past stable_after had a new fault, not a loop: its backoff and its restart
    // budget start from zero again.
    const uptime =
      slot.proc && slot.proc.readyAt !== null ? (slot.proc.exitedAt ?? now) - slot.proc.startedAt : 0
    slot.history = effectiveHistory(slot.history, uptime, pool.cfg.recovery.stable_after)
    if (uptime >= pool.cfg.recovery.stable_after) slot.restartTimes = []
    const t = openIncident(
      {
        id: this.k.newId(),
        workerId: slot.id,
        pool: pool.cfg.name,
        cause,
        detail,
        pid: slot.proc?.pid ?? null,
        exit: o.exit ?? null,
        silentMs: o.silentMs ?? null,
        strategy: o.strategy,
        manual: o.manual,
      },
      this.ctx(slot, now),
    )
    if (!slot.proc?.alive) this.k.setState(slot, 'restarting', `incident ${t.incident.id}`)
    void this.drive(slot, t)
    return t.incident
  }

  /** Closes the slot's open incident as interrupted (shutdown). */
  interrupt(slot: Slot, reason: string): void {
    if (slot.incident)
      this.commit(
        slot,
        advance(slot.incident, { type: 'interrupt', reason }, this.ctx(slot, this.k.now())).incident,
      )
  }

  /** Closes incidents a previous supervisor left open: its processes are gone. */
  async closeLeftovers(pools: readonly ResolvedPool[]): Promise<void> {
    const now = this.k.now()
    for (const inc of await this.k.deps.store.listOpenIncidents()) {
      const cfg = pools.find((p) => p.name === inc.pool) ?? pools[0]!
      const ctx: IncidentContext = {
        now,
        policy: policyOf(cfg),
        random: this.k.random,
        restartTimes: [],
        consecutiveRestarts: 0,
      }
      const { takeover } = this.k.deps
      const reason = takeover
        ? `the supervisor died during the recovery: this one took its store over from ${takeover}`
        : 'the supervisor restarted during the recovery'
      const t = advance(inc, { type: 'interrupt', reason }, ctx)
      await this.k.deps.store.saveIncident(t.incident)
    }
  }

  /** Carries out a transition's effects and feeds each outcome back into the machine until it rests. */
  private async drive(slot: Slot, first: Transition): Promise<void> {
    let t = first
    const id = t.incident.id
    try {
      for (;;) {
        if (isFinal(t.incident.phase)) {
          // Act first (the worker is failed or ready), then announce, so that whoever hears
          // "recovered" or "escalated" finds the worker in that state.
          for (const e of t.effects) await this.run(slot, t.incident, e)
          this.commit(slot, t.incident)
          return
        }
        this.commit(slot, t.incident)
        let input: IncidentInput | null = null
        for (const e of t.effects) input = (await this.run(slot, t.incident, e)) ?? input
        if (!input || slot.incident?.id !== id || this.k.stopping) return
        t = advance(slot.incident, input, this.ctx(slot, this.k.now()))
      }
    } catch (e) {
      this.k.logger.error({ err: e, incident: id, worker: slot.id }, 'recovery flow failed')
      if (slot.incident?.id === id && !this.k.stopping)
        this.interrupt(slot, `internal error: ${(e as Error).message}`)
    }
  }

  private async run(slot: Slot, inc: Incident, e: IncidentEffect): Promise<IncidentInput | null> {
    switch (e.kind) {
      case 'save-state': {
        const state = this.collectState(slot, inc)
        this.k.deps.writer.saveWorkerState(state)
        const exit = state.exit ? `, exit: ${describeExit(state.exit)}` : ''
        const jobs = await this.saveJobs(slot, inc)
        const checkpoint = state.checkpoint === null ? '' : ', its checkpoint'
        return {
          type: 'state-saved',
          detail: `${plural(state.logTail.length, 'log line')}, last health report${checkpoint}${exit}${jobs}`,
        }
      }
      case 'wait':
        if (!slot.proc?.alive) this.k.setState(slot, 'restarting', `backoff ${e.ms} ms`)
        await this.k.sleep(e.ms)
        return { type: 'backoff-elapsed' }
      case 'stop': {
        const exit = await this.stopSlot(slot, e.mode, `${inc.cause}: ${inc.strategy}`)
        this.k.setState(slot, 'restarting', `stopped for incident ${inc.id}`)
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
        const old = slot.proc
        slot.proc = slot.surge
        slot.surge = null
        if (slot.proc) this.assign(slot.proc, slot.id)
        const timeoutMs = slot.pool.cfg.stop_timeout
        const exit = old?.alive
          ? await old.stop({ mode: e.mode, timeoutMs }, 'retired by scale recovery', this.k.now())
          : null
        return { type: 'retired', exit }
      }
      case 'escalate':
        await this.stopSlot(slot, 'hard', `escalated: ${e.reason}`)
        // The outage started with the fault this incident was opened for; a later escalation of
        // the same outage (a manual restart that fails) keeps that start.
        slot.outage ??= { since: inc.detectedAt, incidentId: inc.id, attempts: 0, lastFailure: e.reason }
        this.k.setState(slot, 'failed', e.reason)
        slot.report = deadReport(this.k.now(), `failed: ${e.reason}`)
        this.scheduleRevive(slot)
        return null
      case 'recovered':
        slot.outage = null
        this.k.setState(slot, 'ready', `recovered (incident ${inc.id})`)
        // The report was about the process that was replaced; the next check judges the new one.
        // Until then it runs, and its recent restarts count against it.
        slot.recentRestarts = recentRestartTimes(slot.recentRestarts, this.k.now())
        slot.report = restartedReport(this.k.now(), slot.recentRestarts.length)
        slot.memory = FRESH_MEMORY
        return null
    }
  }

  /** Stops every process of the slot (the sick one and a failed replacement). */
  private async stopSlot(slot: Slot, mode: 'graceful' | 'hard', reason: string): Promise<ExitReport> {
    const timeoutMs = slot.pool.cfg.stop_timeout
    const procs = [slot.proc, slot.surge].filter((p): p is WorkerProcess => p !== null)
    slot.surge = null
    if (procs.some((p) => p.alive)) this.k.setState(slot, 'stopping', reason)
    const exits = await Promise.all(procs.map((p) => p.stop({ mode, timeoutMs }, reason, this.k.now())))
    const exit = exits[0] ?? slot.lastExit ?? noExit(this.k.now())
    slot.lastExit = exit
    if (slot.state === 'stopping') this.k.setState(slot, 'exited', describeExit(exit))
    return exit
  }

  /** A warm spare if one is ready, else a new process; `surge` keeps the sick one serving meanwhile. */
  private startReplacement(slot: Slot, surge: boolean): { wp: WorkerProcess; fromSpare: boolean } {
    const pool = slot.pool
    const now = this.k.now()
    slot.restartTimes = pruneRestartTimes([...slot.restartTimes, now], now, pool.cfg.recovery.restart_limit)
    slot.restarts++
    slot.recentRestarts = [...recentRestartTimes(slot.recentRestarts, now), now]
    const cause = slot.incident?.cause ?? 'manual'
    pool.restartsByCause[cause] = (pool.restartsByCause[cause] ?? 0) + 1
    const spare = this.processes.takeSpare(pool)
    const wp = spare ? spare.proc : this.processes.spawn(pool, slot.id, slot.index)
    if (spare) this.assign(wp, slot.id)
    this.k.emit(
      'worker:spawned',
      'info',
      { pool: pool.cfg.name, workerId: slot.id, incidentId: slot.incident?.id ?? null },
      spare
        ? `warm spare ${spare.id} (pid ${wp.pid}) takes the place of ${slot.id}`
        : `${slot.id} restarted (pid ${wp.pid})`,
      { pid: wp.pid, spare: spare !== null },
    )
    if (surge && slot.proc?.alive) {
      slot.surge = wp
    } else {
      slot.proc = wp
      this.k.setState(slot, 'starting', `pid ${wp.pid}`)
    }
    return { wp, fromSpare: spare !== null }
  }

  private assign(wp: WorkerProcess, id: string): void {
    wp.currentId = id
    wp.mp.send({ t: 'assign', workerId: id })
  }

  private async restore(slot: Slot, inc: Incident): Promise<IncidentInput> {
    const saved = await this.k.deps.writer.loadWorkerState(slot.id)
    const state: RestoredState = {
      incidentId: inc.id,
      previousExit: inc.exit ? { exitCode: inc.exit.exitCode, signal: inc.exit.signal } : null,
      checkpoint: saved?.checkpoint ?? null,
    }
    ;(slot.surge ?? slot.proc)?.restore({ t: 'restore', state })
    const checkpoint = state.checkpoint === null ? 'no checkpoint' : 'the last checkpoint'
    return { type: 'restored', detail: `handed over the previous exit and ${checkpoint}` }
  }

  private verify(slot: Slot, timeoutMs: number): Promise<IncidentInput> {
    const wp = slot.surge ?? slot.proc
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
        this.k.cancel(timer)
        cancelReady()
        resolve(input)
      }
      const timer = this.k.later(timeoutMs, () =>
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
   * After an escalation, tries the worker again at the slow revive interval. A revive attempt is a
   * trial: the process must become ready and then run stable_after before the worker counts as
   * back (one `worker:revived`, with the real time out of service). Until then any failure (an
   * exit, a hang, an unhealthy check) ends the trial quietly and the slot is failed again: the
   * worker paged once, at its escalation, and a worker that stays broken is reported at a doubling
   * interval (`worker:still-failing`), not at every attempt.
   */
  private scheduleRevive(slot: Slot): void {
    const cfg = slot.pool.cfg
    this.k.later(cfg.recovery.revive_interval, () => {
      const outage = slot.outage
      if (this.k.stopping || slot.state !== 'failed' || slot.incident || !outage) return
      const attempt = ++outage.attempts
      slot.reviving = true
      const wp = this.processes.spawn(slot.pool, slot.id, slot.index)
      slot.proc = wp
      this.k.setState(slot, 'starting', `revive attempt ${attempt}, pid ${wp.pid}`)
      const timers: Timer[] = []
      const fail = (why: string): void => {
        if (!slot.reviving || slot.proc !== wp) return
        for (const t of timers) this.k.cancel(t)
        this.#trials.delete(slot)
        slot.reviving = false
        outage.lastFailure = why
        void wp.stop({ mode: 'hard', timeoutMs: 0 }, `revive attempt failed: ${why}`, this.k.now())
        this.k.setState(slot, 'failed', `revive attempt ${attempt} failed: ${why}`)
        if (stillFailingDigestDue(attempt)) this.reportStillFailing(slot, outage)
        this.scheduleRevive(slot)
      }
      this.#trials.set(slot, fail)
      timers.push(this.k.later(cfg.recovery.verify_timeout, () => fail('not ready within verify_timeout')))
      wp.onReady(() => {
        if (!slot.reviving || slot.proc !== wp) return
        for (const t of timers.splice(0)) this.k.cancel(t)
        const readyAt = this.k.now()
        slot.history = EMPTY_HISTORY
        this.k.setState(slot, 'ready', `revive attempt ${attempt}: ready; back once it has run stable_after`)
        timers.push(
          this.k.later(cfg.recovery.stable_after, () => {
            if (!slot.reviving || slot.proc !== wp || !wp.alive) return
            this.#trials.delete(slot)
            slot.reviving = false
            slot.outage = null
            const afterMs = readyAt - outage.since
            this.k.emit(
              'worker:revived',
              'warning',
              { pool: cfg.name, workerId: slot.id, incidentId: outage.incidentId },
              `${slot.id} runs again, after ${formatDuration(afterMs)} out of service and ${plural(attempt, 'revive attempt')}; it has run ${formatDuration(cfg.recovery.stable_after)} since`,
              { afterMs, incidentId: outage.incidentId, attempts: attempt },
            )
          }),
        )
      })
      void wp.mp.exited.then((exit) => fail(describeExit(exit)))
    })
  }

  /** Ends a revive attempt as failed (an anomaly of the revived process); false without one. */
  failRevive(slot: Slot, why: string): boolean {
    const fail = this.#trials.get(slot)
    if (!fail) return false
    fail(why)
    return true
  }

  private reportStillFailing(slot: Slot, outage: Outage): void {
    const out = formatDuration(this.k.now() - outage.since)
    this.k.emit(
      'worker:still-failing',
      'warning',
      { pool: slot.pool.cfg.name, workerId: slot.id, incidentId: outage.incidentId },
      `${slot.id} is still failing after ${plural(outage.attempts, 'revive attempt')}, out of service for ${out}; the latest: ${outage.lastFailure}`,
      {
        attempts: outage.attempts,
        since: outage.since,
        incidentId: outage.incidentId,
        lastFailure: outage.lastFailure,
      },
    )
  }

  /**
   * The jobs the sick worker holds. A dead or hung worker's go back to the queue now, before its
   * replacement starts (counting toward quarantine); a worker that stops gracefully takes no new
   * jobs and may finish the ones it has.
   */
  private async saveJobs(slot: Slot, inc: Incident): Promise<string> {
    const wp = slot.proc
    if (!wp) return ''
    const held = this.dispatcher.held(wp)
    const checkpointed = held.checkpointed > 0 ? ` (${held.checkpointed} with checkpoints)` : ''
    if (held.returned) {
      // Given back at its exit; wait until they are redelivered, before a replacement starts.
      await this.dispatcher.workerGone(wp, 'crash')
      return held.jobs > 0
        ? `; ${plural(held.jobs, 'job')} in flight went back to the queue at its exit${checkpointed}`
        : ''
    }
    if (!wp.alive || inc.severity === 'severe') {
      await this.dispatcher.workerGone(wp, 'crash')
      return held.jobs > 0 ? `; ${plural(held.jobs, 'job')} in flight back to the queue${checkpointed}` : ''
    }
    this.dispatcher.drain(wp)
    return held.jobs > 0 ? `; ${plural(held.jobs, 'job')} in flight left to finish${checkpointed}` : ''
  }

  private collectState(slot: Slot, inc: Incident): SavedWorkerState {
    return {
      workerId: slot.id,
      pool: slot.pool.cfg.name,
      savedAt: this.k.now(),
      incidentId: inc.id,
      logTail: slot.proc ? slot.proc.tail.lines() : [],
      lastReport: slot.report,
      exit: inc.exit ?? slot.lastExit,
      checkpoint: slot.proc?.checkpoint ?? null,
    }
  }

  /** Queues the incident for the store, emits events for its new steps, and clears it from the slot once final. */
  private commit(slot: Slot, next: Incident): void {
    const prev = slot.incident?.id === next.id ? slot.incident : null
    slot.incident = isFinal(next.phase) ? null : next
    this.k.deps.writer.saveIncident(next)
    const origin = { pool: next.pool, workerId: next.workerId, incidentId: next.id }
    const who = next.workerId
    if (!prev) {
      const message = `${who}: ${next.cause}, ${next.detail}; recovering with ${next.strategy}`
      this.k.emit('incident:opened', 'warning', origin, message, { incident: next })
    }
    // The first step ("detected") is the opening itself.
    for (const step of next.timeline.slice(prev ? prev.timeline.length : 1)) {
      this.k.emit('incident:step', 'info', origin, `${who} ${step.step}: ${step.detail}`, {
        incident: next,
        step: step.step,
        detail: step.detail,
      })
    }
    if (!isFinal(next.phase)) return
    const took = (next.endedAt ?? this.k.now()) - next.detectedAt
    const attempts = plural(next.attempt, 'attempt')
    switch (next.phase) {
      case 'recovered':
        this.k.emit(
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
        this.k.emit(
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
        this.k.emit('incident:interrupted', 'info', origin, `${who} recovery interrupted`, { incident: next })
        return
    }
    slot.history = {
      consecutive: slot.history.consecutive + Math.max(1, next.attempt),
      lastRestartAt: this.k.now(),
    }
  }

  private ctx(slot: Slot, now: number): IncidentContext {
    return {
      now,
      policy: policyOf(slot.pool.cfg),
      random: this.k.random,
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

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
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
