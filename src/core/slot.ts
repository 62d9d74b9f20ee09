/**
 * A worker slot (`email#2`) as an explicit state machine: `stepSlot(slot, event, ctx)` returns the
 * next slot and the effects the supervisor must carry out, as incident.ts does for one recovery.
 * Everything that decides what a slot does next lives here: whether an exit or an anomaly opens an
 * incident, ends a revive attempt, or is part of a flow already under way; when a failed worker is
 * tried again; which worker state (worker-state.ts) the slot shows.
 *
 * A slot is in one phase at a time, and each phase shows some of the worker states:
 *
 * | phase      | states                                        | left by                                         |
 * | ---------- | --------------------------------------------- | ----------------------------------------------- |
 * | running    | starting, ready, degraded, exited             | incident-opened → recovering; scale-in, shutdown → leaving |
 * | recovering | starting, ready, degraded, stopping, exited, restarting | recovered → running; escalated, interrupted → failed; shutdown → leaving |
 * | failed     | failed                                        | spawned (revive attempt) → trial; incident-opened → recovering; shutdown → leaving |
 * | trial      | starting, ready, degraded                     | timer trial-stable → running; any failure → failed; incident-opened → recovering; shutdown → leaving |
 * | leaving    | stopping, exited                              | (final)                                          |
 *
 * Revive is folded in: an escalation arms the revive timer; at it the slot starts a process on
 * trial; the trial passes once the process has been ready for stable_after (one `revived` effect),
 * and any failure before that (an exit, an anomaly, not ready within verify_timeout) sends the slot
 * back to failed quietly, with a `still-failing` digest at attempts 2, 4, 8… and the next revive
 * timer. A revive attempt is never an incident.
 *
 * Events that arrive after the moment they were about (a readiness, an anomaly, a timer of a
 * process that is no longer the slot's; an exit during a recovery, which the incident sees itself)
 * are ignored: they are the ordinary races of a supervisor. An event the slot can never receive in
 * its phase, or a move that worker-state.ts does not allow, is a bug: it throws SHEPHERD_INTERNAL.
 *
 * Processes are opaque to the machine (`P`): it compares them by identity only.
 * @module
 */
import { ShepherdError } from '../errors.js'
import { describeExit, type ExitReport } from './exit-report.js'
import type { Incident } from './incident.js'
import { type AnomalyCause, stillFailingDigestDue } from './restart-policy.js'
import {
  canScaleIn,
  type Outage,
  PHASE_STATES,
  type SlotAnomaly,
  type SlotContext,
  type SlotEffect,
  type SlotEvent,
  type SlotState,
  type SlotTimer,
  type SlotTransition,
} from './slot-model.js'
import { canMove, isServing, type WorkerState } from './worker-state.js'

/** Anomalies that count while a process is still starting: its probes (liveness probes count from the start, as in Kubernetes) and a stale answer. Checks and the watchdog judge it once it is ready. */
const STARTING_CAUSES: ReadonlySet<AnomalyCause> = new Set(['probe', 'stale-delivery'])

