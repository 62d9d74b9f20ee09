/**
 * graphile-worker and pg-boss in the fleet benchmark, each on a database of its own, with agents
 * from bench/workers/graphile-agent.mjs and bench/workers/pgboss-agent.mjs.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'

import { type AddJobsJobSpec, makeWorkerUtils } from 'graphile-worker'
import PgBoss from 'pg-boss'

import { benchDir, forkAgent } from './agents.js'
import { type Backlog, type LatencyResult, Stamps, type System, trickle } from './measure.js'
import { freshDatabase, scalar } from './pg.js'

export function packageVersion(name: string): string {
  const file = path.join(benchDir, '..', 'node_modules', name, 'package.json')
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
}

const BATCH = 1000
const WARM_UP = 10

/**
 * graphile-worker's pool: its docs ask for `concurrentJobs + 2` or 10, whichever is larger; capped
 * so that 4 agents stay within a quarter of the server's 100 connections each (other work shares it).
 */
export const graphilePoolSize = (agents: number, concurrency: number) =>
  Math.min(Math.max(10, concurrency + 2), Math.floor(80 / agents))

/**
 * Latency through one agent at concurrency 1 that reports each job's start (BENCH_STAMP): `count`
 * jobs enqueued by `enqueue` in this process, after WARM_UP not counted.
 */
async function stampedLatency(
  script: string,
  env: Record<string, string>,
  enqueue: (i: number) => Promise<void>,
  how: string,
  count: number,
): Promise<LatencyResult[]> {
  const stamps = new Stamps()
  const agent = forkAgent(script, { ...env, BENCH_CONCURRENCY: '1', BENCH_STAMP: '1' }, stamps.record)
  try {
    await agent.ready
    await trickle(
      WARM_UP,
      (i) => enqueue(-1 - i),
      (i) => stamps.startedAt(-1 - i),
    )
    return [{ how, ms: await trickle(count, enqueue, stamps.startedAt) }]
  } finally {
    await agent.stop()
  }
}

const sumOrNull = (xs: Array<number | null>) =>
  xs.every((x) => x !== null) ? xs.reduce<number>((a, b) => a + b!, 0) : null

export const graphile: System = {
  key: 'graphile',
  label: `graphile-worker ${packageVersion('graphile-worker')}`,
  async backlog(n) {
    const db = await freshDatabase('graphile')
    const utils = await makeWorkerUtils({ connectionString: db.url })
    let enqueueMs = NaN
    try {
      await utils.migrate()
      const t0 = performance.now()
      for (let i = 0; i < n; i += BATCH) {
        const specs: AddJobsJobSpec[] = []
        for (let j = i; j < Math.min(n, i + BATCH); j++) specs.push({ identifier: 'noop', payload: { i: j } })
        await utils.addJobs(specs)
      }
      enqueueMs = performance.now() - t0
    } finally {
      await utils.release()
    }
    // graphile-worker deletes a job once it is done: what is left is open or failed for good.
    const left = (where: string) =>
      scalar(db.client, `SELECT count(*) FROM graphile_worker._private_jobs ${where}`)
    const backlog: Backlog = {
      enqueueMs,
      start: (s) =>
        Array.from({ length: s.agents }, () =>
          forkAgent('graphile-agent.mjs', {
            BENCH_DATABASE_URL: db.url,
            BENCH_CONCURRENCY: String(s.concurrency),
            BENCH_POOL_SIZE: String(graphilePoolSize(s.agents, s.concurrency)),
          }),
        ),
      pending: async () =>
        (await scalar(
          db.client,
          'SELECT count(*) FROM (SELECT 1 FROM graphile_worker._private_jobs LIMIT 1) x',
        )) > 0,
      done: async () => n - (await left('')),
      firstDoneAt: async () => null,
      lastDoneAt: async () => null,
      tally: async () => {
        const failed = await left('WHERE attempts >= max_attempts')
        const open = (await left('')) - failed
        return { done: n - open - failed, open, failed }
      },
      // Done rows are gone: only the agents' own counts of the jobs they ran can tell.
      duplicates: async (ran) => {
        const total = sumOrNull(ran)
        return total === null ? null : total - (await backlog.done())
      },
      close: () => db.drop(),
    }
    return backlog
  },
  async latency(count) {
    const db = await freshDatabase('graphile')
    const utils = await makeWorkerUtils({ connectionString: db.url })
    try {
      await utils.migrate()
      return await stampedLatency(
        'graphile-agent.mjs',
        { BENCH_DATABASE_URL: db.url, BENCH_POOL_SIZE: '10' },
        async (i) => void (await utils.addJob('noop', { i })),
        'addJob in another process',
        count,
      )
    } finally {
      await utils.release()
      await db.drop()
    }
  },
}

async function bossOn(url: string): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString: url, schedule: false, supervise: false })
  boss.on('error', (e) => console.error('pg-boss:', e))
  await boss.start()
  return boss
}

export const pgBoss: System = {
  key: 'pgboss',
  label: `pg-boss ${packageVersion('pg-boss')}`,
  async backlog(n) {
    const db = await freshDatabase('pgboss')
    const boss = await bossOn(db.url)
    let enqueueMs = NaN
    try {
      await boss.createQueue('q')
      const t0 = performance.now()
      for (let i = 0; i < n; i += BATCH) {
        const jobs: PgBoss.JobInsert[] = []
        for (let j = i; j < Math.min(n, i + BATCH); j++) jobs.push({ name: 'q', data: { i: j } })
        await boss.insert(jobs)
      }
      enqueueMs = performance.now() - t0
    } finally {
      await boss.stop({ graceful: false, wait: true })
    }
    const count = (where: string) =>
      scalar(db.client, `SELECT count(*) FROM pgboss.job WHERE name = 'q' AND ${where}`)
    return {
      enqueueMs,
      start: (s) =>
        Array.from({ length: s.agents }, () =>
          forkAgent('pgboss-agent.mjs', {
            BENCH_DATABASE_URL: db.url,
            BENCH_CONCURRENCY: String(s.concurrency),
          }),
        ),
      pending: async () =>
        (await scalar(
          db.client,
          `SELECT count(*) FROM (SELECT 1 FROM pgboss.job WHERE name = 'q' AND state < 'completed' LIMIT 1) x`,
        )) > 0,
      done: () => count(`state = 'completed'`),
      firstDoneAt: async () => null,
      lastDoneAt: async () => null,
      tally: async () => ({
        done: await count(`state = 'completed'`),
        open: await count(`state < 'completed'`),
        failed: await count(`state > 'completed'`),
      }),
      // A fetch of a job that was started before counts in its retry_count.
      duplicates: () =>
        scalar(
          db.client,
          `SELECT coalesce(sum(retry_count), 0) FROM pgboss.job WHERE name = 'q' AND state = 'completed'`,
        ),
      close: () => db.drop(),
    }
  },
  async latency(count) {
    const db = await freshDatabase('pgboss')
    const boss = await bossOn(db.url)
    try {
      await boss.createQueue('q')
      return await stampedLatency(
        'pgboss-agent.mjs',
        { BENCH_DATABASE_URL: db.url },
        async (i) => void (await boss.send('q', { i })),
        'send in another process',
        count,
      )
    } finally {
      await boss.stop({ graceful: false, wait: true })
      await db.drop()
    }
  },
}
