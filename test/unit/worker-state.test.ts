import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { describeExit, type ExitReport } from '../../src/core/exit-report.js'
import {
  canMove,
  isServing,
  isWorkerState,
  WORKER_STATES,
  type WorkerState,
} from '../../src/core/worker-state.js'

describe('worker states', () => {
  it('are the seven the API promises', () => {
    assert.deepEqual(Object.keys(WORKER_STATES), [
      'starting',
      'ready',
      'degraded',
      'stopping',
      'exited',
      'restarting',
      'failed',
    ])
    assert.ok(isWorkerState('degraded'))
    assert.ok(!isWorkerState('running'))
  })
  it('allow the recovery flow’s moves and refuse skipping the stop', () => {
    const flow: WorkerState[] = [
      'starting',
      'ready',
      'degraded',
      'stopping',
      'exited',
      'restarting',
      'starting',
      'ready',
    ]
    for (let i = 1; i < flow.length; i++)
      assert.ok(canMove(flow[i - 1]!, flow[i]!), `${flow[i - 1]} → ${flow[i]}`)
    assert.ok(canMove('restarting', 'failed'))
    assert.ok(canMove('failed', 'starting'))
    assert.ok(!canMove('stopping', 'ready'))
    assert.ok(!canMove('exited', 'ready'))
  })
  it('count ready and degraded workers as serving', () => {
    assert.deepEqual((Object.keys(WORKER_STATES) as WorkerState[]).filter(isServing), ['ready', 'degraded'])
  })
})

describe('exit reports', () => {
  const base: ExitReport = {
    pid: 1,
    exitCode: 1,
    signal: null,
    killedByUs: false,
    forced: false,
    spawnFailed: false,
    at: 0,
    durationMs: 5,
  }
  it('say how a process ended, in words', () => {
    assert.equal(describeExit(base), 'exited with code 1')
    assert.equal(
      describeExit({ ...base, exitCode: null, signal: 'SIGKILL', forced: true, killedByUs: true }),
      'killed by SIGKILL (forced after the stop timeout) (stopped by Shepherd)',
    )
    assert.equal(
      describeExit({ ...base, spawnFailed: true, error: 'spawn nope ENOENT' }),
      'could not start: spawn nope ENOENT',
    )
  })
})
