/**
 * Shepherd in the fleet benchmark: `shepherd start` (the built CLI) as each agent, the jobs enqueued
 * with the library's `Queue`, the store read directly to follow the run.
 *
 * - shepherd-sqlite: one supervisor on an embedded SQLite file (the reference): its pool has as
 *   many worker processes as all the agents of the other rows together.
 * - shepherd-pg: one `shepherd start` per agent, every one on the same PostgreSQL database, each
 *   with its own node name, API port and directory (logs), each running the same pool.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'

import Database from 'better-sqlite3'
import { stringify } from 'yaml'

import { Queue } from '../../src/queue/queue.js'
import { type Agent, shepherdAgent, sleep, stopAll, workerScript } from './agents.js'
import {
  type Backlog,
  type LatencyResult,
  type Setting,
  type System,
  type Tally,
  trickle,
} from './measure.js'
import { freshDatabase, scalar } from './pg.js'

/** Worker processes per agent (BENCH_WORKERS): the competitors run one process per agent. */
export const WORKERS_PER_AGENT = Number(process.env.BENCH_WORKERS ?? 1)
const BATCH = 1000

type Store = { kind: 'sqlite' } | { kind: 'pg'; url: string }

function storeSection(store: Store): Record<string, unknown> {
  return store.kind === 'sqlite' ? { path: 'shepherd.db' } : { url: store.url }
}

interface PoolSpec {
  replicas: number
  concurrency: number
  worker: string
  /** The queue its workers serve. @defaultValue 'q' */
  queue?: string
  /** The API's port. @defaultValue 0: any free one */
  port?: number
  /** The queue's keep_done. @defaultValue the config's (24 h) */
  keepDone?: string
  /** The workers' environment, beside the agent's. */
  env?: Record<string, string>
}

/** A config file for one agent in `dir`, with one pool `w`. */
function writeConfig(dir: string, store: Store, pool: PoolSpec) {
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, 'shepherd.yaml')
  const config = {
    api: { port: pool.port ?? 0 },
    log: { level: 'warn' },
    store: storeSection(store),
    workers: {
      w: {
        command: process.execPath,
        args: [workerScript(pool.worker)],
        queue: pool.queue ?? 'q',
        replicas: pool.replicas,
        concurrency: pool.concurrency,
        ...(pool.env ? { env: pool.env } : {}),
      },
    },
    ...(pool.keepDone === undefined ? {} : { queues: { [pool.queue ?? 'q']: { keep_done: pool.keepDone } } }),
  }
  writeFileSync(file, stringify(config))
  return file
}

/** Enqueues `n` jobs through the library; the time the adds took, ms. */
async function enqueue(configFile: string, n: number): Promise<number> {
  const q = await Queue.open(configFile)
  try {
    const t0 = performance.now()
    for (let i = 0; i < n; i += BATCH)
      await q.addMany(
        'q',
        Array.from({ length: Math.min(BATCH, n - i) }, (_, j) => ({ payload: { i: i + j } })),
      )
    return performance.now() - t0
  } finally {
    await q.close()
  }
}

/** The benchmark's reads of the `jobs` table, on either store. */
type Read = (sql: string) => Promise<number>

// Two probes, each an index seek on either store (on PostgreSQL the waiting jobs are in jobs_claim
// alone, sql/postgres/0009): one `state IN (…)` test read every done row before the first open one.
const PENDING = `SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'waiting' AND queue = 'q')
  OR EXISTS (SELECT 1 FROM jobs WHERE state = 'active' AND queue = 'q')`
const count = (read: Read, states: string) =>
  read(`SELECT count(*) FROM jobs WHERE queue = 'q' AND state IN (${states})`)

function backlogOn(
  enqueueMs: number,
  read: Read,
  start: (s: Setting) => Agent[],
  close: () => Promise<void>,
): Backlog {
  return {
    enqueueMs,
    start,
    pending: async () => (await read(PENDING)) > 0,
    done: () => count(read, `'done'`),
    firstDoneAt: async () =>
      (await read(`SELECT coalesce(min(finished_at), 0) FROM jobs WHERE queue = 'q' AND state = 'done'`)) ||
      null,
    lastDoneAt: async () =>
      (await read(`SELECT coalesce(max(finished_at), 0) FROM jobs WHERE queue = 'q' AND state = 'done'`)) ||
      null,
    tally: async (): Promise<Tally> => ({
      done: await count(read, `'done'`),
      open: await count(read, `'waiting', 'active'`),
      failed: await count(read, `'dead', 'quarantined'`),
    }),
    duplicates: () =>
      read(`SELECT coalesce(sum(delivery - 1), 0) FROM jobs WHERE queue = 'q' AND state = 'done'`),
    close,
  }
}