/** Applies one event. */
export function stepSlot<P>(s: SlotState<P>, e: SlotEvent<P>, ctx: SlotContext): SlotTransition<P> {
  const t = new Step(s, ctx)
  switch (e.type) {
    case 'spawned':
      return t.spawned(e.proc, e.pid, e.surge ?? false)
    case 'ready':
      return t.ready(e.proc, e.how)
    case 'health':
      if (!t.owns(e.proc) || !(s.phase === 'running' || s.phase === 'trial')) return t.done()
      if (s.state === 'ready' && e.ailing !== null) return t.move('degraded', e.ailing).done()
      if (s.state === 'degraded' && e.ailing === null) return t.move('ready', 'healthy again').done()
      return t.done()
    case 'anomaly':
      return t.anomaly(e.proc, e.anomaly)
    case 'stale':
      return t.stale(e.proc, e.detail)
    case 'exit':
      return t.exit(e.proc, e.exit)
    case 'signal':
      if (s.phase === 'leaving' || s.phase === 'failed') return t.done()
      if (e.status === 'degraded' && s.state === 'ready') return t.move('degraded', e.detail).done()
      if (e.status === 'healthy' && s.state === 'degraded' && e.external)
        return t.move('ready', e.detail).done()
      return t.done()
    case 'timer':
      return t.timer(e.timer, e.proc)
    case 'incident-opened':
      return t.opened(e.incident, e.live)
    case 'incident-step':
      t.expect(s.phase === 'recovering' && s.incident?.id === e.incident.id, e.type)
      t.slot.incident = e.incident
      return t.done()
    case 'stopping':
      t.expect(s.phase === 'recovering', e.type)
      // A replacement beside the sick process is stopped with it: it no longer serves the slot.
      t.slot.surge = null
      return t.move('stopping', e.reason).done()
    case 'stopped':
      t.expect(s.phase === 'recovering', e.type)
      t.slot.surge = null
      return s.state === 'stopping' ? t.move('exited', e.reason).done() : t.done()
    case 'restarting':
      t.expect(s.phase === 'recovering', e.type)
      return e.live ? t.done() : t.move('restarting', e.reason).done()
    case 'retired':
      t.expect(s.phase === 'recovering' && s.surge !== null, e.type)
      t.slot.proc = s.surge
      t.slot.surge = null
      return t.done()
    case 'recovered':
      t.expectIncident(e.incident, e.type)
      t.slot.phase = 'running'
      t.slot.incident = null
      t.slot.outage = null
      return t.move('ready', `recovered (incident ${e.incident.id})`).done()
    case 'escalated':
      t.expectIncident(e.incident, e.type)
      return t.fail(e.incident, e.reason)
    case 'interrupted':
      if (s.phase === 'leaving') {
        t.slot.incident = null
        return t.done()
      }
      t.expectIncident(e.incident, e.type)
      return t.fail(e.incident, `recovery interrupted: ${e.reason}`)
    case 'scale-in':
      t.expect(canScaleIn(s), e.type)
      t.slot.phase = 'leaving'
      return t.move('stopping', `scaled in: ${e.reason}`).done()
    case 'shutdown': {
      t.slot.phase = 'leaving'
      t.slot.trial = null
      const to = e.live && canMove(s.state, 'stopping') ? 'stopping' : 'exited'
      return t.move(to, e.reason).done()
    }
    case 'shut':
      t.expect(s.phase === 'leaving', e.type)
      return s.state === 'stopping' ? t.move('exited', e.reason).done() : t.done()
    default:
      return assertNever(e)
  }
}

/** One transition being built: a copy of the slot, and the effects so far. */
class Step<P> {
  readonly slot: SlotState<P>
  private readonly effects: SlotEffect<P>[] = []

  constructor(
    private readonly from: SlotState<P>,
    private readonly ctx: SlotContext,
  ) {
    this.slot = { ...from }
  }

  done(): SlotTransition<P> {
    return { slot: this.slot, effects: this.effects }
  }

  effect(e: SlotEffect<P>): this {
    this.effects.push(e)
    return this
  }

  /** Moves the worker state; throws on a move worker-state.ts does not allow, or one outside the phase. */
  move(to: WorkerState, reason: string): this {
    const from = this.slot.state
    if (from === to) return this
    if (!canMove(from, to) || !PHASE_STATES[this.slot.phase].includes(to)) {
      throw new ShepherdError(
        'SHEPHERD_INTERNAL',
        `illegal worker state move ${from} → ${to} in phase ${this.slot.phase} (${reason})`,
      )
    }
    this.slot.state = to
    return this.effect({ kind: 'state', from, to, reason })
  }

  /** Throws unless `ok`: the event cannot come in this phase. */
  expect(ok: boolean, event: string): void {
    if (!ok) {
      throw new ShepherdError(
        'SHEPHERD_INTERNAL',
        `illegal slot event ${event} in phase ${this.from.phase} (state ${this.from.state})`,
      )
    }
  }

