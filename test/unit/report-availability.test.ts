/**
 * The availability replay: fake event streams, and the exact time at full strength they give.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { type AvailabilityEvent, replayAvailability } from '../../src/report/availability.js'

const started = (at: number): AvailabilityEvent => ({
  type: 'supervisor:started',
  at,
  pool: null,
  workerId: null,
  data: {},
})
const stopping = (at: number): AvailabilityEvent => ({
  type: 'supervisor:stopping',
  at,
  pool: null,
  workerId: null,
  data: {},
})
const state = (at: number, workerId: string, to: string): AvailabilityEvent => ({
  type: 'worker:state',
  at,
  pool: workerId.split('#')[0]!,
  workerId,
  data: { from: 'x', to, reason: '', pid: null },
})
const other = (at: number): AvailabilityEvent => ({
  type: 'health:changed',
  at,
  pool: 'email',
  workerId: 'email#1',
  data: {},
})

const EMAIL = [{ name: 'email', minReplicas: 2 }]

describe('availability replay', () => {
  it('counts the time with replicas.min workers ready or degraded, over the time the supervisor ran', () => {
    const events = [
      started(0),
      state(100, 'email#1', 'ready'),
      state(200, 'email#2', 'ready'), // full from 200
      state(500, 'email#2', 'degraded'), // still serving
      state(600, 'email#1', 'exited'), // short from 600
      state(610, 'email#1', 'restarting'),
      state(650, 'email#1', 'starting'),
      state(700, 'email#1', 'ready'), // full again from 700
      other(800),
    ]
    const a = replayAvailability(events, EMAIL, { from: 0, to: 1000 }, true).get('email')!
    assert.deepEqual(a, { observedMs: 1000, fullMs: 400 + 300, ratio: 0.7 })
  })

  it('clips to the period and knows the state at its start from earlier events', () => {
    const events = [
      started(0),
      state(100, 'email#1', 'ready'),
      state(200, 'email#2', 'ready'),
      state(900, 'email#1', 'exited'),
    ]
    const a = replayAvailability(events, EMAIL, { from: 500, to: 1000 }, true).get('email')!
    assert.deepEqual(a, { observedMs: 500, fullMs: 400, ratio: 0.8 })
  })

  it('does not observe the time the supervisor was stopped, and starts every slot afresh', () => {
    const events = [
      started(0),
      state(0, 'email#1', 'ready'),
      state(0, 'email#2', 'ready'),
      stopping(400),
      state(401, 'email#1', 'stopping'),
      started(1000),
      // Only one worker became ready in this run: the other's "ready" belonged to the last one.
      state(1100, 'email#1', 'ready'),
    ]
    const a = replayAvailability(events, EMAIL, { from: 0, to: 2000 }, true).get('email')!
    assert.deepEqual(a, { observedMs: 400 + 1000, fullMs: 400, ratio: 400 / 1400 })
  })

  it('ends a run that died without stopping at its last event; the run going on now lasts to the end', () => {
    const events = [
      started(0),
      state(100, 'email#1', 'ready'),
      state(100, 'email#2', 'ready'),
      other(300), // the last sign of the first run (it was killed -9 later)
      started(1000),
      state(1200, 'email#1', 'ready'),
      state(1200, 'email#2', 'ready'),
    ]
    const running = replayAvailability(events, EMAIL, { from: 0, to: 2000 }, true).get('email')!
    assert.deepEqual(running, { observedMs: 300 + 1000, fullMs: 200 + 800, ratio: 1000 / 1300 })
    const down = replayAvailability(events, EMAIL, { from: 0, to: 2000 }, false).get('email')!
    assert.deepEqual(down, { observedMs: 300 + 200, fullMs: 200, ratio: 200 / 500 })
  })

  it('gives null when nothing was observed, keeps pools apart, and ignores pools not asked for', () => {
    const pools = [
      { name: 'email', minReplicas: 1 },
      { name: 'reports', minReplicas: 1 },
    ]
    const events = [
      started(0),
      state(0, 'email#1', 'ready'),
      state(0, 'gone#1', 'ready'),
      state(500, 'reports#1', 'ready'),
    ]
    const a = replayAvailability(events, pools, { from: 0, to: 1000 }, true)
    assert.deepEqual(a.get('email'), { observedMs: 1000, fullMs: 1000, ratio: 1 })
    assert.deepEqual(a.get('reports'), { observedMs: 1000, fullMs: 500, ratio: 0.5 })
    assert.equal(a.has('gone'), false)
    const none = replayAvailability([], pools, { from: 0, to: 1000 }, false)
    assert.deepEqual(none.get('email'), { observedMs: 0, fullMs: 0, ratio: null })
  })

  it('survives a clock that steps back between events', () => {
    const events = [
      started(100),
      state(200, 'email#1', 'ready'),
      state(150, 'email#2', 'ready'),
      state(300, 'email#1', 'exited'),
    ]
    const a = replayAvailability(events, EMAIL, { from: 0, to: 400 }, true).get('email')!
    assert.deepEqual(a, { observedMs: 300, fullMs: 100, ratio: 1 / 3 })
  })

  it('counts a scaled-in slot as gone once it stops', () => {
    const pools = [{ name: 'email', minReplicas: 2 }]
    const events = [
      started(0),
      state(0, 'email#1', 'ready'),
      state(0, 'email#2', 'ready'),
      state(0, 'email#3', 'ready'),
      state(500, 'email#3', 'stopping'),
      state(700, 'email#2', 'exited'),
    ]
    const a = replayAvailability(events, pools, { from: 0, to: 1000 }, true).get('email')!
    assert.deepEqual(a, { observedMs: 1000, fullMs: 700, ratio: 0.7 })
  })
})
