import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  backoffDelay,
  chooseStrategy,
  effectiveHistory,
  EMPTY_HISTORY,
  noteRestart,
  pruneRestartTimes,
  restartBudgetExhausted,
  restartsInWindow,
} from '../../src/core/restart-policy.js'
import { seededRandom } from '../../src/ports/clock.js'

const backoff = { retry_delay: 10_000, max_retry_delay: 300_000, jitter: 0 }
const strategies = { default: 'soft_restart', emergency: 'hard_restart' } as const

describe('chooseStrategy', () => {
  it('uses the default strategy for ordinary anomalies and the emergency one for severe ones', () => {
    assert.equal(chooseStrategy('crash', 1, strategies), 'soft_restart')
    assert.equal(chooseStrategy('memory', 1, strategies), 'soft_restart')
    assert.equal(chooseStrategy('error-rate', 1, strategies), 'soft_restart')
    assert.equal(chooseStrategy('hang', 1, strategies), 'hard_restart')
    assert.equal(chooseStrategy('stopped', 1, strategies), 'hard_restart')
    assert.equal(chooseStrategy('zombies', 1, strategies), 'hard_restart')
  })
  it('uses the emergency strategy for every retry, whatever was asked', () => {
    assert.equal(chooseStrategy('crash', 2, strategies), 'hard_restart')
    assert.equal(chooseStrategy('manual', 3, strategies, 'soft_restart'), 'hard_restart')
  })
  it('honours a requested strategy on the first attempt', () => {
    assert.equal(chooseStrategy('manual', 1, strategies, 'hard_restart'), 'hard_restart')
    assert.equal(chooseStrategy('hang', 1, strategies, 'soft_restart'), 'soft_restart')
  })
})

describe('backoffDelay', () => {
  it('restarts at once the first time, then doubles from retry_delay up to the cap', () => {
    const r = () => 0.5
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, backoff, r)),
      [0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000],
    )
  })
  it('keeps jitter within ±jitter and under the cap', () => {
    const random = seededRandom(42)
    const s = { ...backoff, jitter: 0.2 }
    for (let n = 1; n < 12; n++) {
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(n, s, random)
        const base = Math.min(s.max_retry_delay, s.retry_delay * 2 ** (n - 1))
        assert.ok(d >= base * 0.8 - 1 && d <= Math.min(s.max_retry_delay, base * 1.2) + 1, `n=${n} d=${d}`)
      }
    }
  })
  it('never overflows for absurd counts', () => {
    assert.equal(
      backoffDelay(10_000, backoff, () => 0.5),
      300_000,
    )
  })
})

describe('restart history', () => {
  it('counts consecutive restarts and resets once the worker was stable', () => {
    let h = noteRestart(EMPTY_HISTORY, 1000)
    h = noteRestart(h, 2000)
    assert.deepEqual(h, { consecutive: 2, lastRestartAt: 2000 })
    assert.equal(effectiveHistory(h, 59_999, 60_000).consecutive, 2)
    assert.equal(effectiveHistory(h, 60_000, 60_000).consecutive, 0)
  })
})

describe('restart budget (intensity and period)', () => {
  const limit = { max: 3, window: 60_000 }
  it('counts every restart in the sliding window, however long the worker ran', () => {
    const times = [0, 10_000, 50_000]
    assert.equal(restartsInWindow(times, 55_000, limit), 3)
    assert.ok(restartBudgetExhausted(times, 55_000, limit))
    assert.equal(restartsInWindow(times, 60_001, limit), 2)
    assert.ok(!restartBudgetExhausted(times, 60_001, limit))
  })
  it('keeps counting restarts stamped in the future after the clock jumped backwards', () => {
    assert.ok(restartBudgetExhausted([100_000, 100_001, 100_002], 50_000, limit))
  })
  it('prunes what no window can count again', () => {
    assert.deepEqual(pruneRestartTimes([0, 10_000, 70_000], 75_000, limit), [70_000])
  })
})
