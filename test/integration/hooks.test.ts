/**
 * Event hooks for real: a real HTTP server and real commands (test/fixtures/hook-*.mjs) behind the
 * notification dispatcher, with filters by type and severity, retries, the timeout that kills a
 * hook's process group, and a daemon whose hooks hear about a crash and its recovery.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterEach, describe, it, type TestContext } from 'node:test'

import { type ConfigInput, ConfigSchema } from '../../src/config/schema.js'
import type { AnyEvent } from '../../src/core/events.js'
import { silentLogger } from '../../src/logger.js'
import {
  createHookNotifiers,
  type DeliveryFailure,
  NotificationDispatcher,
  type WebhookPayload,
} from '../../src/notify/index.js'
import { fixture, NODE, startTestDaemon, tempDir } from '../helpers/daemon.js'
import { isGone, waitFor } from '../helpers/wait.js'

const APPEND = fixture('hook-append.mjs')
const HANG = fixture('hook-hang.mjs')

interface Receiver {
  url: string
  bodies: WebhookPayload[]
  server: Server
}

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A real HTTP server on 127.0.0.1; `status(n)` answers the n-th request (0-based). */
async function receiver(status: (n: number) => number = () => 200): Promise<Receiver> {
  const bodies: WebhookPayload[] = []
  let n = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const code = status(n++)
      if (code === 200) bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookPayload)
      res.writeHead(code).end(code === 200 ? 'ok' : 'try again')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies, server }
}

/** A dispatcher over the hooks of a config, with short retry delays. */
function hookDispatcher(t: TestContext, hooks: ConfigInput['hooks'], retries = 3) {
  const dir = tempDir(t)
  const config = ConfigSchema.parse({ workers: { w: { command: 'x' } }, hooks, notifications: { retries } })
  const failures: DeliveryFailure[] = []
  const dispatcher = new NotificationDispatcher({
    notifiers: createHookNotifiers(config.hooks, { configFile: path.join(dir, 'shepherd.yaml') }),
    settings: config.notifications,
    now: () => performance.now(),
    logger: silentLogger(),
    retryBaseMs: 20,
    onDeliveryFailed: (f) => failures.push(f),
  })
  cleanups.push(() => dispatcher.close())
  return { dispatcher, failures, dir }
}

let seq = 0
function event(type: AnyEvent['type'], severity: AnyEvent['severity'], workerId = 'email#1'): AnyEvent {
  seq++
  return {
    type,
    at: 1000 + seq,
    severity,
    message: `${type} #${seq}`,
    pool: 'email',
    workerId,
    incidentId: null,
    data: {},
  } as AnyEvent
}

interface Line {
  env: Record<string, string>
  payload: WebhookPayload
}

function lines(file: string): Line[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line)
}