  expectIncident(inc: Incident, event: string): void {
    this.expect(this.from.phase === 'recovering' && this.from.incident?.id === inc.id, event)
  }

  /** Whether `proc` is the slot's process. */
  owns(proc: P): boolean {
    return this.from.proc === proc
  }

  spawned(proc: P, pid: number, surge: boolean): SlotTransition<P> {
    const s = this.from
    switch (s.phase) {
      case 'running':
        this.expect(s.proc === null && s.state === 'starting', 'spawned')
        this.slot.proc = proc
        return this.effect({
          kind: 'arm',
          timer: 'start-verify',
          ms: this.ctx.policy.verify_timeout,
          proc,
        }).done()
      case 'recovering':
        if (surge) {
          this.slot.surge = proc
          return this.done()
        }
        this.slot.proc = proc
        this.slot.surge = null
        return this.move('starting', `pid ${pid}`).done()
      case 'failed': {
        const attempt = s.outage?.attempts ?? 0
        this.expect(attempt > 0, 'spawned')
        this.slot.phase = 'trial'
        this.slot.proc = proc
        this.slot.trial = { attempt, readyAt: null }
        return this.move('starting', `revive attempt ${attempt}, pid ${pid}`)
          .effect({ kind: 'arm', timer: 'trial-verify', ms: this.ctx.policy.verify_timeout, proc })
          .done()
      }
      default:
        this.expect(false, 'spawned')
        return this.done()
    }
  }

  ready(proc: P, how: string): SlotTransition<P> {
    const s = this.from
    if (!this.owns(proc) || s.state !== 'starting') return this.done()
    if (s.phase === 'running') return this.move('ready', `ready (${how})`).done()
    if (s.phase === 'trial' && s.trial) {
      this.slot.trial = { ...s.trial, readyAt: this.ctx.now }
      return this.move('ready', `revive attempt ${s.trial.attempt}: ready; back once it has run stable_after`)
        .effect({ kind: 'reset-backoff' })
        .effect({ kind: 'arm', timer: 'trial-stable', ms: this.ctx.policy.stable_after, proc })
        .done()
    }
    return this.done()
  }

  anomaly(proc: P, a: SlotAnomaly): SlotTransition<P> {
    const s = this.from
    if (!this.owns(proc)) return this.done()
    const counts = isServing(s.state) || (s.state === 'starting' && STARTING_CAUSES.has(a.cause))
    if (!counts) return this.done()
    if (s.phase === 'running') return this.effect({ kind: 'open-incident', anomaly: a }).done()
    if (s.phase === 'trial') return this.failTrial(`${a.cause}: ${a.detail}`)
    return this.done()
  }

  stale(proc: P, detail: string): SlotTransition<P> {
    const s = this.from
    const own = this.owns(proc)
    if (own && s.phase === 'running' && s.state !== 'exited')
      return this.effect({ kind: 'open-incident', anomaly: { cause: 'stale-delivery', detail } }).done()
    if (own && s.phase === 'trial') return this.failTrial(`stale-delivery: ${detail}`)
    return this.effect({ kind: 'kill', proc, reason: detail }).done()
  }

  exit(proc: P, exit: ExitReport): SlotTransition<P> {
    const s = this.from
    if (!this.owns(proc)) return this.done()
    const reason = describeExit(exit)
    switch (s.phase) {
      case 'running':
        if (s.state === 'exited') return this.done()
        return this.move('exited', reason)
          .effect({
            kind: 'open-incident',
            anomaly: { cause: exit.spawnFailed ? 'spawn-failed' : 'crash', detail: reason },
            exit,
          })
          .done()
      case 'trial':
        return this.failTrial(reason)
      case 'recovering':
        // The incident sees the exit itself (its stop, its verify); the state says the process is gone.
        if (!(isServing(s.state) || s.state === 'starting')) return this.done()
        this.move('exited', reason)
        return s.surge ? this.move('starting', 'its replacement is starting').done() : this.done()
      default:
        return this.done()
    }
  }

