/**
 * When scheduled reports run: the pure next-run function in a time zone with daylight saving, and
 * the scheduler driven by a fake clock and fake timers.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { FakeClock, type TimerPort } from '../../src/ports/clock.js'
import { nextRunAt, parseTimeOfDay } from '../../src/report/schedule.js'
import { ReportScheduler } from '../../src/report/scheduler.js'

// A zone with daylight saving: in 2025 clocks go forward on 30 March and back on 26 October.
process.env.TZ = 'Europe/Berlin'

const H = 3_600_000
const DAY = 24 * H
/** Local time in Berlin. */
const at = (y: number, mo: number, d: number, h: number, mi = 0) => new Date(y, mo - 1, d, h, mi).getTime()

describe('nextRunAt', () => {
  it('without `at`: every `every` from the start, then from the previous run', () => {
    const now = at(2025, 3, 14, 8, 15)
    assert.equal(nextRunAt(now, { every: DAY }, null), now + DAY)
    assert.equal(nextRunAt(now + DAY + 5, { every: DAY }, now + DAY), now + 2 * DAY)
    // The machine slept through three runs: the next is the first one after now, not three at once.
    assert.equal(nextRunAt(now + 3.5 * DAY, { every: DAY }, now + DAY), now + 4 * DAY)
  })

  it('daily at 09:00: the next 09:00, today or tomorrow', () => {
    const rule = { every: DAY, at: '09:00' }
    assert.equal(nextRunAt(at(2025, 3, 14, 8, 15), rule, null), at(2025, 3, 14, 9))
    assert.equal(nextRunAt(at(2025, 3, 14, 9), rule, null), at(2025, 3, 15, 9))
    assert.equal(nextRunAt(at(2025, 3, 14, 23, 59), rule, null), at(2025, 3, 15, 9))
    assert.equal(nextRunAt(at(2025, 3, 14, 9) + 10, rule, at(2025, 3, 14, 9)), at(2025, 3, 15, 9))
  })

  it('keeps 09:00 local across daylight-saving changes (23 h and 25 h days)', () => {
    const rule = { every: DAY, at: '09:00' }
    const spring = nextRunAt(at(2025, 3, 29, 9) + 1, rule, at(2025, 3, 29, 9))
    assert.equal(spring, at(2025, 3, 30, 9))
    assert.equal(spring - at(2025, 3, 29, 9), 23 * H)
    const autumn = nextRunAt(at(2025, 10, 25, 9) + 1, rule, at(2025, 10, 25, 9))
    assert.equal(autumn, at(2025, 10, 26, 9))
    assert.equal(autumn - at(2025, 10, 25, 9), 25 * H)
    assert.equal(new Date(autumn).getHours(), 9)
  })

  it('weekly at 09:00: the next 09:00, then every seven days by the calendar', () => {
    const rule = { every: 7 * DAY, at: '09:00' }
    const first = nextRunAt(at(2025, 3, 24, 10), rule, null)
    assert.equal(first, at(2025, 3, 25, 9))
    assert.equal(nextRunAt(first + 1, rule, first), at(2025, 4, 1, 9))
  })

  it('every 6h at 09:00 runs through 09:00: 03:00, 09:00, 15:00, 21:00', () => {
    const rule = { every: 6 * H, at: '9:00' }
    assert.equal(nextRunAt(at(2025, 3, 14, 10), rule, null), at(2025, 3, 14, 15))
    assert.equal(nextRunAt(at(2025, 3, 14, 2), rule, null), at(2025, 3, 14, 3))
    assert.equal(nextRunAt(at(2025, 3, 14, 22), rule, null), at(2025, 3, 15, 3))
    assert.equal(nextRunAt(at(2025, 3, 14, 15) + 1, rule, at(2025, 3, 14, 15)), at(2025, 3, 14, 21))
  })

  it('refuses a schedule that cannot run', () => {
    assert.throws(() => nextRunAt(0, { every: 0 }, null), RangeError)
    assert.throws(() => parseTimeOfDay('25:00'), /expected a time of day "HH:MM", got "25:00"/)
    assert.deepEqual(parseTimeOfDay('7:05'), { hour: 7, minute: 5 })
  })
})

