/**
 * The OpenAPI document as a client developer uses it: generate TypeScript types from the document
 * a real daemon serves (openapi-typescript), write calls with the typed client openapi-fetch
 * (an enqueue, a list of workers, a restart and its incident, filtered lists), type-check them with
 * tsc, and run them against the daemon. Calls that break the contract (a limit as text, an unknown
 * state, a job without payload) must be type errors: a document of empty objects would let them
 * through. (An unknown key is not one: openapi-fetch infers the options' type from the call, so
 * TypeScript does not check excess properties there; the server refuses them, naming the key.)
 */
import assert from 'node:assert/strict'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'

import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript'
import ts from 'typescript'

import { fixture, NODE, startTestDaemon, tempDir } from '../helpers/daemon.js'

const ROOT = path.resolve(import.meta.dirname, '../..')

/** Real calls, written as a client developer would against the generated types. */
const CALLS = `
import createClient from 'openapi-fetch'

import type { components, paths } from './schema.js'

type Schemas = components['schemas']

export async function run(baseUrl: string) {
  const api = createClient<paths>({ baseUrl })

  const enqueued = await api.POST('/api/queues/{queue}/jobs', {
    params: { path: { queue: 'mail' } },
    body: { payload: { to: 'a@example.com', tags: ['welcome'] }, idempotencyKey: 'welcome:1', delay: '1h', priority: 2 },
  })
  if (!enqueued.data) throw new Error(JSON.stringify(enqueued.error))
  const added: Schemas['AddResult'][] = enqueued.data.jobs

  const batch = await api.POST('/api/queues/{queue}/jobs', {
    params: { path: { queue: 'mail' } },
    body: { jobs: [{ payload: 1 }, { payload: 'two', maxAttempts: 3, timeout: 30_000 }] },
  })
  if (!batch.data) throw new Error(JSON.stringify(batch.error))

  const workers = await api.GET('/api/workers')
  if (!workers.data) throw new Error(JSON.stringify(workers.error))
  const first: Schemas['WorkerView'] = workers.data.workers[0]!
  const state: 'starting' | 'ready' | 'degraded' | 'stopping' | 'exited' | 'restarting' | 'failed' = first.state
  const score: number = first.healthScore

  const restart = await api.POST('/api/workers/{id}/restart', {
    params: { path: { id: first.id } },
    body: { hard: false },
  })
  if (!restart.data) throw new Error(JSON.stringify(restart.error))
  const incidentId: string = restart.data.incidentId

  const one = await api.GET('/api/incidents/{id}', { params: { path: { id: incidentId } } })
  if (!one.data) throw new Error(JSON.stringify(one.error))
  const incident: Schemas['Incident'] = one.data.incident
  const cause: string = incident.cause

  const incidents = await api.GET('/api/incidents', { params: { query: { limit: 5, worker: first.id } } })
  if (!incidents.data) throw new Error(JSON.stringify(incidents.error))

  const jobs = await api.GET('/api/queues/{queue}/jobs', {
    params: { path: { queue: 'mail' }, query: { state: 'delayed', limit: 10 } },
  })
  if (!jobs.data) throw new Error(JSON.stringify(jobs.error))
  const queues = await api.GET('/api/queues')
  if (!queues.data) throw new Error(JSON.stringify(queues.error))
  const mail: Schemas['QueueCounts'] | undefined = queues.data.queues.find((q) => q.queue === 'mail')

  const missing = await api.GET('/api/jobs/{id}', { params: { path: { id: 'no-such-job' } } })
  const code: string | undefined = missing.error?.error.code

  return {
    added,
    batch: batch.data.jobs,
    workers: workers.data.workers,
    state,
    score,
    incidentId,
    incident,
    cause,
    incidents: incidents.data.incidents,
    jobs: jobs.data.jobs,
    mail,
    missing: { status: missing.response.status, code },
  }
}
`

/** Calls that break the contract, each on a line marked WRONG: each must be a type error. */
const WRONG = `
import createClient from 'openapi-fetch'

import type { paths } from './schema.js'

export async function wrong(api = createClient<paths>({ baseUrl: 'http://127.0.0.1:1' })) {
  await api.GET('/api/incidents', { params: { query: { limit: '5' } } }) // WRONG: limit is a number
  await api.GET('/api/queues/{queue}/jobs', { params: { path: { queue: 'q' }, query: { state: 'sleeping' } } }) // WRONG: no such state
  await api.POST('/api/queues/{queue}/jobs', { params: { path: { queue: 'q' } }, body: { payload: 1, priority: 'high' } }) // WRONG: priority is a number
  await api.POST('/api/queues/{queue}/jobs', { params: { path: { queue: 'q' } }, body: { jobs: [{ delay: '1s' }] } }) // WRONG: a job without payload
  await api.POST('/api/queues/{queue}/jobs', { params: { path: { queue: 'q' } }, body: { delay: 10 } }) // WRONG: no payload
  await api.POST('/api/workers/{id}/restart', { params: { path: { id: 'w#1' } }, body: { hard: 'yes' } }) // WRONG: hard is a boolean
  const w = await api.GET('/api/workers')
  const id: number = w.data!.workers[0]!.id // WRONG: an id is a string
  const j = await api.GET('/api/jobs/{id}', { params: { path: { id: 'j' } } })
  const attempts: string = j.data!.job.attempts // WRONG: attempts is a number
  return [id, attempts]
}
`

