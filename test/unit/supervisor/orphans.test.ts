/**
 * A supervisor starting after one that died stops the worker processes it left running, under
 * fake time: SIGTERM (and SIGCONT) to each group found running by pid and start time, SIGKILL to
 * those still there after the grace, and nothing to a pid the kernel has given to another program.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { WorkerProcessRecord } from '../../../src/ports/store.js'
import { onePool, startHarness } from './harness.js'

/** A record as the dead supervisor wrote it; the fake /proc names a live pid by `pid * 10` ticks. */
function record(pid: number, startTicks = pid * 10): WorkerProcessRecord {
  return { pid, startTicks, pool: 'w', workerId: `w#${pid}`, spawnedAt: 0 }
}

describe('the supervisor under fake time: orphans of a dead supervisor', () => {
  it('stops the ones still running before starting workers, forcing one that ignores SIGTERM', async (t) => {
    const h = await startHarness(t, onePool({ replicas: 1, stop_timeout: '2s' }), { start: false })
    for (const pid of [50, 60, 80]) h.proc.add(pid)
    h.proc.stubborn.add(60)
    // 70 is gone; 80's pid now names another program (other start time).
    h.store.leftBehind = [record(50), record(60), record(70), record(80, 123)]
    const started = h.start()
    await h.run(0)
    assert.deepEqual(h.proc.groupSignals, ['50 SIGTERM', '60 SIGTERM', '60 SIGCONT'])
    assert.equal(h.spawner.all.length, 0, 'no worker starts while orphans are being stopped')
    await h.run(1_900)
    assert.ok(!h.proc.groupSignals.includes('60 SIGKILL'), 'not before the grace')
    await h.run(200)
    await started
    assert.deepEqual(h.proc.groupSignals.slice(3), ['60 SIGKILL'])
    assert.equal(h.proc.readStartTicks(80), 800, 'a reused pid is never touched')
    assert.deepEqual(await h.store.listWorkerProcesses(), [], 'the records are cleared')
    await h.run(500)
    assert.equal(h.worker('w#1').state, 'ready')
  })
})
