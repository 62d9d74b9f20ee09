import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { AnyEvent, EventSeverity } from '../../src/core/events.js'
import type { Incident } from '../../src/core/incident.js'
import {
  decide,
  type Decision,
  emptyPolicyState,
  type PolicyDestination,
  type PolicySettings,
  type PolicyState,
  retryDelay,
} from '../../src/core/notification-policy.js'
import type { AnomalyCause } from '../../src/core/restart-policy.js'
import { FakeClock, seededRandom } from '../../src/ports/clock.js'
import { incidentRecord } from '../helpers/fakes.js'

const T0 = 1_700_000_000_000
const SLACK: PolicyDestination = { name: 'slack', minSeverity: 'warning' }
const HOOK: PolicyDestination = { name: 'hook', minSeverity: 'info' }
const SETTINGS: PolicySettings = { rateLimit: { max: 3, window: 60_000 }, dedupWindow: 10_000 }

/** An incident just opened: still saving state, no outcome yet. */
function incident(id: string, workerId: string, cause: AnomalyCause = 'crash'): Incident {
  return incidentRecord(id, workerId, T0, {
    cause,
    phase: 'saving',
    outcome: null,
    recoveredAt: null,
    endedAt: null,
    newPid: null,
    timeline: [],
  })
}

function base(at: number, severity: EventSeverity, inc: Incident) {
  return { at, severity, message: 'm', pool: inc.pool, workerId: inc.workerId, incidentId: inc.id }
}

const ev = {
  opened: (at: number, inc: Incident): AnyEvent => ({
    ...base(at, 'warning', inc),
    type: 'incident:opened',
    data: { incident: inc },
  }),
  recovered: (at: number, inc: Incident): AnyEvent => ({
    ...base(at, 'info', inc),
    type: 'incident:recovered',
    data: { incident: inc },
  }),
  escalated: (at: number, inc: Incident): AnyEvent => ({
    ...base(at, 'critical', inc),
    type: 'incident:escalated',
    data: { incident: inc, reason: 'not recovered after 4 attempts' },
  }),
  revived: (at: number, workerId: string): AnyEvent => ({
    type: 'worker:revived',
    at,
    severity: 'warning',
    message: `${workerId} runs again`,
    pool: 'email',
    workerId,
    incidentId: null,
    data: { afterMs: 300_000, incidentId: null, attempts: 1 },
  }),
  notifierFailed: (at: number): AnyEvent => ({
    type: 'notifier:failed',
    at,
    severity: 'critical',
    message: 'slack failed',
    pool: null,
    workerId: null,
    incidentId: null,
    data: { notifier: 'slack', error: 'HTTP 500', eventType: 'incident:opened', attempts: 4 },
  }),
  health: (at: number): AnyEvent => ({
    type: 'health:changed',
    at,
    severity: 'warning',
    message: 'email#1 degraded',
    pool: 'email',
    workerId: 'email#1',
    incidentId: null,
    data: { from: 'healthy', to: 'warning', score: 80, worst: 'cpu', detail: 'cpu 95%' },
  }),
}

/** Runs decisions in order, threading the state, and returns each decision. */
class Policy {
  state: PolicyState = emptyPolicyState()
  constructor(readonly s: PolicySettings = SETTINGS) {}
  run(event: AnyEvent, dest: PolicyDestination = SLACK, now: number = event.at): Decision {
    const d = decide(this.state, event, dest, now, this.s)
    this.state = d.state
    return d
  }
  workers(dest: string): number {
    return this.state.destinations.get(dest)?.size ?? 0
  }
}

describe('decide: routing', () => {
  it('never sends notifier:failed or events outside the notifiable set, whatever the severity', () => {
    const p = new Policy()
    const before = p.state
    assert.deepEqual(pick(p.run(ev.notifierFailed(T0), HOOK)), { send: false, reason: 'not-notifiable' })
    assert.deepEqual(pick(p.run(ev.health(T0), HOOK)), { send: false, reason: 'not-notifiable' })
    assert.equal(p.state, before, 'the state is untouched')
  })

  it('sends an event only to destinations whose minSeverity it reaches', () => {
    const p = new Policy()
    const inc = incident('i1', 'email#1')
    assert.deepEqual(pick(p.run(ev.recovered(T0, inc), SLACK)), { send: false, reason: 'below-severity' })
    assert.deepEqual(pick(p.run(ev.recovered(T0, inc), HOOK)), { send: true, reason: 'sent' })
    assert.deepEqual(pick(p.run(ev.opened(T0, inc), SLACK)), { send: true, reason: 'sent' })
    const pager: PolicyDestination = { name: 'pager', minSeverity: 'critical' }
    assert.deepEqual(pick(p.run(ev.opened(T0, inc), pager)), { send: false, reason: 'below-severity' })
    assert.deepEqual(pick(p.run(ev.escalated(T0, inc), pager)), { send: true, reason: 'sent' })
    assert.deepEqual(pick(p.run(ev.revived(T0, 'email#1'), SLACK)), { send: true, reason: 'sent' })
  })

  it('does not count a below-severity event as suppressed', () => {
    const p = new Policy()
    const inc = incident('i1', 'email#1')
    p.run(ev.recovered(T0, inc), SLACK)
    p.run(ev.recovered(T0 + 1, inc), SLACK)
    assert.equal(p.run(ev.opened(T0 + 2, inc), SLACK).suppressedBefore, 0)
  })
})

