/**
 * The memory trend (src/core/memory-trend.ts) through the health core, on series of samples: a
 * leak is restarted before it reaches the limit; work that rises and falls, noise, slow drifts and
 * clock steps are not.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  assessHealth,
  type Assessment,
  FRESH_MEMORY,
  type HealthMemory,
  type HealthSample,
  type HealthThresholds,
  type Indicator,
} from '../../src/core/health.js'
import { TREND_POINTS } from '../../src/core/memory-trend.js'

const LIMIT = 300
const HORIZON_MS = 300_000
const t: HealthThresholds = {
  cpu_percent: 90,
  memory_mb: 250,
  memory_limit_mb: LIMIT,
  memory_trend_horizon: HORIZON_MS,
  error_rate: 0.1,
  error_min_samples: 10,
  queue_size: 100,
  zombies: 3,
  consecutive_checks: 3,
}

/** One check: when (ms) and the resident memory of the tree (MiB). */
type Point = [at: number, rssMb: number]

function sample(at: number, rssMb: number, process: string): HealthSample {
  return {
    at,
    process,
    alive: true,
    procState: 'S',
    stuckForMs: 0,
    heartbeatAgeMs: 200,
    zombies: 0,
    cpuPercent: 5,
    rssMb,
    outcomes: { total: 0, failed: 0 },
    probes: [],
    backlog: null,
    throughput: null,
    external: null,
    recentRestarts: 0,
  }
}

/** Assesses the points in order as the checks of one worker, and returns every assessment. */
function assess(points: Point[], thresholds: HealthThresholds = t, process = 'w:1'): Assessment[] {
  let memory: HealthMemory = FRESH_MEMORY
  return points.map(([at, rss]) => {
    const a = assessHealth(sample(at, rss, process), memory, thresholds, 10_000)
    memory = a.memory
    return a
  })
}

function trend(a: Assessment): Indicator {
  const i = a.report.indicators.find((x) => x.name === 'memory_trend')
  assert.ok(i, 'the report has a memory_trend indicator')
  return i
}

/** Samples every `everyMs` from `fromMs` (inclusive) to `toMs` (exclusive) of `mb(seconds)`. */
function series(fromMs: number, toMs: number, everyMs: number, mb: (s: number) => number): Point[] {
  const out: Point[] = []
  for (let at = fromMs; at < toMs; at += everyMs) out.push([at, mb(at / 1000)])
  return out
}

/** Deterministic noise in [-amp, amp] (a small LCG), so no test depends on chance. */
function noise(seed: number, amp: number): () => number {
  let x = seed
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31
    return (x / 2 ** 31) * 2 * amp - amp
  }
}

/** Memory 40 MiB/s from 50 MiB, starting at `fromS`: the leak. */
const leak40 = (fromS: number) => (s: number) => 50 + 40 * Math.max(0, s - fromS)
/** When leak40 crosses LIMIT, seconds after its start. */
const CROSSING_S = (LIMIT - 50) / 40

function firstAnomaly(as: Assessment[], points: Point[]) {
  const i = as.findIndex((a) => a.anomaly !== null)
  return i < 0 ? null : { a: as[i]!, at: points[i]![0], rssMb: points[i]![1] }
}

