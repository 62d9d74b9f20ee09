import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'

import { API_BODY_LIMIT, createHttpApp } from '../../src/adapters/http/app.js'
import { isProtectedPath } from '../../src/adapters/http/auth.js'
import { apiBaseUrl, ApiClient } from '../../src/adapters/http/client.js'
import { jobPolicy, loadConfigText, queueSettings } from '../../src/config/load.js'
import { configuredQueues } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'
import { type AnyEvent, EVENT_TYPES } from '../../src/core/events.js'
import type { FleetNode, NodeView } from '../../src/core/fleet-node.js'
import type { Incident } from '../../src/core/incident.js'
import type { Job } from '../../src/core/job.js'
import { type ErrorCode, ShepherdError } from '../../src/errors.js'
import { FakeClock } from '../../src/ports/clock.js'
import { type AddResult, zeroCounts } from '../../src/ports/job-store.js'
import type { Store } from '../../src/ports/store.js'
import { openStore } from '../../src/store/open-store.js'
import { exitEvent } from '../contract/store.contract.js'
import {
  FAKE_INFO as INFO,
  FakeSupervisor,
  incidentRecord,
  MemoryStore,
  workerView,
} from '../helpers/fakes.js'

const worker = workerView
const incident = incidentRecord

function setup() {
  const supervisor = new FakeSupervisor([
    worker('email#1'),
    worker('email#2', {
      healthScore: 40,
      verdict: 'unhealthy',
      worst: 'memory',
      worstDetail: '1100 MiB > limit 1024 MiB',
    }),
    worker('reports#1'),
  ])
  const many = Array.from({ length: 60 }, (_, i) => incident(`inc-old-${i}`, 'reports#1', 10_000 + i))
  const store = new MemoryStore([
    ...many,
    incident('inc-a', 'email#2', 90_000),
    incident('inc-b', 'email#1', 80_000, {
      outcome: null,
      phase: 'verifying',
      recoveredAt: null,
      endedAt: null,
    }),
  ])
  const internal: { error: Error; request: { method: string; path: string } }[] = []
  const app = createHttpApp({
    supervisor,
    store,
    onInternalError: (error, request) => internal.push({ error, request }),
  })
  return { app, supervisor, store, internal }
}

type Json = Record<string, unknown>

async function call(
  app: ReturnType<typeof createHttpApp>,
  method: string,
  path: string,
  body?: string,
  headers?: Record<string, string>,
): Promise<{ status: number; json: Json; res: Response }> {
  // As the CLI and the dashboard do: every POST says JSON (request-guard.ts refuses any other).
  const all = method === 'POST' ? { 'content-type': 'application/json', ...headers } : headers
  const res = await app.request(path, { method, body, headers: all })
  const text = await res.text()
  return { status: res.status, json: (text === '' ? {} : JSON.parse(text)) as Json, res }
}

