/**
 * The notification lanes under fake time: retries with backoff, Retry-After, time limits, rate
 * limits, drain and close, each to the millisecond, with a scripted notifier in place of HTTP.
 * (test/integration/notify.test.ts does the same over real HTTP.)
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { AnyEvent } from '../../src/core/events.js'
import { retryDelay } from '../../src/core/notification-policy.js'
import { silentLogger } from '../../src/logger.js'
import {
  type DeliveryContext,
  DeliveryError,
  type DeliveryFailure,
  type DispatcherSettings,
  MAX_RETRY_AFTER_MS,
  NotificationDispatcher,
  type Notifier,
} from '../../src/notify/index.js'
import { FakeClock, seededRandom } from '../../src/ports/clock.js'
import { FakeTimers } from '../helpers/fake-timers.js'

const T0 = 1_700_000_000_000

/** What one call of the scripted notifier does. */
type Step =
  | 'ok'
  | { fail: string; retryable?: boolean; retryAfterMs?: number }
  /** Never settles, and ignores its signal: only the dispatcher's time limit ends it. */
  | 'hang'

class ScriptedNotifier implements Notifier {
  readonly minSeverity = 'info' as const
  readonly calls: { at: number; event: AnyEvent; ctx: DeliveryContext; signal: AbortSignal }[] = []
  readonly timeoutMs: number | undefined

  constructor(
    readonly name: string,
    private readonly clock: FakeClock,
    private readonly script: Step[],
    o: { timeoutMs?: number } = {},
  ) {
    this.timeoutMs = o.timeoutMs
  }

  deliver(event: AnyEvent, ctx: DeliveryContext, signal: AbortSignal): Promise<void> {
    this.calls.push({ at: this.clock.now() - T0, event, ctx, signal })
    const step = this.script[Math.min(this.calls.length, this.script.length) - 1]!
    if (step === 'ok') return Promise.resolve()
    if (step === 'hang') return new Promise(() => undefined)
    return Promise.reject(
      new DeliveryError(step.fail, { retryable: step.retryable ?? true, retryAfterMs: step.retryAfterMs }),
    )
  }

  /** When each call began, ms after T0. */
  get times(): number[] {
    return this.calls.map((c) => c.at)
  }
}

const SETTINGS: DispatcherSettings = {
  rate_limit: { max: 5, window: 600_000 },
  dedup_window: 0,
  retries: 3,
  timeout: 10_000,
}

function setup(script: Step[], o: { settings?: Partial<DispatcherSettings>; timeoutMs?: number } = {}) {
  const clock = new FakeClock(T0)
  const timers = new FakeTimers(clock)
  const notifier = new ScriptedNotifier('hook:test', clock, script, { timeoutMs: o.timeoutMs })
  const failures: DeliveryFailure[] = []
  const d = new NotificationDispatcher({
    notifiers: [notifier],
    settings: { ...SETTINGS, ...o.settings },
    now: () => clock.now(),
    random: seededRandom(7),
    logger: silentLogger(),
    timers,
    drainTimers: timers,
    onDeliveryFailed: (f) => failures.push(f),
  })
  return { clock, timers, notifier, failures, d }
}

let jobs = 0
/** A notifiable event of `workerId`, never a duplicate of another (its own job). */
function quarantined(workerId = 'email#1'): AnyEvent {
  const jobId = `job-${++jobs}`
  return {
    type: 'job:quarantined',
    at: T0,
    severity: 'warning',
    message: `${jobId} quarantined`,
    pool: 'email',
    workerId,
    incidentId: null,
    data: { jobId, queue: 'email', crashes: 3, error: null },
  }
}

/** A critical event: never rate-limited. */
function storeFailed(): AnyEvent {
  return {
    type: 'store:failed',
    at: T0,
    severity: 'critical',
    message: 'the disk is full',
    pool: null,
    workerId: null,
    incidentId: null,
    data: { problem: 'full', message: 'the disk is full', storePath: '/x.db' },
  }
}

/** The backoff the dispatcher computes for attempts 1.., with the same seeded jitter. */
function backoff(n: number, base = 1000, cap = 30_000): number[] {
  const random = seededRandom(7)
  return Array.from({ length: n }, (_, i) => retryDelay(i + 1, base, cap, random))
}

