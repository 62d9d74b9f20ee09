/**
 * Waits longer than one setTimeout takes (2^31−1 ms, about 24.8 days), which Node turns into 1 ms:
 * a job delayed 400 days runs in 400 days, a 30-day job timeout is 30 days, and neither makes the
 * supervisor spin. The dispatcher runs under a fake clock and fake timers on a real SQLite store;
 * a real daemon shows that a 30-day delay sent to the HTTP API costs no CPU and no warnings.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'

import { jobPolicy, loadConfigText } from '../../src/config/load.js'
import { QueueSchema } from '../../src/config/schema.js'
import type { AnyEvent } from '../../src/core/events.js'
import { silentLogger } from '../../src/logger.js'
import { FakeClock } from '../../src/ports/clock.js'
import type { Store } from '../../src/ports/store.js'
import type { SupervisorMessage } from '../../src/protocol/messages.js'
import { Dispatcher, type JobWorker } from '../../src/queue/dispatcher.js'
import { Queue } from '../../src/queue/queue.js'
import { openStore } from '../../src/store/open-store.js'
import { freePort, startCli } from '../helpers/cli.js'
import { fixture, NODE, tempDir } from '../helpers/daemon.js'
import { FakeTimers, NODE_TIMEOUT_MAX } from '../helpers/fake-timers.js'
import { waitFor } from '../helpers/wait.js'

const DAY = 86_400_000

/** A worker that records the jobs it is sent. */
class TestWorker implements JobWorker {
  readonly key = 'w:1'
  readonly currentId = 'q#1'
  readonly alive = true
  readonly received: SupervisorMessage[] = []
  send(m: SupervisorMessage): boolean {
    this.received.push(m)
    return true
  }
  recordOutcome(): void {}
  onMessage(): void {}
  get jobIds(): string[] {
    return this.received.flatMap((m) => (m.t === 'jobs' ? m.jobs.map((j) => j.id) : []))
  }
}

/** Node's own TimeoutOverflowWarnings, counted while a test runs. */
function countOverflowWarnings(t: TestContext): () => number {
  let n = 0
  const listener = (w: Error) => {
    if (w.name === 'TimeoutOverflowWarning') n++
  }
  process.on('warning', listener)
  t.after(() => process.off('warning', listener))
  return () => n
}

async function setup(t: TestContext) {
  const dir = tempDir(t)
  const store: Store = await openStore(path.join(dir, 'shepherd.db'))
  t.after(() => store.close())
  const clock = new FakeClock(Date.UTC(2030, 0, 1))
  const timers = new FakeTimers(clock)
  const events: AnyEvent[] = []
  const dispatcher = new Dispatcher<TestWorker>({
    jobs: store.jobs,
    now: () => clock.now(),
    timers,
    random: () => 0.5,
    policy: () => jobPolicy(QueueSchema.parse({}), 0),
    emit: (type, severity, origin, message, data) =>
      events.push({
        type,
        severity,
        message,
        data,
        at: clock.now(),
        pool: origin.pool ?? null,
        workerId: origin.workerId ?? null,
        incidentId: null,
      } as AnyEvent),
    logger: silentLogger(),
    onStaleWorker: () => assert.fail('no worker is stale here'),
    eligible: () => true,
  })
  t.after(() => dispatcher.stop())
  const loaded = loadConfigText('workers:\n  q:\n    command: node\n    queue: q\n', path.join(dir, 'c.yaml'))
  const queue = new Queue(store, loaded, clock)
  const worker = new TestWorker()
  /** Lets every turn the timers asked for run to its end. */
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      await timers.run(0)
      await dispatcher.flush()
    }
  }
  return { store, clock, timers, events, dispatcher, queue, worker, settle }
}

