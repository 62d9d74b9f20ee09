/**
 * The restart budget bounds crash loops, not faults: a worker that ran for stable_after and then
 * fails has a new fault, recovered however many such faults there are, while a worker that dies
 * within seconds of every start is still escalated. Real daemon, real processes, real signals.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { fixture, NODE, startTestDaemon, type TestDaemon } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

const recovery = {
  check_interval: '200ms',
  retry_delay: '50ms',
  max_retry_delay: '200ms',
  verify_timeout: 10,
  min_uptime: '200ms',
  stable_after: '300ms',
  restart_limit: { max: 3, window: '10m' },
}

function allReady(td: TestDaemon, ids: string[]): boolean {
  return ids.every((id) => td.daemon.supervisor.getWorker(id)?.state === 'ready')
}

describe('restart budget', () => {
  it('recovers many workers killed at once (an OOM killer, a host hiccup), escalating none', async (t) => {
    const replicas = 12
    const td = await startTestDaemon(t, {
      recovery,
      workers: { w: { command: NODE, args: [fixture('forever.mjs')], replicas, stop_timeout: 2 } },
    })
    const ids = Array.from({ length: replicas }, (_, i) => `w#${i + 1}`)
    await waitFor(() => allReady(td, ids), 'every worker ready', 60_000)
    // Past stable_after: each of them has been running stably.
    await waitFor(
      () => ids.every((id) => (td.daemon.supervisor.getWorker(id)!.uptimeMs ?? 0) > 500),
      'stable workers',
    )
    const victims = ids.slice(0, 8)
    for (const id of victims) process.kill(td.daemon.supervisor.getWorker(id)!.pid!, 'SIGKILL')
    await waitFor(
      () => td.eventsOf('incident:recovered').length >= victims.length,
      'every killed worker recovered',
      60_000,
    )
    assert.equal(td.eventsOf('incident:escalated').length, 0, 'no escalation')
    await waitFor(() => allReady(td, ids), 'the pool back at full strength')
  })

  it('recovers a stable worker lost again and again, past restart_limit.max', async (t) => {
    const td = await startTestDaemon(t, {
      recovery,
      workers: { p: { command: NODE, args: [fixture('forever.mjs')], replicas: 2, stop_timeout: 2 } },
    })
    const faults = 6 // twice restart_limit.max, within one window
    for (let n = 1; n <= faults; n++) {
      await waitFor(() => allReady(td, ['p#1', 'p#2']), 'both workers ready')
      const w = td.daemon.supervisor.getWorker('p#1')!
      // Let it run past stable_after: the next fault is a new one, not a loop.
      await waitFor(() => (td.daemon.supervisor.getWorker('p#1')!.uptimeMs ?? 0) > 500, 'p#1 stable')
      process.kill(w.pid!, 'SIGKILL')
      await waitFor(() => td.eventsOf('incident:recovered').length >= n, `fault ${n} recovered`)
    }
    assert.equal(td.eventsOf('incident:escalated').length, 0, 'no escalation')
  })

  it('still escalates a worker that dies within moments of every start', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: { ...recovery, max_retries: 10, stable_after: '10s' },
      workers: {
        ok: { command: NODE, args: [fixture('forever.mjs')], stop_timeout: 2 },
        // Alive past min_uptime (so each start is ready), dead before stable_after.
        loop: { command: NODE, args: [fixture('exit-with.mjs'), '1', '250'], stop_timeout: 2 },
      },
    })
    const escalated = await td.waitForEvent(
      'incident:escalated',
      (e) => e.data.incident.workerId === 'loop#1',
      60_000,
    )
    assert.match(escalated.data.incident.escalationReason ?? '', /restart_limit/)
    // The budget is the looping worker's own: its healthy neighbour is untouched.
    assert.equal(td.daemon.supervisor.getWorker('ok#1')?.restarts, 0)
    assert.equal(td.daemon.supervisor.getWorker('ok#1')?.state, 'ready')
  })
})
