/**
 * Reports against a real daemon: incidents, restarts and jobs happen for real, and the report's
 * figures equal `shepherd incidents` and /metrics, with the supervisor up and down. Scheduled
 * reports reach a real HTTP server standing in for Slack and webhooks.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { describe, it } from 'node:test'

import type { Incident } from '../../src/core/incident.js'
import type { Report } from '../../src/report/types.js'
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

async function reportJson(file: string): Promise<Report> {
  const r = await cliInProcess(['report', '-c', file, '--format', 'json', '--since', '1h'])
  assert.equal(r.code, 0, r.err)
  return JSON.parse(r.out) as Report
}

/** An HTTP server standing in for Slack and webhooks; `/broken` always answers 500. */
class Receiver {
  readonly received: { path: string; body: unknown }[] = []
  private constructor(private readonly server: Server) {}
  static async start(): Promise<Receiver> {
    const r = new Receiver(
      createServer((req, res) => {
        let text = ''
        req.setEncoding('utf8')
        req.on('data', (d: string) => (text += d))
        req.on('end', () => {
          r.received.push({ path: req.url ?? '', body: JSON.parse(text) as unknown })
          res.statusCode = req.url === '/broken' ? 500 : 200
          res.end(req.url === '/broken' ? 'down for maintenance' : 'ok')
        })
      }),
    )
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve))
    return r
  }
  get url(): string {
    const address = this.server.address()
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  }
  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

