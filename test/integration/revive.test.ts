/**
 * A failed worker, tried again at the revive interval, with real processes: it pages once, at its
 * escalation; while it stays broken it is reported at a doubling interval; it is announced as
 * running again only once it has run stable_after, with its real time out of service.
 */
import assert from 'node:assert/strict'
import { unlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

import { NODE, startTestDaemon, tempDir } from '../helpers/daemon.js'

const recovery = {
  check_interval: '200ms',
  min_uptime: '100ms',
  retry_delay: '50ms',
  max_retries: 0,
  revive_interval: '300ms',
  stable_after: '1500ms',
  restart_limit: { max: 1, window: '1m' },
}

describe('revive', () => {
  it('pages once for a worker that stays broken, then reports it at a doubling interval', async (t) => {
    // Up long enough to count as ready (min_uptime), dead before stable_after: every revive attempt
    // looks like it worked for a moment, as in the field.
    const script = 'setTimeout(() => process.exit(1), 400)'
    const td = await startTestDaemon(t, {
      recovery,
      workers: { broken: { command: NODE, args: ['-e', script], stop_timeout: 1 } },
    })
    await td.waitForEvent('worker:still-failing', (e) => e.data.attempts === 8, 60_000)
    assert.equal(td.eventsOf('incident:escalated').length, 1, 'one escalation for one failure')
    assert.deepEqual(
      td.eventsOf('worker:still-failing').map((e) => e.data.attempts),
      [2, 4, 8],
    )
    assert.deepEqual(td.eventsOf('worker:revived'), [], 'never said to run again')
    const digest = td.eventsOf('worker:still-failing').at(-1)!
    assert.equal(digest.severity, 'warning')
    assert.equal(digest.data.incidentId, td.eventsOf('incident:escalated')[0]!.data.incident.id)
    assert.match(digest.message, /^broken#1 is still failing after 8 revive attempts, out of service for /)
    assert.match(digest.data.lastFailure, /exited with code 1/)
    // Each attempt is in the worker's state history, not in new incidents.
    const opened = td.eventsOf('incident:opened').length
    assert.ok(opened <= 2, `incidents opened: ${opened} (the crash and the loop that escalated)`)
  })

  it('announces a revived worker once it has run stable_after, with its real time out of service', async (t) => {
    const dir = tempDir(t)
    const flag = path.join(dir, 'broken')
    writeFileSync(flag, '1')
    const script = `if (require('fs').existsSync(${JSON.stringify(flag)})) setTimeout(() => process.exit(1), 400); else setInterval(() => {}, 1 << 30)`
    const td = await startTestDaemon(t, {
      // Ready by uptime only after the script has looked for the flag: on a loaded machine node can
      // take longer than 100 ms to boot, and an attempt spawned just before the fix would count as
      // ready (at min_uptime) before it had seen the flag gone.
      recovery: { ...recovery, min_uptime: '1s' },
      workers: { phoenix: { command: NODE, args: ['-e', script], stop_timeout: 1 } },
    })
    const escalated = await td.waitForEvent('incident:escalated', () => true, 30_000)
    await td.waitForEvent('worker:still-failing', (e) => e.data.attempts === 2, 30_000)
    const fixedAt = Date.now()
    unlinkSync(flag)
    const revived = await td.waitForEvent('worker:revived', () => true, 30_000)
    // The readiness that ended the outage, and the stable run after it.
    const ready = td
      .eventsOf('worker:state')
      .filter((e) => e.workerId === 'phoenix#1' && e.data.to === 'ready' && e.at < revived.at)
      .at(-1)!
    // Node's timers run on the event loop's cached clock, which can trail the wall clock the events
    // are stamped with by a millisecond: a 1500 ms timer may fire 1499 ms after the stamp.
    assert.ok(revived.at - ready.at >= 1499, `announced ${revived.at - ready.at} ms after it was ready`)
    const outageFrom = escalated.data.incident.detectedAt
    assert.equal(revived.data.afterMs, ready.at - outageFrom, 'out of service from the fault that escalated')
    assert.ok(revived.data.afterMs >= fixedAt - escalated.data.incident.detectedAt - 50)
    assert.equal(revived.data.incidentId, escalated.data.incident.id)
    assert.ok(revived.data.attempts >= 3)
    assert.equal(td.eventsOf('incident:escalated').length, 1)
    assert.equal(td.daemon.supervisor.getWorker('phoenix#1')?.state, 'ready')
  })
})
