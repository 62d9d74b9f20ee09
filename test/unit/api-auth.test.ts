/**
 * API tokens: the config keys and their environment overrides, the loopback rule, and the
 * middleware in the app (in-process, `app.request()`): 401 without or with a wrong token, 403 for
 * the read token on a POST, 200 per scope, and `?access_token=` on GET /api/events only.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { createHttpApp } from '../../src/adapters/http/app.js'
import {
  API_READ_TOKEN_ENV,
  API_TOKEN_ENV,
  apiTokensFor,
  assertApiExposureAllowed,
  isLoopbackHost,
  isProtectedPath,
  resolveApiTokens,
  withoutApiTokens,
} from '../../src/adapters/http/auth.js'
import { apiBaseUrl, ApiClient, clientToken } from '../../src/adapters/http/client.js'
import { loadConfigText, validateConfigText } from '../../src/config/load.js'
import type { AnyEvent } from '../../src/core/events.js'
import { isShepherdError } from '../../src/errors.js'
import { FakeSupervisor, MemoryStore, workerView } from '../helpers/fakes.js'

const CONTROL = 'c0ntrol-t0ken-0123456789abcdef'
const READ = 'r3ad-0nly-t0ken-0123456789abcdef'

const WORKERS = 'workers:\n  w:\n    command: node\n'

type App = ReturnType<typeof createHttpApp>

function app(auth: { token?: string; readToken?: string } = { token: CONTROL, readToken: READ }) {
  const supervisor = new FakeSupervisor([workerView('email#1')])
  return { app: createHttpApp({ supervisor, store: new MemoryStore([]), auth }), supervisor }
}

async function send(
  a: App,
  method: string,
  path: string,
  token?: string,
  body?: string,
): Promise<{ status: number; json: { error?: { code: string; message: string } }; res: Response }> {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (method === 'POST') headers['content-type'] = 'application/json'
  const res = await a.request(path, { method, headers, body })
  const text = await res.text()
  let json = {}
  try {
    json = JSON.parse(text) as object
  } catch {
    // HEAD, and the dashboard's HTML
  }
  return { status: res.status, json, res }
}

describe('api config: host and tokens', () => {
  it('takes any hostname or IP address as api.host, 127.0.0.1 by default', () => {
    assert.equal(loadConfigText(WORKERS, '/x/s.yaml').config.api.host, '127.0.0.1')
    for (const host of [
      '0.0.0.0',
      '::',
      '10.1.2.3',
      'fe80::1',
      'shepherd.internal',
      'localhost',
      'db-1.example.com',
    ]) {
      const { config, problems } = validateConfigText(
        `api:\n  host: "${host}"\n  token: ${CONTROL}\n${WORKERS}`,
      )
      assert.ok(config, `${host}: ${JSON.stringify(problems)}`)
    }
  })

  it('refuses an api.host that is neither, with the reason', () => {
    for (const host of [
      'not a host',
      '[::1]',
      'http://0.0.0.0',
      '-bad.example',
      'a_b.example',
      '999.1.1.1',
      '10.0.0',
    ]) {
      const { problems } = validateConfigText(`api:\n  host: "${host}"\n${WORKERS}`)
      assert.equal(problems.length, 1, host)
      assert.equal(problems[0]!.path, 'api.host')
      assert.match(problems[0]!.message, /expected a hostname or an IP address/)
    }
    const { problems } = validateConfigText(`api:\n  host: "[::1]"\n${WORKERS}`)
    assert.match(problems[0]!.message, /without brackets/)
  })

  it('refuses a short token and says why, without quoting it', () => {
    const { problems } = validateConfigText(`api:\n  token: hunter2hunter2\n${WORKERS}`)
    assert.equal(problems.length, 1)
    assert.equal(problems[0]!.path, 'api.token')
    assert.equal(problems[0]!.line, 2)
    assert.match(problems[0]!.message, /at least 24 characters .*got 14 characters/)
    assert.ok(!problems[0]!.message.includes('hunter2'), problems[0]!.message)
  })

  it('refuses a token with spaces, and a read token equal to the control token', () => {
    const spaced = validateConfigText(`api:\n  token: "${'a b'.repeat(10)}"\n${WORKERS}`).problems
    assert.match(spaced[0]!.message, /printable ASCII without spaces/)
    const same = validateConfigText(
      `api:\n  token: ${CONTROL}\n  read_token: ${CONTROL}\n${WORKERS}`,
    ).problems
    assert.equal(same[0]!.path, 'api.read_token')
    assert.match(same[0]!.message, /one token cannot have two scopes/)
  })
})

describe('resolveApiTokens', () => {
  it('lets the environment override the config', () => {
    assert.deepEqual(resolveApiTokens({ token: CONTROL }, {}), { token: CONTROL })
    assert.deepEqual(resolveApiTokens({ token: CONTROL }, { [API_TOKEN_ENV]: `${CONTROL}-env` }), {
      token: `${CONTROL}-env`,
    })
    assert.deepEqual(resolveApiTokens({}, { [API_TOKEN_ENV]: CONTROL, [API_READ_TOKEN_ENV]: READ }), {
      token: CONTROL,
      readToken: READ,
    })
    // An empty variable is unset.
    assert.deepEqual(resolveApiTokens({ token: CONTROL }, { [API_TOKEN_ENV]: '' }), { token: CONTROL })
    assert.deepEqual(resolveApiTokens({}, {}), {})
  })

  it('holds an environment token to the rules of the key, naming the variable and not the value', () => {
    assert.throws(
      () => resolveApiTokens({}, { [API_TOKEN_ENV]: 'short-secret' }),
      (e: unknown) =>
        isShepherdError(e, 'SHEPHERD_CONFIG_INVALID') &&
        e.message.startsWith(
          `${API_TOKEN_ENV} (which overrides api.token): expected a token of at least 24`,
        ) &&
        !e.message.includes('short-secret'),
    )
  })

  it('refuses a read token without a control token, and two equal tokens', () => {
    assert.throws(() => resolveApiTokens({ read_token: READ }, {}), /without a control token/)
    assert.throws(
      () => resolveApiTokens({ token: CONTROL }, { [API_READ_TOKEN_ENV]: CONTROL }),
      /one token cannot have two scopes/,
    )
  })
})

describe('the loopback rule', () => {
  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1'])
      assert.ok(isLoopbackHost(h), h)
    for (const h of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '192.168.1.5',
      'fe80::1',
      'myhost',
      'localhost.example.com',
    ])
      assert.ok(!isLoopbackHost(h), h)
  })

  it('refuses a non-loopback host without a control token, and says what to do', () => {
    assert.doesNotThrow(() => assertApiExposureAllowed('127.0.0.1', {}))
    assert.doesNotThrow(() => assertApiExposureAllowed('0.0.0.0', { token: CONTROL }))
    assert.throws(
      () => assertApiExposureAllowed('0.0.0.0', {}, '/etc/shepherd.yaml'),
      (e: unknown) =>
        isShepherdError(e, 'SHEPHERD_API_TOKEN_REQUIRED') &&
        e.message.includes('api.host in /etc/shepherd.yaml is 0.0.0.0') &&
        e.message.includes(API_TOKEN_ENV) &&
        e.message.includes('bind api.host to 127.0.0.1'),
    )
    // A read token alone does not open a non-loopback address: nobody could act, but everyone could read.
    assert.throws(() => assertApiExposureAllowed('::', { readToken: READ }), /no API token is set/)
  })

  it('applies the environment before the rule', () => {
    const loaded = loadConfigText(`api:\n  host: 0.0.0.0\n${WORKERS}`, '/x/s.yaml')
    assert.throws(() => apiTokensFor(loaded, {}), { code: 'SHEPHERD_API_TOKEN_REQUIRED' })
    assert.deepEqual(apiTokensFor(loaded, { [API_TOKEN_ENV]: CONTROL }), { token: CONTROL })
  })

  it('keeps the tokens out of the environment workers and hooks inherit', () => {
    const env = { PATH: '/bin', [API_TOKEN_ENV]: CONTROL, [API_READ_TOKEN_ENV]: READ }
    assert.deepEqual(withoutApiTokens(env), { PATH: '/bin' })
    assert.equal(env[API_TOKEN_ENV], CONTROL, 'the original is left alone')
  })
})

describe('the auth middleware', () => {
  it('guards /api and /metrics, not the dashboard', () => {
    for (const p of ['/api', '/api/workers', '/api/openapi.json', '/metrics', '/metrics/x'])
      assert.ok(isProtectedPath(p), p)
    for (const p of ['/', '/dashboard/app.js', '/apix', '/favicon.svg']) assert.ok(!isProtectedPath(p), p)
  })

  it('answers 401 SHEPHERD_UNAUTHORIZED with WWW-Authenticate: Bearer when no token is sent', async () => {
    const { app: a, supervisor } = app()
    for (const [method, path] of [
      ['GET', '/api/workers'],
      ['HEAD', '/api/workers'],
      ['GET', '/api/nope'],
      ['GET', '/metrics'],
      ['GET', '/api/openapi.json'],
      ['POST', '/api/workers/email%231/restart'],
      ['DELETE', '/api/workers'],
      // Percent-encoding routes to the same handler, and is guarded the same way.
      ['GET', '/%61pi/workers'],
    ] as const) {
      const r = await send(a, method, path)
      assert.equal(r.status, 401, `${method} ${path}`)
      assert.equal(r.res.headers.get('www-authenticate'), 'Bearer realm="shepherd"')
      if (method !== 'HEAD') {
        assert.equal(r.json.error?.code, 'SHEPHERD_UNAUTHORIZED')
        assert.match(r.json.error!.message, /this API requires a token: send `Authorization: Bearer <token>`/)
      }
    }
    assert.equal(supervisor.restarts.length, 0)
  })

  it('answers 401 invalid_token for a wrong token, however close', async () => {
    const { app: a } = app()
    for (const wrong of [
      `${CONTROL}x`,
      CONTROL.slice(0, -1),
      `${CONTROL.slice(0, -1)}F`,
      'x'.repeat(CONTROL.length),
      READ.toUpperCase(),
    ]) {
      const r = await send(a, 'GET', '/api/workers', wrong)
      assert.equal(r.status, 401, wrong)
      assert.equal(r.json.error?.message, 'the token is not valid')
      assert.equal(r.res.headers.get('www-authenticate'), 'Bearer realm="shepherd", error="invalid_token"')
    }
    const basic = await a.request('/api/workers', {
      headers: { authorization: `Basic ${btoa(`u:${CONTROL}`)}` },
    })
    assert.equal(basic.status, 401)
    assert.match(basic.headers.get('www-authenticate')!, /error="invalid_request"/)
  })

  it('lets the read token GET and HEAD, and answers its POST with 403 SHEPHERD_FORBIDDEN', async () => {
    const { app: a, supervisor } = app()
    assert.equal((await send(a, 'GET', '/api/workers', READ)).status, 200)
    assert.equal((await send(a, 'HEAD', '/api/workers', READ)).status, 200)
    assert.equal((await send(a, 'GET', '/api/workers/email%231', READ)).status, 200)
    const post = await send(a, 'POST', '/api/workers/email%231/restart', READ, '{}')
    assert.equal(post.status, 403)
    assert.equal(post.json.error?.code, 'SHEPHERD_FORBIDDEN')
    assert.match(
      post.json.error!.message,
      /read-only: POST \/api\/workers\/email%231\/restart needs the control token/,
    )
    assert.equal(supervisor.restarts.length, 0)
  })

  it('lets the control token do everything', async () => {
    const { app: a, supervisor } = app()
    assert.equal((await send(a, 'GET', '/api/workers', CONTROL)).status, 200)
    const post = await send(a, 'POST', '/api/workers/email%231/restart', CONTROL, '{"hard":true}')
    assert.equal(post.status, 202)
    assert.deepEqual(supervisor.restarts, [{ id: 'email#1', request: { hard: true } }])
    // Past the token, the API answers as it always does.
    assert.equal((await send(a, 'GET', '/api/nope', CONTROL)).json.error?.code, 'SHEPHERD_NOT_FOUND')
    assert.equal((await send(a, 'GET', '/metrics', READ)).json.error?.code, 'SHEPHERD_NOT_FOUND')
  })

  it('takes the scheme in any case and the token with surrounding spaces', async () => {
    const { app: a } = app()
    const r = await a.request('/api/workers', { headers: { authorization: `bearer   ${READ} ` } })
    assert.equal(r.status, 200)
  })

  it('checks the token before the body limit: an unauthenticated client cannot make it read a body', async () => {
    const { app: a } = app()
    const big = JSON.stringify({ payload: 'x'.repeat(200_000) })
    assert.equal((await send(a, 'POST', '/api/queues/q/jobs', undefined, big)).status, 401)
    assert.equal((await send(a, 'POST', '/api/queues/q/jobs', READ, big)).status, 403)
    assert.equal((await send(a, 'POST', '/api/queues/q/jobs', CONTROL, big)).status, 413)
  })

  it('with a control token only, that token reads and acts, and nothing else does', async () => {
    const { app: a } = app({ token: CONTROL })
    assert.equal((await send(a, 'GET', '/api/workers', CONTROL)).status, 200)
    assert.equal((await send(a, 'GET', '/api/workers', READ)).status, 401)
  })

  it('without tokens asks for none (the daemon allows that on loopback only)', async () => {
    const { app: a } = app({})
    assert.equal((await send(a, 'GET', '/api/workers')).status, 200)
    assert.equal((await send(a, 'POST', '/api/workers/email%231/restart', undefined, '{}')).status, 202)
  })

  it('serves the dashboard page without a token', async () => {
    const { app: a } = app()
    const r = await a.request('/')
    assert.notEqual(r.status, 401)
    assert.equal(r.headers.get('www-authenticate'), null)
  })
})

describe('?access_token= on GET /api/events only', () => {
  const event: AnyEvent = {
    type: 'worker:state',
    at: 1,
    severity: 'info',
    message: 'email#1: starting → ready',
    pool: 'email',
    workerId: 'email#1',
    incidentId: null,
    data: { from: 'starting', to: 'ready', reason: 'ready', pid: 10 },
  }

  function eventsApp() {
    const supervisor = new FakeSupervisor([workerView('email#1')])
    return createHttpApp({
      supervisor,
      store: new MemoryStore([]),
      auth: { token: CONTROL, readToken: READ },
      // Every subscriber gets one event at once, so the stream has something to read.
      events: (listener) => {
        setImmediate(() => listener(event))
        return () => undefined
      },
    })
  }

  async function firstChunk(res: Response): Promise<string> {
    const reader = res.body!.getReader()
    const { value } = await reader.read()
    await reader.cancel()
    return new TextDecoder().decode(value)
  }

  it('streams with the read or the control token in the query', async () => {
    for (const token of [READ, CONTROL]) {
      const res = await eventsApp().request(
        `/api/events?access_token=${encodeURIComponent(token)}&types=worker:`,
      )
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
      assert.match(await firstChunk(res), /^event: worker:state\ndata: \{"type":"worker:state"/)
    }
  })

  it('refuses a wrong query token, and a header still wins over the query', async () => {
    const a = eventsApp()
    const wrong = await a.request(`/api/events?access_token=${'z'.repeat(30)}`)
    assert.equal(wrong.status, 401)
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'SHEPHERD_UNAUTHORIZED')
    const header = await a.request(`/api/events?access_token=${READ}`, {
      headers: { authorization: `Bearer ${'z'.repeat(30)}` },
    })
    assert.equal(header.status, 401)
  })

  it('is not taken anywhere else, and the refusal says so', async () => {
    const a = eventsApp()
    for (const path of ['/api/workers', '/api/openapi.json', '/metrics', '/api/events/x']) {
      const r = await send(a, 'GET', `${path}?access_token=${CONTROL}`)
      assert.equal(r.status, 401, path)
      assert.match(r.json.error!.message, /access_token in the query is taken by GET \/api\/events only/)
    }
  })
})

describe('ApiClient with a token', () => {
  it('sends it as a bearer token, and turns 401 and 403 into ShepherdErrors', async () => {
    const { app: a } = app()
    const fetchVia = async (input: string | URL | Request, init?: RequestInit) =>
      a.request(String(input), init)
    const base = 'http://127.0.0.1:7717'
    assert.equal((await new ApiClient(base, fetchVia, { token: READ }).workers()).length, 1)
    await assert.rejects(new ApiClient(base, fetchVia).workers(), { code: 'SHEPHERD_UNAUTHORIZED' })
    await assert.rejects(new ApiClient(base, fetchVia, { token: READ }).restart('email#1'), {
      code: 'SHEPHERD_FORBIDDEN',
    })
    assert.deepEqual(await new ApiClient(base, fetchVia, { token: CONTROL }).restart('email#1'), {
      incidentId: 'inc-1',
    })
  })

  it('prefers the control token, and reaches a wildcard bind on loopback', () => {
    assert.equal(clientToken({ token: CONTROL, readToken: READ }), CONTROL)
    assert.equal(clientToken({ readToken: READ }), READ)
    assert.equal(clientToken({}), undefined)
    assert.equal(apiBaseUrl({ api: { host: '0.0.0.0', port: 7717 } }), 'http://127.0.0.1:7717')
    assert.equal(apiBaseUrl({ api: { host: '::', port: 7717 } }), 'http://[::1]:7717')
    assert.equal(apiBaseUrl({ api: { host: '10.0.0.5', port: 7717 } }), 'http://10.0.0.5:7717')
  })
})