describe('reports of a real daemon', () => {
  it('agree with `shepherd incidents` and /metrics, with the supervisor up and down', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: { ...fast, max_retries: 0 },
      queues: { jobs: { max_attempts: 1, poison_threshold: 1 } },
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
        work: { command: NODE, args: [fixture('sdk-jobs.mjs')], queue: 'jobs', stop_timeout: 2 },
      },
    })
    const { supervisor, store } = td.daemon
    await td.waitForEvent('incident:escalated', (e) => e.workerId === 'doomed#1')
    await waitFor(() => supervisor.getWorker('api#1')?.state === 'ready', 'api#1 ready')
    process.kill(supervisor.getWorker('api#1')!.pid!, 'SIGKILL')
    await td.waitForEvent('incident:recovered', (e) => e.workerId === 'api#1')
    await waitFor(() => supervisor.getWorker('work#1')?.state === 'ready', 'work#1 ready')
    const enqueue = async (payload: unknown): Promise<string> => {
      const res = await fetch(`${td.daemon.apiUrl}/api/queues/jobs/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payload }),
      })
      return ((await res.json()) as { jobs: { id: string }[] }).jobs[0]!.id
    }
    const failing = await enqueue({ op: 'fail', message: 'no such mailbox' })
    await td.waitForEvent('job:dead-lettered', (e) => e.data.jobId === failing)
    const poison = await enqueue({ op: 'crash', always: true })
    await td.waitForEvent('job:quarantined', (e) => e.data.jobId === poison)
    await td.waitForEvent('incident:recovered', (e) => e.workerId === 'work#1')
    await waitFor(
      () => supervisor.listWorkers().every((w) => w.pool === 'doomed' || w.state === 'ready'),
      'all ready',
    )
    // The store is written behind: wait until it has every incident, finished, and both job events.
    const opened = td.eventsOf('incident:opened').length
    await waitFor(async () => {
      const stored = await store.listIncidents({ limit: 100 })
      const jobEvents = await store.listEvents({ types: ['job:quarantined', 'job:dead-lettered'] })
      return stored.length === opened && stored.every((i) => i.outcome !== null) && jobEvents.length === 2
    }, 'the store to have every incident and job event')

    const file = cliConfig(td)
    const poolsBefore = supervisor.listPools()
    const report = await reportJson(file)
    const poolsAfter = supervisor.listPools()
    const m = await scrapeMetrics(td)
    const listed = await cliInProcess(['incidents', '-c', file, '--json'])
    const incidents = (JSON.parse(listed.out) as { incidents: Incident[] }).incidents
    const outcome = (o: string) => incidents.filter((i) => i.outcome === o).length

    assert.equal(report.supervisorRunning, true)
    assert.equal(report.summary.incidents, incidents.length)
    assert.equal(report.summary.incidents, 3)
    assert.equal(report.summary.recovered, outcome('recovered'))
    assert.equal(report.summary.escalated, outcome('escalated'))
    assert.equal(report.summary.incidents, metricSum(m, 'shepherd_incidents_opened_total'))
    assert.equal(report.summary.recovered, metricSum(m, 'shepherd_incidents_recovered_total'))
    assert.equal(report.summary.escalated, metricSum(m, 'shepherd_incidents_escalated_total'))
    assert.equal(report.summary.restarts, metricSum(m, 'shepherd_restarts_total'))
    assert.equal(report.summary.mttr.count, metricSum(m, 'shepherd_recovery_duration_seconds_count'))
    assert.ok(
      Math.abs(report.summary.mttr.sumMs / 1000 - metricSum(m, 'shepherd_recovery_duration_seconds_sum')) <
        1e-6,
    )
    assert.deepEqual(
      report.causes.map((c) => [c.cause, c.incidents, c.recovered, c.escalated]),
      [['crash', 3, 2, 1]],
    )
    assert.deepEqual(
      report.topWorkers.map((w) => [w.workerId, w.incidents, w.escalated]),
      [
        ['doomed#1', 1, 1],
        ['api#1', 1, 0],
        ['work#1', 1, 0],
      ],
    )
    assert.deepEqual(
      report.topJobs.map((j) => [j.jobId, j.quarantined, j.deadLettered]).sort(),
      [
        [failing, 0, 1],
        [poison, 1, 0],
      ].sort(),
    )
    assert.equal(
      report.topJobs.reduce((n, j) => n + j.quarantined, 0),
      metricSum(m, 'shepherd_jobs_quarantined_total'),
    )
    assert.equal(
      report.topJobs.reduce((n, j) => n + j.deadLettered, 0),
      metricSum(m, 'shepherd_jobs_dead_lettered_total'),
    )
    assert.equal(report.quarantinedNow.total, m.get('shepherd_queue_jobs{queue="jobs",state="quarantined"}'))
    assert.deepEqual(
      report.quarantinedNow.jobs.map((j) => j.id),
      [poison],
    )
    const pool = (name: string) => report.pools.find((p) => p.name === name)!
    assert.deepEqual(pool('api').now, { workers: 2, serving: 2, spares: 0 })
    assert.deepEqual(pool('doomed').now, { workers: 1, serving: 0, spares: 0 })
    assert.equal(pool('doomed').availability, 0)
    for (const p of report.pools) {
      // The time at full strength is replayed from the same state changes the supervisor notes, so
      // it lies between the supervisor's own figures just before and just after the report.
      const before = poolsBefore.find((x) => x.name === p.name)!
      const after = poolsAfter.find((x) => x.name === p.name)!
      assert.ok(
        p.fullMs >= before.fullMs - 5 && p.fullMs <= after.fullMs + 5,
        `${p.name}: ${before.fullMs} ≤ ${p.fullMs} ≤ ${after.fullMs}`,
      )
      // The supervisor also observes the moments before its start event (store, API, orphans).
      assert.ok(p.observedMs <= after.observedMs + 5, `${p.name}: ${p.observedMs} ≤ ${after.observedMs}`)
      assert.ok(m.has(`shepherd_pool_availability_ratio{pool="${p.name}"}`))
    }
    assert.ok(pool('api').availability! < 1, 'api was short while api#1 was recovered')

    // The supervisor down: the same incidents, from the store alone; pools from the config file.
    await td.daemon.stop('report test')
    const down = await reportJson(file)
    assert.equal(down.supervisorRunning, false)
    assert.deepEqual(down.summary.incidents, report.summary.incidents)
    assert.deepEqual(down.summary.recovered, report.summary.recovered)
    assert.deepEqual(down.summary.escalated, report.summary.escalated)
    assert.deepEqual(down.summary.restarts, report.summary.restarts)
    assert.deepEqual(down.topJobs, report.topJobs)
    assert.equal(
      down.pools.every((p) => p.now === null),
      true,
    )
    assert.ok(down.pools.every((p) => p.observedMs > 0 && p.availability !== null))
    const md = await cliInProcess(['report', '-c', file, '--since', '1h', '--locale', 'ja'])
    assert.equal(md.code, 0, md.err)
    assert.match(md.out, /^# Shepherd レポート\n/)
    assert.match(md.out, /\n\| インシデント \| 3 \| 0 \| \+3 \|\n/)
    assert.match(md.out, /停止中（プールは設定ファイルの内容です）/)
  })

  it('sends scheduled reports to Slack and webhooks; a failing destination holds up nothing', async (t) => {
    const receiver = await Receiver.start()
    t.after(() => receiver.close())
    const td = await startTestDaemon(t, {
      recovery: fast,
      notifications: {
        slack: { webhook_url: `${receiver.url}/slack`, min_severity: 'critical' },
        webhooks: [
          { url: `${receiver.url}/hook`, min_severity: 'critical' },
          { url: `${receiver.url}/broken`, min_severity: 'critical' },
        ],
        retries: 0,
      },
      reports: { schedule: { every: '1s', since: '1h', locale: 'ja', format: 'md' } },
      workers: { api: { command: NODE, args: [fixture('sdk-ready.mjs')], stop_timeout: 2 } },
    })
    const failed = await td.waitForEvent(
      'notifier:failed',
      (e) => e.data.eventType === 'report' && e.data.notifier.endsWith('#2'),
    )
    assert.equal(failed.data.error, 'HTTP 500: down for maintenance')
    await waitFor(
      () =>
        receiver.received.some((r) => r.path === '/slack') &&
        receiver.received.some((r) => r.path === '/hook'),
      'a report at Slack and at the webhook',
    )
    const slack = receiver.received.find((r) => r.path === '/slack')!.body as {
      text: string
      blocks: { type: string }[]
    }
    assert.match(slack.text, /^📊 Shepherd レポート: /)
    assert.match(slack.text, /\n稼働率: /)
    assert.ok(slack.blocks.length >= 3)
    const hook = receiver.received.find((r) => r.path === '/hook')!.body as {
      type: string
      report: Report
      text: string
    }
    assert.equal(hook.type, 'report')
    assert.equal(hook.report.kind, 'shepherd.report')
    assert.equal(hook.report.supervisorRunning, true)
    assert.equal(hook.report.period.to - hook.report.period.from, 3_600_000)
    assert.deepEqual(
      hook.report.pools.map((p) => p.name),
      ['api'],
    )
    assert.match(hook.text, /^# Shepherd レポート\n/)
    assert.match(hook.text, /## プール別の稼働率/)
    await waitFor(
      async () =>
        ((await scrapeMetrics(td)).get(
          `shepherd_notifier_failures_total{notifier="${failed.data.notifier}"}`,
        ) ?? 0) >= 1,
      'the failure counted in /metrics',
    )
  })
})
