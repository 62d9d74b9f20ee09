import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, it } from 'node:test'

import type { Config } from '../../src/config/schema.js'
import type { AnyEvent } from '../../src/core/events.js'
import type { ExitReport } from '../../src/core/exit-report.js'
import {
  advance,
  type Incident,
  type IncidentContext,
  type IncidentInput,
  type IncidentPolicy,
  openIncident,
} from '../../src/core/incident.js'
import { silentLogger } from '../../src/logger.js'
import {
  createNotifiers,
  type DeliveryFailure,
  type DispatcherOptions,
  formatSlackMessage,
  NotificationDispatcher,
  type SlackMessage,
  type WebhookPayload,
} from '../../src/notify/index.js'
import { FakeClock, seededRandom } from '../../src/ports/clock.js'
import { incidentEvent } from '../helpers/fakes.js'
import { waitFor } from '../helpers/wait.js'

const T0 = 1_700_000_000_000
const CONFIG_FILE = '/srv/shepherd/shepherd.yaml'

// ---------------------------------------------------------------------------------------------
// A real HTTP server on 127.0.0.1 standing in for Slack or a webhook receiver.

interface Received {
  path: string
  headers: IncomingHttpHeaders
  body: unknown
  at: number
}

type Reply = { status: number; body?: string; headers?: Record<string, string> } | 'hang' | 'hold'

class FakeReceiver {
  readonly received: Received[] = []
  readonly server: Server
  url = ''
  readonly #held: ServerResponse[] = []
  #released = false

