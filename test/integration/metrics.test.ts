/**
 * /metrics of a real daemon: real workers crash, jobs run and fail, and the counters and
 * histograms move; what /metrics counts agrees with `shepherd incidents`.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { Incident } from '../../src/core/incident.js'
import {
  cliConfig,
  cliInProcess,
  fixture,
  metricSum,
  NODE,
  scrapeMetrics,
  startTestDaemon,
} from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

const fast = { check_interval: '200ms', min_uptime: '300ms', retry_delay: '50ms', revive_interval: '1h' }

describe('metrics of a running daemon', () => {
  it('moves the incident counters, restarts and histograms when a worker crashes', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      workers: { api: { command: NODE, args: [fixture('sdk-ready.mjs')], replicas: 2, stop_timeout: 2 } },
    })
    const { supervisor } = td.daemon
    await waitFor(() => supervisor.listWorkers().every((w) => w.state === 'ready'), 'both workers ready')

    const before = await scrapeMetrics(td)
    assert.equal(before.get('shepherd_workers{pool="api",state="ready"}'), 2)
    assert.equal(before.get('shepherd_workers{pool="api",state="failed"}'), 0)
    assert.equal(before.get('shepherd_supervisor_info{version="0.1.0"}'), 1)
    assert.equal(before.get('shepherd_pool_min_replicas{pool="api"}'), 2)
    assert.equal(metricSum(before, 'shepherd_incidents_opened_total'), 0)
    assert.ok((before.get('process_resident_memory_bytes') ?? 0) > 0, 'default metrics, standard names')

    const pid = supervisor.getWorker('api#1')!.pid!
    process.kill(pid, 'SIGKILL')
    const recovered = await td.waitForEvent('incident:recovered', (e) => e.workerId === 'api#1')
    const inc = recovered.data.incident
    // The gauges are read at scrape time: wait for the sampler to measure the new process too.
    await waitFor(
      async () => (await scrapeMetrics(td)).has('shepherd_worker_cpu_percent{pool="api",worker="api#1"}'),
      'a CPU sample of the replacement',
    )
    const after = await scrapeMetrics(td)
    assert.equal(after.get('shepherd_incidents_opened_total{pool="api",cause="crash"}'), 1)
    assert.equal(after.get('shepherd_incidents_recovered_total{pool="api",cause="crash"}'), 1)
    assert.equal(metricSum(after, 'shepherd_incidents_escalated_total'), 0)
    assert.equal(after.get('shepherd_restarts_total{pool="api",cause="crash"}'), 1)
    assert.equal(after.get('shepherd_worker_restarts_total{pool="api",worker="api#1"}'), 1)
    assert.equal(after.get('shepherd_worker_restarts_total{pool="api",worker="api#2"}'), 0)
    assert.equal(after.get('shepherd_detection_latency_seconds_count{cause="crash"}'), 1)
    assert.equal(
      after.get('shepherd_detection_latency_seconds_sum{cause="crash"}'),
      (inc.detectedAt - inc.exit!.at) / 1000,
    )
    assert.equal(after.get('shepherd_recovery_duration_seconds_count{pool="api",cause="crash"}'), 1)
    assert.equal(
      after.get('shepherd_recovery_duration_seconds_sum{pool="api",cause="crash"}'),
      (inc.recoveredAt! - inc.detectedAt) / 1000,
    )
    assert.equal(
      after.get('shepherd_recovery_duration_seconds_bucket{le="+Inf",pool="api",cause="crash"}'),
      1,
    )
    assert.ok(
      (after.get('shepherd_worker_resident_memory_bytes{pool="api",worker="api#1"}') ?? 0) > 1_000_000,
    )
    assert.ok((after.get('shepherd_worker_health_score{pool="api",worker="api#1"}') ?? 0) > 0)
    const ratio = after.get('shepherd_pool_availability_ratio{pool="api"}')!
    assert.ok(ratio > 0 && ratio < 1, `availability ${ratio} is below 1 after a crash`)
  })

  it('counts jobs, their run time, dead letters and quarantines, and the queue by state', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      queues: { jobs: { max_attempts: 1, poison_threshold: 1 } },
      workers: {
        work: { command: NODE, args: [fixture('sdk-jobs.mjs')], queue: 'jobs', stop_timeout: 2 },
      },
    })
    await waitFor(() => td.daemon.supervisor.getWorker('work#1')?.state === 'ready', 'the worker ready')
    const zero = await scrapeMetrics(td)
    assert.equal(zero.get('shepherd_jobs_processed_total{pool="work",queue="jobs"}'), 0)
    assert.equal(zero.get('shepherd_queue_jobs{queue="jobs",state="waiting"}'), 0)

    const enqueue = (payload: unknown) =>
      fetch(`${td.daemon.apiUrl}/api/queues/jobs/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payload }),
      })
    assert.equal((await enqueue({ op: 'ok' })).status, 201)
    assert.equal((await enqueue({ op: 'fail', message: 'bad address' })).status, 201)
    await td.waitForEvent('job:dead-lettered')
    await waitFor(
      async () => metricSum(await scrapeMetrics(td), 'shepherd_jobs_processed_total') === 2,
      'two jobs processed',
    )
    assert.equal((await enqueue({ op: 'crash', always: true })).status, 201)
    await td.waitForEvent('job:quarantined')
    await td.waitForEvent('incident:recovered', (e) => e.workerId === 'work#1')

    const m = await scrapeMetrics(td)
    assert.equal(m.get('shepherd_jobs_processed_total{pool="work",queue="jobs"}'), 2)
    assert.equal(m.get('shepherd_jobs_failed_total{pool="work",queue="jobs"}'), 1)
    assert.equal(m.get('shepherd_job_duration_seconds_count{queue="jobs"}'), 2)
    assert.equal(m.get('shepherd_jobs_dead_lettered_total{queue="jobs"}'), 1)
    assert.equal(m.get('shepherd_jobs_quarantined_total{queue="jobs"}'), 1)
    assert.equal(m.get('shepherd_queue_jobs{queue="jobs",state="done"}'), 1)
    assert.equal(m.get('shepherd_queue_jobs{queue="jobs",state="dead_lettered"}'), 1)
    assert.equal(m.get('shepherd_queue_jobs{queue="jobs",state="quarantined"}'), 1)
    assert.equal(m.get('shepherd_incidents_opened_total{pool="work",cause="crash"}'), 1)
  })

  it('agrees with `shepherd incidents`: the same recovered and escalated incidents', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: { ...fast, max_retries: 0 },
      workers: {
        api: { command: NODE, args: [fixture('sdk-ready.mjs')], replicas: 2, stop_timeout: 2 },
        // Exits at once, every time. A long min_uptime keeps a slow start on a loaded machine from
        // counting as ready before the exit: its crash escalates after the one attempt allowed.
        doomed: {
          command: NODE,
          args: [fixture('exit-with.mjs'), '1'],
          stop_timeout: 1,
          recovery: { min_uptime: '20s' },
        },
      },
    })
    const { supervisor } = td.daemon
    await td.waitForEvent('incident:escalated', (e) => e.workerId === 'doomed#1')
    for (const id of ['api#1', 'api#2']) {
      await waitFor(() => supervisor.getWorker(id)?.state === 'ready', `${id} ready`)
      const pid = supervisor.getWorker(id)!.pid!
      process.kill(pid, 'SIGKILL')
      await td.waitForEvent('incident:recovered', (e) => e.workerId === id)
    }

    const listed = await cliInProcess(['incidents', '-c', cliConfig(td), '--json'])
    assert.equal(listed.code, 0, listed.err)
    const incidents = (JSON.parse(listed.out) as { incidents: Incident[] }).incidents
    const m = await scrapeMetrics(td)
    const outcome = (o: string) => incidents.filter((i) => i.outcome === o).length
    assert.equal(outcome('recovered'), 2)
    assert.equal(outcome('escalated'), 1)
    assert.equal(metricSum(m, 'shepherd_incidents_recovered_total'), outcome('recovered'))
    assert.equal(metricSum(m, 'shepherd_incidents_escalated_total'), outcome('escalated'))
    assert.equal(metricSum(m, 'shepherd_incidents_opened_total'), incidents.length)
    assert.equal(metricSum(m, 'shepherd_recovery_duration_seconds_count'), outcome('recovered'))
    for (const pool of ['api', 'doomed']) {
      const own = incidents.filter((i) => i.pool === pool)
      assert.equal(metricSum(m, 'shepherd_incidents_opened_total', { pool }), own.length, pool)
    }
    assert.equal(m.get('shepherd_workers{pool="doomed",state="failed"}'), 1)
    const restarts = td.eventsOf('worker:spawned').filter((e) => e.incidentId !== null).length
    assert.equal(metricSum(m, 'shepherd_restarts_total'), restarts)
  })
})
