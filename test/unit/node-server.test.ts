/**
 * serveHttp (src/adapters/http/node-server.ts) on a real socket: the app is made at the first
 * request, once, however many requests come while it is being made; one that cannot be made
 * answers 500.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { Hono } from 'hono'

import { serveHttp } from '../../src/adapters/http/node-server.js'

describe('serveHttp', () => {
  it('makes the app at the first request, once, and serves every request with it', async (t) => {
    let made = 0
    let release!: () => void
    const ready = new Promise<void>((r) => (release = r))
    const server = await serveHttp(
      async () => {
        made++
        await ready
        const app = new Hono()
        app.get('/ping', (c) => c.text('pong'))
        return app
      },
      { host: '127.0.0.1', port: 0 },
    )
    t.after(() => server.close())
    assert.equal(made, 0, 'listening makes nothing')
    const answers = Promise.all([fetch(`${server.url}/ping`), fetch(`${server.url}/ping`)])
    await new Promise((r) => setTimeout(r, 50))
    release()
    const texts = await Promise.all((await answers).map((r) => r.text()))
    assert.deepEqual(texts, ['pong', 'pong'])
    assert.equal(made, 1)
    assert.equal(await (await fetch(`${server.url}/ping`)).text(), 'pong')
    assert.equal(made, 1)
  })

  it('answers 500 when the app cannot be made', async (t) => {
    const server = await serveHttp(() => Promise.reject(new Error('no app')), { host: '127.0.0.1', port: 0 })
    t.after(() => server.close())
    assert.equal((await fetch(`${server.url}/ping`)).status, 500)
  })
})