  private constructor(reply: (n: number, body: unknown) => Reply) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const n = this.received.length
        const raw = Buffer.concat(chunks).toString('utf8')
        const body = JSON.parse(raw) as unknown
        this.received.push({ path: req.url ?? '', headers: req.headers, body, at: Date.now() })
        const action = reply(n, body)
        if (action === 'hang') return
        if (action === 'hold' && !this.#released) {
          this.#held.push(res)
          return
        }
        const a = action === 'hold' ? { status: 200, body: 'ok' } : action
        res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers }).end(a.body ?? '')
      })
    })
  }

  /**
   * `reply(n, body)` answers the n-th request (0-based): a status, 'hang' (never) or 'hold' (until
   * release).
   */
  static async start(
    reply: (n: number, body: unknown) => Reply = () => ({ status: 200, body: 'ok' }),
  ): Promise<FakeReceiver> {
    const r = new FakeReceiver(reply)
    cleanups.push(() => r.close())
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve))
    r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}`
    return r
  }

  /** Answers every held request with 200, and every later 'hold' at once. */
  release(): void {
    this.#released = true
    for (const res of this.#held.splice(0)) res.writeHead(200).end('ok')
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/**
 * What a Slack incoming webhook that enforces its documented limits answers
 * (api.slack.com/reference/block-kit): 400 `invalid_blocks` for a message over any of them, 400
 * `no_text` for one with neither text nor blocks. Written from the documentation, not from
 * Shepherd's own limits module, so that it checks rather than agrees.
 */
function strictSlack(body: unknown): Reply {
  const m = body as { text?: string; blocks?: Record<string, unknown>[] }
  const bad = { status: 400, body: 'invalid_blocks' }
  if (typeof m.text !== 'string' && !Array.isArray(m.blocks)) return { status: 400, body: 'no_text' }
  if ((m.text ?? '').length > 40_000) return { status: 400, body: 'msg_too_long' }
  const blocks = m.blocks ?? []
  if (blocks.length > 50) return bad
  for (const b of blocks) {
    const text = (b.text as { text?: string } | undefined)?.text ?? ''
    const fields = (b.fields as { text: string }[] | undefined) ?? []
    const elements = (b.elements as { text: string }[] | undefined) ?? []
    if (b.type === 'section' && (text.length > 3000 || fields.length > 10)) return bad
    if (fields.some((f) => f.text.length > 2000)) return bad
    if (b.type === 'context' && (elements.length > 10 || elements.some((e) => e.text.length > 3000)))
      return bad
  }
  return { status: 200, body: 'ok' }
}

/** A port nothing listens on: bound once, then closed. */
async function refusedPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address() as AddressInfo
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/**
 * What a synchronous call cost, in ms: the smaller of its wall time and the process's CPU time.
 * Wall time alone flakes when the OS takes the CPU away mid-call on a loaded machine, CPU time
 * alone when a compiler thread runs alongside; a call that really works or waits for long shows up
 * in both, and nothing synchronous can wait for the network.
 */
function costOf(fn: () => void): number {
  const cpu = process.cpuUsage()
  const wall = performance.now()
  fn()
  const wallMs = performance.now() - wall
  const used = process.cpuUsage(cpu)
  return Math.min(wallMs, (used.user + used.system) / 1000)
}

// ---------------------------------------------------------------------------------------------
// Real incidents, driven through the incident state machine with a fake clock.

const POLICY: IncidentPolicy = {
  strategies: { default: 'soft_restart', emergency: 'hard_restart' },
  max_retries: 1,
  backoff: { retry_delay: 2000, max_retry_delay: 60_000, jitter: 0 },
  restart_limit: { max: 1000, window: 600_000 },
  verify_timeout: 30_000,
}

function exitReport(pid: number, at: number, o: Partial<ExitReport> = {}): ExitReport {
  const base: ExitReport = {
    pid,
    exitCode: 1,
    signal: null,
    killedByUs: false,
    forced: false,
    spawnFailed: false,
    at,
    durationMs: 5000,
  }
  return { ...base, ...o }
}

class IncidentDriver {
  constructor(readonly clock: FakeClock) {}

  ctx(): IncidentContext {
    return {
      now: this.clock.now(),
      policy: POLICY,
      random: () => 0.5,
      restartTimes: [],
      consecutiveRestarts: 0,
    }
  }

  open(id: string, workerId: string, detail: string, pid = 4242): Incident {
    const exit = exitReport(pid, this.clock.now())
    return openIncident(
      { id, workerId, pool: workerId.split('#')[0]!, cause: 'crash', detail, pid, exit },
      this.ctx(),
    ).incident
  }

  /** Applies inputs, each `ms` after the previous one. */
  run(inc: Incident, steps: [number, IncidentInput][]): Incident {
    let cur = inc
    for (const [ms, input] of steps) {
      this.clock.advance(ms)
      cur = advance(cur, input, this.ctx()).incident
    }
    return cur
  }

  recover(inc: Incident, newPid = 4251): Incident {
    return this.run(inc, [
      [12, { type: 'state-saved', detail: '50 log lines, last health report, exit' }],
      [8, { type: 'stopped', exit: exitReport(inc.oldPid ?? 0, this.clock.now()) }],
      [40, { type: 'started', pid: newPid, spare: false }],
      [5, { type: 'restored', detail: 'checkpoint of 2 KiB handed over' }],
      [1850, { type: 'ready', how: 'SDK ready message' }],
    ])
  }

  escalate(inc: Incident): Incident {
    return this.run(inc, [
      [12, { type: 'state-saved', detail: '50 log lines, last health report, exit' }],
      [8, { type: 'stopped', exit: exitReport(inc.oldPid ?? 0, this.clock.now()) }],
      [40, { type: 'started', pid: 4251, spare: false }],
      [5, { type: 'restored', detail: 'no checkpoint' }],
      [30_000, { type: 'verify-failed', reason: 'not ready within 30.0s' }],
      [2000, { type: 'backoff-elapsed' }],
      [
        300,
        { type: 'stopped', exit: exitReport(4251, this.clock.now(), { signal: 'SIGKILL', exitCode: null }) },
      ],
      [40, { type: 'started', pid: 4252, spare: false }],
      [5, { type: 'restored', detail: 'no checkpoint' }],
      [4000, { type: 'verify-failed', reason: 'exited during startup with code 1' }],
    ])
  }
}

// ---------------------------------------------------------------------------------------------
// The dispatcher under test.

function notificationsConfig(o: Partial<Config['notifications']> = {}): Config['notifications'] {
  return {
    webhooks: [],
    rate_limit: { max: 5, window: 600_000 },
    dedup_window: 300_000,
    retries: 3,
    timeout: 5000,
    locale: 'en',
    ...o,
  }
}

function dispatcher(
  n: Config['notifications'],
  o: Partial<DispatcherOptions> & { clock?: FakeClock } = {},
): { d: NotificationDispatcher; failures: DeliveryFailure[] } {
  const failures: DeliveryFailure[] = []
  const clock = o.clock ?? new FakeClock(T0)
  const d = new NotificationDispatcher({
    notifiers: createNotifiers(n, { configFile: CONFIG_FILE }),
    settings: n,
    now: () => clock.now(),
    random: seededRandom(1),
    logger: silentLogger(),
    retryBaseMs: 20,
    retryCapMs: 200,
    onDeliveryFailed: (f) => failures.push(f),
    ...o,
  })
  cleanups.push(() => d.close())
  return { d, failures }
}

const slackPath = '/services/T000/B000/XXXXXXXX'

function slackBodies(r: FakeReceiver): SlackMessage[] {
  return r.received.map((x) => x.body as SlackMessage)
}

function blockTexts(m: SlackMessage): string[] {
  return m.blocks.map((b) => {
    const block = b as { text?: { text: string }; fields?: { text: string }[]; elements?: { text: string }[] }
    return [
      block.text?.text,
      ...(block.fields ?? []).map((f) => f.text),
      ...(block.elements ?? []).map((e) => e.text),
    ]
      .filter((t) => t !== undefined)
      .join(' | ')
  })
}

// ---------------------------------------------------------------------------------------------

describe('Slack messages', () => {
  it('posts an opened, a recovered and an escalated incident as the formatter renders them', async () => {
    const slack = await FakeReceiver.start()
    const clock = new FakeClock(T0)
    const drive = new IncidentDriver(clock)
    const n = notificationsConfig({ slack: { webhook_url: slack.url + slackPath, min_severity: 'info' } })
    const { d, failures } = dispatcher(n, { clock })

    const a = drive.open('inc-a', 'email#2', 'exited with code 1 after 5.00s')
    d.publish(incidentEvent('incident:opened', a, clock.now()))
    const aDone = drive.recover(a)
    d.publish(incidentEvent('incident:recovered', aDone, clock.now()))
    clock.advance(60_000)
    const b = drive.open(
      'inc-b',
      'billing#1',
      'exited with code 1: <!channel> & "TypeError: x is undefined"',
      5100,
    )
    const bDone = drive.escalate(b)
    d.publish(incidentEvent('incident:escalated', bDone, clock.now()))

    await waitFor(() => slack.received.length === 3, 'three Slack messages')
    await d.drain(10_000)
    assert.deepEqual(failures, [])
    assert.ok(
      slack.received.every((r) => r.path === slackPath && r.headers['content-type'] === 'application/json'),
    )
    const [opened, recovered, escalated] = slackBodies(slack)

    // The payload is exactly what the formatter renders (suppressedBefore 0: nothing was held back).
    assert.deepEqual(
      opened,
      formatSlackMessage(incidentEvent('incident:opened', a, T0), {
        suppressedBefore: 0,
        configFile: CONFIG_FILE,
      }),
    )

    assert.equal(
      opened!.text,
      [
        '⚠️ Recovering email#2 (pool email): crash',
        'What was wrong: crash: exited with code 1 after 5.00s',
        'What is being done: soft_restart, up to 2 attempts, then escalation',
        'Look at: shepherd incidents -c /srv/shepherd/shepherd.yaml ; shepherd logs -c /srv/shepherd/shepherd.yaml email#2 -n 100',
      ].join('\n'),
    )
    assert.equal(
      recovered!.text,
      [
        '✅ email#2 recovered (pool email) in 1.92s',
        'What was wrong: crash: exited with code 1 after 5.00s',
        'What was done: soft_restart, attempt 1 of 2: detected → state-saved → attempt → stopped → started → state-restored → ready → recovered',
        'Look at: shepherd incidents -c /srv/shepherd/shepherd.yaml ; shepherd logs -c /srv/shepherd/shepherd.yaml email#2 -n 100',
      ].join('\n'),
    )
    assert.deepEqual(blockTexts(recovered!), [
      '✅ *email#2 recovered* (pool email) in 1.92s | *Worker*\nemail#2 | *Pool*\nemail | *Cause*\ncrash (ordinary) | *Strategy*\nsoft_restart | *Attempts*\n1 of 2 | *Took*\n1.92s',
      '*What was wrong:* crash: exited with code 1 after 5.00s',
      [
        '*What was done*',
        '```',
        '+0ms    detected        crash (ordinary): exited with code 1 after 5.00s',
        '+12ms   state-saved     50 log lines, last health report, exit',
        '+12ms   attempt         attempt 1 of 2: soft_restart',
        '+20ms   stopped         pid 4242 exit code 1',
        '+60ms   started         pid 4251',
        '+65ms   state-restored  checkpoint of 2 KiB handed over',
        '+1.92s  ready           SDK ready message',
        '+1.92s  recovered       in 1915 ms',
        '```',
      ].join('\n'),
      '*What to look at*\n`shepherd incidents -c /srv/shepherd/shepherd.yaml`\n`shepherd logs -c /srv/shepherd/shepherd.yaml email#2 -n 100`',
      'Incident inc-a · detected <!date^1700000000^{date_short_pretty} {time_secs}|2023-11-14 22:13:20 UTC>',
    ])

    // Loud, escaped: the worker's text cannot mention @channel or break the markup.
    assert.equal(
      escalated!.text,
      [
        '🚨 billing#1 needs a human (pool billing): recovery gave up after 36.4s',
        'What was wrong: crash: exited with code 1: &lt;!channel&gt; &amp; "TypeError: x is undefined"',
        'Why it needs a human: not recovered after 2 attempts',
        'What was done: soft_restart, then hard_restart, attempt 2 of 2: detected → state-saved → attempt → stopped → started → state-restored → verify-failed → backoff → backoff-elapsed → attempt → stopped → started → state-restored → verify-failed → escalated',
        'Look at: shepherd incidents -c /srv/shepherd/shepherd.yaml ; shepherd logs -c /srv/shepherd/shepherd.yaml billing#1 -n 100',
      ].join('\n'),
    )
    assert.deepEqual(blockTexts(escalated!), [
      '🚨 *billing#1 needs a human* (pool billing): recovery gave up after 36.4s | *Worker*\nbilling#1 | *Pool*\nbilling | *Cause*\ncrash (ordinary) | *Strategy*\nsoft_restart, then hard_restart | *Attempts*\n2 of 2 | *Took*\n36.4s',
      '*What was wrong:* crash: exited with code 1: &lt;!channel&gt; &amp; "TypeError: x is undefined"',
      '*Why it needs a human:* not recovered after 2 attempts\nThe worker is marked failed. Shepherd keeps trying to start it at the revive interval and will say so here when it runs again.',
      [
        '*What was done*',
        '```',
        '+0ms    detected         crash (ordinary): exited with code 1: &lt;!channel&gt; &amp; "TypeError: x is undefined"',
        '+12ms   state-saved      50 log lines, last health report, exit',
        '+12ms   attempt          attempt 1 of 2: soft_restart',
        '+20ms   stopped          pid 5100 exit code 1',
        '+60ms   started          pid 4251',
        '+65ms   state-restored   no checkpoint',
        '+30.1s  verify-failed    not ready within 30.0s',
        '+30.1s  backoff          waiting 2000 ms (restart 2 since the worker was last stable)',
        '+32.1s  backoff-elapsed  waited; trying again',
        '+32.1s  attempt          attempt 2 of 2: hard_restart',
        '+32.4s  stopped          pid 4251 ended by SIGKILL',
        '+32.4s  started          pid 4252',
        '+32.4s  state-restored   no checkpoint',
        '+36.4s  verify-failed    exited during startup with code 1',
        '+36.4s  escalated        not recovered after 2 attempts',
        '```',
      ].join('\n'),
      '*What to look at*\n`shepherd incidents -c /srv/shepherd/shepherd.yaml`\n`shepherd logs -c /srv/shepherd/shepherd.yaml billing#1 -n 100`',
      'Incident inc-b · detected <!date^1700000061^{date_short_pretty} {time_secs}|2023-11-14 22:14:21 UTC>',
    ])
  })

  it('turns a restart loop of 50 crash incidents into a handful of messages and one escalation', async () => {
    const slack = await FakeReceiver.start()
    const hook = await FakeReceiver.start()
    const clock = new FakeClock(T0)
    const drive = new IncidentDriver(clock)
    const n = notificationsConfig({
      slack: { webhook_url: slack.url + slackPath, min_severity: 'warning' },
      webhooks: [
        { url: hook.url + '/hooks/shepherd', min_severity: 'info', headers: { authorization: 'Bearer t0k' } },
      ],
    })
    const { d, failures } = dispatcher(n, { clock })

    let slowest = 0
    const publish = (e: AnyEvent) => {
      slowest = Math.max(
        slowest,
        costOf(() => d.publish(e)),
      )
    }
    let last: Incident | undefined
    for (let i = 1; i <= 50; i++) {
      clock.advance(1000)
      const inc = drive.open(`inc-${i}`, 'api#1', 'exited with code 1 after 0.30s', 6000 + i)
      publish(incidentEvent('incident:opened', inc, clock.now()))
      if (i < 50) publish(incidentEvent('incident:recovered', drive.recover(inc, 6001 + i), clock.now()))
      else last = drive.escalate(inc)
    }
    const escalation = incidentEvent('incident:escalated', last!, clock.now())
    publish(escalation)
    publish(escalation) // replayed: the same escalation of the same incident
    await d.drain(10_000)

    assert.deepEqual(failures, [])
    assert.ok(slowest < 5, `publish took ${slowest.toFixed(2)} ms`)
    const texts = slackBodies(slack).map((m) => m.text.split('\n')[0])
    assert.ok(texts.length <= 5, `Slack got ${texts.length} messages`)
    assert.deepEqual(texts, [
      '⚠️ Recovering api#1 (pool api): crash',
      '🚨 api#1 needs a human (pool api): recovery gave up after 36.4s',
    ])
    const esc = slackBodies(slack)[1]!
    assert.match(esc.text, /\n49 similar events of api#1 suppressed since the last message/)
    assert.ok(blockTexts(esc).at(-1)!.includes('49 similar events of api#1 suppressed'))

    const payloads = hook.received.map((r) => r.body as WebhookPayload)
    assert.ok(payloads.length <= 5, `the webhook got ${payloads.length} messages`)
    assert.deepEqual(
      payloads.map((p) => [p.event.type, p.suppressedBefore, p.source]),
      [
        ['incident:opened', 0, 'shepherd'],
        ['incident:recovered', 0, 'shepherd'],
        ['incident:escalated', 97, 'shepherd'],
      ],
    )
    assert.deepEqual(payloads[2]!.event, JSON.parse(JSON.stringify(escalation)))
    assert.equal(hook.received[0]!.path, '/hooks/shepherd')
    assert.equal(hook.received[0]!.headers.authorization, 'Bearer t0k')
    assert.equal(hook.received[0]!.headers['content-type'], 'application/json')
  })
})