/** Type-checks the files with tsc's API, as strictly as the project; the diagnostics by file and line. */
function typeCheck(files: string[]): { file: string; line: number; message: string }[] {
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    types: [],
    skipLibCheck: true,
  })
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    file: d.file ? path.basename(d.file.fileName) : '(program)',
    line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0,
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }))
}

describe('a typed client generated from the served OpenAPI document', () => {
  it('type-checks real calls (and refuses wrong ones), which then work against a real daemon', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: { check_interval: '200ms', min_uptime: '200ms' },
      queues: { mail: { max_attempts: 5 } },
      workers: { web: { command: NODE, args: [fixture('forever.mjs')], replicas: 1 } },
    })
    await td.waitForEvent('worker:state', (e) => e.data.to === 'ready')

    // The document the daemon serves, not the one in docs/.
    const res = await fetch(`${td.daemon.apiUrl}/api/openapi.json`)
    assert.equal(res.status, 200)
    const doc = (await res.json()) as OpenAPI3 & { components: { schemas: Record<string, object> } }

    const dir = path.join(tempDir(t), 'client')
    mkdirSync(dir)
    // The generated code imports openapi-fetch as a client project would: from its node_modules.
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
    writeFileSync(path.join(dir, 'schema.d.ts'), astToString(await openapiTS(doc)))
    writeFileSync(path.join(dir, 'calls.ts'), CALLS)
    writeFileSync(path.join(dir, 'wrong.ts'), WRONG)

    const diagnostics = typeCheck([path.join(dir, 'calls.ts'), path.join(dir, 'wrong.ts')])
    assert.deepEqual(
      diagnostics.filter((d) => d.file !== 'wrong.ts'),
      [],
      'the real calls type-check against the generated types',
    )
    const wrongLines = WRONG.split('\n').flatMap((l, i) => (l.includes('// WRONG') ? [i + 1] : []))
    assert.deepEqual(
      [...new Set(diagnostics.filter((d) => d.file === 'wrong.ts').map((d) => d.line))],
      wrongLines,
      `each wrong call is a type error, and nothing else is: ${JSON.stringify(diagnostics, null, 1)}`,
    )

    const { run } = (await import(pathToFileURL(path.join(dir, 'calls.ts')).href)) as {
      run: (baseUrl: string) => Promise<Record<string, unknown>>
    }
    const r = (await run(td.daemon.apiUrl)) as {
      added: { id: string; added: boolean }[]
      batch: { added: boolean }[]
      workers: Record<string, unknown>[]
      incidentId: string
      incident: Record<string, unknown> & { workerId: string; timeline: unknown[] }
      incidents: { id: string }[]
      jobs: Record<string, unknown>[]
      mail: { delayed: number; waiting: number } | undefined
      missing: { status: number; code: string | undefined }
    }
    assert.equal(r.added.length, 1)
    assert.equal(r.added[0]!.added, true)
    assert.deepEqual(
      r.batch.map((b) => b.added),
      [true, true],
    )
    assert.equal(r.workers.length, 1)
    assert.equal(r.workers[0]!.id, 'web#1')
    assert.equal(r.incident.id, r.incidentId)
    assert.equal(r.incident.workerId, 'web#1')
    assert.ok(r.incident.timeline.length >= 1)
    assert.ok(r.incidents.some((i) => i.id === r.incidentId))
    assert.deepEqual(
      r.jobs.map((j) => j.id),
      [r.added[0]!.id],
    )
    assert.deepEqual([r.mail?.delayed, r.mail?.waiting], [1, 2])
    assert.deepEqual(r.missing, { status: 404, code: 'SHEPHERD_JOB_NOT_FOUND' })

    // The bodies have exactly the keys the document describes.
    const keysOf = (name: string) =>
      Object.keys((doc.components.schemas[name] as { properties: object }).properties).sort()
    assert.deepEqual(Object.keys(r.workers[0]!).sort(), keysOf('WorkerView'))
    assert.deepEqual(Object.keys(r.jobs[0]!).sort(), keysOf('Job'))
    const incidentKeys = Object.keys(r.incident).sort()
    assert.deepEqual(incidentKeys, keysOf('Incident'))
  })
})