describe('memory trend: a leak', () => {
  for (const everyMs of [1000, 200]) {
    it(`flags a steady 40 MiB/s leak from 50 MiB toward a 300 MiB limit seconds before the limit, sampled every ${everyMs} ms`, () => {
      const points = series(0, 8000, everyMs, leak40(0))
      const hit = firstAnomaly(assess(points), points)
      assert.ok(hit, 'the leak was flagged')
      assert.equal(hit.a.anomaly!.cause, 'memory-trend')
      assert.ok(hit.rssMb < LIMIT, `flagged at ${hit.rssMb} MiB, below the limit`)
      const leftS = CROSSING_S - hit.at / 1000
      assert.ok(leftS >= 2.5, `flagged ${leftS.toFixed(2)} s before the limit`)
      const m = /^memory growing 40 MiB\/s, limit in ~(\d+) s \((\d+) MiB of 300 MiB\)$/.exec(
        hit.a.anomaly!.detail,
      )
      assert.ok(m, hit.a.anomaly!.detail)
      assert.ok(Math.abs(Number(m[1]) - leftS) <= 1, `"limit in ~${m[1]} s", ${leftS} s left`)
      assert.equal(Number(m[2]), Math.round(hit.rssMb))
      const ind = trend(hit.a)
      assert.equal(ind.verdict, 'unhealthy')
      assert.equal(ind.value, 40)
      assert.equal(ind.penalty, 40)
      assert.notEqual(hit.a.report.indicators.find((i) => i.name === 'memory')!.verdict, 'unhealthy')
    })

    it(`flags a leak that starts after a long flat, noisy stretch as early, sampled every ${everyMs} ms`, () => {
      const jitter = noise(7, 0.5)
      const points = series(0, 30_000, everyMs, (s) => leak40(20)(s) + jitter())
      const hit = firstAnomaly(assess(points), points)
      assert.ok(hit, 'the leak was flagged')
      assert.equal(hit.a.anomaly!.cause, 'memory-trend')
      const leftS = 20 + CROSSING_S - hit.at / 1000
      assert.ok(leftS >= 2.5, `flagged ${leftS.toFixed(2)} s before the limit`)
      assert.match(hit.a.anomaly!.detail, /^memory growing (39|40|41) MiB\/s, limit in ~\d s/)
    })
  }

  it('is seen within the horizon at the default 30 s check interval, minutes before the limit', () => {
    // 1.5 MiB/s from 200 MiB toward 1024 MiB: the limit in about 9 minutes.
    const big = { ...t, memory_mb: 1024, memory_limit_mb: 1024 }
    const points = series(0, 600_000, 30_000, (s) => 200 + 1.5 * s)
    const hit = firstAnomaly(assess(points, big), points)
    assert.ok(hit, 'the leak was flagged')
    const leftS = (1024 - 200) / 1.5 - hit.at / 1000
    assert.ok(leftS >= 180 && leftS <= HORIZON_MS / 1000, `flagged ${leftS.toFixed(0)} s before the limit`)
    assert.match(hit.a.anomaly!.detail, /^memory growing 1\.5 MiB\/s, limit in ~\d min/)
  })

  it('warns about a slow leak whose crossing is beyond the horizon, and does not restart it', () => {
    // 0.2 MiB/s from 100 MiB: the limit 1000 s away at the start, 400 s at the end.
    const points = series(0, 630_000, 30_000, (s) => 100 + 0.2 * s)
    const as = assess(points)
    assert.ok(
      as.every((a) => a.anomaly === null),
      'never a recovery while the limit is beyond the horizon',
    )
    const last = trend(as.at(-1)!)
    assert.equal(last.verdict, 'warning')
    assert.equal(last.penalty, 15)
    assert.match(last.detail, /^memory growing 0\.2 MiB\/s, limit in ~7 min/)
  })

  it('leaves a drift that would take many horizons to reach the limit healthy', () => {
    const points = series(0, 630_000, 30_000, (s) => 100 + 0.02 * s)
    const as = assess(points)
    assert.ok(as.every((a) => a.anomaly === null))
    assert.equal(trend(as.at(-1)!).verdict, 'healthy')
  })
})

