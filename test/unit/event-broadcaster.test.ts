import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { createHttpApp } from '../../src/adapters/http/app.js'
import { type BroadcastScheduler, EventBroadcaster } from '../../src/adapters/http/event-broadcaster.js'
import { ConfigSchema } from '../../src/config/schema.js'
import type { AnyEvent } from '../../src/core/events.js'

/** A source the test publishes to, like the daemon's listener set. */
function fakeSource() {
  const listeners = new Set<(e: AnyEvent) => void>()
  return {
    source: (l: (e: AnyEvent) => void) => {
      listeners.add(l)
      return () => listeners.delete(l)
    },
    publish: (e: AnyEvent) => {
      for (const l of listeners) l(e)
    },
    get listeners() {
      return listeners.size
    },
  }
}

/** Deferred work and keepalives run only when the test says so. */
function manualScheduler() {
  const deferred: Array<() => void> = []
  const periodic = new Set<() => void>()
  const scheduler: BroadcastScheduler = {
    defer: (fn) => void deferred.push(fn),
    every(_ms, fn) {
      periodic.add(fn)
      return () => periodic.delete(fn)
    },
  }
  return {
    scheduler,
    runDeferred() {
      for (const fn of deferred.splice(0)) fn()
    },
    tick() {
      for (const fn of periodic) fn()
    },
    get timers() {
      return periodic.size
    },
  }
}

function event(
  type: AnyEvent['type'] = 'worker:spawned',
  data: unknown = { pid: 1, spare: false },
): AnyEvent {
  return {
    type,
    at: 1,
    severity: 'info',
    message: 'x',
    pool: 'p',
    workerId: 'p#1',
    incidentId: null,
    data,
  } as AnyEvent
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader()
  let text = ''
  const decoder = new TextDecoder()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return text
    text += decoder.decode(value)
  }
}

describe('event broadcaster', () => {
  it('takes an event off the recovery path: nothing is serialised before the next turn', () => {
    const src = fakeSource()
    const sched = manualScheduler()
    const hub = new EventBroadcaster(src.source, { maxClients: 10 }, { scheduler: sched.scheduler })
    for (let i = 0; i < 10; i++) hub.open({ types: [], severity: 'info' })
    let serialised = 0
    src.publish(event('worker:spawned', { toJSON: () => ++serialised }))
    assert.equal(serialised, 0, 'publishing only queues the event')
    sched.runDeferred()
    assert.equal(serialised, 1, 'one serialisation for ten clients')
  })

  it('sends every client the events its filter wants, in order', async () => {
    const src = fakeSource()
    const sched = manualScheduler()
    const hub = new EventBroadcaster(src.source, { maxClients: 10 }, { scheduler: sched.scheduler })
    const all = hub.open({ types: [], severity: 'info' })!
    const incidents = hub.open({ types: ['incident:'], severity: 'info' })!
    const critical = hub.open({ types: [], severity: 'critical' })!
    src.publish(event('worker:spawned'))
    src.publish({ ...event('incident:opened'), severity: 'warning' } as AnyEvent)
    src.publish({ ...event('worker:state'), severity: 'critical' } as AnyEvent)
    sched.runDeferred()
    hub.close()
    const types = async (s: ReadableStream<Uint8Array>) =>
      [...(await readAll(s)).matchAll(/^event: (.+)$/gm)].map((m) => m[1])
    assert.deepEqual(await types(all), ['worker:spawned', 'incident:opened', 'worker:state'])
    assert.deepEqual(await types(incidents), ['incident:opened'])
    assert.deepEqual(await types(critical), ['worker:state'])
  })

  it('refuses a client over the limit, and takes one again when another leaves', async () => {
    const src = fakeSource()
    const hub = new EventBroadcaster(
      src.source,
      { maxClients: 2 },
      { scheduler: manualScheduler().scheduler },
    )
    const a = hub.open({ types: [], severity: 'info' })!
    assert.ok(hub.open({ types: [], severity: 'info' }))
    assert.equal(hub.open({ types: [], severity: 'info' }), null)
    await a.cancel()
    assert.equal(hub.clients, 1)
    assert.ok(hub.open({ types: [], severity: 'info' }))
  })

  it('drops a client that stops reading once its buffer passes the bound; readers keep streaming', async () => {
    const src = fakeSource()
    const sched = manualScheduler()
    const drops: number[] = []
    const hub = new EventBroadcaster(
      src.source,
      { maxClients: 10, maxBufferedBytes: 4096 },
      { scheduler: sched.scheduler, onDrop: (_r, clients) => drops.push(clients) },
    )
    const stalled = hub.open({ types: [], severity: 'info' })!
    const reading = hub.open({ types: [], severity: 'info' })!
    const reader = reading.getReader()
    let received = 0
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        received += value.byteLength
      }
    })()
    const big = 'x'.repeat(500)
    for (let i = 0; i < 20; i++) {
      src.publish(event('worker:spawned', { big }))
      sched.runDeferred()
      await new Promise((r) => setImmediate(r))
    }
    assert.equal(hub.dropped, 1)
    assert.deepEqual(drops, [1])
    assert.equal(hub.clients, 1)
    await assert.rejects(stalled.getReader().read(), /stopped reading/)
    assert.ok(received > 10_000, `the reading client got every event (${received} bytes)`)
    hub.close()
    await pump
  })

  it('subscribes and keeps one keepalive timer only while clients stream', async () => {
    const src = fakeSource()
    const sched = manualScheduler()
    const hub = new EventBroadcaster(src.source, { maxClients: 5 }, { scheduler: sched.scheduler })
    assert.equal(src.listeners, 0)
    const a = hub.open({ types: [], severity: 'info' })!
    const b = hub.open({ types: [], severity: 'info' })!
    assert.equal(src.listeners, 1)
    assert.equal(sched.timers, 1)
    sched.tick()
    await a.cancel()
    await b.cancel()
    assert.equal(src.listeners, 0)
    assert.equal(sched.timers, 0)
  })
})

describe('GET /api/events limits', () => {
  it('answers 503 with Retry-After past api.max_event_clients', async () => {
    const src = fakeSource()
    const config = ConfigSchema.parse({ api: { max_event_clients: 1 }, workers: { a: { command: 'true' } } })
    const app = createHttpApp({
      supervisor: {} as never,
      store: {} as never,
      config,
      events: src.source,
    })
    const first = await app.request('/api/events')
    assert.equal(first.status, 200)
    assert.equal(first.headers.get('content-type'), 'text/event-stream')
    const second = await app.request('/api/events')
    assert.equal(second.status, 503)
    assert.equal(second.headers.get('retry-after'), '5')
    const body = (await second.json()) as { error: { code: string; message: string } }
    assert.equal(body.error.code, 'SHEPHERD_EVENT_STREAM_FULL')
    assert.match(body.error.message, /api\.max_event_clients/)
    await first.body!.cancel()
    const third = await app.request('/api/events')
    assert.equal(third.status, 200)
    await third.body!.cancel()
  })
})