async function expectError(
  app: ReturnType<typeof createHttpApp>,
  method: string,
  path: string,
  status: number,
  code: ErrorCode,
  messagePart: string | RegExp,
  body?: string,
): Promise<Json> {
  const r = await call(app, method, path, body)
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.json)}`)
  assert.match(r.res.headers.get('content-type') ?? '', /application\/json/)
  const error = r.json.error as { code: string; message: string; details?: unknown }
  assert.equal(error.code, code)
  if (typeof messagePart === 'string') assert.ok(error.message.includes(messagePart), error.message)
  else assert.match(error.message, messagePart)
  assert.ok(!/\n\s+at /.test(JSON.stringify(r.json)), 'no stack trace in an error body')
  return error as unknown as Json
}

describe('GET /api/health', () => {
  it('says ok and describes the supervisor', async () => {
    const { app } = setup()
    const r = await call(app, 'GET', '/api/health')
    assert.equal(r.status, 200)
    assert.deepEqual(r.json, {
      ok: true,
      supervisor: INFO,
      store: { writable: true, problem: null, message: null, since: null, refused: 0 },
    })
  })
})

describe('GET /api/workers', () => {
  it('lists every worker as the supervisor shows it', async () => {
    const { app, supervisor } = setup()
    const r = await call(app, 'GET', '/api/workers')
    assert.equal(r.status, 200)
    assert.deepEqual(r.json, { workers: supervisor.workers })
  })

  it('finds one worker by its percent-encoded id (# is %23)', async () => {
    const { app, supervisor } = setup()
    const r = await call(app, 'GET', '/api/workers/email%232')
    assert.equal(r.status, 200)
    assert.deepEqual(r.json, { worker: supervisor.workers[1] })
  })

  it('answers 404 SHEPHERD_WORKER_NOT_FOUND naming the id', async () => {
    const { app } = setup()
    await expectError(app, 'GET', '/api/workers/email%239', 404, 'SHEPHERD_WORKER_NOT_FOUND', '"email#9"')
  })

  it('treats a raw # as the end of the path (browsers never send it), so the id is cut', async () => {
    const { app } = setup()
    await expectError(app, 'GET', '/api/workers/email#2', 404, 'SHEPHERD_WORKER_NOT_FOUND', '"email"')
  })
})

/** A node's lease with a 3 s lease from its last heartbeat. */
function node(name: string, heartbeatAt: number, over: Partial<FleetNode> = {}): FleetNode {
  return {
    name,
    host: `${name}.example`,
    pid: 100,
    version: '0.1.0',
    apiUrl: 'http://127.0.0.1:7717',
    acquiredAt: 0,
    heartbeatAt,
    expiresAt: heartbeatAt + 3_000,
    epoch: 1,
    workload: null,
    ...over,
  }
}

describe('GET /api/nodes', () => {
  const recorded = {
    running: 0,
    desired: 1,
    workers: [
      {
        id: 'old#1',
        pool: 'old',
        pid: null,
        state: 'exited' as const,
        role: 'worker' as const,
        healthScore: 0,
        restarts: 1,
        startedAt: null,
        worst: null,
        worstDetail: null,
      },
    ],
  }

  it("lists every node by its lease, alive or dead, the leader marked, this agent's workers as they are now", async () => {
    const { supervisor, store } = setup()
    supervisor.pools = [
      {
        name: 'email',
        queue: null,
        replicas: { min: 2, max: 2 },
        workers: 2,
        serving: 1,
        spares: 0,
        availability: 1,
        observedMs: 0,
        fullMs: 0,
        restartsByCause: {},
      },
    ]
    const clock = new FakeClock(10_000)
    store.nodes = [node('web-1', 9_000, { workload: recorded }), node('web-2', 5_000, { workload: recorded })]
    store.leader = { owner: 'o', node: 'web-1', epoch: 1, acquiredAt: 0, expiresAt: 11_000 }
    const app = createHttpApp({ supervisor, store, clock, node: 'web-1' })
    const res = await app.request('/api/nodes')
    assert.equal(res.status, 200)
    const { nodes } = (await res.json()) as { nodes: NodeView[] }
    assert.deepEqual(
      nodes.map((n) => [n.name, n.state, n.leader, n.heartbeatAgeMs, n.running, n.desired]),
      [
        ['web-1', 'alive', true, 1_000, 1, 2],
        ['web-2', 'dead', false, 5_000, 0, 1],
      ],
    )
    assert.deepEqual(
      nodes[0]!.workers.map((w) => w.id),
      ['email#1', 'email#2', 'reports#1'],
      'its own node: the live workers, not the recorded ones',
    )
    assert.deepEqual(nodes[1]!.workers, recorded.workers, "another node's: as it recorded them")
  })

  it('answers null counts for a node that has not recorded its workers yet, and no leader once its leadership lapsed', async () => {
    const { supervisor, store } = setup()
    store.nodes = [node('web-3', 9_000)]
    store.leader = { owner: 'o', node: 'web-3', epoch: 1, acquiredAt: 0, expiresAt: 9_500 }
    const app = createHttpApp({ supervisor, store, clock: new FakeClock(10_000) })
    const { nodes } = (await (await app.request('/api/nodes')).json()) as { nodes: NodeView[] }
    assert.deepEqual(
      nodes.map((n) => [n.state, n.leader, n.running, n.desired, n.workers]),
      [['alive', false, null, null, []]],
    )
  })
})

describe('DELETE /api/nodes/:name', () => {
  it('forgets a dead node, refuses a live one saying what to do, and names the nodes for an unknown one', async () => {
    const { supervisor, store } = setup()
    store.nodes = [node('web-1', 9_000), node('web-2', 5_000, { epoch: 4 })]
    const recorded: AnyEvent[] = []
    const app = createHttpApp({
      supervisor,
      store,
      clock: new FakeClock(10_000),
      node: 'web-1',
      record: (e) => recorded.push(e),
    })
    await expectError(
      app,
      'DELETE',
      '/api/nodes/web-1',
      409,
      'SHEPHERD_NODE_ALIVE',
      /node "web-1" is alive: it is the agent answering this request/,
    )
    const gone = await call(app, 'DELETE', '/api/nodes/web-2')
    assert.equal(gone.status, 200)
    assert.deepEqual(
      [
        (gone.json.forgotten as NodeView).name,
        (gone.json.forgotten as NodeView).state,
        gone.json.workerStates,
      ],
      ['web-2', 'dead', 0],
    )
    assert.deepEqual(
      store.nodes.map((n) => n.name),
      ['web-1'],
    )
    assert.deepEqual(
      recorded.map((e) => [e.type, e.severity, e.at, e.data, e.message]),
      [
        [
          'node:forgotten',
          'info',
          10_000,
          { node: 'web-2', epoch: 4, workerStates: 0 },
          'node web-2 forgotten: it was dead (last heartbeat 5.00s ago); 0 saved worker state(s) went with its lease',
        ],
      ],
      'one event, for the node forgotten; none for the refusals',
    )
    await expectError(
      app,
      'DELETE',
      '/api/nodes/web-2',
      404,
      'SHEPHERD_NODE_NOT_FOUND',
      /no node "web-2" .*the nodes are: web-1/,
    )
  })

  it("refuses a live node of another agent with its lease's end, host and pid", async () => {
    const { supervisor, store } = setup()
    store.nodes = [node('web-2', 9_000)]
    const app = createHttpApp({ supervisor, store, clock: new FakeClock(10_000), node: 'web-1' })
    await expectError(
      app,
      'DELETE',
      '/api/nodes/web-2',
      409,
      'SHEPHERD_NODE_ALIVE',
      /its lease is live for another 2\.00s \(last heartbeat 1\.00s ago; pid 100 on host web-2\.example\)\. .*Stop its agent instead/,
    )
  })
})

describe('POST /api/workers/:id/restart', () => {
  it('takes an empty body as a soft restart and answers 202 with the incident id', async () => {
    const { app, supervisor } = setup()
    const r = await call(app, 'POST', '/api/workers/email%232/restart')
    assert.equal(r.status, 202)
    assert.deepEqual(r.json, { incidentId: 'inc-1' })
    assert.equal(r.res.headers.get('location'), '/api/incidents/inc-1')
    assert.deepEqual(supervisor.restarts, [{ id: 'email#2', request: { hard: false } }])
  })

  it('passes hard: true and hard: false through', async () => {
    const { app, supervisor } = setup()
    assert.equal((await call(app, 'POST', '/api/workers/email%231/restart', '{"hard":true}')).status, 202)
    assert.equal((await call(app, 'POST', '/api/workers/email%231/restart', '{"hard":false}')).status, 202)
    assert.equal((await call(app, 'POST', '/api/workers/email%231/restart', '{}')).status, 202)
    assert.deepEqual(
      supervisor.restarts.map((r) => r.request.hard),
      [true, false, false],
    )
  })

  it('refuses malformed JSON with 400 "body is not valid JSON"', async () => {
    const { app, supervisor } = setup()
    const e = await expectError(
      app,
      'POST',
      '/api/workers/email%232/restart',
      400,
      'SHEPHERD_BAD_REQUEST',
      /^body is not valid JSON$/,
      '{"hard": tru',
    )
    assert.equal(typeof (e.details as { reason: unknown }).reason, 'string')
    assert.equal(supervisor.restarts.length, 0)
  })

  it('refuses an unknown key with 400 naming the key and the known ones', async () => {
    const { app, supervisor } = setup()
    const e = await expectError(
      app,
      'POST',
      '/api/workers/email%232/restart',
      400,
      'SHEPHERD_BAD_REQUEST',
      'body.force: unknown key "force" (known: hard)',
      '{"force":true}',
    )
    assert.deepEqual(e.details, {
      issues: [{ path: 'body.force', message: 'unknown key "force" (known: hard)' }],
    })
    assert.equal(supervisor.restarts.length, 0)
  })

  it('refuses a hard that is not a boolean, quoting what it got', async () => {
    const { app } = setup()
    await expectError(
      app,
      'POST',
      '/api/workers/email%232/restart',
      400,
      'SHEPHERD_BAD_REQUEST',
      'body.hard: expected a boolean, got "yes" (string)',
      '{"hard":"yes"}',
    )
  })

  it('refuses a body that is not a JSON object', async () => {
    const { app } = setup()
    await expectError(
      app,
      'POST',
      '/api/workers/email%232/restart',
      400,
      'SHEPHERD_BAD_REQUEST',
      'expected a JSON object, got an array',
      '[]',
    )
    await expectError(
      app,
      'POST',
      '/api/workers/email%232/restart',
      400,
      'SHEPHERD_BAD_REQUEST',
      'expected a JSON object, got 3 (number)',
      '3',
    )
  })

  it('answers 404 for an unknown worker with the supervisor’s reason', async () => {
    const { app } = setup()
    await expectError(
      app,
      'POST',
      '/api/workers/nope%231/restart',
      404,
      'SHEPHERD_WORKER_NOT_FOUND',
      'no worker has id "nope#1"',
    )
  })

  it('answers 409 while the worker is already being recovered, or the supervisor is stopping', async () => {
    const { app, supervisor } = setup()
    supervisor.failWith = new ShepherdError(
      'SHEPHERD_RECOVERY_IN_PROGRESS',
      'email#2 is already being recovered (incident inc-9)',
    )
    await expectError(
      app,
      'POST',
      '/api/workers/email%232/restart',
      409,
      'SHEPHERD_RECOVERY_IN_PROGRESS',
      'inc-9',
    )
    supervisor.failWith = new ShepherdError('SHEPHERD_SUPERVISOR_STOPPING', 'the supervisor is shutting down')
    await expectError(
      app,
      'POST',
      '/api/workers/email%232/restart',
      409,
      'SHEPHERD_SUPERVISOR_STOPPING',
      'shutting down',
    )
  })

  it('answers 500 SHEPHERD_INTERNAL for an unexpected error, without a stack, and reports it', async () => {
    const { app, supervisor, internal } = setup()
    supervisor.failWith = new TypeError('cannot read properties of undefined')
    const e = await expectError(
      app,
      'POST',
      '/api/workers/email%232/restart',
      500,
      'SHEPHERD_INTERNAL',
      'internal error: cannot read properties of undefined',
    )
    assert.equal(e.details, undefined)
    assert.equal(internal.length, 1)
    assert.equal(internal[0]!.error, supervisor.failWith)
    assert.deepEqual(internal[0]!.request, { method: 'POST', path: '/api/workers/email%232/restart' })
  })

  it('answers 413 for a body over 64 KiB, with or without Content-Length', async () => {
    const { app, supervisor } = setup()
    const big = JSON.stringify({ hard: true, pad: 'x'.repeat(API_BODY_LIMIT) })
    const withLength = await call(app, 'POST', '/api/workers/email%232/restart', big, {
      'content-length': String(Buffer.byteLength(big)),
    })
    assert.equal(withLength.status, 413)
    assert.deepEqual(withLength.json, {
      error: {
        code: 'SHEPHERD_PAYLOAD_TOO_LARGE',
        message: 'body is too large: the limit is 65536 bytes (64 KiB)',
      },
    })
    await expectError(
      app,
      'POST',
      '/api/workers/email%232/restart',
      413,
      'SHEPHERD_PAYLOAD_TOO_LARGE',
      'body is too large',
      big,
    )
    assert.equal(supervisor.restarts.length, 0)
  })

  it('accepts a body just under the limit (and then judges its keys)', async () => {
    const { app } = setup()
    const body = `{"hard":true}${' '.repeat(API_BODY_LIMIT - 13)}`
    assert.equal(Buffer.byteLength(body), API_BODY_LIMIT)
    assert.equal((await call(app, 'POST', '/api/workers/email%232/restart', body)).status, 202)
  })
})

describe('GET /api/incidents', () => {
  it('lists the newest 50 by default', async () => {
    const { app, store } = setup()
    const r = await call(app, 'GET', '/api/incidents')
    assert.equal(r.status, 200)
    const list = r.json.incidents as Incident[]
    assert.equal(list.length, 50)
    assert.deepEqual(
      list.slice(0, 3).map((i) => i.id),
      ['inc-a', 'inc-b', 'inc-old-59'],
    )
    assert.deepEqual(store.queries, [{ limit: 50 }])
  })

  it('filters by limit, worker (percent-encoded) and pool', async () => {
    const { app, store } = setup()
    const one = await call(app, 'GET', '/api/incidents?limit=1')
    assert.deepEqual(
      (one.json.incidents as Incident[]).map((i) => i.id),
      ['inc-a'],
    )
    const byWorker = await call(app, 'GET', '/api/incidents?worker=email%231')
    assert.deepEqual(
      (byWorker.json.incidents as Incident[]).map((i) => i.id),
      ['inc-b'],
    )
    const byPool = await call(app, 'GET', '/api/incidents?pool=email&limit=1000')
    assert.deepEqual(
      (byPool.json.incidents as Incident[]).map((i) => i.id),
      ['inc-a', 'inc-b'],
    )
    assert.deepEqual(store.queries, [
      { limit: 1 },
      { limit: 50, workerId: 'email#1' },
      { limit: 1000, pool: 'email' },
    ])
  })

  for (const bad of ['0', '1001', 'abc', '1.5', '-1', '', '1e3']) {
    it(`refuses limit=${bad || '(empty)'} with 400 and the reason`, async () => {
      const { app, store } = setup()
      await expectError(
        app,
        'GET',
        `/api/incidents?limit=${bad}`,
        400,
        'SHEPHERD_BAD_REQUEST',
        `query.limit: expected an integer from 1 to 1000, got ${JSON.stringify(bad)}`,
      )
      assert.equal(store.queries.length, 0)
    })
  }

  it('refuses an empty worker filter and an unknown parameter', async () => {
    const { app } = setup()
    await expectError(
      app,
      'GET',
      '/api/incidents?worker=',
      400,
      'SHEPHERD_BAD_REQUEST',
      'query.worker: expected a worker id',
    )
    await expectError(
      app,
      'GET',
      '/api/incidents?workers=email',
      400,
      'SHEPHERD_BAD_REQUEST',
      'query.workers: unknown parameter "workers"; did you mean "worker"?',
    )
  })

  it('answers a store failure with its own code and status', async () => {
    const { app, store } = setup()
    store.failWith = new ShepherdError('SHEPHERD_STORE_OPEN_FAILED', 'cannot open /var/lib/shepherd.db')
    await expectError(app, 'GET', '/api/incidents', 500, 'SHEPHERD_STORE_OPEN_FAILED', 'cannot open')
  })
})

describe('node filters and the events recorded in the store', () => {
  it('lists the incidents of one node, each carrying its node', async () => {
    const { app, store } = setup()
    store.incidents.push(
      incident('inc-w2', 'email#1', 95_000, { node: 'web-2' }),
      incident('inc-w3', 'email#1', 96_000, { node: 'web-3' }),
    )
    const r = await call(app, 'GET', '/api/incidents?node=web-2')
    assert.equal(r.status, 200)
    assert.deepEqual(
      (r.json.incidents as Incident[]).map((i) => [i.id, i.node]),
      [['inc-w2', 'web-2']],
    )
    assert.deepEqual(store.queries, [{ limit: 50, node: 'web-2' }])
    await expectError(
      app,
      'GET',
      '/api/incidents?node=',
      400,
      'SHEPHERD_BAD_REQUEST',
      'query.node: expected a node name',
    )
    await expectError(
      app,
      'GET',
      '/api/incidents?nodes=web-2',
      400,
      'SHEPHERD_BAD_REQUEST',
      'query.nodes: unknown parameter "nodes"; did you mean "node"?',
    )
  })

  it('lists the events recorded in the store, oldest first, filtered by after, types, worker and node', async () => {
    const { app, store } = setup()
    const ev = (
      seq: number,
      type: 'worker:exit' | 'incident:opened',
      workerId: string,
      node: string | null,
    ) => ({ ...exitEvent(1000 + seq, workerId, 100 + seq, node), type, seq }) as AnyEvent
    store.events.push(
      ev(1, 'worker:exit', 'email#1', 'web-1'),
      ev(2, 'incident:opened', 'email#1', 'web-2'),
      ev(3, 'worker:exit', 'email#2', 'web-2'),
      ev(4, 'worker:exit', 'email#1', null),
    )
    const all = await call(app, 'GET', '/api/events/recorded')
    assert.equal(all.status, 200)
    assert.deepEqual(
      (all.json.events as AnyEvent[]).map((e) => [e.seq, e.node]),
      [
        [1, 'web-1'],
        [2, 'web-2'],
        [3, 'web-2'],
        [4, null],
      ],
    )
    const seqs = async (query: string) =>
      ((await call(app, 'GET', `/api/events/recorded?${query}`)).json.events as AnyEvent[]).map((e) => e.seq)
    assert.deepEqual(await seqs('node=web-2'), [2, 3])
    assert.deepEqual(await seqs('after=2'), [3, 4])
    assert.deepEqual(await seqs('limit=1&after=1'), [2])
    assert.deepEqual(await seqs('types=worker:exit&worker=email%231'), [1, 4])
    assert.deepEqual(await seqs('types=incident:'), [2], 'a prefix ending in ":"')
    assert.deepEqual(store.eventQueries.slice(0, 6), [
      { limit: 100 },
      { limit: 100, node: 'web-2' },
      { limit: 100, afterSeq: 2 },
      { limit: 1, afterSeq: 1 },
      { limit: 100, types: ['worker:exit'], workerId: 'email#1' },
      { limit: 100, types: EVENT_TYPES.filter((t) => t.startsWith('incident:')) },
    ])
    await expectError(
      app,
      'GET',
      '/api/events/recorded?types=worker:nope',
      400,
      'SHEPHERD_BAD_REQUEST',
      'query.types: "worker:nope" is no event type nor a prefix of one',
    )
    await expectError(
      app,
      'GET',
      '/api/events/recorded?after=-1',
      400,
      'SHEPHERD_BAD_REQUEST',
      'query.after: expected an event sequence number (an integer ≥ 0), got "-1"',
    )
    await expectError(app, 'GET', '/api/events/recorded?node=', 400, 'SHEPHERD_BAD_REQUEST', 'query.node')
  })
})

describe('GET /api/incidents/:id', () => {
  it('returns the incident with its timeline', async () => {
    const { app, store } = setup()
    const r = await call(app, 'GET', '/api/incidents/inc-a')
    assert.equal(r.status, 200)
    assert.deepEqual(r.json, { incident: store.incidents.find((i) => i.id === 'inc-a') })
  })

  it('answers 404 SHEPHERD_INCIDENT_NOT_FOUND', async () => {
    const { app } = setup()
    await expectError(app, 'GET', '/api/incidents/inc-zz', 404, 'SHEPHERD_INCIDENT_NOT_FOUND', '"inc-zz"')
  })
})

describe('query parameters: one rule for every API route', () => {
  const { app } = setup()
  // Every route behind the token (the API and /metrics; the dashboard's files take no query).
  const routes = app.routes.filter((r) => r.method !== 'ALL' && isProtectedPath(r.path))
  const at = (route: string) => route.replace(':id', 'email%231').replace(':queue', 'email')

  it('refuses an unknown parameter with 400 naming it, on every route, before anything else', async () => {
    assert.ok(routes.length >= 15, `found ${routes.length} routes`)
    for (const r of routes) {
      await expectError(
        app,
        r.method,
        `${at(r.path)}?bogus=1`,
        400,
        'SHEPHERD_BAD_REQUEST',
        'query.bogus: unknown parameter "bogus"',
        r.method === 'POST' ? '{}' : undefined,
      )
    }
  })

  it('says which parameters a route takes, or that it takes none', async () => {
    await expectError(
      app,
      'GET',
      '/api/workers?verbose=1',
      400,
      'SHEPHERD_BAD_REQUEST',
      /^query\.verbose: unknown parameter "verbose" \(this route takes none\)$/,
    )
    await expectError(
      app,
      'GET',
      '/api/incidents?pools=a',
      400,
      'SHEPHERD_BAD_REQUEST',
      /^query\.pools: unknown parameter "pools"; did you mean "pool"\?$/,
    )
  })

  it('refuses a parameter given twice, on every route that takes one', async () => {
    const cases: [string, string][] = [
      ['/api/incidents?limit=5&limit=5', 'query.limit: expected one value, got 2'],
      ['/api/queues/email/jobs?state=done&state=dead', 'query.state: expected one value, got 2'],
      ['/api/events?severity=info&types=job:&severity=warning', 'query.severity: expected one value, got 2'],
    ]
    for (const [url, message] of cases)
      await expectError(app, 'GET', url, 400, 'SHEPHERD_BAD_REQUEST', message)
    const e = await expectError(
      app,
      'GET',
      '/api/incidents?pool=a&pool=b&pool=c',
      400,
      'SHEPHERD_BAD_REQUEST',
      'query.pool: expected one value, got 3',
    )
    assert.deepEqual(e.details, { issues: [{ path: 'query.pool', message: 'expected one value, got 3' }] })
  })
})

describe('routing', () => {
  it('answers an unknown route with 404 SHEPHERD_NOT_FOUND', async () => {
    const { app } = setup()
    await expectError(app, 'GET', '/api/nope', 404, 'SHEPHERD_NOT_FOUND', 'no route GET /api/nope')
    await expectError(app, 'GET', '/nope', 404, 'SHEPHERD_NOT_FOUND', 'no route GET /nope')
    await expectError(app, 'POST', '/api/workers/email%232/stop', 404, 'SHEPHERD_NOT_FOUND', 'no route POST')
  })

  it('answers a known path with the wrong method with 405 and an Allow header', async () => {
    const { app, supervisor } = setup()
    const del = await call(app, 'DELETE', '/api/workers')
    assert.equal(del.status, 405)
    assert.equal(del.res.headers.get('allow'), 'GET, HEAD')
    assert.deepEqual(del.json, {
      error: {
        code: 'SHEPHERD_METHOD_NOT_ALLOWED',
        message: 'DELETE is not allowed on /api/workers; allowed: GET, HEAD',
      },
    })
    const get = await call(app, 'GET', '/api/workers/email%232/restart')
    assert.equal(get.status, 405)
    assert.equal(get.res.headers.get('allow'), 'POST')
    const put = await call(app, 'PUT', '/api/incidents/inc-a', '{}')
    assert.equal(put.status, 405)
    assert.equal(supervisor.restarts.length, 0)
  })

  it('serves HEAD wherever GET is served', async () => {
    const { app } = setup()
    const r = await app.request('/api/workers', { method: 'HEAD' })
    assert.equal(r.status, 200)
  })
})

describe('ApiClient against the app (in-process fetch)', () => {
  function client() {
    const s = setup()
    const fetchImpl: typeof fetch = async (input, init) =>
      s.app.request(input instanceof Request ? input : String(input), init)
    return { ...s, api: new ApiClient('http://127.0.0.1:7717/', fetchImpl) }
  }

  it('unwraps every route and percent-encodes worker ids', async () => {
    const { api, supervisor, store } = client()
    assert.equal(api.baseUrl, 'http://127.0.0.1:7717')
    assert.deepEqual(await api.health(), {
      ok: true,
      supervisor: INFO,
      store: { writable: true, problem: null, message: null, since: null, refused: 0 },
    })
    assert.deepEqual(await api.workers(), supervisor.workers)
    assert.equal((await api.worker('email#2')).id, 'email#2')
    assert.deepEqual(await api.restart('email#2', true), { incidentId: 'inc-1' })
    assert.deepEqual(await api.restart('email#1'), { incidentId: 'inc-2' })
    assert.deepEqual(
      supervisor.restarts.map((r) => [r.id, r.request.hard]),
      [
        ['email#2', true],
        ['email#1', false],
      ],
    )
    assert.deepEqual(
      (await api.incidents({ limit: 5, worker: 'email#1' })).map((i) => i.id),
      ['inc-b'],
    )
    assert.equal((await api.incidents()).length, 50)
    assert.equal((await api.incident('inc-a')).id, 'inc-a')
    assert.deepEqual(store.queries, [{ limit: 5, workerId: 'email#1' }, { limit: 50 }])
  })

  it('turns an API error body into a ShepherdError with its code, message and details', async () => {
    const { api, supervisor } = client()
    await assert.rejects(api.worker('email#9'), (e: unknown) => {
      assert.ok(e instanceof ShepherdError)
      assert.equal(e.code, 'SHEPHERD_WORKER_NOT_FOUND')
      assert.equal(e.message, 'no worker has id "email#9"')
      return true
    })
    supervisor.failWith = new ShepherdError(
      'SHEPHERD_RECOVERY_IN_PROGRESS',
      'email#2 is already being recovered',
    )
    await assert.rejects(api.restart('email#2', false), { code: 'SHEPHERD_RECOVERY_IN_PROGRESS' })
    await assert.rejects(api.incidents({ limit: 0 }), (e: unknown) => {
      assert.ok(e instanceof ShepherdError)
      assert.equal(e.code, 'SHEPHERD_BAD_REQUEST')
      assert.deepEqual(e.details, {
        issues: [{ path: 'query.limit', message: 'expected an integer from 1 to 1000, got "0"' }],
      })
      return true
    })
  })

  it('keeps an error code it does not know in the message', async () => {
    const fetchImpl: typeof fetch = async () =>
      Response.json(
        { error: { code: 'SHEPHERD_FROM_THE_FUTURE', message: 'a newer supervisor' } },
        { status: 418 },
      )
    await assert.rejects(new ApiClient('http://127.0.0.1:7717', fetchImpl).workers(), {
      code: 'SHEPHERD_INTERNAL',
      message: 'SHEPHERD_FROM_THE_FUTURE: a newer supervisor',
    })
  })

  it('says "no supervisor answers" when the connection is refused', async () => {
    const refused: typeof fetch = async () => {
      const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7717'), { code: 'ECONNREFUSED' })
      throw new TypeError('fetch failed', { cause })
    }
    await assert.rejects(new ApiClient('http://127.0.0.1:7717', refused).workers(), {
      code: 'SHEPHERD_SUPERVISOR_UNREACHABLE',
      message: 'no supervisor answers at http://127.0.0.1:7717 (is `shepherd start -c FILE` running?)',
    })
  })

  it('tells a supervisor that does not answer in time, and something that is not a supervisor', async () => {
    // AbortSignal.timeout's timer does not hold the event loop open (a real socket would): this one does.
    const hang: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        const keepAlive = setTimeout(() => reject(new Error('the client never timed out')), 10_000)
        init?.signal?.addEventListener('abort', () => {
          clearTimeout(keepAlive)
          reject(init.signal?.reason)
        })
      })
    await assert.rejects(new ApiClient('http://127.0.0.1:7717', hang, { timeoutMs: 20 }).workers(), {
      code: 'SHEPHERD_SUPERVISOR_UNREACHABLE',
      message: 'the supervisor at http://127.0.0.1:7717 did not answer within 20 ms',
    })
    const html: typeof fetch = async () => new Response('<html>hello</html>', { status: 200 })
    await assert.rejects(new ApiClient('http://127.0.0.1:7717', html).workers(), {
      code: 'SHEPHERD_SUPERVISOR_UNREACHABLE',
      message:
        'something answers at http://127.0.0.1:7717 (HTTP 200 to GET /api/workers) but it is not a Shepherd supervisor',
    })
  })

  it('refuses api.port 0, which no client can find', async () => {
    await assert.rejects(new ApiClient(apiBaseUrl({ api: { host: '127.0.0.1', port: 0 } })).workers(), {
      code: 'SHEPHERD_SUPERVISOR_UNREACHABLE',
      message: /api\.port is 0/,
    })
  })

  it('builds the base URL from config.api, bracketing IPv6', () => {
    assert.equal(apiBaseUrl({ api: { host: '127.0.0.1', port: 7717 } }), 'http://127.0.0.1:7717')
    assert.equal(apiBaseUrl({ api: { host: '::1', port: 7717 } }), 'http://[::1]:7717')
    assert.equal(apiBaseUrl({ api: { host: 'localhost', port: 80 } }), 'http://localhost:80')
  })
})

// ---- queues and jobs: a real SQLite store in a temp dir ---------------------------------------

const T0 = 1_800_000_000_000

const QUEUE_CONFIG = [
  'queues:',
  '  email: { max_attempts: 5, timeout: 30s }',
  '  billing: {}',
  'workers:',
  '  email: { command: node, args: [email.js], queue: email }',
  '  reports: { command: node, args: [reports.js], queue: reports }',
  '  cron: { command: node, args: [cron.js] }',
  '',
].join('\n')

interface QueueSetup {
  app: ReturnType<typeof createHttpApp>
  store: Store
  supervisor: FakeSupervisor
  /** The dispatcher's wakes since the last call: the store's, after each commit that put jobs in a queue. */
  wakes: () => number
  clock: FakeClock
  config: Config
}

async function queueSetup(t: TestContext): Promise<QueueSetup> {
  const dir = mkdtempSync(path.join(tmpdir(), 'shepherd-http-'))
  const store = await openStore(path.join(dir, 'shepherd.db'))
  t.after(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const { config } = loadConfigText(QUEUE_CONFIG, path.join(dir, 'shepherd.yaml'))
  const clock = new FakeClock(T0)
  const supervisor = new FakeSupervisor([])
  const app = createHttpApp({ supervisor, store, config, clock })
  let wakes = 0
  store.jobs.watch(() => void wakes++)
  const since = (): number => {
    const n = wakes
    wakes = 0
    return n
  }
  return { app, store, supervisor, clock, config, wakes: since }
}

/** Each job these helpers add outranks every earlier one, so that the next claim takes it. */
let nextPriority = 1_000_000

/** Adds a job, claims it, and settles it with a handler error: dead-lettered (maxAttempts 1). */
async function makeDead(s: QueueSetup, queue: string, id: string): Promise<void> {
  await s.store.jobs.add(
    [{ queue, id, payload: { id }, maxAttempts: 1, priority: nextPriority++ }],
    s.clock.now(),
    () => ({
      maxAttempts: 1,
      timeoutMs: null,
    }),
  )
  const [d] = await s.store.jobs.claim(queue, 1, `${queue}#1`, s.clock.now())
  assert.equal(d?.job.id, id)
  const policy = () => jobPolicy(queueSettings(s.config, queue), 0)
  const [r] = await s.store.jobs.settle(
    [{ kind: 'fail', token: d.token, error: `boom ${id}` }],
    s.clock.now(),
    policy,
    () => 0.5,
  )
  assert.equal(r?.outcome, 'dead')
}

