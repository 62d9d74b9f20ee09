/**
 * Delivery of scheduled reports with a fake fetch: what each destination receives, retries,
 * give-ups, timeouts and cancellation. (test/integration/reports.test.ts does it over real HTTP.)
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { ConfigSchema } from '../../src/config/schema.js'
import type { DeliveryFailure } from '../../src/notify/dispatcher.js'
import { buildReport } from '../../src/report/build.js'
import { deliverReport, type ReportDelivery, type ReportWebhookPayload } from '../../src/report/deliver.js'

const report = buildReport({
  generatedAt: 2_000_000,
  period: { from: 1_000_000, to: 2_000_000 },
  previousPeriod: { from: 0, to: 1_000_000 },
  supervisorRunning: true,
  pools: [{ name: 'email', minReplicas: 1, now: { workers: 1, serving: 1, spares: 0 } }],
  incidents: [],
  events: [],
  quarantined: { total: 0, jobs: [] },
})

function notifications(over: Record<string, unknown> = {}) {
  return ConfigSchema.parse({
    workers: { email: { command: 'node' } },
    notifications: {
      slack: { webhook_url: 'https://hooks.slack.test/services/T/B/secret' },
      webhooks: [
        { url: 'https://ops.test/a', headers: { Authorization: 'Bearer t' } },
        { url: 'https://ops.test/b' },
      ],
      retries: 2,
      timeout: '200ms',
      ...over,
    },
  }).notifications
}

const delivery: ReportDelivery = { format: 'md', locale: 'en', slack: true, webhooks: true }

interface Call {
  url: string
  body: unknown
  headers: Headers
}

/** A fetch that answers each URL from a script of statuses (the last one repeats). */
function scriptedFetch(script: Record<string, (number | 'hang')[]>): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = []
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input)
    calls.push({ url, body: JSON.parse(String(init?.body)), headers: new Headers(init?.headers) })
    const steps = script[url] ?? [200]
    const n = calls.filter((c) => c.url === url).length
    const step = steps[Math.min(n, steps.length) - 1]!
    if (step === 'hang') {
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal!.reason), { once: true }),
      )
    }
    return new Response(step < 300 ? 'ok' : 'upstream broke', { status: step })
  }) as typeof fetch
  return { fetch: fetchImpl, calls }
}

describe('deliverReport', () => {
  it('sends Slack a Slack message and each webhook { type: "report", report, text }', async () => {
    const { fetch, calls } = scriptedFetch({})
    const outcomes = await deliverReport({
      report,
      delivery,
      notifications: notifications(),
      configFile: '/etc/shepherd.yaml',
      fetch,
      timeZone: 'UTC',
    })
    assert.deepEqual(outcomes, [
      { destination: 'slack', ok: true, attempts: 1, error: null },
      { destination: 'webhook:ops.test', ok: true, attempts: 1, error: null },
      { destination: 'webhook:ops.test#2', ok: true, attempts: 1, error: null },
    ])
    const slack = calls.find((c) => c.url.includes('slack'))!.body as { text: string; blocks: unknown[] }
    assert.match(slack.text, /^📊 Shepherd report, 1970-01-01 00:16 → 1970-01-01 00:33 \(UTC\)\n/)
    assert.ok(slack.blocks.length > 0)
    const a = calls.find((c) => c.url === 'https://ops.test/a')!
    const body = a.body as ReportWebhookPayload
    assert.equal(body.type, 'report')
    assert.deepEqual(body.report, JSON.parse(JSON.stringify(report)))
    assert.match(body.text!, /^# Shepherd report\n/)
    assert.equal(a.headers.get('authorization'), 'Bearer t')
    assert.equal(a.headers.get('content-type'), 'application/json')
  })

  it('honours the schedule: json sends no text; slack: false and webhooks: false leave them out', async () => {
    const { fetch, calls } = scriptedFetch({})
    await deliverReport({
      report,
      delivery: { ...delivery, format: 'json', slack: false },
      notifications: notifications(),
      configFile: 'x.yaml',
      fetch,
    })
    assert.deepEqual(
      calls.map((c) => c.url),
      ['https://ops.test/a', 'https://ops.test/b'],
    )
    assert.equal((calls[0]!.body as ReportWebhookPayload).text, undefined)
    const none = await deliverReport({
      report,
      delivery: { ...delivery, slack: false, webhooks: false },
      notifications: notifications(),
      configFile: 'x.yaml',
      fetch,
    })
    assert.deepEqual(none, [])
  })

  it('retries 5xx and timeouts, gives up on 4xx at once, and reports each give-up', async () => {
    const { fetch, calls } = scriptedFetch({
      'https://hooks.slack.test/services/T/B/secret': [500, 200],
      'https://ops.test/a': [404],
      'https://ops.test/b': ['hang'],
    })
    const failures: DeliveryFailure[] = []
    const outcomes = await deliverReport({
      report,
      delivery,
      notifications: notifications(),
      configFile: 'x.yaml',
      fetch,
      retryBaseMs: 1,
      onFailure: (f) => failures.push(f),
    })
    assert.deepEqual(outcomes, [
      { destination: 'slack', ok: true, attempts: 2, error: null },
      { destination: 'webhook:ops.test', ok: false, attempts: 1, error: 'HTTP 404: upstream broke' },
      { destination: 'webhook:ops.test#2', ok: false, attempts: 3, error: 'timed out after 200ms' },
    ])
    assert.deepEqual(failures, [
      { notifier: 'webhook:ops.test', eventType: 'report', error: 'HTTP 404: upstream broke', attempts: 1 },
      { notifier: 'webhook:ops.test#2', eventType: 'report', error: 'timed out after 200ms', attempts: 3 },
    ])
    assert.equal(calls.filter((c) => c.url === 'https://ops.test/b').length, 3)
    // No message ever names a URL: Slack's carries its token.
    for (const f of failures) assert.doesNotMatch(f.error, /secret|ops\.test\//)
  })

  it('stops retrying at once when cancelled', async () => {
    const { fetch } = scriptedFetch({ 'https://hooks.slack.test/services/T/B/secret': [503] })
    const abort = new AbortController()
    const pending = deliverReport({
      report,
      delivery: { ...delivery, webhooks: false },
      notifications: notifications({ retries: 5 }),
      configFile: 'x.yaml',
      fetch,
      retryBaseMs: 60_000,
      signal: abort.signal,
    })
    setImmediate(() => abort.abort())
    const [outcome] = await pending
    assert.equal(outcome!.ok, false)
    assert.equal(outcome!.attempts, 1)
    assert.equal(outcome!.error, 'cancelled')
  })
})