export const shepherdSqlite: System = {
  key: 'shepherd-sqlite',
  label: 'Shepherd on SQLite',
  async backlog(n) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-fleet-'))
    const store: Store = { kind: 'sqlite' }
    const file = writeConfig(dir, store, { replicas: 1, concurrency: 1, worker: 'noop-jobs.mjs' })
    const enqueueMs = await enqueue(file, n)
    const db = new Database(path.join(dir, 'shepherd.db'), { readonly: true })
    const read: Read = async (sql) => Number(db.prepare(sql).pluck().get())
    return backlogOn(
      enqueueMs,
      read,
      (s) => {
        const replicas = s.agents * WORKERS_PER_AGENT
        writeConfig(dir, store, { replicas, concurrency: s.concurrency, worker: 'noop-jobs.mjs' })
        return [shepherdAgent(file, 'sqlite-1')]
      },
      async () => {
        db.close()
        rmSync(dir, { recursive: true, force: true })
      },
    )
  },
}

export const shepherdPg: System = {
  key: 'shepherd-pg',
  label: 'Shepherd on PostgreSQL',
  async backlog(n) {
    const db = await freshDatabase('shepherd')
    const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-fleet-'))
    const store: Store = { kind: 'pg', url: db.url }
    const first = writeConfig(path.join(dir, 'agent-1'), store, {
      replicas: WORKERS_PER_AGENT,
      concurrency: 1,
      worker: 'noop-jobs.mjs',
    })
    const enqueueMs = await enqueue(first, n)
    return backlogOn(
      enqueueMs,
      (sql) => scalar(db.client, sql),
      (s) =>
        Array.from({ length: s.agents }, (_, k) => {
          const pool = { replicas: WORKERS_PER_AGENT, concurrency: s.concurrency, worker: 'noop-jobs.mjs' }
          return shepherdAgent(writeConfig(path.join(dir, `agent-${k + 1}`), store, pool), `agent-${k + 1}`)
        }),
      async () => {
        rmSync(dir, { recursive: true, force: true })
        await db.drop()
      },
    )
  },
  latency: pgLatency,
}

/** What the workers of bench/workers/noop-counted.mjs said as they exited, summed over them. */
function counted(dir: string): { ran: number; first: number | null; last: number | null } {
  const said = readdirSync(dir).map(
    (f) =>
      JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as {
        ran: number
        first: number | null
        last: number | null
      },
  )
  const times = (k: 'first' | 'last') => said.map((s) => s[k]).filter((t): t is number => t !== null)
  return {
    ran: said.reduce((n, s) => n + s.ran, 0),
    first: times('first').length > 0 ? Math.min(...times('first')) : null,
    last: times('last').length > 0 ? Math.max(...times('last')) : null,
  }
}

/**
 * Shepherd on PostgreSQL with `keep_done: 0`: an ack deletes its job, as graphile-worker's completion
 * does. The rows cannot tell what was done, so the workers (bench/workers/noop-counted.mjs) say, once
 * stopped, how many jobs they ran and when; done is the jobs minus those left.
 */
export const shepherdPgDrop: System = {
  key: 'shepherd-pg-drop',
  label: 'Shepherd on PostgreSQL, keep_done 0',
  async backlog(n) {
    const db = await freshDatabase('shepherd_drop')
    const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-fleet-'))
    const counts = path.join(dir, 'counts')
    mkdirSync(counts)
    const store: Store = { kind: 'pg', url: db.url }
    const pool = (concurrency: number): PoolSpec => ({
      replicas: WORKERS_PER_AGENT,
      concurrency,
      worker: 'noop-counted.mjs',
      keepDone: '0s',
      env: { BENCH_COUNT_DIR: counts },
    })
    const enqueueMs = await enqueue(writeConfig(path.join(dir, 'agent-1'), store, pool(1)), n)
    const read = (sql: string) => scalar(db.client, sql)
    const left = (states: string) =>
      read(`SELECT count(*) FROM jobs WHERE queue = 'q' AND state IN (${states})`)
    const open = () => left(`'waiting', 'active'`)
    const failed = () => left(`'dead', 'quarantined'`)
    const done = async () => n - (await open()) - (await failed()) - (await left(`'done'`))
    return {
      enqueueMs,
      start: (s) =>
        Array.from({ length: s.agents }, (_, k) =>
          shepherdAgent(
            writeConfig(path.join(dir, `agent-${k + 1}`), store, pool(s.concurrency)),
            `agent-${k + 1}`,
          ),
        ),
      pending: async () => (await read(PENDING)) > 0,
      done,
      // Asked once the agents stopped (their workers wrote what they ran as they exited).
      firstDoneAt: async () => counted(counts).first,
      lastDoneAt: async () => counted(counts).last,
      tally: async () => ({ done: await done(), open: await open(), failed: await failed() }),
      duplicates: async () => counted(counts).ran - (await done()),
      close: async () => {
        rmSync(dir, { recursive: true, force: true })
        await db.drop()
      },
    }
  },
}

