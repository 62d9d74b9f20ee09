/**
 * The OpenAPI document against the app it describes: every route the app answers behind the
 * token is in the document and every documented route is answered (walking Hono's route table),
 * docs/openapi.json is what the generator writes, every `$ref` resolves, no component is an empty
 * object, counts in the query are integers, and each route lists its error codes and scope.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'

import { createHttpApp } from '../../src/adapters/http/app.js'
import { isProtectedPath } from '../../src/adapters/http/auth.js'
import { API_ROUTES, buildOpenApiDocument, openApiPath } from '../../src/adapters/http/openapi.js'
import { ErrorRegistry } from '../../src/errors.js'
import { FakeSupervisor, MemoryStore } from '../helpers/fakes.js'

type Doc = {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, unknown> }
}
type Operation = {
  operationId: string
  parameters?: { name: string; in: string; schema: { type: string } }[]
  requestBody?: unknown
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>
  security: Record<string, string[]>[]
}

const doc = buildOpenApiDocument() as unknown as Doc

function appRoutes(): Set<string> {
  const app = createHttpApp({ supervisor: new FakeSupervisor([]), store: new MemoryStore([]) })
  const out = new Set<string>()
  for (const r of app.routes) {
    // Middleware is registered for every method; routes have one.
    if (r.method === 'ALL' || !isProtectedPath(r.path)) continue
    out.add(`${r.method.toLowerCase()} ${openApiPath(r.path)}`)
  }
  return out
}

function documented(): Set<string> {
  const out = new Set<string>()
  for (const [path, ops] of Object.entries(doc.paths))
    for (const method of Object.keys(ops)) out.add(`${method} ${path}`)
  return out
}

describe('OpenAPI document', () => {
  it('documents every route the app answers behind the token', () => {
    assert.equal(appRoutes().size, API_ROUTES.length, 'the walk finds the routes')
    const missing = [...appRoutes()].filter((r) => !documented().has(r))
    assert.deepEqual(
      missing,
      [],
      'routes the app answers that docs/openapi.json lacks (define them with defineRoute)',
    )
  })

  it('documents no route the app does not answer', () => {
    const stale = [...documented()].filter((r) => !appRoutes().has(r))
    assert.deepEqual(stale, [], 'documented routes the app does not answer')
  })

  it('is what docs/openapi.json holds (npm run docs:openapi)', () => {
    const file = JSON.parse(
      readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8'),
    ) as unknown
    assert.deepEqual(file, buildOpenApiDocument())
  })

  it('is OpenAPI 3.1 with unique operation ids and path parameters that match the path', () => {
    assert.equal(doc.openapi, '3.1.0')
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId))
    assert.equal(new Set(ids).size, ids.length)
    for (const [path, ops] of Object.entries(doc.paths)) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
      for (const op of Object.values(ops)) {
        const params = (op.parameters ?? [])
          .filter((p) => p.in === 'path')
          .map((p) => p.name)
          .sort()
        assert.deepEqual(params, inPath, `${op.operationId}: path parameters`)
      }
    }
  })

  it('resolves every $ref', () => {
    const refs: string[] = []
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk)
      else if (v !== null && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === '$ref' && typeof x === 'string') refs.push(x)
          else walk(x)
        }
      }
    }
    walk(doc)
    assert.ok(refs.length > 10)
    for (const r of refs) {
      const m = /^#\/components\/schemas\/([A-Za-z0-9_]+)$/.exec(r)
      assert.ok(m, `${r} is not a component reference`)
      assert.ok(doc.components.schemas[m[1]!], `${r} does not resolve`)
    }
  })

  it('lists each route’s error codes under their registry status, with the error body', () => {
    for (const { config, errors } of API_ROUTES) {
      const op = doc.paths[config.path]![config.method]!
      for (const code of errors) {
        const status = String(ErrorRegistry[code].status)
        const schema = op.responses[status]?.content?.['application/json']?.schema
        assert.ok(schema, `${config.operationId}: no ${status} response for ${code}`)
        assert.ok(JSON.stringify(schema).includes(`"${code}"`), `${config.operationId}: ${code} not listed`)
        assert.ok(JSON.stringify(schema).includes('#/components/schemas/ErrorBody'))
      }
      for (const status of ['400', '401', '403', '500'])
        assert.ok(op.responses[status], `${config.operationId}: ${status}`)
      if (config.method === 'post')
        for (const status of ['413', '415'])
          assert.ok(op.responses[status], `${config.operationId}: ${status}`)
    }
    const full = doc.paths['/api/events']!.get!.responses['503'] as { headers?: Record<string, unknown> }
    assert.ok(full.headers?.['Retry-After'], 'the event stream’s 503 says when to try again')
  })

  it('states the scope each route needs, and the query token on the event stream only', () => {
    for (const { config } of API_ROUTES) {
      const op = doc.paths[config.path]![config.method]!
      const scope = config.method === 'get' ? 'read' : 'control'
      assert.deepEqual(op.security[0], { bearerAuth: [scope] }, config.operationId)
      assert.equal(op.security.length, config.path === '/api/events' ? 2 : 1, config.operationId)
    }
  })

  it('describes every response body: no component is an empty object', () => {
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      const s = schema as { type?: string; properties?: object; additionalProperties?: unknown }
      if (s.type === 'object') assert.ok(s.properties ?? s.additionalProperties, `${name} is an empty object`)
    }
    for (const name of [
      'WorkerView',
      'Incident',
      'Job',
      'QueueCounts',
      'PoolView',
      'SupervisorInfo',
      'FleetHistory',
    ]) {
      const s = doc.components.schemas[name] as { properties: object }
      assert.ok(Object.keys(s.properties).length >= 2, `${name} has its fields`)
    }
  })

  it('carries the request schemas the server validates with, counts in the query as integers', () => {
    const restart = doc.components.schemas.RestartBody as {
      additionalProperties: boolean
      properties: object
    }
    assert.equal(restart.additionalProperties, false)
    assert.deepEqual(Object.keys(restart.properties), ['hard'])
    // The payload is any JSON value, required; not a recursive type, which typed clients cannot take.
    const enqueue = doc.components.schemas.EnqueueBody as {
      properties: Record<string, object>
      required: string[]
    }
    assert.deepEqual(Object.keys(enqueue.properties.payload!), ['description'])
    assert.ok(enqueue.required.includes('payload'))
    const params = doc.paths['/api/queues/{queue}/jobs']!.get!.parameters! as {
      in: string
      name: string
      schema: { type: string }
    }[]
    assert.deepEqual(
      params.map((p) => `${p.in}:${p.name}`),
      ['path:queue', 'query:state', 'query:limit'],
    )
    assert.equal(params.find((p) => p.name === 'limit')!.schema.type, 'integer')
    const incidents = doc.paths['/api/incidents']!.get!.parameters! as {
      name: string
      schema: { type: string }
    }[]
    assert.equal(incidents.find((p) => p.name === 'limit')!.schema.type, 'integer')
  })

  it('is served at GET /api/openapi.json', async () => {
    const app = createHttpApp({ supervisor: new FakeSupervisor([]), store: new MemoryStore([]) })
    const res = await app.request('/api/openapi.json')
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /application\/json/)
    assert.deepEqual(await res.json(), buildOpenApiDocument())
  })
})
