/** Graceful shutdown under fake time: SIGTERM first, SIGKILL after stop_timeout for a worker that ignores it. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { onePool, startHarness } from './harness.js'

describe('the supervisor under fake time: shutdown', () => {
  it('stops every worker gracefully, and forces one that ignores SIGTERM after stop_timeout', async (t) => {
    const h = await startHarness(t, onePool({ replicas: 2, stop_timeout: '3s' }))
    await h.run(500)
    const [polite, stubborn] = [h.process('w#1'), h.process('w#2')]
    stubborn.ignoresSigterm = true
    let stopped = false
    const stopping = h.supervisor.stop('shutdown test').then(() => (stopped = true))
    await h.run(0)
    assert.ok(!polite.alive, 'a polite worker stops at SIGTERM')
    assert.equal(polite.exit?.forced, false)
    assert.ok(stubborn.alive)
    assert.deepEqual(stubborn.signals, ['SIGTERM'])
    await h.run(2_999)
    assert.ok(!stopped && stubborn.alive, 'not before stop_timeout')
    await h.run(1)
    await stopping
    assert.equal(stubborn.exit?.forced, true, 'SIGKILL after stop_timeout')
    for (const id of ['w#1', 'w#2']) assert.equal(h.worker(id).state, 'exited')
    assert.deepEqual(h.moves('w#2').slice(-2), ['ready → stopping', 'stopping → exited'])
    assert.equal(h.eventsOf('incident:opened').length, 0, 'a stop is not a crash')
    assert.equal(h.timers.size, 0, 'no timer left behind')
    const types = h.events.map((e) => e.type)
    assert.equal(types.at(-1), 'supervisor:stopped')
  })

  it('closes an incident under way as interrupted', async (t) => {
    const h = await startHarness(t, onePool({}, { retry_delay: '30s', max_retries: 2 }))
    await h.run(500)
    h.process('w#1').crash(1)
    await h.run(0)
    // The first restart is at once; the second crash waits for the backoff.
    await h.run(100)
    h.process('w#1').crash(1)
    await h.run(100)
    assert.equal(h.worker('w#1').state, 'restarting')
    await h.supervisor.stop('stop during a backoff')
    assert.equal(h.eventsOf('incident:interrupted').length, 1)
    assert.equal(h.worker('w#1').state, 'exited')
  })
})
