/**
 * The Prometheus metrics: the text rendered for a fake snapshot and fake events, exactly; one
 * snapshot per scrape; the snapshot taken from a supervisor's views; and the /metrics route.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { createHttpApp } from '../../src/adapters/http/app.js'
import type { ExitReport } from '../../src/core/exit-report.js'
import { ANOMALY_CAUSES } from '../../src/core/restart-policy.js'
import { createMetrics, type ShepherdMetrics } from '../../src/metrics/registry.js'
import { type FleetSnapshot, takeFleetSnapshot } from '../../src/metrics/snapshot.js'
import { zeroCounts } from '../../src/ports/job-store.js'
import type { PoolView } from '../../src/supervisor/view.js'
import { FakeSupervisor, incidentEvent, incidentRecord, MemoryStore, workerView } from '../helpers/fakes.js'

const SNAPSHOT: FleetSnapshot = {
  workers: [
    worker('email#1', {
      state: 'ready',
      healthScore: 100,
      restarts: 0,
      cpuPercent: 12.5,
      residentBytes: 52_428_800,
    }),
    worker('email#2', {
      state: 'restarting',
      healthScore: 0,
      restarts: 3,
      cpuPercent: null,
      residentBytes: null,
    }),
    worker('email#s1', {
      role: 'spare',
      state: 'ready',
      healthScore: 95,
      cpuPercent: 0.4,
      residentBytes: 31_457_280,
    }),
    worker('reports#1', {
      pool: 'reports',
      state: 'degraded',
      healthScore: 80,
      restarts: 1,
      cpuPercent: 91,
      residentBytes: 1_073_741_824,
    }),
  ],
  pools: [
    {
      name: 'email',
      minReplicas: 2,
      maxReplicas: 4,
      serving: 1,
      spares: 1,
      availability: 0.75,
      restartsByCause: { crash: 2, memory: 1 },
    },
    {
      name: 'reports',
      minReplicas: 1,
      maxReplicas: 1,
      serving: 1,
      spares: 0,
      availability: 1,
      restartsByCause: { hang: 1 },
    },
  ],
  queues: [
    {
      ...zeroCounts('email'),
      waiting: 4,
      delayed: 1,
      inFlight: 2,
      done: 120,
      failed: 1,
      deadLettered: 3,
      quarantined: 1,
      oldestWaitingMs: 2500,
    },
    zeroCounts('reports'),
  ],
}

function worker(
  id: string,
  over: Partial<FleetSnapshot['workers'][number]>,
): FleetSnapshot['workers'][number] {
  return {
    id,
    pool: 'email',
    role: 'worker',
    state: 'ready',
    healthScore: 100,
    restarts: 0,
    cpuSeconds: 0,
    cpuPercent: null,
    residentBytes: null,
    ...over,
  }
}

function metricsFor(snapshot: FleetSnapshot = SNAPSHOT): { metrics: ShepherdMetrics; calls: () => number } {
  let calls = 0
  const metrics = createMetrics({
    snapshot: async () => {
      calls++
      return snapshot
    },
    version: '1.4.0',
    defaultMetrics: false,
    pools: [
      { name: 'email', queue: 'email' },
      { name: 'cron', queue: null },
    ],
  })
  return { metrics, calls: () => calls }
}

const one = (m: ShepherdMetrics, name: string) => m.registry.getSingleMetricAsString(name)

const crashExit: ExitReport = {
  pid: 100,
  exitCode: 1,
  signal: null,
  killedByUs: false,
  forced: false,
  spawnFailed: false,
  at: 10_000,
  durationMs: 5_000,
}

describe('metrics rendering', () => {
  it('renders the gauges of a snapshot: every worker state of every pool, zeros included', async () => {
    const { metrics } = metricsFor()
    assert.equal(
      await one(metrics, 'shepherd_workers'),
      [
        '# HELP shepherd_workers Worker slots of each pool by state (warm spares are counted in shepherd_pool_spares).',
        '# TYPE shepherd_workers gauge',
        'shepherd_workers{pool="email",state="starting"} 0',
        'shepherd_workers{pool="email",state="ready"} 1',
        'shepherd_workers{pool="email",state="degraded"} 0',
        'shepherd_workers{pool="email",state="stopping"} 0',
        'shepherd_workers{pool="email",state="exited"} 0',
        'shepherd_workers{pool="email",state="restarting"} 1',
        'shepherd_workers{pool="email",state="failed"} 0',
        'shepherd_workers{pool="reports",state="starting"} 0',
        'shepherd_workers{pool="reports",state="ready"} 0',
        'shepherd_workers{pool="reports",state="degraded"} 1',
        'shepherd_workers{pool="reports",state="stopping"} 0',
        'shepherd_workers{pool="reports",state="exited"} 0',
        'shepherd_workers{pool="reports",state="restarting"} 0',
        'shepherd_workers{pool="reports",state="failed"} 0',
      ].join('\n'),
    )
  })

  it('renders per-worker gauges, spares included, and leaves out what is unknown', async () => {
    const { metrics } = metricsFor()
    assert.equal(
      await one(metrics, 'shepherd_worker_health_score'),
      [
        '# HELP shepherd_worker_health_score Health score of each worker, 0 (dead or hung) to 100 (healthy).',
        '# TYPE shepherd_worker_health_score gauge',
        'shepherd_worker_health_score{pool="email",worker="email#1"} 100',
        'shepherd_worker_health_score{pool="email",worker="email#2"} 0',
        'shepherd_worker_health_score{pool="email",worker="email#s1"} 95',
        'shepherd_worker_health_score{pool="reports",worker="reports#1"} 80',
      ].join('\n'),
    )
    assert.equal(
      await one(metrics, 'shepherd_worker_cpu_percent'),
      [
        "# HELP shepherd_worker_cpu_percent CPU of each worker's process tree at its latest health check, in percent of one core.",
        '# TYPE shepherd_worker_cpu_percent gauge',
        'shepherd_worker_cpu_percent{pool="email",worker="email#1"} 12.5',
        'shepherd_worker_cpu_percent{pool="email",worker="email#s1"} 0.4',
        'shepherd_worker_cpu_percent{pool="reports",worker="reports#1"} 91',
      ].join('\n'),
    )
    assert.equal(
      await one(metrics, 'shepherd_worker_resident_memory_bytes'),
      [
        "# HELP shepherd_worker_resident_memory_bytes Resident memory of each worker's process tree at its latest health check, in bytes.",
        '# TYPE shepherd_worker_resident_memory_bytes gauge',
        'shepherd_worker_resident_memory_bytes{pool="email",worker="email#1"} 52428800',
        'shepherd_worker_resident_memory_bytes{pool="email",worker="email#s1"} 31457280',
        'shepherd_worker_resident_memory_bytes{pool="reports",worker="reports#1"} 1073741824',
      ].join('\n'),
    )
    assert.equal(
      await one(metrics, 'shepherd_worker_restarts_total'),
      [
        '# HELP shepherd_worker_restarts_total Restarts of each worker slot since the supervisor started.',
        '# TYPE shepherd_worker_restarts_total counter',
        'shepherd_worker_restarts_total{pool="email",worker="email#1"} 0',
        'shepherd_worker_restarts_total{pool="email",worker="email#2"} 3',
        'shepherd_worker_restarts_total{pool="reports",worker="reports#1"} 1',
      ].join('\n'),
    )
  })

  it('renders pools: restarts by cause, availability, strength', async () => {
    const { metrics } = metricsFor()
    const restarts = (await one(metrics, 'shepherd_restarts_total')).split('\n')
    assert.deepEqual(restarts.slice(0, 2), [
      "# HELP shepherd_restarts_total Processes started to recover a pool's workers (warm spares taking over included), by incident cause, since the supervisor started.",
      '# TYPE shepherd_restarts_total counter',
    ])
    assert.deepEqual(
      restarts.filter((l) => !l.startsWith('#') && !l.endsWith(' 0')),
      [
        'shepherd_restarts_total{pool="email",cause="crash"} 2',
        'shepherd_restarts_total{pool="email",cause="memory"} 1',
        'shepherd_restarts_total{pool="reports",cause="hang"} 1',
      ],
    )
    assert.equal(restarts.length, 2 + 2 * Object.keys(ANOMALY_CAUSES).length, 'every cause of every pool')
    assert.equal(
      await one(metrics, 'shepherd_pool_availability_ratio'),
      [
        '# HELP shepherd_pool_availability_ratio Share of time each pool had at least replicas.min workers serving, since the supervisor started (0..1).',
        '# TYPE shepherd_pool_availability_ratio gauge',
        'shepherd_pool_availability_ratio{pool="email"} 0.75',
        'shepherd_pool_availability_ratio{pool="reports"} 1',
      ].join('\n'),
    )
    assert.match(
      await one(metrics, 'shepherd_pool_serving_workers'),
      /\{pool="email"\} 1\n.*\{pool="reports"\} 1$/,
    )
    assert.match(
      await one(metrics, 'shepherd_pool_min_replicas'),
      /\{pool="email"\} 2\n.*\{pool="reports"\} 1$/,
    )
    assert.match(
      await one(metrics, 'shepherd_pool_max_replicas'),
      /\{pool="email"\} 4\n.*\{pool="reports"\} 1$/,
    )
    assert.match(await one(metrics, 'shepherd_pool_spares'), /\{pool="email"\} 1\n.*\{pool="reports"\} 0$/)
  })

  it('renders queue counts with every state', async () => {
    const { metrics } = metricsFor()
    assert.equal(
      await one(metrics, 'shepherd_queue_jobs'),
      [
        '# HELP shepherd_queue_jobs Jobs of each queue by state: waiting (due now), delayed, in_flight, done (kept keep_done), failed (waiting for a retry), dead_lettered, quarantined.',
        '# TYPE shepherd_queue_jobs gauge',
        'shepherd_queue_jobs{queue="email",state="waiting"} 4',
        'shepherd_queue_jobs{queue="email",state="delayed"} 1',
        'shepherd_queue_jobs{queue="email",state="in_flight"} 2',
        'shepherd_queue_jobs{queue="email",state="done"} 120',
        'shepherd_queue_jobs{queue="email",state="failed"} 1',
        'shepherd_queue_jobs{queue="email",state="dead_lettered"} 3',
        'shepherd_queue_jobs{queue="email",state="quarantined"} 1',
        'shepherd_queue_jobs{queue="reports",state="waiting"} 0',
        'shepherd_queue_jobs{queue="reports",state="delayed"} 0',
        'shepherd_queue_jobs{queue="reports",state="in_flight"} 0',
        'shepherd_queue_jobs{queue="reports",state="done"} 0',
        'shepherd_queue_jobs{queue="reports",state="failed"} 0',
        'shepherd_queue_jobs{queue="reports",state="dead_lettered"} 0',
        'shepherd_queue_jobs{queue="reports",state="quarantined"} 0',
      ].join('\n'),
    )
    assert.equal(
      await one(metrics, 'shepherd_queue_oldest_waiting_seconds'),
      [
        '# HELP shepherd_queue_oldest_waiting_seconds Age of the oldest job of each queue that is due and not yet delivered, in seconds (0 when none).',
        '# TYPE shepherd_queue_oldest_waiting_seconds gauge',
        'shepherd_queue_oldest_waiting_seconds{queue="email"} 2.5',
        'shepherd_queue_oldest_waiting_seconds{queue="reports"} 0',
      ].join('\n'),
    )
  })

  it('counts incidents from events; detection latency where an exit or a silence bounds the fault', async () => {
    const { metrics } = metricsFor()
    const crash = incidentRecord('i1', 'email#2', 10_003, {
      exit: crashExit,
      recoveredAt: 10_803,
      endedAt: 10_803,
    })
    const hang = incidentRecord('i2', 'email#1', 20_000, {
      cause: 'hang',
      severity: 'severe',
      exit: null,
      silentMs: 3_200,
    })
    const memory = incidentRecord('i3', 'email#1', 30_000, { cause: 'memory', exit: null })
    metrics.observeEvent(incidentEvent('incident:opened', memory))
    metrics.observeEvent(incidentEvent('incident:opened', crash))
    metrics.observeEvent(incidentEvent('incident:opened', hang))
    metrics.observeEvent(incidentEvent('incident:recovered', crash))
    metrics.observeEvent(
      incidentEvent('incident:escalated', {
        ...hang,
        outcome: 'escalated',
        phase: 'escalated',
        recoveredAt: null,
      }),
    )
    const opened = await one(metrics, 'shepherd_incidents_opened_total')
    assert.match(opened, /\nshepherd_incidents_opened_total\{pool="email",cause="crash"\} 1\n/)
    assert.match(opened, /\nshepherd_incidents_opened_total\{pool="email",cause="hang"\} 1\n/)
    assert.match(opened, /\nshepherd_incidents_opened_total\{pool="email",cause="probe"\} 0\n/)
    assert.match(
      await one(metrics, 'shepherd_incidents_recovered_total'),
      /\nshepherd_incidents_recovered_total\{pool="email",cause="crash"\} 1\n/,
    )
    assert.match(
      await one(metrics, 'shepherd_incidents_escalated_total'),
      /\nshepherd_incidents_escalated_total\{pool="email",cause="hang"\} 1\n/,
    )
    assert.equal(
      await one(metrics, 'shepherd_detection_latency_seconds'),
      [
        '# HELP shepherd_detection_latency_seconds Time from a fault to its detection, in seconds, where it is known: for a crash, from the process exit as the kernel reported it; for a hang, a stopped or a D-state worker, from its last sign of health (an upper bound).',
        '# TYPE shepherd_detection_latency_seconds histogram',
        'shepherd_detection_latency_seconds_bucket{le="0.001",cause="crash"} 0',
        'shepherd_detection_latency_seconds_bucket{le="0.0025",cause="crash"} 0',
        'shepherd_detection_latency_seconds_bucket{le="0.005",cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="0.01",cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="0.025",cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="0.05",cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="0.1",cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="0.25",cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="0.5",cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="1",cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="2.5",cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="5",cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="10",cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="+Inf",cause="crash"} 1',
        'shepherd_detection_latency_seconds_sum{cause="crash"} 0.003',
        'shepherd_detection_latency_seconds_count{cause="crash"} 1',
        'shepherd_detection_latency_seconds_bucket{le="0.001",cause="hang"} 0',
        'shepherd_detection_latency_seconds_bucket{le="0.0025",cause="hang"} 0',
        'shepherd_detection_latency_seconds_bucket{le="0.005",cause="hang"} 0',
        'shepherd_detection_latency_seconds_bucket{le="0.01",cause="hang"} 0',
        'shepherd_detection_latency_seconds_bucket{le="0.025",cause="hang"} 0',
        'shepherd_detection_latency_seconds_bucket{le="0.05",cause="hang"} 0',
        'shepherd_detection_latency_seconds_bucket{le="0.1",cause="hang"} 0',
        'shepherd_detection_latency_seconds_bucket{le="0.25",cause="hang"} 0',
        'shepherd_detection_latency_seconds_bucket{le="0.5",cause="hang"} 0',
        'shepherd_detection_latency_seconds_bucket{le="1",cause="hang"} 0',
        'shepherd_detection_latency_seconds_bucket{le="2.5",cause="hang"} 0',
        'shepherd_detection_latency_seconds_bucket{le="5",cause="hang"} 1',
        'shepherd_detection_latency_seconds_bucket{le="10",cause="hang"} 1',
        'shepherd_detection_latency_seconds_bucket{le="+Inf",cause="hang"} 1',
        'shepherd_detection_latency_seconds_sum{cause="hang"} 3.2',
        'shepherd_detection_latency_seconds_count{cause="hang"} 1',
      ].join('\n'),
    )
    const recovery = await one(metrics, 'shepherd_recovery_duration_seconds')
    assert.match(
      recovery,
      /\nshepherd_recovery_duration_seconds_bucket\{le="0.5",pool="email",cause="crash"\} 0\n/,
    )
    assert.match(
      recovery,
      /\nshepherd_recovery_duration_seconds_bucket\{le="1",pool="email",cause="crash"\} 1\n/,
    )
    assert.match(
      recovery,
      /\nshepherd_recovery_duration_seconds_bucket\{le="300",pool="email",cause="crash"\} 1\n/,
    )
    assert.match(recovery, /\nshepherd_recovery_duration_seconds_sum\{pool="email",cause="crash"\} 0.8\n/)
    assert.match(recovery, /\nshepherd_recovery_duration_seconds_count\{pool="email",cause="crash"\} 1$/)
    assert.equal(recovery.match(/_bucket\{/g)?.length, 18, '17 buckets from 5 ms to 5 min, and +Inf')
    assert.match(recovery, /le="0.005"/)
  })

  it('counts jobs: ms null moves the counters but not the histogram; zeros from the start for pools with a queue', async () => {
    const { metrics } = metricsFor()
    assert.equal(
      await one(metrics, 'shepherd_jobs_processed_total'),
      [
        '# HELP shepherd_jobs_processed_total Jobs a worker finished, successfully or not (failed ones are also in shepherd_jobs_failed_total).',
        '# TYPE shepherd_jobs_processed_total counter',
        'shepherd_jobs_processed_total{pool="email",queue="email"} 0',
      ].join('\n'),
    )
    metrics.observeJobs('email', 'email', 1, 1, [40])
    metrics.observeJobs('email', 'email', 1, 0, [2_000])
    assert.match(
      await one(metrics, 'shepherd_jobs_processed_total'),
      /\nshepherd_jobs_processed_total\{pool="email",queue="email"\} 3$/,
    )
    assert.match(
      await one(metrics, 'shepherd_jobs_failed_total'),
      /\nshepherd_jobs_failed_total\{pool="email",queue="email"\} 1$/,
    )
    const duration = await one(metrics, 'shepherd_job_duration_seconds')
    assert.match(duration, /\nshepherd_job_duration_seconds_bucket\{le="0.05",queue="email"\} 1\n/)
    assert.match(duration, /\nshepherd_job_duration_seconds_bucket\{le="2.5",queue="email"\} 2\n/)
    assert.match(duration, /\nshepherd_job_duration_seconds_sum\{queue="email"\} 2.04\n/)
    assert.match(duration, /\nshepherd_job_duration_seconds_count\{queue="email"\} 2$/)
  })

  it('counts quarantines, dead letters and notifier failures, escaping label values', async () => {
    const { metrics } = metricsFor()
    const base = {
      at: 1,
      severity: 'warning' as const,
      message: 'x',
      pool: null,
      workerId: null,
      incidentId: null,
    }
    metrics.observeEvent({
      ...base,
      type: 'job:quarantined',
      data: { jobId: 'j1', queue: 'email', crashes: 3, error: null },
    })
    metrics.observeEvent({
      ...base,
      type: 'job:quarantined',
      data: { jobId: 'j2', queue: 'email', crashes: 3, error: null },
    })
    metrics.observeEvent({
      ...base,
      type: 'job:dead-lettered',
      data: { jobId: 'j3', queue: 'email', attempts: 3, error: 'boom' },
    })
    metrics.observeEvent({
      ...base,
      type: 'notifier:failed',
      data: { notifier: 'webhook:a"b\\c\nd', error: 'HTTP 500', eventType: 'report', attempts: 4 },
    })
    assert.match(
      await one(metrics, 'shepherd_jobs_quarantined_total'),
      /\nshepherd_jobs_quarantined_total\{queue="email"\} 2(\n|$)/,
    )
    assert.match(
      await one(metrics, 'shepherd_jobs_dead_lettered_total'),
      /\nshepherd_jobs_dead_lettered_total\{queue="email"\} 1(\n|$)/,
    )
    assert.equal(
      await one(metrics, 'shepherd_notifier_failures_total'),
      [
        '# HELP shepherd_notifier_failures_total Notifications (and scheduled reports) given up after their retries, by destination.',
        '# TYPE shepherd_notifier_failures_total counter',
        'shepherd_notifier_failures_total{notifier="webhook:a\\"b\\\\c\\nd"} 1',
      ].join('\n'),
    )
  })

  it('renders the info gauge, and nothing else, for events it does not count', async () => {
    const { metrics } = metricsFor()
    metrics.observeEvent({
      type: 'worker:spawned',
      at: 1,
      severity: 'info',
      message: 'x',
      pool: 'email',
      workerId: 'email#1',
      incidentId: null,
      data: { pid: 1, spare: false },
    })
    assert.equal(
      await one(metrics, 'shepherd_supervisor_info'),
      [
        '# HELP shepherd_supervisor_info Always 1; the label says which version of Shepherd runs.',
        '# TYPE shepherd_supervisor_info gauge',
        'shepherd_supervisor_info{version="1.4.0"} 1',
      ].join('\n'),
    )
  })

  it("labels every series with the agent's node, the default process metrics included", async () => {
    const metrics = createMetrics({
      snapshot: async () => SNAPSHOT,
      version: '1.4.0',
      node: 'web-1',
      pools: [{ name: 'email', queue: 'email' }],
    })
    assert.equal(
      await one(metrics, 'shepherd_supervisor_info'),
      [
        '# HELP shepherd_supervisor_info Always 1; the label says which version of Shepherd runs.',
        '# TYPE shepherd_supervisor_info gauge',
        'shepherd_supervisor_info{version="1.4.0",node="web-1"} 1',
      ].join('\n'),
    )
    const text = await metrics.render()
    const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))
    assert.ok(series.length > 100, `${series.length} series`)
    for (const line of series) assert.match(line, /[{,]node="web-1"[,}]/, line)
    assert.match(text, /\nprocess_cpu_seconds_total\{node="web-1"\} /)
    assert.match(text, /\nshepherd_incidents_opened_total\{pool="email",cause="crash",node="web-1"\} 0\n/)
  })

  it('takes one snapshot per scrape, however many gauges read it', async () => {
    const { metrics, calls } = metricsFor()
    const text = await metrics.render()
    assert.equal(calls(), 1)
    await metrics.render()
    assert.equal(calls(), 2)
    assert.match(text, /^# HELP shepherd_supervisor_info /)
    assert.ok(text.endsWith('\n'))
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      assert.match(line, /^shepherd_[a-z_]+(\{[^}]*\})? [-+0-9.e]+$/, line)
    }
  })

  it("adds prom-client's default process metrics under their standard names", async () => {
    const metrics = createMetrics({ snapshot: async () => SNAPSHOT, version: '1.4.0' })
    const text = await metrics.render()
    assert.match(text, /\nprocess_cpu_seconds_total \d/)
    assert.match(text, /\nprocess_resident_memory_bytes \d/)
    assert.match(text, /\nnodejs_eventloop_lag_seconds /)
    assert.doesNotMatch(text, /^shepherd_(process|nodejs)_/m)
  })

  it('has every series a configured pool, queue and destination can have from the start, at 0', async () => {
    const metrics = createMetrics({
      snapshot: async () => ({
        ...SNAPSHOT,
        pools: SNAPSHOT.pools.map((p) => ({ ...p, restartsByCause: {} })),
      }),
      version: '1.4.0',
      defaultMetrics: false,
      pools: [
        { name: 'email', queue: 'email' },
        { name: 'cron', queue: null },
      ],
      queues: ['email', 'bulk'],
      notifiers: ['slack', 'webhook:hooks.example'],
    })
    const text = await metrics.render()
    const causes = Object.keys(ANOMALY_CAUSES)
    for (const counter of ['incidents_opened', 'incidents_recovered', 'incidents_escalated']) {
      for (const pool of ['email', 'cron']) {
        for (const cause of causes) {
          assert.ok(
            text.includes(`\nshepherd_${counter}_total{pool="${pool}",cause="${cause}"} 0\n`),
            `${counter} ${pool} ${cause}`,
          )
        }
      }
    }
    for (const pool of ['email', 'reports'])
      for (const cause of causes)
        assert.ok(
          text.includes(`\nshepherd_restarts_total{pool="${pool}",cause="${cause}"} 0\n`),
          `${pool} ${cause}`,
        )
    for (const queue of ['email', 'bulk']) {
      assert.ok(text.includes(`\nshepherd_jobs_quarantined_total{queue="${queue}"} 0\n`), queue)
      assert.ok(text.includes(`\nshepherd_jobs_dead_lettered_total{queue="${queue}"} 0\n`), queue)
    }
    assert.ok(text.includes('\nshepherd_notifier_failures_total{notifier="slack"} 0\n'))
    assert.ok(text.includes('\nshepherd_notifier_failures_total{notifier="webhook:hooks.example"} 0\n'))
  })

  it('counts CPU seconds of each worker', async () => {
    const { metrics } = metricsFor({
      ...SNAPSHOT,
      workers: [
        worker('email#1', { cpuSeconds: 12.5 }),
        worker('email#s1', { role: 'spare', cpuSeconds: 0.25 }),
      ],
    })
    assert.equal(
      await one(metrics, 'shepherd_worker_cpu_seconds_total'),
      [
        "# HELP shepherd_worker_cpu_seconds_total CPU time of each worker's process trees (every process that held the slot), in seconds, read at health checks since the supervisor started; time of a process that exits between two checks is not seen.",
        '# TYPE shepherd_worker_cpu_seconds_total counter',
        'shepherd_worker_cpu_seconds_total{pool="email",worker="email#1"} 12.5',
        'shepherd_worker_cpu_seconds_total{pool="email",worker="email#s1"} 0.25',
      ].join('\n'),
    )
  })
})

describe('fleet snapshot', () => {
  it('reads workers, pools, the latest sample of the running process, and every configured queue', async () => {
    const supervisor = new FakeSupervisor([
      workerView('email#1', { startedAt: 5_000, restarts: 2 }),
      workerView('email#2', {
        startedAt: 9_000,
        report: {
          at: 9_500,
          verdict: 'healthy',
          score: 100,
          worst: null,
          indicators: [
            { name: 'cpu', value: 3.5, verdict: 'healthy', detail: '', penalty: 0 },
            { name: 'memory', value: 64, verdict: 'healthy', detail: '', penalty: 0 },
          ],
        },
      }),
      workerView('email#3', { pid: null, state: 'failed', healthScore: 0 }),
      workerView('email#s1', { role: 'spare' }),
    ])
    supervisor.pools = [pool('email', { restartsByCause: { crash: 2 } })]
    supervisor.history = () => ({
      workers: {
        'email#1': [
          { at: 6_000, cpuPercent: 1, rssMb: 10, healthScore: 100 },
          { at: 7_000, cpuPercent: 2.5, rssMb: 20.5, healthScore: 100 },
        ],
        // A sample of the process before the restart at 9_000: not this process's.
        'email#2': [{ at: 8_000, cpuPercent: 99, rssMb: 999, healthScore: 100 }],
        'email#3': [{ at: 8_000, cpuPercent: 99, rssMb: 999, healthScore: 100 }],
      },
      queues: {},
    })
    const jobs = {
      counts: async () => [
        { ...zeroCounts('zeta'), waiting: 2 },
        { ...zeroCounts('email'), done: 1 },
      ],
    }
    const s = await takeFleetSnapshot(supervisor, jobs, 10_000, ['email', 'alpha'])
    assert.deepEqual(
      s.workers.map((w) => [w.id, w.role, w.restarts, w.cpuPercent, w.residentBytes]),
      [
        ['email#1', 'worker', 2, 2.5, 21_495_808],
        ['email#2', 'worker', 0, 3.5, 67_108_864],
        ['email#3', 'worker', 0, null, null],
        ['email#s1', 'spare', 0, null, null],
      ],
    )
    assert.deepEqual(s.pools, [
      {
        name: 'email',
        minReplicas: 2,
        maxReplicas: 4,
        serving: 2,
        spares: 1,
        availability: 0.5,
        restartsByCause: { crash: 2 },
      },
    ])
    assert.deepEqual(
      s.queues.map((q) => [q.queue, q.waiting, q.done]),
      [
        ['alpha', 0, 0],
        ['email', 0, 1],
        ['zeta', 2, 0],
      ],
    )
  })
})

describe('GET /metrics', () => {
  it('answers the Prometheus text with its content type; 404 without metrics; 405 for other methods', async () => {
    const supervisor = new FakeSupervisor([workerView('email#1')])
    supervisor.pools = [pool('email')]
    const store = new MemoryStore([])
    const { metrics } = metricsFor()
    const app = createHttpApp({ supervisor, store, metrics })
    const res = await app.request('/metrics')
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
    assert.match(await res.text(), /\nshepherd_workers\{pool="email",state="ready"\} 1\n/)
    assert.equal((await app.request('/metrics', { method: 'POST' })).status, 405)
    const without = createHttpApp({ supervisor, store })
    const missing = await without.request('/metrics')
    assert.equal(missing.status, 404)
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'SHEPHERD_NOT_FOUND')
  })
})

function pool(name: string, over: Partial<PoolView> = {}): PoolView {
  return {
    name,
    queue: name,
    replicas: { min: 2, max: 4 },
    workers: 2,
    serving: 2,
    spares: 1,
    availability: 0.5,
    observedMs: 1000,
    fullMs: 500,
    restartsByCause: {},
    ...over,
  }
}
