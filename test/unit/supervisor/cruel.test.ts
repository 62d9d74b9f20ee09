/**
 * The cruel cases, on the real Supervisor under fake time: a clock that jumps backwards, a crash
 * during a backoff, and a revive attempt racing a manual restart.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { onePool, startHarness } from './harness.js'

const HOUR = 3_600_000

describe('the supervisor under fake time: cruel cases', () => {
  it('a clock that jumps back an hour mid-recovery: the recovery ends, no duration is negative, a hang is still seen', async (t) => {
    const h = await startHarness(t, onePool({ hang_timeout: '2s' }))
    h.process('w#1').ready()
    await h.run(1_000)
    h.process('w#1').crash(1)
    await h.run(0)
    assert.equal(h.worker('w#1').state, 'starting', 'the replacement is starting')
    h.clock.set(h.clock.now() - HOUR)
    h.process('w#1').ready()
    await h.until(() => h.eventsOf('incident:recovered').length === 1, 'the recovery')
    const inc = h.eventsOf('incident:recovered')[0]!.data.incident
    assert.ok(inc.recoveredAt! - inc.detectedAt >= 0, 'no negative recovery time')
    assert.match(h.eventsOf('incident:recovered')[0]!.message, /recovered in \d+ ms/)
    for (const step of inc.timeline) assert.doesNotMatch(step.detail, /-\d+ ms/)
    const pool = h.supervisor.listPools()[0]!
    assert.ok(pool.observedMs >= 0 && pool.availability >= 0 && pool.availability <= 1)
    assert.ok(h.worker('w#1').uptimeMs! >= 0)

    // A heartbeat, then silence across a second jump back: the hang is seen within hang_timeout
    // of time passing, not an hour later when the clock has caught up.
    const p = h.process('w#1')
    p.heartbeat()
    await h.run(500)
    h.clock.set(h.clock.now() - HOUR)
    await h.until(() => h.eventsOf('incident:opened').length === 2, 'the hang', 3_000)
    assert.equal(h.eventsOf('incident:opened')[1]!.data.incident.cause, 'hang')
  })

  it('a crash during a backoff: one incident, its exit recorded, the next attempt goes ahead', async (t) => {
    const h = await startHarness(
      t,
      onePool(
        { thresholds: { memory_limit_mb: 200 } },
        { retry_delay: '5s', max_retry_delay: '10s', stable_after: '1m' },
      ),
    )
    await h.run(500)
    h.process('w#1').crash(1)
    await h.until(() => h.eventsOf('incident:recovered').length === 1, 'the first recovery')
    await h.run(500)
    // Within stable_after of its restart: the next incident backs off before its attempt, while
    // the sick process still runs.
    const sick = h.process('w#1')
    h.proc.set(sick.pid, { rssMb: 300 })
    await h.until(() => h.eventsOf('incident:opened').length === 2, 'the memory incident')
    await h.run(0)
    const backoff = h.eventsOf('incident:step').filter((e) => e.data.step === 'backoff')
    assert.equal(backoff.length, 1, 'backing off')
    assert.ok(sick.alive)
    const spawned = h.spawner.all.length
    sick.crash(9)
    await h.run(1_000)
    assert.equal(h.eventsOf('incident:opened').length, 2, 'the crash is part of the incident under way')
    assert.equal(h.spawner.all.length, spawned, 'nothing starts before the backoff is over')
    await h.until(() => h.eventsOf('incident:recovered').length === 2, 'the second recovery', 10_000)
    const inc = h.eventsOf('incident:recovered')[1]!.data.incident
    assert.equal(inc.exit?.exitCode, 9, 'the crash is the exit of record')
    assert.equal(h.spawner.all.length, spawned + 1, 'one replacement')
    assert.equal(h.worker('w#1').state, 'ready')
  })

  it('a manual restart during a revive attempt wins; the attempt neither fails nor revives the worker later', async (t) => {
    let broken = true
    const h = await startHarness(
      t,
      onePool(
        {},
        {
          max_retries: 0,
          restart_limit: { max: 1, window: '1m' },
          revive_interval: '60s',
          stable_after: '10s',
        },
      ),
      { spawn: (p) => broken && p.crashAfter(1_000) },
    )
    await h.until(() => h.eventsOf('incident:escalated').length === 1, 'the escalation')
    broken = false
    await h.until(() => h.moves('w#1').at(-1) === 'failed → starting', 'a revive attempt', 70_000)
    const trial = h.process('w#1')
    const { incidentId } = await h.supervisor.restartWorker('w#1', { hard: false })
    await h.until(
      () => h.eventsOf('incident:recovered').some((e) => e.incidentId === incidentId),
      'the manual restart',
    )
    assert.ok(!trial.alive, 'the attempt’s process was replaced')
    // Long past the attempt's verify_timeout and stable_after: it neither fails nor announces itself.
    await h.run(5 * 60_000)
    assert.equal(h.worker('w#1').state, 'ready')
    assert.deepEqual(h.eventsOf('worker:revived'), [])
    assert.deepEqual(h.eventsOf('worker:still-failing'), [])
    assert.ok(!h.moves('w#1').slice(-3).includes('ready → failed'))
    const spawned = h.spawner.all.length
    await h.run(2 * 60_000)
    assert.equal(h.spawner.all.length, spawned, 'no revive attempt after the worker is back')
  })

  it('a revive falling due during a manual restart of a failed worker is skipped', async (t) => {
    let broken = true
    const h = await startHarness(
      t,
      onePool(
        { probes: [{ type: 'exec', command: 'check', interval: '100s' }] },
        {
          max_retries: 0,
          restart_limit: { max: 1, window: '10s' },
          revive_interval: '60s',
          verify_timeout: '30s',
        },
      ),
      { spawn: (p) => broken && p.crashAfter(1_000) },
    )
    await h.until(() => h.eventsOf('incident:escalated').length === 1, 'the escalation')
    const escalatedAt = h.clock.now()
    broken = false
    // Not ready until its probe passes: the manual restart is still verifying when the revive falls due.
    h.probes.set('w#1', { ok: false, detail: 'warming up', durationMs: 1 })
    await h.run(45_000)
    const spawned = h.spawner.all.length
    await h.supervisor.restartWorker('w#1', { hard: false })
    await h.until(() => h.spawner.all.length === spawned + 1, 'the restart to start a process', 5_000)
    await h.run(escalatedAt + 61_000 - h.clock.now())
    assert.equal(h.spawner.all.length, spawned + 1, 'no revive attempt while the restart is under way')
    assert.ok(!h.moves('w#1').includes('failed → starting'))
  })

  it('a manual restart of a failed worker that fails too: the next revive attempt is a revive_interval after the last escalation', async (t) => {
    const h = await startHarness(
      t,
      onePool(
        {},
        {
          max_retries: 0,
          restart_limit: { max: 1, window: '10s' },
          revive_interval: '60s',
          stable_after: '10s',
        },
      ),
      { spawn: (p) => p.crashAfter(1_000) },
    )
    await h.until(() => h.eventsOf('incident:escalated').length === 1, 'the escalation')
    await h.run(30_000)
    await h.supervisor.restartWorker('w#1', { hard: false })
    await h.until(() => h.eventsOf('incident:escalated').length === 2, 'the manual restart to escalate too')
    const second = h.clock.now()
    const attempts = () => h.moves('w#1').filter((m) => m === 'failed → starting').length
    assert.equal(attempts(), 0)
    await h.run(59_000)
    assert.equal(attempts(), 0, 'no attempt sooner than revive_interval after the last escalation')
    await h.until(() => attempts() === 1, 'the revive attempt', 2_000)
    const at = h
      .eventsOf('worker:state', 'w#1')
      .find((e) => e.data.from === 'failed' && e.data.to === 'starting')!.at
    assert.ok(at - second >= 60_000)
  })
})
