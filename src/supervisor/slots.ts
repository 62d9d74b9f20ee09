/**
 * Drives the slot machine (src/core/slot.ts): every event about a slot goes through `dispatch`,
 * which applies the machine's transition and carries out its effects: announces state moves (and
 * keeps the pool's availability), arms the slot's timers, opens incidents, starts revive attempts,
 * kills what must not run on, and says when a failed worker is back or still failing.
 * @module
 */
import type { ResolvedPool } from '../config/load.js'
import { formatDuration } from '../config/units.js'
import { noteAvailability } from '../core/availability.js'
import type { ExitReport } from '../core/exit-report.js'
import { EMPTY_HISTORY } from '../core/restart-policy.js'
import { stepSlot } from '../core/slot.js'
import {
  type SlotAnomaly,
  type SlotEffect,
  type SlotEvent,
  type SlotPolicy,
  type SlotState,
  type SlotTimer,
} from '../core/slot-model.js'
import type { Logger } from '../logger.js'
import type { Clock } from '../ports/clock.js'
import type { Emit } from './deps.js'
import { servingCount, type Slot } from './pool-runtime.js'
import type { Timer, TimerSet } from './timer-set.js'
import type { WorkerProcess } from './worker-process.js'

export interface SlotsDeps {
  clock: Clock
  timers: TimerSet
  emit: Emit
  logger: Logger
  /** Starts a process for the slot. */
  spawn: (slot: Slot) => WorkerProcess
  /** Opens an incident for the slot (Recovery.open). */
  openIncident: (slot: Slot, anomaly: SlotAnomaly, exit?: ExitReport) => void
}

export type SlotDispatch = (slot: Slot, event: SlotEvent<WorkerProcess>) => boolean

export class Slots {
  /** Each slot's pending timers, one of each kind: arming one again replaces it. */
  private readonly pending = new WeakMap<Slot, Map<SlotTimer, Timer>>()

  constructor(private readonly d: SlotsDeps) {}

  /**
   * Applies one event to the slot and carries out the effects. An event the machine refuses (a bug:
   * an event its phase cannot receive, a move worker-state.ts does not allow) changes nothing and is
   * logged as an error; returns whether the event was applied.
   */
  dispatch(slot: Slot, event: SlotEvent<WorkerProcess>): boolean {
    const before = slot.status
    const now = this.d.clock.now()
    let next: { slot: SlotState<WorkerProcess>; effects: SlotEffect<WorkerProcess>[] }
    try {
      next = stepSlot(before, event, { now, policy: policyOf(slot.pool.cfg) })
    } catch (e) {
      this.d.logger.error({ err: e, worker: slot.id, event: event.type }, 'the slot machine refused an event')
      return false
    }
    slot.status = next.slot
    for (const effect of next.effects) this.perform(slot, effect, before, now)
    return true
  }

  /** Starts a slot's first process (at start, or when the pool scales out). */
  launch(slot: Slot): void {
    const wp = this.start(slot)
    this.d.emit(
      'worker:spawned',
      'info',
      { pool: slot.pool.cfg.name, workerId: slot.id },
      `${slot.id} spawned (pid ${wp.pid})`,
      { pid: wp.pid, spare: false },
    )
  }

  private start(slot: Slot): WorkerProcess {
    const wp = this.d.spawn(slot)
    this.dispatch(slot, { type: 'spawned', proc: wp, pid: wp.pid })
    wp.onReady((how) => this.dispatch(slot, { type: 'ready', proc: wp, how }))
    return wp
  }

  /** Carries out one effect of a transition made at `now` (its moves are announced at that time). */
  private perform(
    slot: Slot,
    e: SlotEffect<WorkerProcess>,
    before: SlotState<WorkerProcess>,
    now: number,
  ): void {
    const pool = slot.pool
    const origin = { pool: pool.cfg.name, workerId: slot.id }
    switch (e.kind) {
      case 'state': {
        pool.availability = noteAvailability(
          pool.availability,
          now,
          servingCount(pool) >= pool.cfg.replicas.min,
        )
        const proc = slot.status.proc
        this.d.emit(
          'worker:state',
          'info',
          { ...origin, incidentId: (slot.status.incident ?? before.incident)?.id ?? null },
          `${slot.id} ${e.from} → ${e.to}: ${e.reason}`,
          { from: e.from, to: e.to, reason: e.reason, pid: proc?.alive ? proc.pid : null },
          now,
        )
        return
      }
      case 'open-incident':
        this.d.openIncident(slot, e.anomaly, e.exit)
        return
      case 'arm': {
        const { timer, proc } = e
        let timers = this.pending.get(slot)
        if (!timers) this.pending.set(slot, (timers = new Map()))
        const previous = timers.get(timer)
        if (previous) this.d.timers.cancel(previous)
        const t = this.d.timers.later(e.ms, () => {
          if (timers.get(timer) === t) timers.delete(timer)
          // A timer about a process that has exited says nothing: its exit speaks for it.
          if (proc && !proc.alive) return
          this.dispatch(slot, { type: 'timer', timer, proc })
        })
        timers.set(timer, t)
        return
      }
      case 'spawn-trial':
        this.start(slot)
        return
      case 'kill':
        void e.proc.stop({ mode: 'hard', timeoutMs: 0 }, e.reason, now)
        return
      case 'reset-backoff':
        slot.history = EMPTY_HISTORY
        return
      case 'revived': {
        const { stable_after } = pool.cfg.recovery
        this.d.emit(
          'worker:revived',
          'warning',
          { ...origin, incidentId: e.incidentId },
          `${slot.id} runs again, after ${formatDuration(e.afterMs)} out of service and ${plural(e.attempts, 'revive attempt')}; it has run ${formatDuration(stable_after)} since`,
          { afterMs: e.afterMs, incidentId: e.incidentId, attempts: e.attempts },
        )
        return
      }
      case 'still-failing': {
        const { outage } = e
        const out = formatDuration(Math.max(0, now - outage.since))
        this.d.emit(
          'worker:still-failing',
          'warning',
          { ...origin, incidentId: outage.incidentId },
          `${slot.id} is still failing after ${plural(outage.attempts, 'revive attempt')}, out of service for ${out}; the latest: ${outage.lastFailure}`,
          {
            attempts: outage.attempts,
            since: outage.since,
            incidentId: outage.incidentId,
            lastFailure: outage.lastFailure,
          },
        )
        return
      }
      default:
        return assertNever(e)
    }
  }
}

function policyOf(cfg: ResolvedPool): SlotPolicy {
  const r = cfg.recovery
  return {
    verify_timeout: r.verify_timeout,
    revive_interval: r.revive_interval,
    stable_after: r.stable_after,
  }
}

export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function assertNever(x: never): never {
  throw new Error(`unexpected slot effect ${JSON.stringify(x)}`)
}