describe('formatSlackMessage', () => {
  it('renders a revival calmly, with the escalated incident and shell-quoted commands', () => {
    const event: AnyEvent = {
      type: 'worker:revived',
      at: T0 + 360_000,
      severity: 'warning',
      message: 'billing#1 started again at the revive interval and is ready',
      pool: 'billing',
      workerId: 'billing#1',
      incidentId: null,
      data: { afterMs: 300_000, incidentId: 'inc-b', attempts: 1 },
    }
    const m = formatSlackMessage(event, { suppressedBefore: 1, configFile: "/srv/it's here/shepherd.yaml" })
    assert.equal(
      m.text,
      [
        '♻️ billing#1 is running again (pool billing), 5m00s after it was marked failed',
        'What happened: billing#1 started again at the revive interval and is ready',
        "Look at: shepherd incidents -c '/srv/it'\\''s here/shepherd.yaml' ; shepherd logs -c '/srv/it'\\''s here/shepherd.yaml' billing#1 -n 100",
        '1 similar event of billing#1 suppressed since the last message (dedup_window, rate_limit).',
      ].join('\n'),
    )
    assert.deepEqual(blockTexts(m), [
      '♻️ *billing#1 is running again* (pool billing), 5m00s after it was marked failed | *Worker*\nbilling#1 | *Pool*\nbilling | *Out of service*\n5m00s | *Escalated incident*\ninc-b',
      '*What happened:* billing#1 started again at the revive interval and is ready',
      "*What to look at*\n`shepherd incidents -c '/srv/it'\\''s here/shepherd.yaml'`\n`shepherd logs -c '/srv/it'\\''s here/shepherd.yaml' billing#1 -n 100`",
      'At <!date^1700000360^{date_short_pretty} {time_secs}|2023-11-14 22:19:20 UTC> | 1 similar event of billing#1 suppressed since the last message (dedup_window, rate_limit).',
    ])
  })

  it('quotes the last log lines only when the event carries them, escaped', () => {
    const drive = new IncidentDriver(new FakeClock(T0))
    const inc = drive.open('inc-l', 'email#1', 'exited with code 1')
    const plain = incidentEvent('incident:opened', inc, T0)
    const withTail = {
      ...plain,
      data: { ...plain.data, logTail: ['out| sent 3 mails', 'err| <TypeError> & more'] },
    }
    const ctx = { suppressedBefore: 0, configFile: '/c.yaml' }
    assert.ok(!blockTexts(formatSlackMessage(plain, ctx)).some((t) => t.includes('Last log lines')))
    assert.equal(
      blockTexts(formatSlackMessage(withTail as AnyEvent, ctx))[3],
      [
        '*What to look at*',
        '`shepherd incidents -c /c.yaml`',
        '`shepherd logs -c /c.yaml email#1 -n 100`',
        '*Last log lines*',
        '```',
        'out| sent 3 mails',
        'err| &lt;TypeError&gt; &amp; more',
        '```',
      ].join('\n'),
    )
  })

  it('keeps a long timeline and a long detail within Slack limits without cutting an entity', () => {
    const clock = new FakeClock(T0)
    const drive = new IncidentDriver(clock)
    let inc = drive.open('inc-long', 'email#1', '&'.repeat(5000))
    for (let i = 0; i < 40; i++) inc = drive.run(inc, [[10, { type: 'backoff-elapsed' }]]) // ignored steps
    const m = formatSlackMessage(incidentEvent('incident:escalated', inc, clock.now()), {
      suppressedBefore: 0,
      configFile: '/c.yaml',
    })
    for (const t of blockTexts(m)) assert.ok(t.length <= 3000, `a block of ${t.length} characters`)
    const wrong = blockTexts(m)[1]!
    assert.match(wrong, /^\*What was wrong:\* crash: (&amp;)+…$/)
    const done = blockTexts(m)[3]!.split('\n')
    // 41 steps: a heading and the fence, the first three, a marker, the last twelve, the fence.
    assert.equal(done.length, 2 + 16 + 1)
    assert.equal(done[5], '… 26 more steps (shepherd incidents) …')
    assert.match(done[2]!, /^\+0ms {4}detected {2}crash \(ordinary\): (&amp;)+…$/)
  })
})

