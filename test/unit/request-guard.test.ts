/**
 * What a web page can forge, refused in-process: Host names the API does not answer to (DNS
 * rebinding), Origins other than its own, and POSTs that do not say JSON. The real browser case
 * is test/browser/cross-site.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { createHttpApp } from '../../src/adapters/http/app.js'
import { hostName } from '../../src/adapters/http/request-guard.js'
import { FakeSupervisor, MemoryStore, workerView } from '../helpers/fakes.js'

function app(hosts?: { bindHost?: string; allowedHosts?: string[] }) {
  const supervisor = new FakeSupervisor([workerView('email#1')])
  return { supervisor, app: createHttpApp({ supervisor, store: new MemoryStore([]), hosts }) }
}

async function code(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { error?: { code: string } }
  return body.error?.code
}

const RESTART = 'http://127.0.0.1:7717/api/workers/email%231/restart'

describe('request guard', () => {
  it('reads the host name of a Host header', () => {
    assert.equal(hostName('[::1]:7717'), '::1')
    assert.equal(hostName('Example.COM:80'), 'example.com')
    assert.equal(hostName('localhost.'), 'localhost')
    assert.equal(hostName('127.0.0.1'), '127.0.0.1')
  })

  it('answers IP addresses, localhost, api.host and api.allowed_hosts, and refuses any other name with 403', async () => {
    const { app: a } = app({ bindHost: 'box.internal', allowedHosts: ['Proxy.Example'] })
    for (const host of [
      '127.0.0.1:7717',
      '[::1]:7717',
      'localhost:7717',
      '10.1.2.3',
      'box.internal:7717',
      'proxy.example',
    ]) {
      const res = await a.request('http://x/api/health', { headers: { host } })
      assert.equal(res.status, 200, host)
    }
    for (const host of ['evil.example:7717', 'localhost.evil.example', 'box.internal.evil.example']) {
      const res = await a.request('http://x/api/workers', { headers: { host } })
      assert.equal(res.status, 403, host)
      assert.equal(await code(res), 'SHEPHERD_HOST_NOT_ALLOWED')
    }
    // The dashboard's page too: a rebound name gets nothing.
    assert.equal((await a.request('http://x/', { headers: { host: 'evil.example' } })).status, 403)
  })

  it('refuses an Origin other than the API’s own, and null, on every method', async () => {
    const { app: a, supervisor } = app()
    const json = { 'content-type': 'application/json', host: '127.0.0.1:7717' }
    for (const origin of ['https://evil.example', 'http://127.0.0.1:8080', 'null']) {
      const res = await a.request(RESTART, { method: 'POST', headers: { ...json, origin }, body: '{}' })
      assert.equal(res.status, 403, origin)
      assert.equal(await code(res), 'SHEPHERD_ORIGIN_NOT_ALLOWED')
      const get = await a.request('http://127.0.0.1:7717/api/workers', {
        headers: { host: json.host, origin },
      })
      assert.equal(get.status, 403, origin)
    }
    assert.equal(supervisor.restarts.length, 0)
    const own = await a.request(RESTART, {
      method: 'POST',
      headers: { ...json, origin: 'http://127.0.0.1:7717' },
      body: '{}',
    })
    assert.equal(own.status, 202, 'the dashboard’s own origin')
  })

  it('refuses a POST that does not say application/json with 415, bodiless or form or text', async () => {
    const { app: a, supervisor } = app()
    for (const type of [
      undefined,
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type }
      const res = await a.request(RESTART, {
        method: 'POST',
        headers,
        body: type === undefined ? undefined : 'hard=true',
      })
      assert.equal(res.status, 415, String(type))
      assert.equal(await code(res), 'SHEPHERD_UNSUPPORTED_MEDIA_TYPE')
    }
    assert.equal(supervisor.restarts.length, 0)
    const ok = await a.request(RESTART, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
    })
    assert.equal(ok.status, 202)
  })
})
