import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { ExitReport } from '../../src/core/exit-report.js'
import {
  advance,
  type Incident,
  type IncidentContext,
  incidentDuration,
  type IncidentEffect,
  type IncidentInput,
  type IncidentPolicy,
  openIncident,
  type OpenIncidentParams,
} from '../../src/core/incident.js'
import { FakeClock, seededRandom } from '../../src/ports/clock.js'

const policy: IncidentPolicy = {
  strategies: { default: 'soft_restart', emergency: 'hard_restart' },
  max_retries: 3,
  backoff: { retry_delay: 1000, max_retry_delay: 8000, jitter: 0 },
  restart_limit: { max: 10, window: 60_000 },
  verify_timeout: 5000,
}

function exit(pid: number, over: Partial<ExitReport> = {}): ExitReport {
  return {
    pid,
    exitCode: null,
    signal: 'SIGKILL',
    killedByUs: false,
    forced: false,
    spawnFailed: false,
    at: 0,
    durationMs: 1,
    ...over,
  }
}

/** Drives the machine the way the daemon does, with a fake clock and a scripted world. */
class Harness {
  clock = new FakeClock(1_000_000)
  restarts: number[] = []
  consecutive = 0
  random = seededRandom(7)
  inc!: Incident
  effects: IncidentEffect[] = []
  p: IncidentPolicy

  constructor(p: Partial<IncidentPolicy> = {}) {
    this.p = { ...policy, ...p }
  }
  ctx(): IncidentContext {
    return {
      now: this.clock.now(),
      policy: this.p,
      random: this.random,
      restartTimes: this.restarts,
      consecutiveRestarts: this.consecutive,
    }
  }
  open(params: Partial<OpenIncidentParams> = {}) {
    const t = openIncident(
      {
        id: 'i1',
        workerId: 'email#1',
        pool: 'email',
        cause: 'crash',
        detail: 'killed by SIGKILL',
        pid: 100,
        ...params,
      },
      this.ctx(),
    )
    this.inc = t.incident
    this.effects = t.effects
    return this
  }
  feed(input: IncidentInput, afterMs = 0) {
    this.clock.advance(afterMs)
    if (input.type === 'started') this.restarts.push(this.clock.now())
    const t = advance(this.inc, input, this.ctx())
    this.inc = t.incident
    this.effects = t.effects
    return this
  }
  kinds() {
    return this.effects.map((e) => e.kind)
  }
  steps() {
    return this.inc.timeline.map((s) => s.step)
  }
}