describe('delivery', () => {
  const opened = (workerId: string, id = `inc-${workerId}`): AnyEvent => {
    const drive = new IncidentDriver(new FakeClock(T0))
    return incidentEvent('incident:opened', drive.open(id, workerId, 'exited with code 1'), T0)
  }

  it('retries a 500 and delivers once', async () => {
    const hook = await FakeReceiver.start((i) =>
      i === 0 ? { status: 500, body: 'upstream broke' } : { status: 200 },
    )
    const { d, failures } = dispatcher(notificationsConfig({ webhooks: [webhook(hook)] }))
    d.publish(opened('email#1'))
    await waitFor(() => d.stats()[0]!.delivered === 1, 'the delivery')
    await d.drain(10_000)
    assert.equal(hook.received.length, 2)
    assert.deepEqual(hook.received[0]!.body, hook.received[1]!.body)
    assert.deepEqual(failures, [])
    assert.deepEqual(pickStats(d), { queued: 0, inFlight: false, delivered: 1, failed: 0, dropped: 0 })
  })

  it('sends the plain-text fallback when Slack refuses the blocks with a 400', async () => {
    const slack = await FakeReceiver.start((_n, body) =>
      'blocks' in (body as object) ? { status: 400, body: 'invalid_blocks' } : { status: 200, body: 'ok' },
    )
    const n = notificationsConfig({ slack: { webhook_url: slack.url + slackPath, min_severity: 'warning' } })
    const { d, failures } = dispatcher(n)
    d.publish(opened('email#1'))
    await waitFor(() => d.stats()[0]!.delivered === 1, 'the delivery')
    await d.drain(10_000)
    assert.deepEqual(failures, [])
    assert.equal(slack.received.length, 2)
    const [withBlocks, fallback] = slackBodies(slack)
    assert.deepEqual(fallback, { text: withBlocks!.text })
    assert.match(fallback!.text, /^⚠️ Recovering email#1 /)
  })

  it('does not retry a 400 for the fallback either, and reports the failure', async () => {
    const slack = await FakeReceiver.start(() => ({ status: 400, body: 'invalid_payload' }))
    const n = notificationsConfig({ slack: { webhook_url: slack.url + slackPath, min_severity: 'warning' } })
    const { d, failures } = dispatcher(n)
    d.publish(opened('email#1'))
    await waitFor(() => failures.length === 1, 'onDeliveryFailed')
    await d.drain(10_000)
    assert.deepEqual(failures, [
      {
        notifier: 'slack',
        eventType: 'incident:opened',
        error: 'HTTP 400: invalid_payload; the plain-text fallback: HTTP 400: invalid_payload',
        attempts: 1,
      },
    ])
    assert.equal(slack.received.length, 2)
    assert.equal(d.stats()[0]!.failed, 1)
  })

  it('delivers a quarantine of a hostile job to a Slack that enforces its limits, commands quoted', async () => {
    const slack = await FakeReceiver.start((_n, body) => strictSlack(body))
    const n = notificationsConfig({ slack: { webhook_url: slack.url + slackPath, min_severity: 'warning' } })
    const { d, failures } = dispatcher(n)
    const jobId = `a; touch x ${'<&>'.repeat(60)}`
    d.publish({
      type: 'job:quarantined',
      at: T0,
      severity: 'warning',
      message: 'quarantined',
      pool: 'email',
      workerId: 'email#1',
      incidentId: null,
      data: { jobId, queue: 'email', crashes: 3, error: `${'&'.repeat(2000)}\n${'<b>'.repeat(500)}` },
    })
    await waitFor(() => d.stats()[0]!.delivered === 1 || failures.length > 0, 'the delivery')
    await d.drain(10_000)
    assert.deepEqual(failures, [])
    assert.equal(slack.received.length, 1, 'accepted with its blocks, no fallback needed')
    const m = slackBodies(slack)[0]!
    const todo = blockTexts(m).find((t) => t.includes('shepherd retry'))!
    const quoted = `'${jobId}'`.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    assert.ok(
      todo.includes(`\`shepherd retry -c ${CONFIG_FILE} email --quarantined ${quoted}\``),
      `the retry command shell-quoted, in code: ${todo}`,
    )
    assert.ok(m.text.includes(`shepherd retry -c ${CONFIG_FILE} email --quarantined ${quoted}`))
  })

  it('honours Retry-After on a 429', async () => {
    const hook = await FakeReceiver.start((i) =>
      i === 0 ? { status: 429, headers: { 'retry-after': '1' }, body: 'slow down' } : { status: 200 },
    )
    const { d, failures } = dispatcher(notificationsConfig({ webhooks: [webhook(hook)] }))
    d.publish(opened('email#1'))
    await waitFor(() => d.stats()[0]!.delivered === 1, 'the delivery after Retry-After')
    assert.deepEqual(failures, [])
    const gap = hook.received[1]!.at - hook.received[0]!.at
    assert.ok(gap >= 990, `retried after ${gap} ms, before the 1 s Retry-After`)
  })

  it('times out a destination that never answers, without ever blocking publish', async () => {
    const hook = await FakeReceiver.start(() => 'hang')
    const n = notificationsConfig({ webhooks: [webhook(hook)], timeout: 300, retries: 1 })
    const { d, failures } = dispatcher(n)
    d.publish(opened('email#1'))
    await waitFor(() => hook.received.length === 1, 'the first request to hang')

    // The destination now holds a request open; publishing must not notice.
    const costs: number[] = []
    for (let i = 2; i <= 21; i++) costs.push(costOf(() => d.publish(opened(`email#${i}`))))
    assert.ok(Math.max(...costs) < 5, `publish took up to ${Math.max(...costs).toFixed(2)} ms`)

    await waitFor(() => failures.length >= 1, 'the first delivery to time out and give up')
    assert.deepEqual(failures[0], {
      notifier: `webhook:${new URL(hook.url).host}`,
      eventType: 'incident:opened',
      error: 'timed out after 300ms',
      attempts: 2,
    })
    // drain gives up at its own deadline while the destination still hangs.
    const t = performance.now()
    await d.drain(100)
    assert.ok(performance.now() - t < 5000)
    assert.ok(d.stats()[0]!.queued > 0 || d.stats()[0]!.inFlight)
  })

  it('retries a refused connection, then gives up and reports it', async () => {
    const port = await refusedPort()
    const n = notificationsConfig({
      webhooks: [{ url: `http://127.0.0.1:${port}/hook`, min_severity: 'info', headers: {} }],
      retries: 2,
    })
    const { d, failures } = dispatcher(n)
    assert.ok(costOf(() => d.publish(opened('email#1'))) < 5)
    await waitFor(() => failures.length === 1, 'onDeliveryFailed')
    assert.equal(failures[0]!.attempts, 3)
    assert.match(failures[0]!.error, /^network error: .*ECONNREFUSED/)
    assert.doesNotMatch(failures[0]!.error, /\/hook/, 'no URL path in the error')
  })

  it('drops the oldest pending notification when a queue is full', async () => {
    const hook = await FakeReceiver.start(() => 'hold')
    const n = notificationsConfig({ webhooks: [webhook(hook)], timeout: 60_000 })
    const { d, failures } = dispatcher(n, { maxQueue: 3 })
    for (let i = 0; i < 10; i++) d.publish(opened(`w#${i}`))
    // w#0 went into flight at once; of the nine that queued behind it, the six oldest were dropped.
    assert.deepEqual(pickStats(d), { queued: 3, inFlight: true, delivered: 0, failed: 0, dropped: 6 })
    await waitFor(() => hook.received.length === 1, 'the first request')
    hook.release()
    await waitFor(() => d.stats()[0]!.delivered === 4, 'the remaining deliveries')
    await d.drain(10_000)
    assert.deepEqual(
      hook.received.map((r) => (r.body as WebhookPayload).event.workerId),
      ['w#0', 'w#7', 'w#8', 'w#9'],
    )
    assert.deepEqual(failures, [])
  })

  it('close() abandons a hanging delivery and pending work at once', async () => {
    const hook = await FakeReceiver.start(() => 'hang')
    const { d, failures } = dispatcher(notificationsConfig({ webhooks: [webhook(hook)], timeout: 60_000 }))
    d.publish(opened('email#1'))
    d.publish(opened('email#2'))
    await waitFor(() => hook.received.length === 1, 'the hanging request')
    d.close()
    await waitFor(() => !d.stats()[0]!.inFlight, 'the lane to stop')
    await d.drain(10_000)
    assert.deepEqual(pickStats(d), { queued: 0, inFlight: false, delivered: 0, failed: 0, dropped: 0 })
    assert.deepEqual(failures, [], 'closing is not a delivery failure')
    d.publish(opened('email#3'))
    assert.equal(hook.received.length, 1, 'nothing is sent after close')
  })
})

function webhook(r: FakeReceiver): Config['notifications']['webhooks'][number] {
  return { url: r.url + '/hook', min_severity: 'info', headers: {} }
}

function pickStats(d: NotificationDispatcher) {
  const { queued, inFlight, delivered, failed, dropped } = d.stats()[0]!
  return { queued, inFlight, delivered, failed, dropped }
}
