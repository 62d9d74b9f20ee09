/**
 * The recovery flow end to end: a real daemon, real worker processes, real signals, a real SQLite
 * store. Every wait is for an event or a state, with generous deadlines, so a busy machine makes
 * these slower but never makes them fail.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { fixture, NODE, startTestDaemon } from '../helpers/daemon.js'
import { isGone, waitFor } from '../helpers/wait.js'

const fast = {
  check_interval: '200ms',
  retry_delay: '50ms',
  max_retry_delay: '200ms',
  verify_timeout: 10,
  min_uptime: '300ms',
}

function pidOf(
  td: { daemon: { supervisor: { getWorker(id: string): { pid: number | null } | undefined } } },
  id: string,
) {
  const pid = td.daemon.supervisor.getWorker(id)?.pid
  assert.ok(pid, `${id} has no pid`)
  return pid
}

async function ready(td: Awaited<ReturnType<typeof startTestDaemon>>, id: string) {
  await waitFor(() => td.daemon.supervisor.getWorker(id)?.state === 'ready', `${id} to be ready`)
}

describe('recovery', () => {
  it('recovers a worker killed by SIGKILL, seen from its exit at once', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      workers: { a: { command: NODE, args: [fixture('sdk-ready.mjs')], stop_timeout: 2 } },
    })
    await ready(td, 'a#1')
    const pid = pidOf(td, 'a#1')
    process.kill(pid, 'SIGKILL')
    const recovered = await td.waitForEvent('incident:recovered')
    const inc = recovered.data.incident
    assert.equal(inc.workerId, 'a#1')
    assert.equal(inc.cause, 'crash')
    assert.equal(inc.exit?.signal, 'SIGKILL')
    assert.equal(inc.strategy, 'soft_restart')
    assert.equal(inc.attempt, 1)
    assert.deepEqual(
      inc.timeline.map((s) => s.step),
      ['detected', 'state-saved', 'attempt', 'stopped', 'started', 'state-restored', 'ready', 'recovered'],
    )
    const w = td.daemon.supervisor.getWorker('a#1')!
    assert.equal(w.state, 'ready')
    assert.notEqual(w.pid, pid)
    assert.equal(w.restarts, 1)
    // Written behind the recovery, within a turn of the event loop.
    await waitFor(
      async () => (await td.daemon.store.getIncident(inc.id))?.outcome === 'recovered',
      'the stored incident',
    )
    const saved = await td.daemon.store.loadWorkerState('a#1')
    assert.equal(saved?.exit?.signal, 'SIGKILL')
  })

  it('recovers a SIGSTOPped worker without the SDK, from its /proc state, with the emergency strategy', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      workers: {
        plain: { command: NODE, args: [fixture('forever.mjs')], hang_timeout: '1s', stop_timeout: 2 },
      },
    })
    await ready(td, 'plain#1')
    const pid = pidOf(td, 'plain#1')
    assert.equal(td.daemon.supervisor.getWorker('plain#1')?.sdk, false)
    const stoppedAt = Date.now()
    process.kill(pid, 'SIGSTOP')
    const inc = (await td.waitForEvent('incident:recovered')).data.incident
    const detectedAfter = Date.now() - stoppedAt
    assert.equal(inc.cause, 'stopped')
    assert.equal(inc.severity, 'severe')
    // The silence is measured from the last check that saw it running: at least hang_timeout, and
    // no more than the time since the stop plus one check.
    assert.ok(inc.silentMs! >= 1000, `silent ${inc.silentMs} ms`)
    assert.ok(
      inc.silentMs! <= detectedAfter + 500,
      `silent ${inc.silentMs} ms, stopped ${detectedAfter} ms before`,
    )
    assert.equal(inc.strategy, 'hard_restart')
    assert.match(inc.detail, /state T/)
    assert.ok(isGone(pid), 'the stopped process was killed')
  })

  it('recovers an SDK worker whose event loop is frozen by a busy loop, with the emergency strategy', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      workers: {
        busy: {
          command: NODE,
          args: [fixture('sdk-busy-loop.mjs'), '400'],
          hang_timeout: '1s',
          stop_timeout: 2,
        },
      },
    })
    const opened = await td.waitForEvent('incident:opened', (e) => e.data.incident.cause === 'hang')
    const inc = opened.data.incident
    assert.equal(inc.strategy, 'hard_restart')
    assert.match(inc.detail, /no heartbeat for \d+ ms/)
    const done = await td.waitForEvent('incident:recovered', (e) => e.data.incident.id === inc.id)
    assert.ok(done.data.incident.timeline.some((s) => s.step === 'stopped' && /SIGKILL/.test(s.detail)))
  })

  it('restarts a leaking worker past its memory limit gracefully, letting the current work finish', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      // The limit itself; test/integration/memory-trend.test.ts restarts the leak before it.
      thresholds: { memory_mb: 90, memory_limit_mb: 110, memory_trend_horizon: 0 },
      workers: { leaky: { command: NODE, args: [fixture('sdk-leak.mjs'), '8'], stop_timeout: 5 } },
    })
    const inc = (await td.waitForEvent('incident:recovered', (e) => e.data.incident.cause === 'memory')).data
      .incident
    assert.equal(inc.strategy, 'soft_restart')
    assert.match(inc.detail, /MiB > limit 110 MiB/)
    const stopped = inc.timeline.find((s) => s.step === 'stopped')!
    assert.match(
      stopped.detail,
      /exit code 0/,
      'the worker exited on its own after finishing, not by SIGKILL',
    )
    assert.doesNotMatch(stopped.detail, /forced/)
    const saved = await td.daemon.store.loadWorkerState('leaky#1')
    const fs = await import('node:fs')
    const log = `${td.dir}/logs/leaky.log`
    await waitFor(
      () => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('finished unit'),
      'the finished-unit line in the log',
    )
    assert.ok(saved)
  })

  it('kills a worker that ignores SIGTERM once the stop timeout has passed', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      workers: { stubborn: { command: NODE, args: [fixture('ignore-sigterm.mjs')], stop_timeout: '500ms' } },
    })
    await ready(td, 'stubborn#1')
    // Ready by uptime can come before a slow Node start has installed its SIGTERM handler; the
    // fixture prints "ready" once it has.
    const fs = await import('node:fs')
    const log = `${td.dir}/logs/stubborn.log`
    await waitFor(
      () => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('ready'),
      'the SIGTERM handler installed',
    )
    const pid = pidOf(td, 'stubborn#1')
    const { incidentId } = await td.daemon.supervisor.restartWorker('stubborn#1', { hard: false })
    const inc = (await td.waitForEvent('incident:recovered', (e) => e.data.incident.id === incidentId)).data
      .incident
    assert.equal(inc.cause, 'manual')
    const stopped = inc.timeline.find((s) => s.step === 'stopped')!
    assert.match(stopped.detail, /SIGKILL/)
    assert.match(stopped.detail, /forced with SIGKILL after the stop timeout/)
    const stoppedAt = stopped.at - inc.timeline.find((s) => s.step === 'attempt')!.at
    assert.ok(stoppedAt >= 450, `SIGKILL came after the stop timeout (${stoppedAt} ms)`)
    assert.ok(isGone(pid))
  })

  it('leaves no grandchild behind when it restarts a worker', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      logs: { tail_lines: 10 },
      workers: { parent: { command: NODE, args: [fixture('spawn-grandchild.mjs')], stop_timeout: 2 } },
    })
    await ready(td, 'parent#1')
    let grandchild = 0
    await waitFor(async () => {
      const fs = await import('node:fs')
      const m = /out\| (\d+)/.exec(
        fs.existsSync(`${td.dir}/logs/parent.log`)
          ? fs.readFileSync(`${td.dir}/logs/parent.log`, 'utf8')
          : '',
      )
      grandchild = m ? Number(m[1]) : 0
      return grandchild > 0
    }, 'the grandchild pid in the log')
    assert.ok(!isGone(grandchild))
    process.kill(pidOf(td, 'parent#1'), 'SIGKILL')
    await td.waitForEvent('incident:recovered')
    await waitFor(() => isGone(grandchild), `grandchild ${grandchild} to be gone`, 5000)
  })

  it('hands over to a warm spare at once and starts a new spare', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      workers: { hot: { command: NODE, args: [fixture('sdk-ready.mjs')], spares: 1, stop_timeout: 2 } },
    })
    await ready(td, 'hot#1')
    await waitFor(() => td.daemon.supervisor.getWorker('hot#s1')?.state === 'ready', 'the spare to be ready')
    const sparePid = pidOf(td, 'hot#s1')
    process.kill(pidOf(td, 'hot#1'), 'SIGKILL')
    const inc = (await td.waitForEvent('incident:recovered')).data.incident
    assert.equal(inc.newPid, sparePid)
    assert.match(inc.timeline.find((s) => s.step === 'started')!.detail, /warm spare/)
    assert.equal(pidOf(td, 'hot#1'), sparePid)
    await waitFor(
      () => td.daemon.supervisor.listWorkers().some((w) => w.role === 'spare' && w.state === 'ready'),
      'a new spare',
    )
    // Spare ids come back: however many spares take over, the pool's ids stay hot#1 and hot#s1.
    for (let i = 0; i < 3; i++) {
      await waitFor(
        () => td.daemon.supervisor.getWorker('hot#s1')?.state === 'ready',
        'the spare to be ready',
      )
      const n = td.eventsOf('incident:recovered').length
      process.kill(pidOf(td, 'hot#1'), 'SIGKILL')
      await waitFor(() => td.eventsOf('incident:recovered').length > n, 'the next recovery')
    }
    await waitFor(() => td.daemon.supervisor.getWorker('hot#s1')?.state === 'ready', 'the spare to be ready')
    assert.deepEqual(
      td.daemon.supervisor
        .listWorkers()
        .map((w) => w.id)
        .sort(),
      ['hot#1', 'hot#s1'],
    )
  })

  it('keeps a pool of 3 at 3 serving workers throughout scale recoveries', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      thresholds: { memory_mb: 90, memory_limit_mb: 110 },
      strategies: { default: 'scale_recovery' },
      workers: {
        wide: { command: NODE, args: [fixture('sdk-leak.mjs'), '8'], replicas: 3, stop_timeout: 5 },
      },
    })
    await waitFor(
      () => td.daemon.supervisor.listWorkers().filter((w) => w.state === 'ready').length === 3,
      'three ready workers',
    )
    let min = Infinity
    const sampler = setInterval(() => {
      const serving = td.daemon.supervisor
        .listWorkers()
        .filter((w) => (w.state === 'ready' || w.state === 'degraded') && w.pid !== null && !isGone(w.pid))
      min = Math.min(min, serving.length)
    }, 5)
    t.after(() => clearInterval(sampler))
    await waitFor(() => td.eventsOf('incident:recovered').length >= 3, 'three scale recoveries')
    clearInterval(sampler)
    for (const e of td.eventsOf('incident:recovered')) {
      assert.equal(e.data.incident.strategy, 'scale_recovery')
      const steps = e.data.incident.timeline.map((s) => s.step)
      assert.ok(
        steps.indexOf('ready') < steps.indexOf('retired'),
        'the replacement was ready before the old one was retired',
      )
    }
    assert.equal(min, 3, 'the pool never had fewer than 3 serving workers')
  })

  it('backs off a crash loop, escalates after max_retries, and sends exactly one escalation to Slack', async (t) => {
    const { createServer } = await import('node:http')
    const received: Array<{ text: string }> = []
    const slack = createServer((req, res) => {
      let body = ''
      req.on('data', (c) => (body += c))
      req.on('end', () => {
        received.push(JSON.parse(body))
        res.end('ok')
      })
    })
    await new Promise<void>((r) => slack.listen(0, '127.0.0.1', r))
    t.after(() => slack.close())
    const port = (slack.address() as { port: number }).port
    const td = await startTestDaemon(t, {
      recovery: {
        ...fast,
        max_retries: 2,
        retry_delay: '100ms',
        max_retry_delay: 1,
        jitter: 0,
        revive_interval: '1h',
        // A process that crashes at once must never pass for ready, even on a machine so busy that
        // its crash comes later than a short min_uptime.
        min_uptime: '5s',
      },
      notifications: { slack: { webhook_url: `http://127.0.0.1:${port}/hook` } },
      workers: { loop: { command: NODE, args: [fixture('exit-with.mjs'), '3'], stop_timeout: 1 } },
    })
    const escalated = await td.waitForEvent('incident:escalated')
    const inc = escalated.data.incident
    assert.equal(inc.attempt, 3)
    assert.equal(inc.outcome, 'escalated')
    const waits = inc.timeline
      .filter((s) => s.step === 'backoff')
      .map((s) => Number(/waiting (\d+) ms/.exec(s.detail)![1]))
    assert.deepEqual(waits, [100, 200], 'exponential backoff between the attempts')
    assert.equal(td.daemon.supervisor.getWorker('loop#1')?.state, 'failed')
    await waitFor(() => received.some((m) => m.text.startsWith('🚨')), 'the escalation at the fake Slack')
    await td.daemon.stop('test done')
    assert.equal(
      received.filter((m) => m.text.startsWith('🚨')).length,
      1,
      `exactly one escalation message: ${JSON.stringify(received.map((m) => m.text))}`,
    )
    assert.ok(received.length <= 3, `a handful of messages, got ${received.length}`)
  })

  it('recovers a worker whose error rate passes the threshold', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      thresholds: { error_rate: 0.5, error_min_samples: 5, error_window: 2 },
      workers: { flaky: { command: NODE, args: [fixture('sdk-failing.mjs'), '200'], stop_timeout: 2 } },
    })
    const inc = (await td.waitForEvent('incident:opened', (e) => e.data.incident.cause === 'error-rate')).data
      .incident
    assert.match(inc.detail, /error rate \d+ of \d+ failed/)
  })

  it('recovers a worker with a tree of zombies, with the emergency strategy', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      thresholds: { zombies: 3 },
      workers: { zombie: { command: 'sh', args: [fixture('zombies.sh')], stop_timeout: 1 } },
    })
    const inc = (await td.waitForEvent('incident:opened', (e) => e.data.incident.cause === 'zombies')).data
      .incident
    assert.equal(inc.strategy, 'hard_restart')
    assert.match(inc.detail, /3 zombie processes/)
  })

  it('recovers a worker whose HTTP probe keeps failing', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      workers: {
        web: {
          command: NODE,
          args: [fixture('forever.mjs')],
          port: 1,
          probes: [{ type: 'tcp', port: 1, interval: '100ms', timeout: '200ms', failure_threshold: 2 }],
          stop_timeout: 1,
        },
      },
    })
    const inc = (await td.waitForEvent('incident:opened', (e) => e.data.incident.cause === 'probe')).data
      .incident
    assert.match(inc.detail, /tcp#1 failed 2×/)
  })

  it('brings an escalated worker back at the revive interval, with one notification', async (t) => {
    const { writeFileSync } = await import('node:fs')
    const td0 = await startTestDaemon(t, {
      workers: { placeholder: { command: NODE, args: [fixture('forever.mjs')] } },
    })
    const flag = `${td0.dir}/broken`
    writeFileSync(flag, '1')
    await td0.daemon.stop('not needed')
    const script = `const fs=require('fs'); if (fs.existsSync(${JSON.stringify(flag)})) process.exit(1); setInterval(()=>{}, 1<<30)`
    const td = await startTestDaemon(t, {
      recovery: {
        ...fast,
        max_retries: 0,
        revive_interval: '500ms',
        min_uptime: '200ms',
        stable_after: '500ms',
      },
      workers: { phoenix: { command: NODE, args: ['-e', script], stop_timeout: 1 } },
    })
    await td.waitForEvent('incident:escalated')
    const { unlinkSync } = await import('node:fs')
    unlinkSync(flag)
    const revived = await td.waitForEvent('worker:revived')
    assert.equal(revived.workerId, 'phoenix#1')
    assert.equal(revived.severity, 'warning')
    await waitFor(
      () => td.daemon.supervisor.getWorker('phoenix#1')?.state === 'ready',
      'phoenix#1 ready again',
    )
  })
})
