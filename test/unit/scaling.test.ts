import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  decideScale,
  FRESH_SCALE,
  type ScaleInput,
  type ScaleState,
  throughputBaseline,
} from '../../src/core/scaling.js'

const base: ScaleInput = {
  backlog: 0,
  queueSize: 100,
  replicas: { min: 2, max: 4 },
  current: 2,
  cooldownMs: 60_000,
}

describe('queue-driven scaling', () => {
  it('scales out one worker per check while the backlog is above queue_size, up to replicas.max', () => {
    let s: ScaleState = FRESH_SCALE
    const actions: string[] = []
    let current = 2
    for (let t = 0; t < 5; t++) {
      const d = decideScale(s, { ...base, backlog: 500, current }, t * 1000)
      s = d.state
      actions.push(d.action)
      if (d.action === 'out') current++
    }
    assert.deepEqual(actions, ['out', 'out', 'none', 'none', 'none'])
    assert.equal(current, 4)
  })

  it('scales back in one worker per cool-down once the backlog stays low, never below replicas.min', () => {
    let s: ScaleState = FRESH_SCALE
    let current = 4
    const log: Array<[number, string]> = []
    for (let t = 0; t <= 200_000; t += 10_000) {
      const d = decideScale(s, { ...base, backlog: 5, current }, t)
      s = d.state
      if (d.action !== 'none') log.push([t, d.action])
      if (d.action === 'in') current--
    }
    assert.deepEqual(log, [
      [60_000, 'in'],
      [120_000, 'in'],
    ])
    assert.equal(current, 2)
  })

  it('restarts the cool-down when the backlog rises again', () => {
    let s = decideScale(FRESH_SCALE, { ...base, backlog: 5, current: 3 }, 0).state
    s = decideScale(s, { ...base, backlog: 150, current: 3 }, 50_000).state
    assert.equal(s.lowSince, null)
    const d = decideScale(s, { ...base, backlog: 5, current: 3 }, 70_000)
    assert.equal(d.action, 'none')
    assert.equal(decideScale(d.state, { ...base, backlog: 5, current: 3 }, 130_000).action, 'in')
  })
})

describe('throughput baseline', () => {
  it('is the mean of earlier readings, so a drop does not lower its own baseline', () => {
    let h: number[] = []
    for (const v of [100, 100, 100]) h = throughputBaseline(h, v).history
    const r = throughputBaseline(h, 10)
    assert.equal(r.baseline, 100)
    assert.equal(throughputBaseline([], 42).baseline, 42)
  })
  it('keeps the last ten readings', () => {
    let h: number[] = []
    for (let i = 0; i < 25; i++) h = throughputBaseline(h, i).history
    assert.deepEqual(h, [15, 16, 17, 18, 19, 20, 21, 22, 23, 24])
  })
})

describe('availability', () => {
  it('is the share of observed time at full strength, counting up to now', async () => {
    const { startAvailability, noteAvailability, availabilityRatio } =
      await import('../../src/core/availability.js')
    let a = startAvailability(0, true)
    a = noteAvailability(a, 9_000, false)
    a = noteAvailability(a, 10_000, true)
    assert.equal(availabilityRatio(a, 10_000), 0.9)
    assert.equal(availabilityRatio(a, 20_000), 0.95)
    assert.equal(availabilityRatio(startAvailability(5, true), 5), 1)
    // A clock that steps back adds no time and takes none away.
    const b = noteAvailability(a, 5_000, false)
    assert.equal(b.observedMs, a.observedMs)
  })
})