describe('memory trend: not a leak', () => {
  it('leaves a sawtooth of work that rises and falls alone', () => {
    // A unit of work takes memory from 100 to 170 MiB over 7 s, then gives it back.
    const points = series(0, 80_000, 1000, (s) => 100 + 10 * (s % 8))
    const as = assess(points)
    assert.ok(
      as.every((a) => a.anomaly === null),
      'never a recovery',
    )
    const afterFirstFall = as.slice(9)
    for (const a of afterFirstFall) assert.equal(trend(a).verdict, 'healthy', trend(a).detail)
  })

  it('leaves a sawtooth that nearly reaches the limit alone once its memory has fallen', () => {
    // 100 → 280 MiB at 30 MiB/s, then back: its first rise looks like a leak (see docs/health.md);
    // once the process has given memory back, rises to where it has been before are work.
    const points = series(0, 70_000, 1000, (s) => 100 + 30 * (s % 7))
    const as = assess(points)
    const afterFirstFall = as.slice(7)
    for (const a of afterFirstFall) {
      assert.equal(a.anomaly, null, trend(a).detail)
      assert.equal(trend(a).verdict, 'healthy', trend(a).detail)
    }
    assert.match(trend(as.at(-2)!).detail, /rises and falls/)
  })

  it('sees a leak after such work once it climbs past the highs of the work', () => {
    const big = { ...t, memory_mb: 1000, memory_limit_mb: 1000 }
    // Work between 100 and 280 MiB for 70 s, then a leak of 10 MiB/s from 100 MiB: the limit at 160 s.
    const points = [
      ...series(0, 70_000, 1000, (s) => 100 + 30 * (s % 7)),
      ...series(70_000, 170_000, 1000, (s) => 100 + 10 * (s - 70)),
    ]
    const as = assess(points, big)
    const hit = firstAnomaly(as, points)
    assert.ok(hit, 'the leak was flagged')
    assert.equal(hit.a.anomaly!.cause, 'memory-trend')
    assert.ok(hit.at > 70_000 && hit.rssMb > 280, `flagged at ${hit.at} ms, ${hit.rssMb} MiB`)
    assert.ok(160 - hit.at / 1000 >= 10, `flagged ${160 - hit.at / 1000} s before the limit`)
  })

  for (const everyMs of [30_000, 1000, 200]) {
    it(`does not see a trend in noise around a flat line, sampled every ${everyMs} ms`, () => {
      const jitter = noise(42, 3)
      const points = series(0, 400 * everyMs, everyMs, () => 120 + jitter())
      const as = assess(points)
      for (const a of as) {
        assert.equal(a.anomaly, null)
        assert.ok(['healthy', 'n/a'].includes(trend(a).verdict), trend(a).detail)
      }
    })
  }

  it('says n/a until it has enough samples, and when it is turned off', () => {
    const points = series(0, 3000, 1000, leak40(0))
    assert.deepEqual(
      assess(points).map((a) => trend(a).verdict),
      ['n/a', 'n/a', 'n/a'],
    )
    for (const off of [0, null]) {
      const as = assess(series(0, 8000, 1000, leak40(0)), { ...t, memory_trend_horizon: off })
      assert.ok(as.every((a) => trend(a).verdict === 'n/a' && a.memory.rss.points.length === 0))
      assert.equal(as.find((a) => a.anomaly)?.anomaly?.cause, 'memory', 'the limit still catches it')
    }
  })

  it('leaves memory past the limit to the memory indicator', () => {
    const as = assess([
      [0, 100],
      [1000, 100],
      [2000, 100],
      [3000, 100],
      [4000, 310],
    ])
    const over = as.at(-1)!
    assert.equal(over.anomaly!.cause, 'memory')
    assert.equal(trend(over).verdict, 'n/a')
    assert.equal(trend(over).detail, 'past the limit (see memory)')
  })
})

describe('memory trend: its history', () => {
  it('restarts when the clock jumps backwards, with no nonsense in between', () => {
    const before = series(0, 3000, 1000, leak40(0))
    // The clock steps back an hour; memory keeps growing at 40 MiB/s.
    const after = series(3000, 9000, 1000, leak40(0)).map(([at, mb]): Point => [at - 3_600_000, mb])
    const points = [...before, ...after]
    const as = assess(points)
    for (const a of as) {
      const d = trend(a).detail
      assert.doesNotMatch(d, /NaN|Infinity|-\d/, d)
      assert.ok(a.memory.rss.points.every((p, i, ps) => i === 0 || p.at > ps[i - 1]!.at))
    }
    assert.equal(as[3]!.memory.rss.points.length, 1, 'the history restarted at the step')
    assert.equal(trend(as[3]!).verdict, 'n/a')
    const hit = firstAnomaly(as, points)
    assert.ok(hit, 'the leak is still flagged after the step')
    assert.match(hit.a.anomaly!.detail, /^memory growing 40 MiB\/s, limit in ~\d s/)
  })

  it('restarts when the clock stands still', () => {
    const as = assess([
      [1000, 50],
      [2000, 90],
      [2000, 130],
    ])
    assert.deepEqual(as[2]!.memory.rss.points, [{ at: 2000, rssMb: 130 }])
  })

  it('keeps one history per process: a replacement starts from nothing', () => {
    const points = series(0, 3000, 1000, leak40(0))
    let memory: HealthMemory = FRESH_MEMORY
    for (const [at, mb] of points) memory = assessHealth(sample(at, mb, 'w:1'), memory, t, 10_000).memory
    const next = assessHealth(sample(3000, 60, 'w:2'), memory, t, 10_000)
    assert.deepEqual(next.memory.rss.points, [{ at: 3000, rssMb: 60 }])
    assert.equal(next.memory.rss.process, 'w:2')
  })

  it(`is bounded to ${TREND_POINTS} samples`, () => {
    const as = assess(series(0, 500_000, 1000, () => 100))
    assert.equal(as.at(-1)!.memory.rss.points.length, TREND_POINTS)
  })
})