/** Adds a job, claims it and crashes its worker until it is quarantined (poison_threshold, 3 by default). */
async function makeQuarantined(s: QueueSetup, queue: string, id: string): Promise<void> {
  await s.store.jobs.add([{ queue, id, payload: { id }, priority: nextPriority++ }], s.clock.now(), () => ({
    maxAttempts: 3,
    timeoutMs: null,
  }))
  const policy = () => jobPolicy(queueSettings(s.config, queue), 0)
  for (;;) {
    const [d] = await s.store.jobs.claim(queue, 1, `${queue}#1`, s.clock.now())
    assert.equal(d?.job.id, id)
    const [r] = await s.store.jobs.settle(
      [{ kind: 'crash', token: d.token }],
      s.clock.now(),
      policy,
      () => 0.5,
    )
    if (r?.outcome === 'quarantined') return
    assert.equal(r?.outcome, 'requeued')
  }
}

async function stateOf(store: Store, id: string): Promise<string | undefined> {
  return (await store.jobs.getJob(id))?.state
}

async function jobCount(store: Store, now: number): Promise<number> {
  const all = await store.jobs.counts(now)
  return all.reduce(
    (n, c) => n + c.waiting + c.delayed + c.inFlight + c.done + c.deadLettered + c.quarantined,
    0,
  )
}

