/**
 * The restart budget, escalation and revive, under fake time: a worker that dies within moments of
 * every start is escalated once its budget is spent; a failed worker is tried again at the revive
 * interval, counts as back only after it has run stable_after, and while it stays broken is
 * reported at attempts 2, 4, 8… without opening incidents.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { type FakeProcess, type Harness, onePool, startHarness } from './harness.js'

const recovery = {
  max_retries: 0,
  retry_delay: '100ms',
  restart_limit: { max: 2, window: '1m' },
  revive_interval: '60s',
  stable_after: '10s',
  min_uptime: '500ms',
}

/** Processes that die `ms` after they start while `broken()` says so. */
function dying(ms: number, broken: () => boolean = () => true): (p: FakeProcess) => void {
  return (p) => {
    if (broken()) p.crashAfter(ms)
  }
}

async function escalated(h: Harness): Promise<void> {
  await h.until(() => h.eventsOf('incident:escalated').length > 0, 'the escalation', 60_000)
}

describe('the supervisor under fake time: restart budget, escalation, revive', () => {
  it('escalates a worker that keeps dying once restart_limit is spent, and stops restarting it', async (t) => {
    const h = await startHarness(t, onePool({}, recovery), { spawn: dying(1_000) })
    await escalated(h)
    const esc = h.eventsOf('incident:escalated')
    assert.equal(esc.length, 1)
    assert.match(esc[0]!.data.reason, /restarted 2 times within 60000 ms without running stable_after/)
    assert.equal(h.eventsOf('incident:opened').length, 3, 'two restarts, then the budget is spent')
    assert.equal(h.worker('w#1').state, 'failed')
    assert.equal(h.worker('w#1').pid, null)
    const spawned = h.spawner.all.length
    await h.run(59_000)
    assert.equal(h.spawner.all.length, spawned, 'no restart before the revive interval')
  })

  it('revives a failed worker: back once it has run stable_after, with its real time out of service', async (t) => {
    let broken = true
    const h = await startHarness(t, onePool({}, recovery), { spawn: dying(1_000, () => broken) })
    await escalated(h)
    const inc = h.eventsOf('incident:escalated')[0]!.data.incident
    broken = false
    await h.until(() => h.worker('w#1').state === 'ready', 'the revive attempt to be ready', 70_000)
    const readyAt = h.clock.now()
    await h.run(9_999)
    assert.deepEqual(h.eventsOf('worker:revived'), [], 'not before stable_after')
    await h.run(1)
    const [revived] = h.eventsOf('worker:revived')
    assert.ok(revived, 'revived')
    assert.equal(revived.data.afterMs, readyAt - inc.detectedAt)
    assert.equal(revived.data.attempts, 1)
    assert.equal(revived.data.incidentId, inc.id)
    assert.equal(h.eventsOf('incident:opened').length, 3, 'a revive is not an incident')
    assert.equal(h.worker('w#1').state, 'ready')
    // Back for good: a later crash is a new fault, recovered as usual.
    h.process('w#1').crash(1)
    await h.until(() => h.eventsOf('incident:recovered').length > 0, 'the next crash to be recovered')
  })

  it('a revive attempt that fails is quiet; a worker that stays broken is reported at attempts 2, 4, 8', async (t) => {
    // Up long enough to look ready (min_uptime), dead before stable_after: every attempt looks fine for a moment.
    const h = await startHarness(t, onePool({}, recovery), { spawn: dying(1_000) })
    await escalated(h)
    const opened = h.eventsOf('incident:opened').length
    await h.until(
      () => h.eventsOf('worker:still-failing').some((e) => e.data.attempts === 8),
      'the digest of attempt 8',
      10 * 61_000,
    )
    assert.deepEqual(
      h.eventsOf('worker:still-failing').map((e) => e.data.attempts),
      [2, 4, 8],
    )
    const digest = h.eventsOf('worker:still-failing').at(-1)!
    assert.match(digest.message, /^w#1 is still failing after 8 revive attempts, out of service for /)
    assert.match(digest.data.lastFailure, /exited with code 1/)
    assert.equal(h.eventsOf('incident:opened').length, opened, 'no incident for a failed attempt')
    assert.equal(h.eventsOf('incident:escalated').length, 1, 'paged once')
    assert.deepEqual(h.eventsOf('worker:revived'), [])
    // Each attempt is in the worker's states: failed → starting → ready → failed.
    const tail = h.moves('w#1').slice(-3)
    assert.deepEqual(tail, ['failed → starting', 'starting → ready', 'ready → failed'])
  })

  it('a revive attempt that never becomes ready fails after verify_timeout', async (t) => {
    const h = await startHarness(
      t,
      onePool(
        { probes: [{ type: 'exec', command: 'check', interval: '10s' }] },
        { ...recovery, verify_timeout: '3s' },
      ),
      { start: false },
    )
    h.probes.set('w#1', { ok: false, detail: 'connection refused', durationMs: 1 })
    await h.start()
    await escalated(h)
    await h.until(() => h.moves('w#1').at(-1) === 'failed → starting', 'a revive attempt', 70_000)
    const from = h.clock.now()
    await h.until(() => h.worker('w#1').state === 'failed', 'the attempt to fail', 10_000)
    assert.ok(h.clock.now() - from <= 3_000)
    const last = h.eventsOf('worker:state', 'w#1').at(-1)!
    assert.equal(last.data.reason, 'revive attempt 1 failed: not ready within verify_timeout')
  })
})
