/**
 * Warm spares, scale recovery, queue-driven scaling and the jobs of a worker that dies, under fake
 * time.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { onePool, startHarness } from './harness.js'

describe('the supervisor under fake time: strategies and scaling', () => {
  it('a ready warm spare takes a dead worker’s place at once, and a new spare starts', async (t) => {
    const h = await startHarness(t, onePool({ spares: 1 }))
    assert.equal(h.spawner.all.length, 2, 'the worker and its spare')
    await h.run(500)
    const spare = h.spawner.all[1]!
    assert.equal(h.supervisor.getWorker('w#s1')?.state, 'ready')
    h.process('w#1').crash(1)
    await h.until(() => h.eventsOf('incident:recovered').length > 0, 'the recovery')
    const inc = h.eventsOf('incident:recovered')[0]!.data.incident
    assert.equal(h.worker('w#1').pid, spare.pid, 'the spare is the worker now')
    assert.equal(inc.newPid, spare.pid)
    assert.equal(inc.recoveredAt! - inc.detectedAt, 0, 'no boot to wait for')
    assert.ok(
      spare.sent.some((m) => (m as { t: string; workerId?: string }).t === 'assign'),
      'told its new id',
    )
    await h.run(0)
    assert.equal(h.spawner.all.length, 3, 'a new spare')
    assert.equal(h.supervisor.getWorker('w#s1')?.pid, h.spawner.all[2]!.pid)
  })

  it('scale recovery starts the replacement first and retires the sick worker once it is ready', async (t) => {
    const h = await startHarness(
      t,
      onePool({ thresholds: { memory_limit_mb: 200 } }, {}, { strategies: { default: 'scale_recovery' } }),
    )
    await h.run(500)
    const sick = h.process('w#1')
    h.proc.set(sick.pid, { rssMb: 300 })
    await h.until(() => h.spawner.all.length === 2, 'the replacement to start')
    assert.ok(sick.alive, 'the sick worker still serves while its replacement starts')
    assert.equal(sick.stops.length, 0)
    assert.equal(h.worker('w#1').state, 'ready')
    await h.until(() => h.eventsOf('incident:recovered').length > 0, 'the recovery')
    const replacement = h.spawner.all[1]!
    assert.equal(h.worker('w#1').pid, replacement.pid)
    assert.equal(sick.stops[0]?.mode, 'graceful', 'retired gracefully')
    assert.ok(!sick.alive)
    const steps = h.eventsOf('incident:recovered')[0]!.data.incident.timeline.map((s) => s.step)
    assert.deepEqual(steps.slice(-4), ['state-restored', 'ready', 'retired', 'recovered'])
    assert.ok(!h.moves('w#1').some((m) => m.includes('stopping')), 'never out of service')
  })

  it('scales a pool out while its backlog is high and back in once it has stayed low', async (t) => {
    const h = await startHarness(
      t,
      onePool(
        { queue: 'work', replicas: { min: 1, max: 3 }, thresholds: { queue_size: 10 } },
        { scale_in_after: '5s' },
      ),
    )
    h.store.jobs.backlog.set('work', 50)
    await h.run(1_000)
    assert.equal(h.supervisor.listPools()[0]!.workers, 2)
    await h.run(1_000)
    assert.equal(h.supervisor.listPools()[0]!.workers, 3)
    await h.run(1_000)
    assert.equal(h.supervisor.listPools()[0]!.workers, 3, 'never past replicas.max')
    assert.deepEqual(
      h.eventsOf('pool:scaled').map((e) => e.data.to),
      [2, 3],
    )
    await h.run(500)
    h.store.jobs.backlog.set('work', 0)
    await h.until(() => h.supervisor.listPools()[0]!.workers === 1, 'two scale-ins', 30_000)
    const newest = h.spawner.all[2]!
    assert.equal(newest.stops[0]?.mode, 'graceful', 'the newest worker goes first, gracefully')
    assert.deepEqual(
      h.eventsOf('pool:scaled').map((e) => e.data.to),
      [2, 3, 2, 1],
    )
    assert.equal(h.eventsOf('incident:opened').length, 0, 'a scale-in is not a failure')
  })

  it('the jobs a dead worker held go back to the queue, then its incident opens and says so', async (t) => {
    const h = await startHarness(t, onePool({ queue: 'work', concurrency: 2 }))
    h.store.jobs.put('work', 3)
    const p = h.process('w#1')
    p.ready()
    p.say({ t: 'work', concurrency: 2 })
    await h.run(0)
    const delivered = p.sent.filter((m) => (m as { t: string }).t === 'jobs')
    assert.equal(delivered.length, 1)
    p.crash(1)
    await h.until(() => h.eventsOf('incident:recovered').length > 0, 'the recovery')
    const types = h.events.map((e) => e.type)
    const requeued = types.indexOf('job:requeued')
    assert.ok(requeued >= 0, 'the jobs went back')
    assert.ok(requeued < types.indexOf('incident:opened'), 'before the incident opened')
    assert.deepEqual(h.eventsOf('job:requeued')[0]!.data.jobIds, ['job-1', 'job-2'])
    const saved = h.eventsOf('incident:step').find((e) => e.data.step === 'state-saved')!
    assert.match(saved.data.detail, /2 jobs in flight went back to the queue at its exit/)
  })
})