const JOB_KEYS = 'id, idempotencyKey, delay, priority, maxAttempts, timeout, payload'

describe('POST /api/queues/:queue/jobs', () => {
  it('adds one job with its options and the queue’s defaults, answers 201, and wakes the supervisor', async (t) => {
    const s = await queueSetup(t)
    const body = JSON.stringify({
      payload: { to: 'a@example.com' },
      idempotencyKey: 'welcome:42',
      delay: '30s',
      priority: 5,
    })
    const r = await call(s.app, 'POST', '/api/queues/email/jobs', body)
    assert.equal(r.status, 201, JSON.stringify(r.json))
    const [added] = (r.json as { jobs: AddResult[] }).jobs
    assert.equal(added?.added, true)
    assert.deepEqual(Object.keys(r.json), ['jobs'])
    const job = await s.store.jobs.getJob(added!.id)
    assert.deepEqual(
      {
        queue: job?.queue,
        payload: job?.payload,
        state: job?.state,
        priority: job?.priority,
        runAt: job?.runAt,
        maxAttempts: job?.maxAttempts,
        timeoutMs: job?.timeoutMs,
        idempotencyKey: job?.idempotencyKey,
      },
      {
        queue: 'email',
        payload: { to: 'a@example.com' },
        state: 'waiting',
        priority: 5,
        runAt: T0 + 30_000,
        maxAttempts: 5,
        timeoutMs: 30_000,
        idempotencyKey: 'welcome:42',
      },
    )
    assert.equal(s.wakes(), 1)
  })

  it('answers a duplicate (same key, or same id) with added: false and the existing id, and wakes no one', async (t) => {
    const s = await queueSetup(t)
    const first = await call(s.app, 'POST', '/api/queues/email/jobs', '{"payload":1,"idempotencyKey":"k"}')
    const again = await call(s.app, 'POST', '/api/queues/email/jobs', '{"payload":2,"idempotencyKey":"k"}')
    assert.equal(again.status, 201)
    assert.deepEqual(again.json, {
      jobs: [{ id: (first.json as { jobs: AddResult[] }).jobs[0]!.id, added: false }],
    })
    await call(s.app, 'POST', '/api/queues/email/jobs', '{"payload":1,"id":"j-1"}')
    const byId = await call(s.app, 'POST', '/api/queues/email/jobs', '{"payload":3,"id":"j-1"}')
    assert.deepEqual(byId.json, { jobs: [{ id: 'j-1', added: false }] })
    assert.equal((await s.store.jobs.getJob('j-1'))?.payload, 1, 'the existing job is left as it was')
    assert.equal(s.wakes(), 2)
  })

  it('adds a batch in order, with duplicates inside it, each queue with its own defaults', async (t) => {
    const s = await queueSetup(t)
    const body = JSON.stringify({
      jobs: [
        { payload: 'a', id: 'a' },
        { payload: 'b', idempotencyKey: 'b', maxAttempts: 9, timeout: 2000 },
        { payload: 'b again', idempotencyKey: 'b' },
        { payload: null, id: 'c', delay: 1500 },
      ],
    })
    const r = await call(s.app, 'POST', '/api/queues/reports/jobs', body)
    assert.equal(r.status, 201, JSON.stringify(r.json))
    const jobs = (r.json as { jobs: AddResult[] }).jobs
    assert.deepEqual(
      jobs.map((j) => j.added),
      [true, true, false, true],
    )
    assert.equal(jobs[0]!.id, 'a')
    assert.equal(jobs[2]!.id, jobs[1]!.id, 'a duplicate answers with the id of the job that has the key')
    const a = await s.store.jobs.getJob('a')
    assert.deepEqual(
      [a?.maxAttempts, a?.timeoutMs],
      [3, null],
      'reports has no queues: entry: schema defaults',
    )
    const b = await s.store.jobs.getJob(jobs[1]!.id)
    assert.deepEqual([b?.maxAttempts, b?.timeoutMs, b?.payload], [9, 2000, 'b'])
    assert.equal((await s.store.jobs.getJob('c'))?.runAt, T0 + 1500)
    assert.equal(s.wakes(), 1, 'one wake-up per request')
  })

  it('takes a batch of exactly 1000 and refuses 1001 or none, adding nothing', async (t) => {
    const s = await queueSetup(t)
    const batch = (n: number) =>
      JSON.stringify({ jobs: Array.from({ length: n }, (_, i) => ({ payload: i })) })
    const over = await expectError(
      s.app,
      'POST',
      '/api/queues/email/jobs',
      400,
      'SHEPHERD_BAD_REQUEST',
      /^body\.jobs: expected at most 1000 item\(s\), got 1001$/,
      batch(1001),
    )
    assert.deepEqual(over.details, {
      issues: [{ path: 'body.jobs', message: 'expected at most 1000 item(s), got 1001' }],
    })
    await expectError(
      s.app,
      'POST',
      '/api/queues/email/jobs',
      400,
      'SHEPHERD_BAD_REQUEST',
      'body.jobs: expected at least 1 item(s), got 0',
      batch(0),
    )
    assert.equal(await jobCount(s.store, T0), 0)
    const ok = await call(s.app, 'POST', '/api/queues/email/jobs', batch(1000))
    assert.equal(ok.status, 201)
    assert.equal((ok.json as { jobs: AddResult[] }).jobs.length, 1000)
    assert.equal(await jobCount(s.store, T0), 1000)
  })

  it('refuses a bad job of a batch naming its index and field, and adds none of the batch', async (t) => {
    const s = await queueSetup(t)
    const body = JSON.stringify({
      jobs: [{ payload: 1 }, { payload: 2, priority: 1.5 }, { payload: 3, delay: 'soon', x: 1 }],
    })
    const e = await expectError(
      s.app,
      'POST',
      '/api/queues/email/jobs',
      400,
      'SHEPHERD_BAD_REQUEST',
      'body.jobs[1].priority: expected an integer, got 1.5 (number)',
      body,
    )
    assert.deepEqual(
      (e.details as { issues: { path: string }[] }).issues.map((i) => i.path),
      ['body.jobs[1].priority', 'body.jobs[2].delay', 'body.jobs[2].x'],
    )
    assert.match(e.message as string, /body\.jobs\[2\]\.x: unknown key "x" \(known: id, idempotencyKey/)
    assert.equal(await jobCount(s.store, T0), 0)
    assert.equal(s.wakes(), 0)
  })

  it('refuses malformed JSON, an unknown key, a missing payload and a bad option, with reasons', async (t) => {
    const s = await queueSetup(t)
    const post = (body: string, message: string | RegExp) =>
      expectError(s.app, 'POST', '/api/queues/email/jobs', 400, 'SHEPHERD_BAD_REQUEST', message, body)
    await post('{"payload": 1', /^body is not valid JSON$/)
    await post('{"payload":1,"priorty":2}', 'body.priorty: unknown key "priorty"; did you mean "priority"?')
    await post('{"payload":1,"urgent":true}', `body.urgent: unknown key "urgent" (known: ${JOB_KEYS})`)
    await post('{"jobs":[{"payload":1}],"extra":true}', 'body.extra: unknown key "extra" (known: jobs)')
    await post('{"to":"a"}', 'body.payload: required: expected a JSON value')
    await post('', 'body.payload: required: expected a JSON value')
    await post('{"payload":1,"maxAttempts":0}', 'body.maxAttempts: expected a number ≥ 1, got 0 (number)')
    await post(
      '{"payload":1,"delay":"soon"}',
      'body.delay: expected milliseconds as a number, or a duration with its unit',
    )
    await post('{"payload":1,"id":""}', 'body.id: expected at least 1 character(s), got "" (string)')
    await post('[{"payload":1}]', 'body: expected a JSON object, got an array')
    await post('{"jobs":{"payload":1}}', 'body.jobs: expected a list, got an object')
    assert.equal(await jobCount(s.store, T0), 0)
  })

  it('refuses a payload nested deeper than 64 levels with 400 naming the field, before anything recurses on it', async (t) => {
    const s = await queueSetup(t)
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)
    // 2,000 levels in 4 KB: once a 500 with a stack.
    await expectError(
      s.app,
      'POST',
      '/api/queues/email/jobs',
      400,
      'SHEPHERD_BAD_REQUEST',
      'body.payload: expected JSON nested at most 64 levels deep, got deeper',
      `{"payload":${nested(2000)}}`,
    )
    await expectError(
      s.app,
      'POST',
      '/api/queues/email/jobs',
      400,
      'SHEPHERD_BAD_REQUEST',
      'body.jobs[1].payload: expected JSON nested at most 64 levels deep, got deeper',
      `{"jobs":[{"payload":1},{"payload":{"a":${nested(64)}}}]}`,
    )
    // 50,000 levels: past what JSON.parse itself can take.
    await expectError(
      s.app,
      'POST',
      '/api/queues/email/jobs',
      400,
      'SHEPHERD_BAD_REQUEST',
      'body.payload: expected JSON nested at most 64 levels deep, got deeper',
      `{"payload":${nested(30_000)}}`,
    )
    assert.equal(await jobCount(s.store, T0), 0)
    const ok = await call(s.app, 'POST', '/api/queues/email/jobs', `{"payload":${nested(64)}}`)
    assert.equal(ok.status, 201, JSON.stringify(ok.json))
  })

  it('takes a delay or a timeout up to 3650 days and refuses a longer one, naming the field and the limit', async (t) => {
    const s = await queueSetup(t)
    const r = await call(
      s.app,
      'POST',
      '/api/queues/email/jobs',
      '{"payload":1,"delay":"400d","timeout":"30d"}',
    )
    assert.equal(r.status, 201, JSON.stringify(r.json))
    const job = await s.store.jobs.getJob((r.json as { jobs: AddResult[] }).jobs[0]!.id)
    assert.equal(job?.runAt, T0 + 400 * 86_400_000)
    assert.equal(job?.timeoutMs, 30 * 86_400_000)
    const post = (body: string, message: string) =>
      expectError(s.app, 'POST', '/api/queues/email/jobs', 400, 'SHEPHERD_BAD_REQUEST', message, body)
    await post('{"payload":1,"delay":"3651d"}', 'body.delay: expected at most 3650d, got "3651d" (string)')
    await post('{"payload":1,"timeout":1e300}', 'body.timeout: expected at most 3650d, got 1e+300 (number)')
    await post(
      '{"payload":1,"delay":315400000001}',
      'body.delay: expected at most 3650d, got 315400000001 (number)',
    )
  })

  it('refuses a bad queue name in the path', async (t) => {
    const s = await queueSetup(t)
    const e = await expectError(
      s.app,
      'POST',
      '/api/queues/e%20mail/jobs',
      400,
      'SHEPHERD_BAD_REQUEST',
      'path.queue: expected a queue name of letters, digits, "_", "." or "-", got "e mail" (string)',
      '{"payload":1}',
    )
    assert.deepEqual((e.details as { issues: { path: string }[] }).issues[0]?.path, 'path.queue')
    assert.equal(await jobCount(s.store, T0), 0)
  })

  it('answers 413 for a body over 64 KiB', async (t) => {
    const s = await queueSetup(t)
    const big = JSON.stringify({ payload: 'x'.repeat(API_BODY_LIMIT) })
    await expectError(
      s.app,
      'POST',
      '/api/queues/email/jobs',
      413,
      'SHEPHERD_PAYLOAD_TOO_LARGE',
      'body is too large',
      big,
    )
    assert.equal(await jobCount(s.store, T0), 0)
  })

  it('enqueues with one call of the store and nothing else: no read, no event, no call of the supervisor', async (t) => {
    const s = await queueSetup(t)
    // What the route asks of the store and of the supervisor, each call by name.
    const calls: string[] = []
    const counting = <T extends object>(target: T, name: string): T =>
      new Proxy(target, {
        get(obj, key) {
          const value: unknown = Reflect.get(obj, key, obj)
          if (key === 'jobs' && name === 'store') return counting(value as object, 'jobs')
          if (typeof value !== 'function') return value
          return (...args: unknown[]) => {
            calls.push(`${name}.${String(key)}`)
            return (value as (...a: unknown[]) => unknown).apply(obj, args)
          }
        },
      })
    const app = createHttpApp({
      supervisor: counting(s.supervisor, 'supervisor'),
      store: counting(s.store, 'store'),
      config: s.config,
      clock: s.clock,
    })
    const r = await call(app, 'POST', '/api/queues/email/jobs', '{"payload":1}')
    assert.equal(r.status, 201, JSON.stringify(r.json))
    const batch = await call(app, 'POST', '/api/queues/email/jobs', '{"jobs":[{"payload":2},{"payload":3}]}')
    assert.equal(batch.status, 201, JSON.stringify(batch.json))
    assert.deepEqual(calls, ['jobs.add', 'jobs.add'])
    assert.equal(s.wakes(), 2, "the store's wake, one per add, is the dispatcher's")
  })
})