/** Timers that only record; the test fires them. */
class FakeTimers implements TimerPort {
  pending: { fn: () => void; ms: number; id: number }[] = []
  private seq = 0
  set(fn: () => void, ms: number): unknown {
    const id = ++this.seq
    this.pending.push({ fn, ms, id })
    return id
  }
  clear(handle: unknown): void {
    this.pending = this.pending.filter((t) => t.id !== handle)
  }
  /** Advances the clock by the only pending timer's delay and fires it. */
  fire(clock: FakeClock): void {
    assert.equal(this.pending.length, 1, 'exactly one timer is armed')
    const t = this.pending.shift()!
    clock.advance(t.ms)
    t.fn()
  }
}

/** Lets the run's promise chain settle. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('ReportScheduler', () => {
  it('runs at each time of the schedule, with the time it was due', async () => {
    const clock = new FakeClock(at(2025, 3, 14, 8, 15))
    const timers = new FakeTimers()
    const runs: number[] = []
    const s = new ReportScheduler({
      rule: { every: DAY, at: '09:00' },
      now: () => clock.now(),
      run: async (due) => void runs.push(due),
      onError: (e) => assert.fail(e),
      timers,
    })
    s.start()
    s.start()
    assert.equal(s.nextAt, at(2025, 3, 14, 9))
    assert.equal(timers.pending[0]!.ms, 45 * 60_000)
    timers.fire(clock)
    await settle()
    assert.deepEqual(runs, [at(2025, 3, 14, 9)])
    assert.equal(s.nextAt, at(2025, 3, 15, 9))
    timers.fire(clock)
    await settle()
    assert.deepEqual(runs, [at(2025, 3, 14, 9), at(2025, 3, 15, 9)])
    await s.stop()
    assert.equal(s.nextAt, null)
    assert.equal(timers.pending.length, 0)
  })

  it('splits a wait longer than a timer takes, and runs only once it is due', async () => {
    const clock = new FakeClock(at(2025, 1, 1, 0))
    const timers = new FakeTimers()
    let runs = 0
    const s = new ReportScheduler({
      rule: { every: 30 * DAY },
      now: () => clock.now(),
      run: async () => void runs++,
      onError: (e) => assert.fail(e),
      timers,
    })
    s.start()
    assert.equal(timers.pending[0]!.ms, 2 ** 31 - 1)
    timers.fire(clock)
    await settle()
    assert.equal(runs, 0)
    assert.equal(timers.pending[0]!.ms, 30 * DAY - (2 ** 31 - 1))
    timers.fire(clock)
    await settle()
    assert.equal(runs, 1)
    await s.stop()
  })

  it('skips a run while the one before is still going, and goes on after a failure', async () => {
    const clock = new FakeClock(0)
    const timers = new FakeTimers()
    const skipped: number[] = []
    const errors: string[] = []
    let release: () => void = () => undefined
    let calls = 0
    const s = new ReportScheduler({
      rule: { every: 1000 },
      now: () => clock.now(),
      run: (due) => {
        calls++
        if (calls === 1) return new Promise<void>((resolve) => (release = resolve))
        return Promise.reject(new Error(`store closed at ${due}`))
      },
      onError: (e) => errors.push(e.message),
      onSkip: (due) => skipped.push(due),
      timers,
    })
    s.start()
    timers.fire(clock) // 1000: runs, and hangs
    timers.fire(clock) // 2000: skipped
    assert.deepEqual(skipped, [2000])
    release()
    await settle()
    timers.fire(clock) // 3000: runs, fails
    await settle()
    assert.deepEqual(errors, ['store closed at 3000'])
    assert.equal(calls, 2)
    assert.equal(s.nextAt, 4000)
    await s.stop()
  })

  it('stop waits for the run under way and arms nothing more', async () => {
    const clock = new FakeClock(0)
    const timers = new FakeTimers()
    let finished = false
    const s = new ReportScheduler({
      rule: { every: 1000 },
      now: () => clock.now(),
      run: async () => {
        await settle()
        finished = true
      },
      onError: (e) => assert.fail(e),
      timers,
    })
    s.start()
    timers.fire(clock)
    await s.stop()
    assert.equal(finished, true)
    assert.equal(timers.pending.length, 0)
    s.start()
    assert.equal(timers.pending.length, 0, 'a stopped scheduler stays stopped')
  })
})