describe('incident flow: the plan’s happy path', () => {
  it('saves state, stops, restarts, restores, verifies, and recovers with every step timestamped', () => {
    const h = new Harness().open()
    assert.equal(h.inc.phase, 'saving')
    assert.deepEqual(h.kinds(), ['save-state'])
    h.feed({ type: 'state-saved', detail: '12 log lines' }, 2)
    assert.equal(h.inc.phase, 'stopping')
    assert.deepEqual(h.effects, [{ kind: 'stop', mode: 'graceful' }])
    assert.equal(h.inc.strategy, 'soft_restart')
    h.feed({ type: 'stopped', exit: exit(100) }, 1)
    assert.deepEqual(h.effects, [{ kind: 'start', surge: false }])
    h.feed({ type: 'started', pid: 101, spare: false }, 1)
    assert.deepEqual(h.kinds(), ['restore-state'])
    h.feed({ type: 'restored', detail: 'no checkpoint' }, 1)
    assert.deepEqual(h.effects, [{ kind: 'verify', timeoutMs: 5000 }])
    h.feed({ type: 'ready', how: 'sdk' }, 150)
    assert.equal(h.inc.phase, 'recovered')
    assert.equal(h.inc.outcome, 'recovered')
    assert.deepEqual(h.kinds(), ['recovered'])
    assert.equal(h.inc.recoveredAt! - h.inc.detectedAt, 155)
    assert.equal(incidentDuration(h.inc, 0), 155)
    assert.equal(h.inc.newPid, 101)
    assert.equal(h.inc.attempt, 1)
    assert.deepEqual(h.steps(), [
      'detected',
      'state-saved',
      'attempt',
      'stopped',
      'started',
      'state-restored',
      'ready',
      'recovered',
    ])
    const times = h.inc.timeline.map((s) => s.at)
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    )
  })

  it('uses the emergency strategy (hard restart) for a hang', () => {
    const h = new Harness().open({ cause: 'hang', detail: 'no heartbeat for 2000 ms' })
    assert.equal(h.inc.severity, 'severe')
    h.feed({ type: 'state-saved', detail: '' })
    assert.deepEqual(h.effects, [{ kind: 'stop', mode: 'hard' }])
  })

  it('scale_recovery starts the replacement first and retires the sick worker after it is ready', () => {
    const h = new Harness({ strategies: { default: 'scale_recovery', emergency: 'hard_restart' } }).open({
      cause: 'memory',
    })
    h.feed({ type: 'state-saved', detail: '' })
    assert.deepEqual(h.effects, [{ kind: 'start', surge: true }])
    h.feed({ type: 'started', pid: 101, spare: false })
    h.feed({ type: 'restored', detail: '' })
    h.feed({ type: 'ready', how: 'sdk' })
    assert.equal(h.inc.phase, 'retiring')
    assert.deepEqual(h.effects, [{ kind: 'retire', mode: 'graceful' }])
    h.feed({ type: 'retired', exit: exit(100, { signal: null, exitCode: 0, killedByUs: true }) })
    assert.equal(h.inc.outcome, 'recovered')
    assert.equal(h.inc.exit?.pid, 100)
  })

  it('a manual hard restart is severe and uses hard_restart', () => {
    const h = new Harness().open({ cause: 'manual', strategy: 'hard_restart', manual: true })
    assert.equal(h.inc.strategy, 'hard_restart')
    assert.equal(h.inc.manual, true)
    h.feed({ type: 'state-saved', detail: '' })
    assert.deepEqual(h.effects, [{ kind: 'stop', mode: 'hard' }])
  })
})

describe('incident flow: retries, backoff, escalation', () => {
  it('retries with the emergency strategy after exponential backoff, then escalates after max_retries', () => {
    const h = new Harness().open()
    h.feed({ type: 'state-saved', detail: '' })
    const delays: number[] = []
    const strategies: string[] = []
    for (let attempt = 1; attempt <= 4; attempt++) {
      strategies.push(h.inc.strategy)
      h.feed({ type: 'stopped', exit: exit(100 + attempt) })
      h.feed({ type: 'started', pid: 200 + attempt, spare: false })
      h.feed({ type: 'restored', detail: '' })
      h.feed({ type: 'verify-failed', reason: 'exited with code 1 before it was ready' }, 30)
      if (attempt < 4) {
        assert.equal(h.inc.phase, 'backoff')
        const wait = h.effects[0] as { kind: 'wait'; ms: number }
        assert.equal(wait.kind, 'wait')
        delays.push(wait.ms)
        h.feed({ type: 'backoff-elapsed' }, wait.ms)
      }
    }
    assert.deepEqual(strategies, ['soft_restart', 'hard_restart', 'hard_restart', 'hard_restart'])
    assert.deepEqual(delays, [1000, 2000, 4000])
    assert.equal(h.inc.phase, 'escalated')
    assert.equal(h.inc.outcome, 'escalated')
    assert.equal(h.inc.attempt, 4)
    assert.match(h.inc.escalationReason!, /not recovered after 4 attempts/)
    assert.deepEqual(h.effects, [{ kind: 'escalate', reason: h.inc.escalationReason }])
  })

  it('max_retries 0 escalates after the first failed attempt', () => {
    const h = new Harness({ max_retries: 0 }).open()
    h.feed({ type: 'state-saved', detail: '' })
    h.feed({ type: 'stopped', exit: exit(100) })
    h.feed({ type: 'start-failed', error: 'ENOENT' })
    assert.equal(h.inc.outcome, 'escalated')
  })

  it('backs off before the first attempt when the worker keeps crashing without becoming stable', () => {
    const h = new Harness()
    h.consecutive = 2
    h.open()
    h.feed({ type: 'state-saved', detail: '' })
    assert.equal(h.inc.phase, 'backoff')
    assert.deepEqual(h.effects, [{ kind: 'wait', ms: 2000 }])
    h.feed({ type: 'backoff-elapsed' }, 2000)
    assert.equal(h.inc.attempt, 1)
    assert.equal(h.inc.strategy, 'soft_restart')
  })

  it('escalates instead of restarting once the pool used up its restart budget', () => {
    const h = new Harness({ restart_limit: { max: 3, window: 60_000 } })
    h.restarts = [h.clock.now() - 3000, h.clock.now() - 2000, h.clock.now() - 1000]
    h.open()
    h.feed({ type: 'state-saved', detail: '' })
    h.feed({ type: 'stopped', exit: exit(100) })
    assert.equal(h.inc.outcome, 'escalated')
    assert.match(h.inc.escalationReason!, /restart_limit/)
  })

  it('the restart budget frees up as the window slides past old restarts', () => {
    const h = new Harness({ restart_limit: { max: 3, window: 60_000 } })
    h.restarts = [h.clock.now() - 61_000, h.clock.now() - 2000, h.clock.now() - 1000]
    h.open()
    h.feed({ type: 'state-saved', detail: '' })
    h.feed({ type: 'stopped', exit: exit(100) })
    assert.equal(h.inc.phase, 'starting')
  })
})