/** Running sums: when each attempt starts, given the waits before it. */
function startTimes(waits: number[]): number[] {
  const out = [0]
  for (const w of waits) out.push(out[out.length - 1]! + w)
  return out
}

describe('NotificationDispatcher under fake time', () => {
  it('retries a retryable failure with exponential backoff, to the millisecond, and delivers once', async () => {
    const { timers, notifier, failures, d } = setup([{ fail: 'HTTP 500' }, { fail: 'HTTP 502' }, 'ok'])
    d.publish(quarantined())
    const [w1, w2] = backoff(2)
    await timers.run(w1! + w2! - 1)
    assert.deepEqual(notifier.times, [0, w1], 'the third attempt not yet')
    await timers.run(1)
    assert.deepEqual(notifier.times, startTimes([w1!, w2!]))
    assert.ok(w1! >= 800 && w1! <= 1200 && w2! >= 1600 && w2! <= 2400, `jittered 1 s, 2 s: ${w1}, ${w2}`)
    assert.deepEqual(failures, [])
    assert.deepEqual(d.stats()[0], {
      notifier: 'hook:test',
      queued: 0,
      inFlight: false,
      delivered: 1,
      failed: 0,
      dropped: 0,
      fleetSuppressed: 0,
    })
    assert.equal(timers.size, 0, 'no timer is left behind')
  })

  it('gives up after `retries` retries and reports it once; a non-retryable failure at once', async () => {
    const { timers, notifier, failures, d } = setup([{ fail: 'HTTP 503' }])
    d.publish(quarantined())
    await timers.run(60_000)
    assert.deepEqual(notifier.times, startTimes(backoff(3)))
    assert.deepEqual(failures, [
      { notifier: 'hook:test', eventType: 'job:quarantined', error: 'HTTP 503', attempts: 4 },
    ])

    const refused = setup([{ fail: 'HTTP 404', retryable: false }])
    refused.d.publish(quarantined())
    await refused.timers.run(0)
    assert.deepEqual(refused.notifier.times, [0])
    assert.deepEqual(refused.failures, [
      { notifier: 'hook:test', eventType: 'job:quarantined', error: 'HTTP 404', attempts: 1 },
    ])
    assert.equal(refused.timers.size, 0)
  })

  it('waits what Retry-After asks when it is longer than the backoff, and no longer', async () => {
    const { timers, notifier, failures, d } = setup([{ fail: 'HTTP 429', retryAfterMs: 7_000 }, 'ok'])
    d.publish(quarantined())
    await timers.run(6_999)
    assert.deepEqual(notifier.times, [0])
    await timers.run(1)
    assert.deepEqual(notifier.times, [0, 7_000])
    assert.deepEqual(failures, [])

    // A Retry-After shorter than the backoff: the backoff.
    const short = setup([{ fail: 'HTTP 429', retryAfterMs: 10 }, 'ok'])
    short.d.publish(quarantined())
    await short.timers.run(5_000)
    assert.deepEqual(short.notifier.times, [0, backoff(1)[0]])
  })

  it('gives up on a Retry-After longer than five minutes rather than hold the queue', async () => {
    const { timers, notifier, failures, d } = setup([
      { fail: 'HTTP 429', retryAfterMs: 2 * MAX_RETRY_AFTER_MS },
    ])
    d.publish(quarantined())
    await timers.run(0)
    assert.deepEqual(notifier.times, [0])
    assert.deepEqual(failures, [
      {
        notifier: 'hook:test',
        eventType: 'job:quarantined',
        error: 'HTTP 429; Retry-After 10m00s is longer than 5m00s',
        attempts: 1,
      },
    ])
  })

  it('ends an attempt at its time limit even when the notifier ignores its signal, then retries', async () => {
    const { timers, notifier, failures, d } = setup(['hang', 'ok'], { settings: { timeout: 300 } })
    d.publish(quarantined())
    await timers.run(299)
    assert.equal(notifier.calls[0]!.signal.aborted, false)
    await timers.run(1)
    assert.equal(notifier.calls[0]!.signal.aborted, true, 'aborted at 300 ms')
    assert.equal((notifier.calls[0]!.signal.reason as Error).name, 'TimeoutError')
    await timers.run(5_000)
    assert.deepEqual(notifier.times, [0, 300 + backoff(1)[0]!])
    assert.deepEqual(failures, [])
  })

  it("a notifier's own time limit wins over notifications.timeout; timing out every attempt is reported", async () => {
    const { timers, notifier, failures, d } = setup(['hang'], {
      settings: { timeout: 60_000, retries: 1 },
      timeoutMs: 2_000,
    })
    d.publish(quarantined())
    await timers.run(60_000)
    assert.deepEqual(notifier.times, [0, 2_000 + backoff(1)[0]!])
    assert.deepEqual(failures, [
      { notifier: 'hook:test', eventType: 'job:quarantined', error: 'timed out after 2.00s', attempts: 2 },
    ])
  })

  it('rate-limits a worker to `max` messages per window, lets critical events through, and counts what it held back', async () => {
    const { clock, timers, notifier, d } = setup(['ok'], {
      settings: { rate_limit: { max: 2, window: 60_000 } },
    })
    for (let i = 0; i < 5; i++) d.publish(quarantined('email#1'))
    d.publish(quarantined('email#2'))
    d.publish(storeFailed())
    await timers.run(0)
    assert.deepEqual(
      notifier.calls.map((c) => [c.event.type, c.event.workerId]),
      [
        ['job:quarantined', 'email#1'],
        ['job:quarantined', 'email#1'],
        ['job:quarantined', 'email#2'],
        ['store:failed', null],
      ],
    )
    // The window slides: a minute after the first two, email#1 may speak again, and says how many
    // of its messages were held back meanwhile.
    clock.advance(60_000)
    d.publish(quarantined('email#1'))
    await timers.run(0)
    assert.equal(notifier.calls.length, 5)
    assert.equal(notifier.calls[4]!.ctx.suppressedBefore, 3)
  })

  it('delivers one event at a time, in order, behind a retry', async () => {
    const { timers, notifier, d } = setup([{ fail: 'HTTP 500' }, 'ok'])
    const a = quarantined()
    const b = quarantined('email#2')
    d.publish(a)
    d.publish(b)
    await timers.run(0)
    assert.deepEqual(d.stats()[0]!.queued, 1)
    await timers.run(5_000)
    assert.deepEqual(
      notifier.calls.map((c) => c.event),
      [a, a, b],
    )
  })

  it('drain resolves once the lanes are idle, or at its time limit while a delivery hangs', async () => {
    const { timers, d } = setup([{ fail: 'HTTP 500' }, 'ok'])
    d.publish(quarantined())
    let drained = false
    void d.drain(10_000).then(() => (drained = true))
    const [w1] = backoff(1)
    await timers.run(w1! - 1)
    assert.equal(drained, false)
    await timers.run(1)
    assert.equal(drained, true, 'drained as soon as the retry delivered')

    const hung = setup(['hang'], { settings: { timeout: 60_000 } })
    hung.d.publish(quarantined())
    let done = false
    void hung.d.drain(5_000).then(() => (done = true))
    await hung.timers.run(4_999)
    assert.equal(done, false)
    await hung.timers.run(1)
    assert.equal(done, true, 'gave up at 5 s')
    assert.equal(hung.d.stats()[0]!.inFlight, true, 'the delivery is still under way')
  })

  it('close abandons the attempt in flight and the retry waits, drops the queue, and reports nothing', async () => {
    const { timers, notifier, failures, d } = setup(['hang'], { settings: { timeout: 60_000 } })
    d.publish(quarantined())
    d.publish(quarantined('email#2'))
    await timers.run(0)
    d.close()
    assert.equal(notifier.calls[0]!.signal.aborted, true)
    await timers.run(0)
    assert.deepEqual(d.stats()[0], {
      notifier: 'hook:test',
      queued: 0,
      inFlight: false,
      delivered: 0,
      failed: 0,
      dropped: 0,
      fleetSuppressed: 0,
    })
    assert.equal(timers.size, 0, 'no time limit or retry wait is left armed')
    assert.deepEqual(failures, [])
    d.publish(quarantined())
    await timers.run(0)
    assert.equal(notifier.calls.length, 1, 'nothing is sent after close')

    const waiting = setup([{ fail: 'HTTP 500' }])
    waiting.d.publish(quarantined())
    await waiting.timers.run(0)
    assert.equal(waiting.timers.size, 1, 'a retry wait is armed')
    waiting.d.close()
    await waiting.timers.run(0)
    assert.equal(waiting.timers.size, 0)
    assert.equal(waiting.d.stats()[0]!.inFlight, false)
    assert.deepEqual(waiting.failures, [])
  })
})