describe('GET /api/queues', () => {
  it('lists every queue with jobs and every queue the config names, with zeros, by name', async (t) => {
    const s = await queueSetup(t)
    assert.deepEqual(configuredQueues(s.config), ['billing', 'email', 'reports'])
    const empty = await call(s.app, 'GET', '/api/queues')
    assert.equal(empty.status, 200)
    assert.deepEqual(empty.json, {
      queues: [zeroCounts('billing'), zeroCounts('email'), zeroCounts('reports')],
    })

    await call(
      s.app,
      'POST',
      '/api/queues/email/jobs',
      '{"jobs":[{"payload":1},{"payload":2,"delay":60000}]}',
    )
    await call(s.app, 'POST', '/api/queues/adhoc/jobs', '{"payload":1}')
    await makeDead(s, 'email', 'dead-1')
    s.clock.advance(2_000)
    const r = await call(s.app, 'GET', '/api/queues')
    assert.deepEqual(r.json, {
      queues: [
        { ...zeroCounts('adhoc'), waiting: 1, oldestWaitingMs: 2_000 },
        zeroCounts('billing'),
        { ...zeroCounts('email'), waiting: 1, delayed: 1, deadLettered: 1, oldestWaitingMs: 2_000 },
        zeroCounts('reports'),
      ],
    })
  })
})

