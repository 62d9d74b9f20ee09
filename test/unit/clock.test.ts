/** The supervisor's clock never runs backwards; fake timers count elapsed time, not the clock. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { FakeClock, steadyClock } from '../../src/ports/clock.js'
import { FakeTimers } from '../helpers/fake-timers.js'

describe('steadyClock', () => {
  it('absorbs a step back: readings go on from the last one, durations stay true', () => {
    const raw = new FakeClock(10_000)
    const c = steadyClock(raw)
    assert.equal(c.now(), 10_000)
    raw.advance(500)
    assert.equal(c.now(), 10_500)
    raw.set(1_000) // back 9.5 s
    assert.equal(c.now(), 10_500, 'never earlier than a reading before')
    raw.advance(200)
    assert.equal(c.now(), 10_700, '200 ms later is 200 ms later')
  })
  it('takes a step forward as it comes', () => {
    const raw = new FakeClock(0)
    const c = steadyClock(raw)
    c.now()
    raw.set(60_000)
    assert.equal(c.now(), 60_000)
  })
})

describe('FakeTimers', () => {
  it('fire after the time that passed, whatever the clock was set to meanwhile', () => {
    const clock = new FakeClock(1_000_000)
    const timers = new FakeTimers(clock)
    const fired: number[] = []
    timers.set(() => fired.push(clock.now()), 1_000)
    clock.set(0) // the clock jumps back
    timers.advance(999)
    assert.deepEqual(fired, [])
    timers.advance(1)
    assert.deepEqual(fired, [1_000])
  })
  it('run deferred calls at the next advance, before later timers', () => {
    const timers = new FakeTimers(new FakeClock(0))
    const order: string[] = []
    timers.set(() => order.push('timer'), 1)
    timers.defer(() => order.push('deferred'))
    timers.advance(0)
    assert.deepEqual(order, ['deferred'])
    timers.advance(1)
    assert.deepEqual(order, ['deferred', 'timer'])
  })
})
