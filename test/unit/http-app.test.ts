import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { Incident } from '../../src/core/incident.js'
import { type ErrorCode, ShepherdError } from '../../src/errors.js'
import { API_BODY_LIMIT, createHttpApp } from '../../src/http/app.js'
import { apiBaseUrl, ApiClient } from '../../src/http/client.js'
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
  const res = await app.request(path, { method, body, headers })
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
    assert.deepEqual(r.json, { ok: true, supervisor: INFO })
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
      'query.workers: unknown parameter "workers" (known: limit, worker, pool)',
    )
  })

  it('answers a store failure with its own code and status', async () => {
    const { app, store } = setup()
    store.failWith = new ShepherdError('SHEPHERD_STORE_OPEN_FAILED', 'cannot open /var/lib/shepherd.db')
    await expectError(app, 'GET', '/api/incidents', 500, 'SHEPHERD_STORE_OPEN_FAILED', 'cannot open')
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

describe('routing', () => {
  it('answers an unknown route with 404 SHEPHERD_NOT_FOUND', async () => {
    const { app } = setup()
    await expectError(app, 'GET', '/api/nope', 404, 'SHEPHERD_NOT_FOUND', 'no route GET /api/nope')
    await expectError(app, 'GET', '/', 404, 'SHEPHERD_NOT_FOUND', 'no route GET /')
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
    assert.deepEqual(await api.health(), { ok: true, supervisor: INFO })
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