describe('GET /api/queues/:queue/jobs and GET /api/jobs/:id', () => {
  async function seeded(t: TestContext) {
    const s = await queueSetup(t)
    await call(
      s.app,
      'POST',
      '/api/queues/email/jobs',
      JSON.stringify({
        jobs: [
          { payload: 1, id: 'due' },
          { payload: 2, id: 'later', delay: 60_000 },
        ],
      }),
    )
    await makeDead(s, 'email', 'dead-1')
    await makeQuarantined(s, 'email', 'poison-1')
    return s
  }

  it('lists the queue’s jobs newest first, filtered by state and limited', async (t) => {
    const s = await seeded(t)
    const ids = async (query: string) => {
      const r = await call(s.app, 'GET', `/api/queues/email/jobs${query}`)
      assert.equal(r.status, 200, JSON.stringify(r.json))
      return (r.json as { jobs: Job[] }).jobs.map((j) => j.id)
    }
    assert.deepEqual(await ids(''), ['poison-1', 'dead-1', 'later', 'due'])
    assert.deepEqual(await ids('?state=waiting'), ['due'])
    assert.deepEqual(await ids('?state=delayed'), ['later'])
    assert.deepEqual(await ids('?state=dead'), ['dead-1'])
    assert.deepEqual(await ids('?state=quarantined'), ['poison-1'])
    assert.deepEqual(await ids('?state=done'), [])
    assert.deepEqual(await ids('?state=active'), [])
    assert.deepEqual(await ids('?state=failed'), [])
    assert.deepEqual(await ids('?limit=2'), ['poison-1', 'dead-1'])
    assert.deepEqual(await ids('?state=waiting&limit=1000'), ['due'])
    const none = await call(s.app, 'GET', '/api/queues/nothing-here/jobs')
    assert.deepEqual(none.json, { jobs: [] })
  })

  it('refuses a bad state, a bad limit, an unknown parameter and a bad queue name', async (t) => {
    const s = await seeded(t)
    const get = (url: string, message: string) =>
      expectError(s.app, 'GET', url, 400, 'SHEPHERD_BAD_REQUEST', message)
    await get(
      '/api/queues/email/jobs?state=nope',
      'query.state: expected one of "waiting", "delayed", "active", "done", "failed", "dead", "quarantined", got "nope" (string)',
    )
    await get('/api/queues/email/jobs?limit=0', 'query.limit: expected an integer from 1 to 1000, got "0"')
    await get(
      '/api/queues/email/jobs?limit=1001',
      'query.limit: expected an integer from 1 to 1000, got "1001"',
    )
    await get(
      '/api/queues/email/jobs?states=dead',
      'query.states: unknown parameter "states"; did you mean "state"?',
    )
    await get('/api/queues/e!mail/jobs', 'path.queue: expected a queue name')
  })

  it('returns one job whole, and 404 SHEPHERD_JOB_NOT_FOUND for an unknown id', async (t) => {
    const s = await seeded(t)
    const r = await call(s.app, 'GET', '/api/jobs/dead-1')
    assert.equal(r.status, 200)
    assert.deepEqual(r.json, { job: await s.store.jobs.getJob('dead-1') })
    assert.equal((r.json as { job: Job }).job.lastError, 'boom dead-1')
    await expectError(s.app, 'GET', '/api/jobs/nope', 404, 'SHEPHERD_JOB_NOT_FOUND', 'no job has id "nope"')
  })
})