describe('incident flow: cruel cases', () => {
  it('records and ignores inputs that do not fit the phase', () => {
    const h = new Harness().open()
    h.feed({ type: 'ready', how: 'sdk' })
    assert.equal(h.inc.phase, 'saving')
    assert.deepEqual(h.effects, [])
    assert.equal(h.inc.timeline.at(-1)!.step, 'ignored')
  })

  it('is interrupted from any phase and then ignores everything', () => {
    const h = new Harness().open()
    h.feed({ type: 'state-saved', detail: '' })
    h.feed({ type: 'interrupt', reason: 'supervisor stopping' })
    assert.equal(h.inc.outcome, 'interrupted')
    const before = h.inc
    h.feed({ type: 'stopped', exit: exit(100) })
    assert.equal(h.inc, before)
  })

  it('keeps a duration ≥ 0 when the clock jumps backwards', () => {
    const h = new Harness().open()
    h.feed({ type: 'state-saved', detail: '' })
    h.clock.advance(-10_000)
    h.feed({ type: 'interrupt', reason: 'x' })
    assert.equal(incidentDuration(h.inc, h.clock.now()), 0)
  })

  it('keeps the first exit as the sick worker’s, not a failed replacement’s', () => {
    const h = new Harness().open({ exit: exit(100, { exitCode: 3, signal: null }) })
    h.feed({ type: 'state-saved', detail: '' })
    h.feed({ type: 'stopped', exit: exit(100, { exitCode: 3, signal: null }) })
    h.feed({ type: 'started', pid: 101, spare: false })
    h.feed({ type: 'restored', detail: '' })
    h.feed({ type: 'verify-failed', reason: 'x' })
    h.feed({ type: 'backoff-elapsed' }, 1000)
    h.feed({ type: 'stopped', exit: exit(101) })
    assert.equal(h.inc.exit?.pid, 100)
    assert.equal(h.inc.exit?.exitCode, 3)
  })

  it('a warm spare in the start step is recorded as such', () => {
    const h = new Harness().open()
    h.feed({ type: 'state-saved', detail: '' })
    h.feed({ type: 'stopped', exit: exit(100) })
    h.feed({ type: 'started', pid: 555, spare: true })
    assert.match(h.inc.timeline.at(-1)!.detail, /warm spare pid 555/)
  })
})
