/**
 * Jobs through real workers: the durable queue, the dispatcher, the SDK's work(), and what the
 * recovery flow does with the jobs of a worker that crashes, hangs or is restarted.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

import { loadConfigFile } from '../../src/config/load.js'
import { Queue } from '../../src/queue/queue.js'
import { fixture, NODE, startTestDaemon, type TestDaemon } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

const fast = { check_interval: '200ms', retry_delay: '50ms', max_retry_delay: '200ms', min_uptime: '300ms' }

async function setup(t: Parameters<typeof startTestDaemon>[0], over: Record<string, unknown> = {}) {
  const ledgerName = 'ledger.txt'
  const td = await startTestDaemon(t, {
    recovery: fast,
    queues: { work: { retry_delay: '20ms', max_retry_delay: '100ms', poison_threshold: 3 } },
    workers: {
      jobs: {
        command: NODE,
        args: [fixture('sdk-jobs.mjs')],
        queue: 'work',
        concurrency: 2,
        replicas: 2,
        hang_timeout: '1s',
        stop_timeout: 5,
        env: { LEDGER: `./${ledgerName}` },
      },
    },
    ...over,
  })
  const queue = new Queue(td.daemon.store, loadConfigFile(td.configFile))
  const ledger = (): string[] => {
    const file = path.join(td.dir, ledgerName)
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []
  }
  return { td, queue, ledger }
}

async function done(td: TestDaemon, id: string) {
  await waitFor(async () => (await td.daemon.store.jobs.getJob(id))?.state === 'done', `job ${id} to be done`)
  return (await td.daemon.store.jobs.getJob(id))!
}

describe('jobs', () => {
  it('delivers jobs to workers and records their results', async (t) => {
    const { td, queue, ledger } = await setup(t)
    const added = await queue.addMany(
      'work',
      Array.from({ length: 50 }, (_, i) => ({ payload: { op: 'ok', i } })),
    )
    for (const a of added) await done(td, a.id)
    assert.equal(ledger().length, 50)
    const job = await td.daemon.store.jobs.getJob(added[0]!.id)
    assert.deepEqual((job!.result as { delivery: number }).delivery, 1)
    const [counts] = await td.daemon.store.jobs.counts(Date.now(), 'work')
    assert.equal(counts!.done, 50)
    assert.equal(counts!.inFlight, 0)
  })

  it('redelivers the job of a worker killed with SIGKILL mid-job, and it is done exactly once more', async (t) => {
    const { td, queue, ledger } = await setup(t)
    const { id } = await queue.add('work', { op: 'crash' })
    const job = await done(td, id)
    assert.equal(job.delivery, 2)
    assert.equal(job.crashes, 1)
    assert.equal(job.attempts, 0, 'a crash is not counted as an attempt')
    assert.deepEqual(ledger(), [`${id} 2`])
    const inc = (await td.waitForEvent('incident:recovered')).data.incident
    assert.match(
      inc.timeline.find((s) => s.step === 'state-saved')!.detail,
      /1 job in flight went back to the queue at its exit/,
    )
  })

  for (const op of ['stop', 'hang'] as const) {
    it(`redelivers the job of a worker that ${op === 'stop' ? 'is SIGSTOPped' : 'busy-loops'} mid-job`, async (t) => {
      const { td, queue, ledger } = await setup(t)
      const { id } = await queue.add('work', { op })
      const job = await done(td, id)
      assert.equal(job.delivery, 2)
      assert.equal(job.crashes, 1)
      assert.deepEqual(ledger(), [`${id} 2`])
      const inc = (await td.waitForEvent('incident:recovered')).data.incident
      assert.equal(inc.severity, 'severe')
    })
  }

  it('quarantines a poison job after it crashes three workers, while other jobs keep flowing', async (t) => {
    const { td, queue, ledger } = await setup(t)
    const poison = await queue.add('work', { op: 'crash', always: true })
    const others = await queue.addMany(
      'work',
      Array.from({ length: 30 }, (_, i) => ({ payload: { op: 'sleep', ms: 20, i } })),
    )
    const q = await td.waitForEvent('job:quarantined', (e) => e.data.jobId === poison.id, 30_000)
    assert.equal(q.data.crashes, 3)
    const job = await td.daemon.store.jobs.getJob(poison.id)
    assert.equal(job!.state, 'quarantined')
    for (const o of others) await done(td, o.id)
    assert.equal(ledger().filter((l) => l.startsWith(poison.id)).length, 0)
  })

  it('hands the checkpoint saved before a crash to the next delivery', async (t) => {
    const { td, queue } = await setup(t)
    const { id } = await queue.add('work', { op: 'resume' })
    const job = await done(td, id)
    const result = job.result as { restored: { step: number; by: number }; delivery: number }
    assert.equal(result.delivery, 2)
    assert.equal(result.restored.step, 1)
    assert.notEqual(result.restored.by, undefined)
  })

  it('retries a failing job with backoff, then dead-letters it with its error and stack', async (t) => {
    const { td, queue } = await setup(t)
    const { id } = await queue.add('work', { op: 'fail', message: 'upstream said 503' }, { maxAttempts: 3 })
    const dead = await td.waitForEvent('job:dead-lettered', (e) => e.data.jobId === id)
    assert.equal(dead.data.attempts, 3)
    const job = await td.daemon.store.jobs.getJob(id)
    assert.equal(job!.state, 'dead')
    assert.equal(job!.lastError, 'upstream said 503')
    assert.match(job!.lastStack ?? '', /sdk-jobs\.mjs/)
    assert.equal(job!.crashes, 0)
  })

  it('lets the job in flight finish during a soft restart', async (t) => {
    const { td, queue, ledger } = await setup(t, {})
    await waitFor(() => td.daemon.supervisor.listWorkers().every((w) => w.state === 'ready'), 'workers ready')
    const { id } = await queue.add('work', { op: 'sleep', ms: 700 })
    await waitFor(
      async () => (await td.daemon.store.jobs.getJob(id))?.state === 'active',
      'the job to be in flight',
    )
    const holder = (await td.daemon.store.jobs.getJob(id))!.leaseWorker!
    const { incidentId } = await td.daemon.supervisor.restartWorker(holder, { hard: false })
    const inc = (await td.waitForEvent('incident:recovered', (e) => e.data.incident.id === incidentId)).data
      .incident
    assert.match(inc.timeline.find((s) => s.step === 'state-saved')!.detail, /1 job in flight left to finish/)
    const job = await done(td, id)
    assert.equal(job.delivery, 1, 'finished by the worker that had it, not redelivered')
    assert.deepEqual(ledger(), [`${id} 1`])
  })

  it('fails a job past its timeout, redelivers it, refuses the late ack and stops the stale worker', async (t) => {
    const { td, queue } = await setup(t)
    const { id } = await queue.add('work', { op: 'sleep', ms: 800 }, { timeout: 300, maxAttempts: 2 })
    await td.waitForEvent('job:timeout', (e) => e.data.jobId === id)
    const stale = await td.waitForEvent('job:stale', (e) => e.data.jobId === id)
    assert.equal(stale.data.kind, 'ack')
    await td.waitForEvent('incident:opened', (e) => e.data.incident.cause === 'stale-delivery')
    const job = (await td.daemon.store.jobs.getJob(id))!
    assert.ok(job.delivery >= 2, 'the job was given to another delivery')
  })

  it('spreads a trickle of jobs over every worker of the pool: each one proves it can work', async (t) => {
    const { td, queue } = await setup(t, {
      workers: {
        jobs: {
          command: NODE,
          args: [fixture('sdk-jobs.mjs')],
          queue: 'work',
          replicas: 4,
          stop_timeout: 5,
        },
      },
    })
    await waitFor(() => {
      const ws = td.daemon.supervisor.listWorkers()
      return ws.length === 4 && ws.every((w) => w.state === 'ready')
    }, 'four workers ready')
    // About 25 jobs a second of 30 ms each: a light load that one worker alone could carry.
    const ids: string[] = []
    for (let i = 0; i < 100; i++) {
      // The daemon's store wakes its dispatcher at once: the queue adds through that store.
      ids.push((await queue.add('work', { op: 'sleep', ms: 30, i })).id)
      await new Promise((r) => setTimeout(r, 40))
    }
    const ranBy = new Map<string, number>()
    for (const id of ids) {
      const { worker } = (await done(td, id)).result as { worker: string }
      ranBy.set(worker, (ranBy.get(worker) ?? 0) + 1)
    }
    assert.deepEqual(
      [...ranBy.keys()].sort(),
      ['jobs#1', 'jobs#2', 'jobs#3', 'jobs#4'],
      JSON.stringify([...ranBy]),
    )
  })

  it('holds a delayed job until it is due', async (t) => {
    const { td, queue } = await setup(t)
    const { id } = await queue.add('work', { op: 'ok' }, { delay: 200, priority: 5 })
    const job = await done(td, id)
    assert.ok(job.finishedAt! - job.createdAt >= 200, 'not before its delay')
  })
})

describe('queue-driven scaling', () => {
  it('scales a pool out while its backlog is high and back in, gracefully, once it stays low', async (t) => {
    const { td, queue } = await setup(t, {
      recovery: { ...fast, scale_in_after: '1s' },
      thresholds: { queue_size: 5 },
      workers: {
        jobs: {
          command: NODE,
          args: [fixture('sdk-jobs.mjs')],
          queue: 'work',
          replicas: { min: 1, max: 3 },
          stop_timeout: 5,
        },
      },
    })
    const jobs = await queue.addMany(
      'work',
      Array.from({ length: 60 }, (_, i) => ({ payload: { op: 'sleep', ms: 60, i } })),
    )
    await td.waitForEvent('pool:scaled', (e) => e.data.to === 3)
    assert.equal(
      td.eventsOf('pool:scaled').filter((e) => e.data.to > e.data.from).length,
      2,
      'one worker at a time',
    )
    for (const j of jobs) await done(td, j.id)
    await td.waitForEvent('pool:scaled', (e) => e.data.to === 1, 30_000)
    assert.equal(td.daemon.supervisor.listWorkers().filter((w) => w.pool === 'jobs').length, 1)
    const crashes = td.eventsOf('incident:opened')
    assert.equal(crashes.length, 0, 'scaling in is not a recovery')
    const [counts] = await td.daemon.store.jobs.counts(Date.now(), 'work')
    assert.equal(counts!.done, 60)
  })
})

describe('a Python worker (examples/python)', () => {
  const python = {
    command: 'python3',
    args: [path.resolve(import.meta.dirname, '../../examples/python/worker.py')],
    queue: 'work',
    replicas: 2,
    hang_timeout: '1s',
    stop_timeout: 5,
    env: { LEDGER: './ledger.txt' },
  }

  it('processes jobs, and its crash mid-job is recovered like a Node worker’s', async (t) => {
    const { td, queue, ledger } = await setup(t, { workers: { py: python } })
    const ok = await queue.addMany(
      'work',
      Array.from({ length: 10 }, (_, i) => ({ payload: { op: 'ok', i } })),
    )
    for (const a of ok) {
      const job = await done(td, a.id)
      assert.equal((job.result as { lang: string }).lang, 'python')
    }
    const crash = await queue.add('work', { op: 'crash' })
    const job = await done(td, crash.id)
    assert.equal(job.delivery, 2)
    const inc = (await td.waitForEvent('incident:recovered')).data.incident
    assert.equal(inc.workerId.startsWith('py#'), true)
    // A Python start can outlast min_uptime on a loaded machine: the replacement then counts as
    // ready by uptime first, and as an SDK worker once its first message arrives.
    await waitFor(
      () => td.daemon.supervisor.getWorker(inc.workerId)?.sdk === true,
      'the replacement speaking the SDK',
    )
    assert.equal(ledger().filter((l) => l.startsWith(crash.id)).length, 1)
  })

  it('resumes from the checkpoint saved before a crash, and dead-letters what keeps failing', async (t) => {
    const { td, queue } = await setup(t, { workers: { py: python } })
    const { id } = await queue.add('work', { op: 'resume' })
    const job = await done(td, id)
    assert.equal((job.result as { restored: { step: number } }).restored.step, 1)
    const failing = await queue.add('work', { op: 'fail', message: 'bad input' }, { maxAttempts: 2 })
    await td.waitForEvent('job:dead-lettered', (e) => e.data.jobId === failing.id)
    const dead = (await td.daemon.store.jobs.getJob(failing.id))!
    assert.equal(dead.lastError, 'bad input')
    assert.match(dead.lastStack ?? '', /RuntimeError: bad input/)
  })
})