/** A port nothing listens on now, for an agent whose API the benchmark calls. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  await new Promise((r) => server.close(r))
  return port
}

/** The job's `startedAt` (bench/workers/started-at.mjs) once it is done. */
async function startedAt(q: Queue, id: string): Promise<number> {
  const deadline = performance.now() + 30_000
  for (;;) {
    const job = await q.getJob(id)
    if (job?.state === 'done') return (job.result as { startedAt: number }).startedAt
    if (performance.now() > deadline) throw new Error(`job ${id} was not done within 30 s (${job?.state})`)
    await sleep(2)
  }
}

/**
 * Two agents on one database: `back` runs queue q's one worker (concurrency 1); `front` serves
 * another queue and takes enqueues through its HTTP API. Measured twice: enqueued through the front
 * agent's API (the job crosses from one agent to the other), and through the library in the
 * benchmark's process (as the competitors' enqueues are). An agent that cannot start leaves its
 * part out, saying why.
 */
async function pgLatency(count: number): Promise<LatencyResult[]> {
  const db = await freshDatabase('shepherd')
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-fleet-'))
  const store: Store = { kind: 'pg', url: db.url }
  const port = await freePort()
  const frontConfig = writeConfig(path.join(dir, 'front'), store, {
    replicas: 1,
    concurrency: 1,
    worker: 'noop-jobs.mjs',
    queue: 'other',
    port,
  })
  const backConfig = writeConfig(path.join(dir, 'back'), store, {
    replicas: 1,
    concurrency: 1,
    worker: 'started-at.mjs',
  })
  const q = await Queue.open(backConfig)
  const agents = [shepherdAgent(backConfig, 'back')]
  try {
    const ids = new Map<number, string>()
    const viaApi = async (i: number) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/queues/q/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payload: { i } }),
      })
      if (res.status !== 201) throw new Error(`POST /api/queues/q/jobs: ${res.status} ${await res.text()}`)
      ids.set(i, ((await res.json()) as { jobs: Array<{ id: string }> }).jobs[0]!.id)
    }
    const viaLibrary = async (i: number) => void ids.set(i, (await q.add('q', { i })).id)
    const started = (i: number) => startedAt(q, ids.get(i)!)
    const warmUp = (enqueue: (i: number) => Promise<void>, from: number) =>
      trickle(
        10,
        (i) => enqueue(from - i),
        (i) => started(from - i),
      )

    await warmUp(viaLibrary, -1)
    const library = await trickle(count, viaLibrary, started)
    const results: LatencyResult[] = [{ how: 'library (`Queue.add`) in another process', ms: library }]

    const front = shepherdAgent(frontConfig, 'front')
    agents.push(front)
    const how = 'HTTP API of another agent'
    if (!(await waitForApi(port, () => front.exitedEarly() !== null)))
      return [...results, { how, ms: [], failure: `the front agent did not start: ${front.exitedEarly()}` }]
    await warmUp(viaApi, -100)
    const api = await trickle(
      count,
      (i) => viaApi(count + i),
      (i) => started(count + i),
    )
    return [...results, { how, ms: api }]
  } finally {
    await q.close()
    await stopAll(agents)
    rmSync(dir, { recursive: true, force: true })
    await db.drop()
  }
}

/** Whether an API answers on `port` before `gone()` says its agent exited. */
async function waitForApi(port: number, gone: () => boolean): Promise<boolean> {
  const deadline = performance.now() + 30_000
  while (!gone()) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/api/health`)).ok) return true
    } catch {
      // Not listening yet.
    }
    if (performance.now() > deadline) throw new Error(`no agent answered on port ${port} within 30 s`)
    await sleep(50)
  }
  return false
}
