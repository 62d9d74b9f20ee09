/**
 * The API's body limit (src/adapters/http/body-limit.ts): judged from Content-Length without
 * touching the body stream, which on the Node server would build a web Request around the socket
 * for every POST; counted as it streams for a chunked body. Both through the real Node server too.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { describe, it } from 'node:test'

import { Hono } from 'hono'

import { bodyLimit } from '../../src/adapters/http/body-limit.js'
import { serveHttp } from '../../src/adapters/http/node-server.js'

const LIMIT = 100

/** An app whose one route answers the length of the body it read. */
function echoLength(): Hono {
  const app = new Hono()
  app.use(bodyLimit(LIMIT, (c) => c.text('too large', 413)))
  app.post('/echo', async (c) => c.text(String((await c.req.text()).length)))
  app.get('/echo', (c) => c.text('get'))
  return app
}

/** The reads of the body stream of requests made by {@link send}. */
let streamReads = 0

async function send(
  app: Hono,
  init: RequestInit,
): Promise<{ status: number; text: string; streamReads: number }> {
  const req = new Request('http://127.0.0.1/echo', init)
  const body = Object.getOwnPropertyDescriptor(Request.prototype, 'body')!.get!
  Object.defineProperty(req, 'body', {
    get() {
      streamReads++
      return body.call(req) as unknown
    },
  })
  streamReads = 0
  const res = await app.fetch(req)
  const reads = streamReads
  return { status: res.status, text: await res.text(), streamReads: reads }
}

/** A POST through the real Node server, with Content-Length or chunked. */
function post(url: string, body: string, chunked: boolean): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/echo`,
      {
        method: 'POST',
        headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      },
    )
    req.on('error', reject)
    if (chunked) for (let i = 0; i < body.length; i += 10) req.write(body.slice(i, i + 10))
    else req.write(body)
    req.end()
  })
}

describe('the API body limit', () => {
  it('judges a body with a Content-Length by its header, without opening the body stream', async () => {
    const app = echoLength()
    const fits = 'x'.repeat(LIMIT)
    const under = await send(app, {
      method: 'POST',
      body: fits,
      headers: { 'content-length': String(LIMIT) },
    })
    assert.equal(under.status, 200)
    assert.equal(under.text, String(LIMIT))
    const over = await send(app, {
      method: 'POST',
      body: `${fits}x`,
      headers: { 'content-length': String(LIMIT + 1) },
    })
    assert.deepEqual([over.status, over.text], [413, 'too large'])
    const get = await send(app, { method: 'GET' })
    assert.deepEqual([get.status, get.text], [200, 'get'])
    // Request bodies streamed in: every one of these opened the stream in Hono's bodyLimit alone.
    assert.deepEqual([under.streamReads, over.streamReads, get.streamReads], [0, 0, 0])
  })

  it('counts a body without a Content-Length as it streams in', async () => {
    const app = echoLength()
    const stream = (s: string) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode(s))
          c.close()
        },
      })
    const init = (s: string): RequestInit =>
      ({ method: 'POST', body: stream(s), duplex: 'half' }) as RequestInit
    assert.equal((await send(app, init('x'.repeat(LIMIT)))).text, String(LIMIT))
    assert.equal((await send(app, init('x'.repeat(LIMIT + 1)))).status, 413)
  })

  it('holds on the Node server, with Content-Length and chunked', async (t) => {
    const server = await serveHttp(echoLength, { host: '127.0.0.1', port: 0 })
    t.after(() => server.close())
    for (const chunked of [false, true]) {
      assert.deepEqual(await post(server.url, 'y'.repeat(LIMIT), chunked), {
        status: 200,
        text: String(LIMIT),
      })
      assert.deepEqual(await post(server.url, 'y'.repeat(LIMIT + 1), chunked), {
        status: 413,
        text: 'too large',
      })
    }
  })
})
