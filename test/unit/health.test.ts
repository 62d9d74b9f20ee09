import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'

import {
  assessHealth,
  deadReport,
  detectHang,
  FRESH_MEMORY,
  type HealthMemory,
  type HealthSample,
  type HealthThresholds,
  hungReport,
  INDICATORS,
  PENALTIES,
  recentRestartTimes,
  restartedReport,
} from '../../src/core/health.js'

const t: HealthThresholds = {
  cpu_percent: 90,
  memory_mb: 100,
  memory_limit_mb: 150,
  memory_trend_horizon: 300_000,
  error_rate: 0.1,
  error_min_samples: 10,
  queue_size: 100,
  zombies: 3,
  consecutive_checks: 3,
}
const HANG = 10_000

function sample(over: Partial<HealthSample> = {}): HealthSample {
  return {
    at: 1000,
    process: 'w:1',
    alive: true,
    procState: 'S',
    stuckForMs: 0,
    heartbeatAgeMs: 200,
    zombies: 0,
    cpuPercent: 5,
    rssMb: 40,
    outcomes: { total: 0, failed: 0 },
    probes: [],
    backlog: null,
    throughput: null,
    external: null,
    recentRestarts: 0,
    ...over,
  }
}

function run(samples: Partial<HealthSample>[]) {
  let memory: HealthMemory = FRESH_MEMORY
  let last
  for (const s of samples) {
    last = assessHealth(sample(s), memory, t, HANG)
    memory = last.memory
  }
  return last!
}

describe('health score', () => {
  it('is 100 for a healthy worker and names no worst indicator', () => {
    const a = run([{}])
    assert.equal(a.report.score, 100)
    assert.equal(a.report.verdict, 'healthy')
    assert.equal(a.report.worst, null)
    assert.equal(a.anomaly, null)
    assert.deepEqual(
      a.report.indicators.map((i) => i.name),
      [
        'alive',
        'responsive',
        'zombies',
        'cpu',
        'memory',
        'memory_trend',
        'error_rate',
        'probe',
        'backlog',
        'throughput',
        'external',
        'restarts',
      ],
    )
  })
  it('is 0 for a dead worker and for a hung one', () => {
    assert.equal(run([{ alive: false }]).report.score, 0)
    assert.equal(deadReport(0, 'exited').score, 0)
    const hung = run([{ heartbeatAgeMs: 10_000 }])
    assert.equal(hung.report.score, 0)
    assert.equal(hung.report.worst, 'responsive')
    assert.equal(hung.anomaly?.cause, 'hang')
    assert.equal(hungReport(0, 'T', 'stopped').score, 0)
  })
  it('has the penalties docs/health.md prints, for every indicator', () => {
    const doc = readFileSync(new URL('../../docs/health.md', import.meta.url), 'utf8')
    const table = doc.slice(doc.indexOf('## The score'))
    for (const name of INDICATORS) {
      const row = new RegExp(`^\\| ${name} +\\| (\\S+) +\\| (\\S+) +\\|$`, 'm').exec(table)
      assert.ok(row, `docs/health.md has a score row for ${name}`)
      const { warning, unhealthy } = PENALTIES[name]
      // An indicator that is never unhealthy has its one penalty under warning and – under unhealthy.
      const expected =
        name === 'alive'
          ? ['–', String(unhealthy)]
          : warning === unhealthy
            ? [String(warning), '–']
            : [String(warning), String(unhealthy)]
      assert.deepEqual([row[1], row[2]], expected, name)
    }
  })
  it('subtracts the documented penalty of each indicator', () => {
    const a = run([{ cpuPercent: 95 }, { cpuPercent: 95 }, { cpuPercent: 95, zombies: 1 }])
    assert.equal(a.report.verdict, 'warning')
    assert.equal(a.report.score, 100 - 20 - 20)
  })
})

describe('resource thresholds', () => {
  it('warns about CPU only after consecutive_checks checks above the threshold', () => {
    assert.equal(run([{ cpuPercent: 95 }, { cpuPercent: 95 }]).report.verdict, 'healthy')
    const a = run([{ cpuPercent: 95 }, { cpuPercent: 95 }, { cpuPercent: 95 }])
    assert.equal(a.report.worst, 'cpu')
    assert.equal(a.anomaly, null, 'CPU alone is a warning, as in the plan')
    assert.equal(
      run([{ cpuPercent: 95 }, { cpuPercent: 95 }, { cpuPercent: 50 }, { cpuPercent: 95 }]).report.verdict,
      'healthy',
    )
  })
  it('warns about memory above memory_mb for consecutive checks and recovers above the hard limit at once', () => {
    assert.equal(run([{ rssMb: 120 }, { rssMb: 120 }, { rssMb: 120 }]).report.worst, 'memory')
    assert.equal(run([{ rssMb: 120 }, { rssMb: 120 }, { rssMb: 120 }]).anomaly, null)
    const a = run([{ rssMb: 151 }])
    assert.equal(a.anomaly?.cause, 'memory')
    assert.match(a.anomaly!.detail, /151 MiB > limit 150 MiB/)
  })
  it('has no CPU figure on the first sample', () => {
    const a = run([{ cpuPercent: null }])
    assert.equal(a.report.indicators.find((i) => i.name === 'cpu')?.verdict, 'n/a')
  })
})