describe('decide: duplicates', () => {
  it('sends the same (type, worker, cause) once per dedup window, then again once it expires', () => {
    const clock = new FakeClock(T0)
    const p = new Policy()
    assert.equal(p.run(ev.opened(clock.now(), incident('i1', 'email#1'))).reason, 'sent')
    clock.advance(SETTINGS.dedupWindow - 1)
    assert.equal(p.run(ev.opened(clock.now(), incident('i2', 'email#1'))).reason, 'duplicate')
    clock.advance(1)
    const d = p.run(ev.opened(clock.now(), incident('i3', 'email#1')))
    assert.deepEqual(pick(d), { send: true, reason: 'sent' })
    assert.equal(d.suppressedBefore, 1)
  })

  it('keys duplicates by type, worker, cause and destination', () => {
    const p = new Policy()
    assert.equal(p.run(ev.opened(T0, incident('i1', 'email#1', 'crash'))).reason, 'sent')
    assert.equal(p.run(ev.opened(T0, incident('i2', 'email#1', 'memory'))).reason, 'sent', 'another cause')
    assert.equal(p.run(ev.opened(T0, incident('i3', 'email#2', 'crash'))).reason, 'sent', 'another worker')
    assert.equal(
      p.run(ev.opened(T0, incident('i4', 'email#1', 'crash')), HOOK).reason,
      'sent',
      'another destination',
    )
    assert.equal(p.run(ev.recovered(T0, incident('i1', 'email#1')), HOOK).reason, 'sent', 'another type')
    assert.equal(p.run(ev.opened(T0, incident('i5', 'email#1', 'crash'))).reason, 'duplicate')
  })

  it('with dedup_window 0 sends every ordinary event (the rate limit still applies)', () => {
    const p = new Policy({ ...SETTINGS, dedupWindow: 0 })
    const reasons = [1, 2, 3, 4].map((i) => p.run(ev.opened(T0, incident(`i${i}`, 'email#1'))).reason)
    assert.deepEqual(reasons, ['sent', 'sent', 'sent', 'rate-limited'])
  })
})

describe('decide: rate limit', () => {
  it('allows max messages per worker in any sliding window', () => {
    // dedup off, so only the rate limit decides
    const p = new Policy({ rateLimit: { max: 3, window: 1000 }, dedupWindow: 0 })
    const at = (t: number, id: string) => p.run(ev.opened(T0 + t, incident(id, 'email#1'))).reason
    assert.equal(at(0, 'a'), 'sent')
    assert.equal(at(100, 'b'), 'sent')
    assert.equal(at(200, 'c'), 'sent')
    assert.equal(at(300, 'd'), 'rate-limited')
    assert.equal(at(999, 'e'), 'rate-limited', 'the send at 0 is still inside the window')
    const f = p.run(ev.opened(T0 + 1000, incident('f', 'email#1')))
    assert.deepEqual(
      [f.reason, f.suppressedBefore],
      ['sent', 2],
      'the send at 0 has left the window; d and e',
    )
    assert.equal(at(1050, 'g'), 'rate-limited', 'sends at 100, 200 and 1000 are inside')
    const d = p.run(ev.opened(T0 + 1100, incident('h', 'email#1')))
    assert.equal(d.reason, 'sent')
    assert.equal(d.suppressedBefore, 1, 'g')
  })

  it('limits each worker and each destination on its own', () => {
    const p = new Policy({ rateLimit: { max: 1, window: 1000 }, dedupWindow: 0 })
    assert.equal(p.run(ev.opened(T0, incident('a', 'email#1'))).reason, 'sent')
    assert.equal(p.run(ev.opened(T0, incident('b', 'email#1'))).reason, 'rate-limited')
    assert.equal(p.run(ev.opened(T0, incident('c', 'email#2'))).reason, 'sent')
    assert.equal(p.run(ev.opened(T0, incident('d', 'email#1')), HOOK).reason, 'sent')
  })
})