describe('POST /api/queues/:queue/retry and /purge', () => {
  it('retries dead jobs (all, or by id), quarantined ones, and wakes the supervisor only when some moved', async (t) => {
    const s = await queueSetup(t)
    await makeDead(s, 'email', 'dead-1')
    await makeDead(s, 'email', 'dead-2')
    await makeDead(s, 'email', 'dead-3')
    await makeQuarantined(s, 'email', 'poison-1')
    s.wakes()
    const retry = async (body: unknown) => {
      const r = await call(s.app, 'POST', '/api/queues/email/retry', JSON.stringify(body))
      assert.equal(r.status, 200, JSON.stringify(r.json))
      return r.json
    }
    assert.deepEqual(await retry({ from: 'dead', ids: ['dead-1', 'poison-1', 'unknown'] }), { retried: 1 })
    assert.equal(await stateOf(s.store, 'dead-1'), 'waiting')
    assert.equal(await stateOf(s.store, 'poison-1'), 'quarantined', 'only jobs of the state named')
    assert.equal(s.wakes(), 1)
    assert.deepEqual(await retry({ from: 'dead' }), { retried: 2 })
    assert.deepEqual(await retry({ from: 'dead' }), { retried: 0 })
    assert.equal(s.wakes(), 1, 'no wake-up for nothing')
    assert.deepEqual(await retry({ from: 'quarantined' }), { retried: 1 })
    const poison = await s.store.jobs.getJob('poison-1')
    assert.deepEqual([poison?.state, poison?.crashes, poison?.attempts], ['waiting', 0, 0])
  })

  it('purges dead, quarantined and done jobs of the queue (all, or by id)', async (t) => {
    const s = await queueSetup(t)
    await makeDead(s, 'email', 'dead-1')
    await makeDead(s, 'email', 'dead-2')
    await makeDead(s, 'reports', 'dead-r')
    await makeQuarantined(s, 'email', 'poison-1')
    s.wakes()
    const purge = async (body: unknown) => {
      const r = await call(s.app, 'POST', '/api/queues/email/purge', JSON.stringify(body))
      assert.equal(r.status, 200, JSON.stringify(r.json))
      return r.json
    }
    assert.deepEqual(await purge({ state: 'dead', ids: ['dead-1', 'dead-r', 'poison-1'] }), { purged: 1 })
    assert.equal(await stateOf(s.store, 'dead-1'), undefined)
    assert.equal(await stateOf(s.store, 'dead-r'), 'dead', 'only jobs of the queue named')
    assert.deepEqual(await purge({ state: 'dead' }), { purged: 1 })
    assert.deepEqual(await purge({ state: 'quarantined' }), { purged: 1 })
    assert.deepEqual(await purge({ state: 'done' }), { purged: 0 })
    assert.equal(await stateOf(s.store, 'dead-r'), 'dead')
    assert.equal(s.wakes(), 0)
  })

  it('purges waiting jobs (by id, then all), never one in flight', async (t) => {
    const s = await queueSetup(t)
    const now = Date.now()
    await s.store.jobs.add(
      [
        { queue: 'email', id: 'w-1', payload: 1 },
        { queue: 'email', id: 'w-2', payload: 2, delay: 60_000 },
        { queue: 'email', id: 'busy', payload: 3, priority: 9 },
      ],
      now,
      () => ({ maxAttempts: 3, timeoutMs: null }),
    )
    await s.store.jobs.claim('email', 1, 'email#1', now)
    const purge = async (body: unknown) => {
      const r = await call(s.app, 'POST', '/api/queues/email/purge', JSON.stringify(body))
      assert.equal(r.status, 200, JSON.stringify(r.json))
      return r.json
    }
    assert.deepEqual(await purge({ state: 'waiting', ids: ['w-1', 'busy'] }), { purged: 1 })
    assert.deepEqual(await purge({ state: 'waiting' }), { purged: 1 })
    assert.equal(await stateOf(s.store, 'w-2'), undefined)
    assert.equal(await stateOf(s.store, 'busy'), 'active')
  })

  it('refuses bad bodies with their reasons and changes nothing', async (t) => {
    const s = await queueSetup(t)
    await makeDead(s, 'email', 'dead-1')
    s.wakes()
    const post = (url: string, body: string, message: string | RegExp) =>
      expectError(s.app, 'POST', url, 400, 'SHEPHERD_BAD_REQUEST', message, body)
    await post('/api/queues/email/retry', '', 'body.from: required: expected one of "dead", "quarantined"')
    await post(
      '/api/queues/email/retry',
      '{"from":"done"}',
      'body.from: expected one of "dead", "quarantined", got "done" (string)',
    )
    await post(
      '/api/queues/email/retry',
      '{"from":"dead","id":"x"}',
      'body.id: unknown key "id"; did you mean "ids"?',
    )
    await post(
      '/api/queues/email/retry',
      '{"from":"dead","ids":[]}',
      'body.ids: expected at least 1 item(s), got 0',
    )
    await post(
      '/api/queues/email/retry',
      '{"from":"dead","ids":"dead-1"}',
      'body.ids: expected a list, got "dead-1" (string)',
    )
    await post('/api/queues/email/retry', '{"from":', /^body is not valid JSON$/)
    await post(
      '/api/queues/email/purge',
      '{}',
      'body.state: required: expected one of "waiting", "dead", "quarantined", "done"',
    )
    await post(
      '/api/queues/email/purge',
      '{"state":"active"}',
      'body.state: expected one of "waiting", "dead", "quarantined", "done", got "active" (string)',
    )
    await post(
      '/api/queues/email/purge',
      '{"state":"dead","ids":[""]}',
      'body.ids[0]: expected at least 1 character(s)',
    )
    await post(
      '/api/queues/email/purge',
      '{"state":"dead","all":true}',
      'body.all: unknown key "all" (known: state, ids)',
    )
    await post('/api/queues/e%2Fmail/purge', '{"state":"dead"}', 'path.queue: expected a queue name')
    assert.equal(await stateOf(s.store, 'dead-1'), 'dead')
    assert.equal(s.wakes(), 0)
  })

  it('answers a wrong method on a queue route with 405 and the allowed ones', async (t) => {
    const s = await queueSetup(t)
    const del = await call(s.app, 'DELETE', '/api/queues/email/jobs')
    assert.equal(del.status, 405)
    assert.equal(del.res.headers.get('allow'), 'POST, GET, HEAD')
    const get = await call(s.app, 'GET', '/api/queues/email/purge')
    assert.equal(get.status, 405)
    assert.equal(get.res.headers.get('allow'), 'POST')
  })
})