describe('waits longer than one timer takes', () => {
  it('a job delayed 400 days runs in 400 days, without a timer past the limit', async (t) => {
    const warnings = countOverflowWarnings(t)
    const { store, timers, dispatcher, queue, worker, settle } = await setup(t)
    const { id } = await queue.add('q', { hello: 'later' }, { delay: '400d' })
    dispatcher.subscribe(worker, 'q', 'q', 1)
    await settle()
    assert.deepEqual(worker.jobIds, [])
    // 399 days on: still delayed, visible as such, and no timer was ever longer than Node takes.
    timers.advance(399 * DAY)
    await settle()
    assert.deepEqual(worker.jobIds, [])
    const delayed = await store.jobs.listJobs(
      'q',
      { state: 'delayed', limit: 10 },
      Date.UTC(2030, 0, 1) + 399 * DAY,
    )
    assert.deepEqual(
      delayed.map((j) => j.id),
      [id],
    )
    // The day it falls due, it is delivered.
    timers.advance(DAY)
    await settle()
    await waitFor(() => worker.jobIds.includes(id), 'the delayed job to be delivered')
    assert.deepEqual(timers.overflows, [])
    assert.ok(Math.max(...timers.armed) <= NODE_TIMEOUT_MAX)
    assert.equal(warnings(), 0)
  })

  it('a 30-day job timeout fires after 30 days, not at once', async (t) => {
    const warnings = countOverflowWarnings(t)
    const { timers, events, dispatcher, queue, worker, settle } = await setup(t)
    const { id } = await queue.add('q', 1, { timeout: '30d' })
    dispatcher.subscribe(worker, 'q', 'q', 1)
    await settle()
    await waitFor(() => worker.jobIds.includes(id), 'the job to be delivered')
    timers.advance(30 * DAY - 1)
    await settle()
    assert.deepEqual(
      events.filter((e) => e.type === 'job:timeout'),
      [],
    )
    timers.advance(1)
    await settle()
    const [timeout] = events.filter((e) => e.type === 'job:timeout')
    assert.equal(timeout?.data.jobId, id)
    assert.deepEqual(timers.overflows, [])
    assert.equal(warnings(), 0)
  })
})

describe('a 30-day delay through the API of a real daemon', { timeout: 120_000 }, () => {
  it('is accepted, listed as delayed, and costs neither CPU nor warnings', async (t) => {
    const dir = tempDir(t)
    const port = await freePort()
    const configFile = path.join(dir, 'shepherd.yaml')
    writeFileSync(
      configFile,
      [
        `api: { port: ${port} }`,
        'log: { level: warn }',
        'workers:',
        '  q:',
        `    command: ${JSON.stringify(NODE)}`,
        `    args: [${JSON.stringify(fixture('sdk-jobs.mjs'))}]`,
        '    queue: q',
        '',
      ].join('\n'),
    )
    const daemon = startCli(t, ['start', '-c', configFile])
    const api = `http://127.0.0.1:${port}`
    await waitFor(
      async () =>
        (await fetch(`${api}/api/workers`).then(
          async (r) => ((await r.json()) as { workers: { state: string }[] }).workers[0]?.state === 'ready',
          () => false,
        )) || undefined,
      'the worker to be ready',
      60_000,
    )
    const res = await fetch(`${api}/api/queues/q/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payload: 1, delay: '30d' }),
    })
    assert.equal(res.status, 201)
    const listed = (await (await fetch(`${api}/api/queues/q/jobs?state=delayed`)).json()) as {
      jobs: { runAt: number }[]
    }
    assert.equal(listed.jobs.length, 1)
    // Two seconds of the daemon's CPU after the enqueue: a timer loop takes a good part of a core;
    // an idle daemon (its workers polling the queue) a few per cent.
    const ticks = () => {
      const stat = readFileSync(`/proc/${daemon.child.pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      return Number(f[11]) + Number(f[12])
    }
    const before = ticks()
    const started = Date.now()
    await new Promise((r) => setTimeout(r, 2000))
    const cpuShare = (ticks() - before) / 100 / ((Date.now() - started) / 1000)
    assert.doesNotMatch(daemon.log(), /TimeoutOverflowWarning/)
    assert.ok(cpuShare < 0.15, `the daemon used ${(cpuShare * 100).toFixed(0)}% of a core while idle`)
  })
})