  timer(timer: SlotTimer, proc: P | null): SlotTransition<P> {
    const s = this.from
    const { policy } = this.ctx
    switch (timer) {
      case 'start-verify':
        if (s.phase !== 'running' || s.state !== 'starting' || proc === null || !this.owns(proc))
          return this.done()
        return this.effect({
          kind: 'open-incident',
          anomaly: {
            cause: 'start-timeout',
            detail: `not ready within ${policy.verify_timeout} ms of its start (verify_timeout)`,
          },
        }).done()
      case 'revive': {
        if (s.phase !== 'failed' || !s.outage) return this.done()
        const attempt = s.outage.attempts + 1
        this.slot.outage = { ...s.outage, attempts: attempt }
        return this.effect({ kind: 'spawn-trial', attempt }).done()
      }
      case 'trial-verify':
        if (s.phase !== 'trial' || s.state !== 'starting' || proc === null || !this.owns(proc))
          return this.done()
        return this.failTrial('not ready within verify_timeout')
      case 'trial-stable': {
        if (s.phase !== 'trial' || !s.trial || !s.outage || proc === null || !this.owns(proc))
          return this.done()
        const readyAt = s.trial.readyAt ?? this.ctx.now
        this.slot.phase = 'running'
        this.slot.trial = null
        this.slot.outage = null
        return this.effect({
          kind: 'revived',
          attempts: s.trial.attempt,
          afterMs: Math.max(0, readyAt - s.outage.since),
          incidentId: s.outage.incidentId,
        }).done()
      }
      default:
        return assertNever(timer)
    }
  }

  opened(incident: Incident, live: boolean): SlotTransition<P> {
    const s = this.from
    this.expect(s.phase === 'running' || s.phase === 'failed' || s.phase === 'trial', 'incident-opened')
    this.slot.phase = 'recovering'
    this.slot.incident = incident
    this.slot.trial = null
    return live ? this.done() : this.move('restarting', `incident ${incident.id}`).done()
  }

  /** Escalated, or the flow failed: failed, out of service, and tried again at the revive interval. */
  fail(incident: Incident, reason: string): SlotTransition<P> {
    const s = this.from
    this.slot.phase = 'failed'
    this.slot.incident = null
    this.slot.surge = null
    // The outage started with the fault this incident was opened for; a later escalation of the
    // same outage (a manual restart that fails) keeps that start.
    this.slot.outage = s.outage ?? {
      since: incident.detectedAt,
      incidentId: incident.id,
      attempts: 0,
      lastFailure: reason,
    }
    return this.move('failed', reason)
      .effect({ kind: 'arm', timer: 'revive', ms: this.ctx.policy.revive_interval, proc: null })
      .done()
  }

  /** A revive attempt failed: back to failed, quietly; a digest at attempts 2, 4, 8…; the next attempt later. */
  failTrial(why: string): SlotTransition<P> {
    const s = this.from
    const attempt = s.trial?.attempt ?? 0
    const outage: Outage = { ...s.outage!, lastFailure: why }
    this.slot.phase = 'failed'
    this.slot.trial = null
    this.slot.outage = outage
    if (s.proc !== null) this.effect({ kind: 'kill', proc: s.proc, reason: `revive attempt failed: ${why}` })
    this.move('failed', `revive attempt ${attempt} failed: ${why}`)
    if (stillFailingDigestDue(attempt)) this.effect({ kind: 'still-failing', outage })
    return this.effect({
      kind: 'arm',
      timer: 'revive',
      ms: this.ctx.policy.revive_interval,
      proc: null,
    }).done()
  }
}

function assertNever(x: never): never {
  throw new ShepherdError('SHEPHERD_INTERNAL', `unexpected ${JSON.stringify(x)}`)
}