describe('ApiClient queue methods against the app (in-process fetch)', () => {
  it('enqueues, lists, reads, retries and purges', async (t) => {
    const s = await queueSetup(t)
    const fetchImpl: typeof fetch = async (input, init) =>
      s.app.request(input instanceof Request ? input : String(input), init)
    const api = new ApiClient('http://127.0.0.1:7717', fetchImpl)

    const one = await api.enqueue('email', { payload: { to: 'a' }, id: 'one', delay: '1s' })
    assert.deepEqual(one, { id: 'one', added: true })
    assert.deepEqual(await api.enqueue('email', { payload: 'again', id: 'one' }), { id: 'one', added: false })
    const many = await api.enqueueMany('email', [
      { payload: 1, id: 'm1' },
      { payload: 2, idempotencyKey: 'k' },
    ])
    assert.deepEqual(
      many.map((r) => r.added),
      [true, true],
    )
    assert.deepEqual(
      (await api.jobs('email')).map((j) => j.id),
      [many[1]!.id, 'm1', 'one'],
    )
    assert.deepEqual(
      (await api.jobs('email', { state: 'delayed', limit: 5 })).map((j) => j.id),
      ['one'],
    )
    assert.equal((await api.job('m1')).payload, 1)
    const email = (await api.queues()).find((q) => q.queue === 'email')
    assert.deepEqual([email?.waiting, email?.delayed], [2, 1])

    await makeDead(s, 'email', 'dead-1')
    await makeQuarantined(s, 'email', 'poison-1')
    assert.equal(await api.retryJobs('email', 'dead', ['dead-1']), 1)
    assert.equal(await api.retryJobs('email', 'quarantined'), 1)
    await makeDead(s, 'email', 'dead-2')
    assert.equal(await api.purgeJobs('email', 'dead'), 1)
    assert.equal(await api.purgeJobs('email', 'done', ['m1']), 0)

    await assert.rejects(api.job('nope'), { code: 'SHEPHERD_JOB_NOT_FOUND', message: 'no job has id "nope"' })
    await assert.rejects(api.enqueue('e mail', { payload: 1 }), {
      code: 'SHEPHERD_BAD_REQUEST',
      message: 'path.queue: expected a queue name of letters, digits, "_", "." or "-", got "e mail" (string)',
    })
  })
})