describe('decide: escalations', () => {
  it('always sends an escalation once, past the rate limit and past duplicates of other kinds', () => {
    const p = new Policy({ rateLimit: { max: 1, window: 60_000 }, dedupWindow: 60_000 })
    assert.equal(p.run(ev.opened(T0, incident('i1', 'email#1'))).reason, 'sent')
    assert.equal(p.run(ev.opened(T0 + 1, incident('i2', 'email#1'))).reason, 'duplicate')
    const first = p.run(ev.escalated(T0 + 2, incident('i2', 'email#1')))
    assert.deepEqual(pick(first), { send: true, reason: 'sent' })
    assert.equal(first.suppressedBefore, 1)
    const other = p.run(ev.escalated(T0 + 3, incident('i3', 'email#1')))
    assert.deepEqual(
      pick(other),
      { send: true, reason: 'sent' },
      'another incident of the same worker and cause',
    )
  })

  it('treats the same escalation of the same incident twice as a duplicate, even with dedup_window 0', () => {
    const p = new Policy({ rateLimit: { max: 5, window: 60_000 }, dedupWindow: 0 })
    assert.equal(p.run(ev.escalated(T0, incident('i1', 'email#1'))).reason, 'sent')
    assert.equal(p.run(ev.escalated(T0 + 59_999, incident('i1', 'email#1'))).reason, 'duplicate')
    // Remembered for the longer of the two windows, then forgotten with the rest of the state.
    assert.equal(p.run(ev.escalated(T0 + 60_000, incident('i1', 'email#1'))).reason, 'sent')
  })

  it('counts escalations towards the rate limit of what follows', () => {
    const p = new Policy({ rateLimit: { max: 1, window: 60_000 }, dedupWindow: 0 })
    assert.equal(p.run(ev.escalated(T0, incident('i1', 'email#1'))).reason, 'sent')
    assert.equal(p.run(ev.revived(T0 + 1, 'email#1')).reason, 'rate-limited')
  })
})

describe('decide: suppressed counts', () => {
  it('carries the count to the next message of the same worker and destination, then resets it', () => {
    const clock = new FakeClock(T0)
    const p = new Policy({ rateLimit: { max: 9, window: 600_000 }, dedupWindow: 10_000 })
    const sent: number[] = []
    // A restart loop: 40 crash incidents on one worker, one every 2 s, then an escalation.
    for (let i = 0; i < 40; i++) {
      const d = p.run(ev.opened(clock.advance(2000), incident(`i${i}`, 'email#1')))
      if (d.send) sent.push(d.suppressedBefore)
    }
    const esc = p.run(ev.escalated(clock.advance(2000), incident('i39', 'email#1')))
    assert.equal(esc.send, true)
    // Every 10 s (the dedup window) one opening goes out; the other four are counted in the next.
    assert.deepEqual(sent, [0, 4, 4, 4, 4, 4, 4, 4])
    assert.equal(esc.suppressedBefore, 4)
    // Eight openings and the escalation used up the rate limit of 9.
    assert.equal(p.run(ev.revived(clock.advance(1), 'email#1')).reason, 'rate-limited')
    assert.equal(p.run(ev.revived(clock.advance(600_000), 'email#1')).suppressedBefore, 1)
  })

  it('keeps counts apart per destination and per worker', () => {
    const p = new Policy()
    p.run(ev.opened(T0, incident('a', 'email#1')), SLACK)
    p.run(ev.opened(T0, incident('b', 'email#1')), SLACK)
    p.run(ev.opened(T0, incident('c', 'email#1')), SLACK)
    p.run(ev.opened(T0, incident('d', 'email#1')), HOOK)
    assert.equal(p.run(ev.escalated(T0, incident('x', 'email#2')), SLACK).suppressedBefore, 0)
    assert.equal(p.run(ev.escalated(T0, incident('y', 'email#1')), HOOK).suppressedBefore, 0)
    assert.equal(p.run(ev.escalated(T0, incident('z', 'email#1')), SLACK).suppressedBefore, 2)
  })

  it('keeps a count until a message carries it, even long after the windows', () => {
    const p = new Policy()
    p.run(ev.opened(T0, incident('a', 'email#1')))
    p.run(ev.opened(T0 + 1, incident('b', 'email#1')))
    const later = T0 + 24 * 3_600_000
    assert.equal(p.run(ev.opened(later, incident('c', 'email#1'))).suppressedBefore, 1)
  })
})

