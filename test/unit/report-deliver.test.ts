/**
 * Delivery of scheduled reports with a fake fetch: what each destination receives, retries,
 * give-ups, timeouts and cancellation. (test/integration/reports.test.ts does it over real HTTP.)
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { ConfigSchema } from '../../src/config/schema.js'
import { retryDelay } from '../../src/core/notification-policy.js'
import type { DeliveryFailure } from '../../src/notify/deliver-with-retries.js'
import { FakeClock, seededRandom } from '../../src/ports/clock.js'
import { buildReport } from '../../src/report/build.js'
import { deliverReport, type ReportDelivery, type ReportWebhookPayload } from '../../src/report/deliver.js'
import { FakeTimers } from '../helpers/fake-timers.js'

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
  /** ms after the script started (0 without a clock). */
  at: number
}

/** One answer of a scripted destination: a status, a status with headers, or no answer at all. */
type Answer = number | { status: number; headers: Record<string, string> } | 'hang'

/**
 * A fetch that answers each URL from a script (the last answer repeats); each call notes the time
 * on `clock`, ms after it started, when there is one.
 */
function scriptedFetch(
  script: Record<string, Answer[]>,
  clock?: FakeClock,
): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = []
  const t0 = clock?.now() ?? 0
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input)
    calls.push({
      url,
      body: JSON.parse(String(init?.body)),
      headers: new Headers(init?.headers),
      at: (clock?.now() ?? 0) - t0,
    })
    const steps = script[url] ?? [200]
    const n = calls.filter((c) => c.url === url).length
    const step = steps[Math.min(n, steps.length) - 1]!
    if (step === 'hang') {
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal!.reason), { once: true }),
      )
    }
    const { status, headers } = typeof step === 'number' ? { status: step, headers: {} } : step
    return new Response(status < 300 ? 'ok' : 'upstream broke', { status, headers })
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

  it('retries 5xx and timeouts with backoff, gives up on 4xx at once, and reports each give-up', async () => {
    const clock = new FakeClock()
    const timers = new FakeTimers(clock)
    const { fetch, calls } = scriptedFetch(
      {
        'https://hooks.slack.test/services/T/B/secret': [500, 200],
        'https://ops.test/a': [404],
        'https://ops.test/b': ['hang'],
      },
      clock,
    )
    const failures: DeliveryFailure[] = []
    const pending = deliverReport({
      report,
      delivery,
      notifications: notifications(),
      configFile: 'x.yaml',
      fetch,
      timers,
      random: seededRandom(3),
      onFailure: (f) => failures.push(f),
    })
    await timers.run(10_000)
    const outcomes = await pending
    assert.deepEqual(outcomes, [
      { destination: 'slack', ok: true, attempts: 2, error: null },
      { destination: 'webhook:ops.test', ok: false, attempts: 1, error: 'HTTP 404: upstream broke' },
      { destination: 'webhook:ops.test#2', ok: false, attempts: 3, error: 'timed out after 200ms' },
    ])
    assert.deepEqual(failures, [
      { notifier: 'webhook:ops.test', eventType: 'report', error: 'HTTP 404: upstream broke', attempts: 1 },
      { notifier: 'webhook:ops.test#2', eventType: 'report', error: 'timed out after 200ms', attempts: 3 },
    ])
    // The destinations draw their jitter from the one random source, in the order they retry.
    const random = seededRandom(3)
    const slackWait = retryDelay(1, 1000, 30_000, random)
    const [hangWait1, hangWait2] = [retryDelay(1, 1000, 30_000, random), retryDelay(2, 1000, 30_000, random)]
    assert.deepEqual(
      calls.filter((c) => c.url.includes('slack')).map((c) => c.at),
      [0, slackWait],
    )
    assert.deepEqual(
      calls.filter((c) => c.url === 'https://ops.test/b').map((c) => c.at),
      [0, 200 + hangWait1, 200 + hangWait1 + 200 + hangWait2],
      'each attempt timed out at 200 ms, then waited its backoff',
    )
    assert.equal(timers.size, 0)
    // No message ever names a URL: Slack's carries its token.
    for (const f of failures) assert.doesNotMatch(f.error, /secret|ops\.test\//)
  })

  it('waits what Retry-After asks, to the millisecond', async () => {
    const clock = new FakeClock()
    const timers = new FakeTimers(clock)
    const { fetch, calls } = scriptedFetch(
      { 'https://ops.test/a': [{ status: 429, headers: { 'retry-after': '7' } }, 200] },
      clock,
    )
    const pending = deliverReport({
      report,
      delivery: { ...delivery, slack: false },
      notifications: notifications({ webhooks: [{ url: 'https://ops.test/a' }] }),
      configFile: 'x.yaml',
      fetch,
      timers,
    })
    await timers.run(6_999)
    assert.deepEqual(
      calls.map((c) => c.at),
      [0],
    )
    await timers.run(1)
    assert.deepEqual(
      calls.map((c) => c.at),
      [0, 7_000],
    )
    assert.deepEqual(await pending, [{ destination: 'webhook:ops.test', ok: true, attempts: 2, error: null }])
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