describe('error rate', () => {
  it('is judged only with enough samples and makes the worker a recovery target above error_rate', () => {
    assert.equal(run([{ outcomes: { total: 5, failed: 5 } }]).anomaly, null)
    assert.equal(run([{ outcomes: { total: 100, failed: 10 } }]).anomaly, null)
    const a = run([{ outcomes: { total: 100, failed: 11 } }])
    assert.equal(a.anomaly?.cause, 'error-rate')
    assert.equal(a.report.indicators.find((i) => i.name === 'error_rate')?.value, 0.11)
  })
})

describe('zombies', () => {
  it('warns on a zombie and recovers a tree that keeps zombie_count zombies over two checks', () => {
    assert.equal(run([{ zombies: 1 }]).report.verdict, 'warning')
    assert.equal(run([{ zombies: 5 }]).anomaly, null)
    assert.equal(run([{ zombies: 5 }, { zombies: 5 }]).anomaly?.cause, 'zombies')
    assert.equal(run([{ zombies: 5 }, { zombies: 0 }, { zombies: 5 }]).anomaly, null)
  })
})

describe('responsiveness', () => {
  it('sees a stopped or uninterruptible process as hung after the hang timeout', () => {
    assert.equal(detectHang({ heartbeatAgeMs: null, procState: 'T', stuckForMs: 9999 }, HANG), null)
    assert.equal(
      detectHang({ heartbeatAgeMs: null, procState: 'T', stuckForMs: 10_000 }, HANG)?.cause,
      'stopped',
    )
    assert.equal(
      detectHang({ heartbeatAgeMs: null, procState: 'D', stuckForMs: 10_000 }, HANG)?.cause,
      'uninterruptible',
    )
    assert.equal(detectHang({ heartbeatAgeMs: 10_000, procState: 'R', stuckForMs: 0 }, HANG)?.cause, 'hang')
    assert.equal(detectHang({ heartbeatAgeMs: null, procState: 'R', stuckForMs: 0 }, HANG), null)
  })
  it('warns while heartbeats are late or the process is briefly stopped', () => {
    assert.equal(run([{ heartbeatAgeMs: 6000 }]).report.worst, 'responsive')
    assert.equal(run([{ heartbeatAgeMs: null, procState: 'T', stuckForMs: 100 }]).report.verdict, 'warning')
  })
})

describe('probes', () => {
  it('warns on a failure and recovers past the failure threshold', () => {
    const probe = { name: 'http#1', failures: 1, threshold: 3, lastDetail: 'HTTP 503' }
    assert.equal(run([{ probes: [probe] }]).report.verdict, 'warning')
    const a = run([{ probes: [{ ...probe, failures: 3 }] }])
    assert.equal(a.anomaly?.cause, 'probe')
    assert.match(a.anomaly!.detail, /HTTP 503/)
  })
})

describe('queue slots', () => {
  it('are n/a without a queue and warn on a backlog or a throughput drop', () => {
    assert.equal(run([{}]).report.indicators.find((i) => i.name === 'backlog')?.verdict, 'n/a')
    assert.equal(run([{ backlog: 101 }]).report.worst, 'backlog')
    const drop = run([{ backlog: 10, throughput: { perMinute: 10, baseline: 100 } }])
    assert.equal(drop.report.indicators.find((i) => i.name === 'throughput')?.verdict, 'warning')
  })
})

describe('outside signals', () => {
  it('warn when an outside monitor says degraded and recover the worker when it says unhealthy', () => {
    const degraded = run([{ external: { status: 'degraded', reason: 'p99 latency 2s', source: 'grafana' } }])
    assert.equal(degraded.report.worst, 'external')
    assert.equal(degraded.anomaly, null)
    const sick = run([{ external: { status: 'unhealthy', reason: 'stuck consumer', source: 'kafka-lag' } }])
    assert.equal(sick.anomaly?.cause, 'external')
    assert.match(sick.anomaly!.detail, /reported unhealthy by kafka-lag: stuck consumer/)
  })

  it('lowers the score for recent restarts: 15 for one or two, 40 for a flapping worker', () => {
    const one = run([{ recentRestarts: 1 }])
    assert.equal(one.report.score, 85)
    assert.equal(one.report.verdict, 'warning')
    assert.equal(one.report.worst, 'restarts')
    assert.equal(one.anomaly, null, 'restarts alone never start a recovery')
    const flapping = run([{ recentRestarts: 4 }])
    assert.equal(flapping.report.score, 60)
    assert.equal(flapping.report.verdict, 'unhealthy')
    const ind = flapping.report.indicators.find((i) => i.name === 'restarts')!
    assert.equal(ind.detail, '4 restarts in the last 10 min')
    assert.equal(flapping.anomaly, null)
  })

  it('gives a process that just replaced a sick one its restarts until the first check', () => {
    const r = restartedReport(5_000, 4)
    assert.equal(r.score, 60)
    assert.equal(r.worst, 'restarts')
    assert.deepEqual(recentRestartTimes([1, 400_000, 700_000, 1_000_000], 1_000_000), [700_000, 1_000_000])
  })
})