describe('decide: bounded state', () => {
  it('forgets what no window needs any more', () => {
    const clock = new FakeClock(T0)
    const p = new Policy()
    for (let i = 0; i < 1000; i++) {
      p.run(ev.opened(clock.advance(500), incident(`i${i}`, `email#${i % 20}`, i % 2 ? 'crash' : 'memory')))
      p.run(ev.escalated(clock.now(), incident(`i${i}`, `email#${i % 20}`)))
    }
    const mem = p.state.destinations.get('slack')!
    assert.equal(mem.size, 20)
    for (const m of mem.values()) {
      assert.ok(m.sendTimes.length <= 120, `send times stay within the rate window (${m.sendTimes.length})`)
      assert.ok(m.marks.size <= 2 + 120, `marks stay within the windows (${m.marks.size})`)
    }
    // Once every window has passed, the next decision sweeps the destination clean.
    p.run(
      ev.opened(clock.advance(SETTINGS.rateLimit.window + SETTINGS.dedupWindow), incident('z', 'email#99')),
    )
    assert.deepEqual([...p.state.destinations.get('slack')!.keys()], ['email#99'])
  })

  it('tracks at most maxTrackedWorkers workers per destination, evicting the least recent', () => {
    const p = new Policy({ ...SETTINGS, maxTrackedWorkers: 50 })
    for (let i = 0; i < 500; i++) p.run(ev.opened(T0 + i, incident(`i${i}`, `w#${i}`)))
    assert.equal(p.workers('slack'), 50)
    assert.ok(p.state.destinations.get('slack')!.has('w#499'))
    assert.ok(!p.state.destinations.get('slack')!.has('w#449'))
  })

  it('does not change the state it was given', () => {
    const p = new Policy()
    p.run(ev.opened(T0, incident('a', 'email#1')))
    const before = p.state
    const snapshot = JSON.stringify(
      [...before.destinations.get('slack')!].map(([k, v]) => [k, [...v.marks], v]),
    )
    decide(before, ev.opened(T0 + 1, incident('b', 'email#1')), SLACK, T0 + 1, SETTINGS)
    decide(before, ev.opened(T0 + 1, incident('c', 'email#2')), SLACK, T0 + 1, SETTINGS)
    const after = JSON.stringify([...before.destinations.get('slack')!].map(([k, v]) => [k, [...v.marks], v]))
    assert.equal(after, snapshot)
  })
})

describe('retryDelay', () => {
  it('doubles from the base, stays within ±20%, and never exceeds the cap', () => {
    const random = seededRandom(42)
    for (let attempt = 1; attempt <= 12; attempt++) {
      const nominal = Math.min(30_000, 1000 * 2 ** (attempt - 1))
      for (let i = 0; i < 200; i++) {
        const d = retryDelay(attempt, 1000, 30_000, random)
        assert.ok(d >= Math.floor(nominal * 0.8) && d <= Math.ceil(nominal * 1.2), `attempt ${attempt}: ${d}`)
        assert.ok(d <= 30_000)
      }
    }
  })

  it('hits the edges of the jitter exactly', () => {
    assert.equal(
      retryDelay(1, 1000, 30_000, () => 0),
      800,
    )
    assert.equal(
      retryDelay(3, 1000, 30_000, () => 0.5),
      4000,
    )
    assert.equal(
      retryDelay(2, 1000, 30_000, () => 0.999999),
      2400,
    )
    assert.equal(
      retryDelay(10, 1000, 30_000, () => 0.999999),
      30_000,
      'capped after the jitter too',
    )
  })

  it('treats an attempt below 1 as the first, and huge attempts without overflow', () => {
    assert.equal(
      retryDelay(0, 1000, 30_000, () => 0.5),
      1000,
    )
    assert.equal(
      retryDelay(10_000, 1000, 30_000, () => 0.5),
      30_000,
    )
  })

  it('is deterministic for a seeded random', () => {
    const a = seededRandom(7)
    const b = seededRandom(7)
    const xs = [1, 2, 3, 4].map((n) => retryDelay(n, 1000, 30_000, a))
    const ys = [1, 2, 3, 4].map((n) => retryDelay(n, 1000, 30_000, b))
    assert.deepEqual(xs, ys)
  })
})

function pick(d: Decision): { send: boolean; reason: string } {
  return { send: d.send, reason: d.reason }
}
