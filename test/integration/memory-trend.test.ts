/**
 * The memory trend end to end: a real daemon samples a real leaking worker's /proc and restarts it
 * gracefully before its memory reaches the limit.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'

import { fixture, NODE, startTestDaemon } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

describe('memory trend', () => {
  it('restarts a worker leaking 40 MiB/s gracefully before it reaches its 300 MiB limit', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: {
        check_interval: '200ms',
        retry_delay: '50ms',
        max_retry_delay: '200ms',
        verify_timeout: 10,
      },
      thresholds: { memory_mb: 250, memory_limit_mb: 300, memory_trend_horizon: 60 },
      // 8 MiB per 200 ms unit of work: 40 MiB/s from its start.
      workers: { leaky: { command: NODE, args: [fixture('sdk-leak.mjs'), '8'], stop_timeout: 5 } },
    })
    const opened = await td.waitForEvent('incident:opened', (e) => e.workerId === 'leaky#1')
    const inc = opened.data.incident
    t.diagnostic(inc.detail)
    assert.equal(inc.cause, 'memory-trend', inc.detail)
    assert.equal(inc.severity, 'ordinary')
    assert.equal(inc.strategy, 'soft_restart')
    const m = /^memory growing (\d+(?:\.\d+)?) MiB\/s, limit in ~(\d+) s \((\d+) MiB of 300 MiB\)$/.exec(
      inc.detail,
    )
    assert.ok(m, inc.detail)
    assert.ok(Number(m[1]) >= 20 && Number(m[1]) <= 60, `measured ${m[1]} MiB/s of a 40 MiB/s leak`)
    assert.ok(Number(m[2]) >= 1, `the limit was still ${m[2]} s away`)
    assert.ok(Number(m[3]) < 300, `${m[3]} MiB at the detection`)
    // Every check of the leaking process up to the detection saw it below the limit.
    const seen = td.daemon.supervisor
      .history()
      .workers['leaky#1']!.filter((s) => s.at <= inc.detectedAt && s.rssMb !== null)
    assert.ok(seen.length >= 4, `${seen.length} checks before the detection`)
    assert.ok(
      seen.every((s) => s.rssMb! < 300),
      `rss seen: ${seen.map((s) => Math.round(s.rssMb!)).join(', ')}`,
    )

    const done = await td.waitForEvent('incident:recovered', (e) => e.data.incident.id === inc.id)
    const stopped = done.data.incident.timeline.find((s) => s.step === 'stopped')!
    assert.match(stopped.detail, /exit code 0/, 'the worker exited on its own after finishing its unit')
    assert.doesNotMatch(stopped.detail, /forced|SIGKILL/)
    const log = `${td.dir}/logs/leaky.log`
    await waitFor(
      () => existsSync(log) && readFileSync(log, 'utf8').includes('finished unit'),
      'the finished-unit line in the log',
    )
  })
})
