/**
 * What the supervisor shows of itself while it runs: outside health signals entering the recovery
 * flow, the live event stream, pool availability and sample history.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { fixture, NODE, startTestDaemon } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

const fast = { check_interval: '200ms', min_uptime: '300ms', retry_delay: '50ms' }

describe('observability', () => {
  it('takes outside health signals: degraded, withdrawn, then unhealthy into the recovery flow', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      workers: { api: { command: NODE, args: [fixture('sdk-ready.mjs')], stop_timeout: 2 } },
    })
    const { supervisor } = td.daemon
    await waitFor(() => supervisor.getWorker('api#1')?.state === 'ready', 'api#1 ready')
    const post = async (body: unknown) => {
      const res = await fetch(`${td.daemon.apiUrl}/api/workers/api%231/signals`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      return {
        status: res.status,
        body: (await res.json()) as { incidentId?: string | null; error?: { code: string } },
      }
    }
    assert.equal(
      (await post({ status: 'degraded', reason: 'p99 latency 2s', source: 'grafana' })).status,
      200,
    )
    assert.equal(supervisor.getWorker('api#1')?.state, 'degraded')
    await waitFor(
      () => supervisor.getWorker('api#1')?.worst === 'external',
      'the external indicator in the report',
    )
    assert.match(supervisor.getWorker('api#1')!.worstDetail!, /grafana: p99 latency 2s/)
    await post({ status: 'healthy', reason: 'latency back to normal', source: 'grafana' })
    assert.equal(supervisor.getWorker('api#1')?.state, 'ready')
    const sick = await post({ status: 'unhealthy', reason: 'consumer lag 10 min', source: 'kafka-lag' })
    assert.equal(sick.status, 202)
    const inc = (
      await td.waitForEvent('incident:recovered', (e) => e.data.incident.id === sick.body.incidentId)
    ).data.incident
    assert.equal(inc.cause, 'external')
    assert.match(inc.detail, /reported unhealthy by kafka-lag: consumer lag 10 min/)
    assert.equal((await post({ status: 'sick', reason: 'x' })).status, 400)
    const unknown = await fetch(`${td.daemon.apiUrl}/api/workers/nope%231/signals`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'unhealthy', reason: 'x' }),
    })
    assert.equal(unknown.status, 404)
  })

  it('streams events as server-sent events, filtered by type', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      workers: { api: { command: NODE, args: [fixture('sdk-ready.mjs')], stop_timeout: 2 } },
    })
    await waitFor(() => td.daemon.supervisor.getWorker('api#1')?.state === 'ready', 'ready')
    const ac = new AbortController()
    t.after(() => ac.abort())
    const res = await fetch(`${td.daemon.apiUrl}/api/events?types=incident:`, { signal: ac.signal })
    assert.equal(res.headers.get('content-type'), 'text/event-stream')
    const reader = res.body!.getReader()
    const seen: string[] = []
    const decoder = new TextDecoder()
    let buffer = ''
    process.kill(td.daemon.supervisor.getWorker('api#1')!.pid!, 'SIGKILL')
    while (!seen.includes('incident:recovered')) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value)
      for (const m of buffer.matchAll(/^event: (.+)$/gm)) if (!seen.includes(m[1]!)) seen.push(m[1]!)
    }
    assert.deepEqual(seen.slice(0, 2), ['incident:opened', 'incident:step'])
    assert.ok(seen.includes('incident:recovered'))
    assert.ok(
      seen.every((s) => s.startsWith('incident:')),
      `only incident events: ${seen.join(', ')}`,
    )
  })

  it('accounts pool availability and keeps recent samples of every worker', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: fast,
      workers: { api: { command: NODE, args: [fixture('sdk-ready.mjs')], stop_timeout: 2 } },
    })
    const { supervisor } = td.daemon
    await waitFor(() => supervisor.getWorker('api#1')?.state === 'ready', 'ready')
    await waitFor(() => (supervisor.history().workers['api#1']?.length ?? 0) >= 3, 'three samples')
    const [sample] = supervisor.history().workers['api#1']!
    assert.ok(sample!.rssMb! > 10, 'resident memory sampled')
    assert.equal(sample!.healthScore, 100)
    const before = supervisor.listPools()[0]!
    assert.equal(before.serving, 1)
    // The start counts as time below full strength: on a busy machine a slow start keeps the ratio
    // low for a while, so wait for the accrual rather than assume a start takes so long.
    await waitFor(() => supervisor.listPools()[0]!.availability > 0.5, 'availability accrues')
    process.kill(supervisor.getWorker('api#1')!.pid!, 'SIGKILL')
    await td.waitForEvent('incident:recovered')
    const after = supervisor.listPools()[0]!
    assert.ok(after.availability < 1, `availability ${after.availability} after a crash`)
    assert.equal(after.restartsByCause.crash, 1)
    assert.ok(after.observedMs > after.fullMs)
  })
})