describe('event hooks', () => {
  it('give each hook the events its filter and severity take: a URL and a command', async (t) => {
    const http = await receiver()
    const { dispatcher, dir } = hookDispatcher(t, [
      { events: ['incident:', 'worker:exit'], url: http.url },
      { events: ['job:'], min_severity: 'warning', command: NODE, args: [APPEND, 'jobs.log'] },
    ])
    const sent = [
      event('incident:opened', 'warning'),
      event('worker:exit', 'info'),
      event('health:changed', 'warning'),
      event('job:dead-lettered', 'warning'),
      event('job:requeued', 'info'),
      event('incident:step', 'info'),
      event('job:quarantined', 'warning', 'email#2'),
      event('worker:state', 'info'),
    ]
    for (const e of sent) dispatcher.publish(e)
    await dispatcher.drain(30_000)

    assert.deepEqual(
      http.bodies.map((b) => b.event.type),
      ['incident:opened', 'worker:exit', 'incident:step'],
    )
    assert.deepEqual(http.bodies[0], { event: sent[0], suppressedBefore: 0, source: 'shepherd' })

    const got = lines(path.join(dir, 'jobs.log'))
    assert.deepEqual(
      got.map((l) => l.payload.event.type),
      ['job:dead-lettered', 'job:quarantined'],
    )
    assert.deepEqual(got[1]!.payload, { event: sent[6], suppressedBefore: 0, source: 'shepherd' })
    assert.deepEqual(got[1]!.env, {
      SHEPHERD_EVENT_TYPE: 'job:quarantined',
      SHEPHERD_EVENT_SEVERITY: 'warning',
      SHEPHERD_WORKER_ID: 'email#2',
      SHEPHERD_POOL: 'email',
    })
    assert.deepEqual(
      dispatcher.stats().map((s) => [s.notifier, s.delivered, s.failed]),
      [
        ['hook:127.0.0.1:' + new URL(http.url).port, 3, 0],
        ['hook:node', 2, 0],
      ],
    )
  })

  it('retry a command that exits non-zero and a URL that answers 5xx, as for webhooks', async (t) => {
    const http = await receiver((n) => (n < 2 ? 503 : 200))
    const { dispatcher, failures, dir } = hookDispatcher(t, [
      { events: ['incident:recovered'], url: http.url },
      { events: ['incident:recovered'], command: NODE, args: [APPEND, 'out.log', '2'] },
    ])
    const e = event('incident:recovered', 'info')
    dispatcher.publish(e)
    await dispatcher.drain(30_000)
    assert.deepEqual(failures, [])
    assert.equal(http.bodies.length, 1)
    assert.equal(
      readFileSync(path.join(dir, 'out.log.runs'), 'utf8'),
      '3',
      'two failed runs, then one that delivered',
    )
    assert.deepEqual(
      lines(path.join(dir, 'out.log')).map((l) => l.payload.event),
      [e],
    )
  })

  it('give up after the retries, and say why, with the stderr of the failing command', async (t) => {
    const { dispatcher, failures } = hookDispatcher(
      t,
      [{ events: ['worker:exit'], command: NODE, args: [APPEND, 'never.log', '99'] }],
      1,
    )
    dispatcher.publish(event('worker:exit', 'info'))
    await dispatcher.drain(30_000)
    assert.deepEqual(failures, [
      {
        notifier: 'hook:node',
        eventType: 'worker:exit',
        error: 'the hook exited with code 3: temporary failure 2',
        attempts: 2,
      },
    ])
  })

  it('do not retry a command that cannot be started', async (t) => {
    const { dispatcher, failures } = hookDispatcher(t, [{ events: ['*'], command: './no-such-hook' }])
    dispatcher.publish(event('worker:exit', 'info'))
    await dispatcher.drain(30_000)
    assert.equal(failures.length, 1)
    assert.equal(failures[0]!.attempts, 1)
    assert.match(failures[0]!.error, /cannot run the hook "\.\/no-such-hook": command not found \(ENOENT\)/)
  })

  it('kill a command that overstays its timeout, with every process it started', async (t) => {
    const { dispatcher, failures, dir } = hookDispatcher(
      t,
      [{ events: ['*'], command: NODE, args: [HANG, 'pids'], timeout: '3s' }],
      0,
    )
    dispatcher.publish(event('worker:exit', 'info'))
    await waitFor(() => failures.length === 1, 'the delivery to be given up', 30_000)
    assert.deepEqual(failures[0], {
      notifier: 'hook:node',
      eventType: 'worker:exit',
      error: 'timed out after 3.00s',
      attempts: 1,
    })
    const pids = readFileSync(path.join(dir, 'pids'), 'utf8').trim().split(/\s+/).map(Number)
    assert.equal(pids.length, 2, 'the hook and its child both started')
    await waitFor(() => pids.every(isGone), 'the hook and its child to be killed', 10_000)
  })

  it('hear about a crash and its recovery from a running daemon, without the API token', async (t) => {
    const dir = tempDir(t)
    const out = path.join(dir, 'events.log')
    // The daemon reads its token from the environment; hooks and workers must not inherit it.
    const saved = process.env.SHEPHERD_API_TOKEN
    process.env.SHEPHERD_API_TOKEN = 'hooks-test-token-0123456789abcdef'
    t.after(() => {
      if (saved === undefined) delete process.env.SHEPHERD_API_TOKEN
      else process.env.SHEPHERD_API_TOKEN = saved
    })
    const td = await startTestDaemon(t, {
      recovery: { min_uptime: '200ms' },
      hooks: [
        { events: ['worker:exit', 'incident:recovered'], command: NODE, args: [APPEND, out] },
        { events: ['health:'], min_severity: 'critical', command: NODE, args: [APPEND, `${out}.health`] },
      ],
      workers: { plain: { command: NODE, args: [fixture('forever.mjs')] } },
    })
    await waitFor(() => td.daemon.supervisor.listWorkers()[0]?.state === 'ready', 'the worker to be ready')
    const pid = td.daemon.supervisor.listWorkers()[0]!.pid!
    process.kill(pid, 'SIGKILL')
    await waitFor(
      () => lines(out).some((l) => l.payload.event.type === 'incident:recovered'),
      'the hook to hear of the recovery',
      30_000,
    )
    const got = lines(out)
    assert.equal(got[0]!.payload.event.type, 'worker:exit')
    assert.equal(got[0]!.env.SHEPHERD_WORKER_ID, 'plain#1')
    assert.ok(got.length >= 2 && got.every((l) => !('SHEPHERD_API_TOKEN' in l.env)), JSON.stringify(got))
    assert.ok(!existsSync(`${out}.health`), 'below the hook’s severity')
  })
})
