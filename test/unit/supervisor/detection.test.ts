/**
 * Detection and the recovery it starts, for each kind of fault, on the real Supervisor with fake
 * processes, a fake /proc and fake time (harness.ts): a crash, a hang (heartbeats stop), a stopped
 * process (state T), memory over the limit, an error rate over the threshold, failing probes and a
 * worker that never becomes ready.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { Incident } from '../../../src/core/incident.js'
import { type Harness, onePool, startHarness, T0 } from './harness.js'

/** The one incident the harness saw opened, once it has ended. */
async function oneIncident(h: Harness, workerId: string, withinMs = 60_000): Promise<Incident> {
  await h.until(
    () =>
      h.eventsOf('incident:recovered', workerId).length + h.eventsOf('incident:escalated', workerId).length >
      0,
    `an incident of ${workerId} to end`,
    withinMs,
  )
  const opened = h.eventsOf('incident:opened', workerId)
  assert.equal(opened.length, 1, 'one incident')
  return h.eventsOf('incident:recovered', workerId)[0]?.data.incident ?? assert.fail('not recovered')
}

describe('the supervisor under fake time: detection', () => {
  it('a crash is seen from the exit and recovered at once, with a fresh process', async (t) => {
    const h = await startHarness(t, onePool())
    const first = h.process('w#1')
    first.ready()
    await h.run(0)
    assert.equal(h.worker('w#1').state, 'ready')
    first.crash(3)
    await h.run(0)
    const opened = h.eventsOf('incident:opened', 'w#1')[0]!
    assert.equal(opened.at, T0, 'detected at the exit, not at a check')
    assert.equal(opened.data.incident.cause, 'crash')
    const inc = await oneIncident(h, 'w#1')
    assert.equal(inc.strategy, 'soft_restart')
    assert.equal(inc.exit?.exitCode, 3)
    assert.notEqual(h.worker('w#1').pid, first.pid)
    assert.deepEqual(h.moves('w#1'), [
      'starting → ready',
      'ready → exited',
      'exited → restarting',
      'restarting → starting',
      'starting → ready',
    ])
    // The replacement was told how its predecessor ended.
    const restore = h.process('w#1').sent.find((m) => (m as { t: string }).t === 'restore')
    assert.ok(restore === undefined || (restore as { state: { previousExit: unknown } }).state.previousExit)
    assert.equal(h.worker('w#1').restarts, 1)
  })

  it('a hang (heartbeats stop) is seen within hang_timeout and recovered with the emergency strategy', async (t) => {
    const h = await startHarness(t, onePool({ hang_timeout: '2s' }))
    const p = h.process('w#1')
    p.ready()
    for (let i = 0; i < 10; i++) {
      await h.run(300)
      p.heartbeat()
    }
    const silentFrom = h.clock.now()
    await h.until(() => h.eventsOf('incident:opened', 'w#1').length > 0, 'the hang to be detected', 5_000)
    const opened = h.eventsOf('incident:opened', 'w#1')[0]!
    assert.equal(opened.data.incident.cause, 'hang')
    assert.ok(opened.at - silentFrom >= 2_000, 'not before hang_timeout')
    assert.ok(
      opened.at - silentFrom <= 2_000 + 500,
      `detected ${opened.at - silentFrom} ms after the last heartbeat`,
    )
    assert.ok((opened.data.incident.silentMs ?? 0) >= 2_000)
    const inc = await oneIncident(h, 'w#1')
    assert.equal(inc.strategy, 'hard_restart')
    assert.equal(p.stops[0]?.mode, 'hard', 'a hung worker is killed, not asked')
  })

  it('a stopped process (state T) is recovered once it has been stopped for hang_timeout', async (t) => {
    const h = await startHarness(t, onePool({ hang_timeout: '2s' }))
    const p = h.process('w#1')
    await h.run(500) // min_uptime: ready without the SDK
    assert.equal(h.worker('w#1').state, 'ready')
    h.proc.set(p.pid, { state: 'T' })
    await h.until(() => h.eventsOf('incident:opened', 'w#1').length > 0, 'the stop to be detected', 5_000)
    const inc = await oneIncident(h, 'w#1')
    assert.equal(inc.cause, 'stopped')
    assert.equal(inc.severity, 'severe')
    assert.equal(inc.strategy, 'hard_restart')
  })

  it('memory over memory_limit_mb is seen at the next check and recovered', async (t) => {
    const h = await startHarness(t, onePool({ thresholds: { memory_mb: 100, memory_limit_mb: 200 } }))
    const p = h.process('w#1')
    await h.run(500)
    h.proc.set(p.pid, { rssMb: 150 })
    await h.run(1_000)
    assert.equal(h.eventsOf('incident:opened').length, 0, 'over memory_mb alone is a warning')
    h.proc.set(p.pid, { rssMb: 250 })
    await h.run(1_000)
    const inc = await oneIncident(h, 'w#1')
    assert.equal(inc.cause, 'memory')
    assert.match(inc.detail, /250 MiB > limit 200 MiB/)
  })

  it('an error rate over the threshold is recovered; one below it is not', async (t) => {
    const h = await startHarness(t, onePool({ thresholds: { error_rate: 0.2, error_min_samples: 10 } }))
    const p = h.process('w#1')
    p.ready()
    for (let i = 0; i < 20; i++) p.say({ t: 'outcome', ok: i % 10 !== 0 })
    await h.run(1_000)
    assert.equal(h.eventsOf('incident:opened').length, 0, '10% is under 20%')
    for (let i = 0; i < 20; i++) p.say({ t: 'outcome', ok: i % 2 === 0 })
    await h.run(1_000)
    const inc = await oneIncident(h, 'w#1')
    assert.equal(inc.cause, 'error-rate')
  })

  it('a worker that never becomes ready is recovered after verify_timeout', async (t) => {
    const h = await startHarness(
      t,
      onePool({ probes: [{ type: 'exec', command: 'check', interval: '10s' }] }, { verify_timeout: '3s' }),
      { start: false },
    )
    h.probes.set('w#1', { ok: false, detail: 'not yet', durationMs: 1 })
    await h.start()
    await h.until(() => h.eventsOf('incident:opened', 'w#1').length > 0, 'the start timeout', 10_000)
    const opened = h.eventsOf('incident:opened', 'w#1')[0]!
    assert.equal(opened.data.incident.cause, 'start-timeout')
    assert.equal(opened.at, T0 + 3_000)
  })

  it('failing liveness probes recover a running worker', async (t) => {
    const h = await startHarness(
      t,
      onePool({ probes: [{ type: 'exec', command: 'check', interval: '1s', failure_threshold: 3 }] }),
    )
    assert.equal(h.worker('w#1').state, 'ready', 'ready once its probes pass')
    h.probes.set('w#1', { ok: false, detail: 'HTTP 503', durationMs: 1 })
    const failingFrom = h.clock.now()
    await h.until(() => h.eventsOf('incident:opened', 'w#1').length > 0, 'the probe to fail', 10_000)
    const opened = h.eventsOf('incident:opened', 'w#1')[0]!
    assert.equal(opened.data.incident.cause, 'probe')
    assert.match(opened.data.incident.detail, /exec#1 failed 3× \(HTTP 503\)/)
    assert.equal(opened.at - failingFrom, 3_000, 'at the third failure in a row')
  })
})
