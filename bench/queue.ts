/**
 * `npm run bench:queue`: the durable queue end to end, against BullMQ on this machine's Redis.
 *
 * 1. Throughput: trivial jobs enqueued in batches of 1,000 and run by 1, 2 and 4 worker processes
 *    at a few concurrency settings, until every job is acknowledged; the same workload on BullMQ.
 * 2. Enqueue of 100,000 jobs in batches of 1,000: time and store size.
 * 3. Redelivery: a worker holding a job is killed with SIGKILL; time until the job is back in the
 *    queue, and until another worker has started it.
 * 4. The supervisor's memory with 1,000,000 waiting jobs, against none.
 *
 * Writes the results to docs/benchmarks.md.
 */
import { fork, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'

import { Queue as BullQueue } from 'bullmq'
import { Redis } from 'ioredis'
import { stringify } from 'yaml'

import { loadConfigFile } from '../src/config/load.js'
import { type Daemon, startDaemon } from '../src/daemon.js'
import { Queue } from '../src/queue/queue.js'
import { fmtMs, machine, summarize, writeSection } from './lib.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const worker = (name: string) => path.join(here, 'workers', name)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const quiet = () => new Writable({ write: (_c, _e, cb) => cb() })
const N = Number(process.env.BENCH_JOBS ?? 20_000)
const SETTINGS: Array<[number, number]> = [
  [1, 1],
  [2, 1],
  [4, 1],
  [1, 8],
  [2, 8],
  [4, 8],
  [2, 32],
]

function tempConfig(
  workers: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-bench-'))
  const file = path.join(dir, 'bench.yaml')
  writeFileSync(file, stringify({ api: { port: 0 }, log: { level: 'warn' }, workers, ...extra }))
  return { dir, file }
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000, pollMs = 50) {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(pollMs)
  }
}

async function shepherdThroughput(workers: number, concurrency: number): Promise<number> {
  const { dir, file } = tempConfig({
    w: {
      command: process.execPath,
      args: [worker('noop-jobs.mjs')],
      queue: 'q',
      replicas: workers,
      concurrency,
    },
  })
  const loaded = loadConfigFile(file)
  const d = await startDaemon(loaded, { logDestination: quiet() })
  try {
    const q = new Queue(d.store, loaded)
    await until(() => d.supervisor.listWorkers().every((w) => w.state === 'ready'), 'workers ready')
    await sleep(300)
    const t0 = performance.now()
    for (let i = 0; i < N; i += 1000) {
      await q.addMany(
        'q',
        Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({ payload: { i: i + j } })),
      )
    }
    // Two index lookups, not a count: counting done jobs walks them all and would steal the
    // supervisor's time (it shares this process). Nothing waiting and nothing in flight: all done.
    const now = () => Date.now()
    await until(
      async () =>
        (await d.store.jobs.listJobs('q', { state: 'waiting', limit: 1 }, now())).length === 0 &&
        (await d.store.jobs.listJobs('q', { state: 'active', limit: 1 }, now())).length === 0,
      'every job done',
      120_000,
      10,
    )
    const elapsed = performance.now() - t0
    const [c] = await q.counts('q')
    if (c!.done !== N) throw new Error(`expected ${N} done jobs, found ${c!.done}`)
    return N / (elapsed / 1000)
  } finally {
    await d.stop('benchmark done', true)
    rmSync(dir, { recursive: true, force: true })
  }
}

async function bullThroughput(workers: number, concurrency: number): Promise<number> {
  const name = `shepherd-bench-${process.pid}-${Date.now()}`
  const connection = { host: '127.0.0.1', port: 6379 }
  const queue = new BullQueue(name, { connection })
  const kids = Array.from({ length: workers }, () =>
    fork(worker('bullmq-worker.mjs'), [], {
      env: { ...process.env, BULL_QUEUE: name, BULL_CONCURRENCY: String(concurrency) },
      stdio: 'ignore',
    }),
  )
  try {
    await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))))
    await sleep(300)
    const t0 = performance.now()
    for (let i = 0; i < N; i += 1000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({ name: 'j', data: { i: i + j } })),
      )
    }
    await until(
      async () => {
        const c = await queue.getJobCounts('completed')
        return c.completed === N
      },
      'every BullMQ job completed',
      120_000,
      10,
    )
    return N / ((performance.now() - t0) / 1000)
  } finally {
    for (const k of kids) k.kill()
    await queue.obliterate({ force: true })
    await queue.close()
  }
}

async function enqueue100k(): Promise<{ ms: number; mb: number; perSecond: number }> {
  const { dir, file } = tempConfig({
    w: { command: process.execPath, args: [worker('idle-no-work.mjs')], queue: 'q' },
  })
  const q = await Queue.open(file)
  try {
    const t0 = performance.now()
    for (let i = 0; i < 100_000; i += 1000) {
      await q.addMany(
        'q',
        Array.from({ length: 1000 }, (_, j) => ({ payload: { to: `user${i + j}@example.com`, n: i + j } })),
      )
    }
    const ms = performance.now() - t0
    await q.close()
    const db = loadConfigFile(file).storePath
    let bytes = statSync(db).size
    try {
      bytes += statSync(`${db}-wal`).size
    } catch {
      // No WAL left after close: the size is the file's.
    }
    return { ms, mb: bytes / 1024 / 1024, perSecond: 100_000 / (ms / 1000) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function redelivery(faults: number): Promise<{ back: number[]; started: number[] }> {
  const { dir, file } = tempConfig({
    w: {
      command: process.execPath,
      args: [worker('redelivery.mjs')],
      queue: 'q',
      replicas: 2,
      concurrency: 1,
      recovery: { stable_after: '200ms', restart_limit: { max: 10_000, window: 60 } },
    },
  })
  const loaded = loadConfigFile(file)
  const d: Daemon = await startDaemon(loaded, { logDestination: quiet() })
  const back: number[] = []
  const started: number[] = []
  let requeuedAt = 0
  d.onEvent((e) => {
    if (e.type === 'job:requeued') requeuedAt = performance.timeOrigin + performance.now()
  })
  try {
    const q = new Queue(d.store, loaded)
    for (let i = 0; i < faults; i++) {
      await until(() => d.supervisor.listWorkers().every((w) => w.state === 'ready'), 'workers ready')
      await sleep(250)
      const { id } = await q.add('q', { i })
      await until(
        async () => (await d.store.jobs.getJob(id))?.state === 'active',
        'the job to be in flight',
        30_000,
        2,
      )
      const holder = (await d.store.jobs.getJob(id))!.leaseWorker!
      const pid = d.supervisor.getWorker(holder)!.pid!
      requeuedAt = 0
      const t0 = performance.timeOrigin + performance.now()
      process.kill(pid, 'SIGKILL')
      await until(
        async () => (await d.store.jobs.getJob(id))?.state === 'done',
        'the redelivered job to be done',
        30_000,
        5,
      )
      const job = (await d.store.jobs.getJob(id))!
      back.push(requeuedAt - t0)
      started.push((job.result as { startedAt: number }).startedAt - t0)
    }
    return { back, started }
  } finally {
    await d.stop('benchmark done', true)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** `shepherd start` with a pool whose queue holds `jobs` waiting jobs; its RSS after the checks ran a while. */
async function memoryWith(jobs: number): Promise<number> {
  const { dir, file } = tempConfig(
    { w: { command: process.execPath, args: [worker('idle-no-work.mjs')], queue: 'q', replicas: 2 } },
    { recovery: { check_interval: 1 } },
  )
  if (jobs > 0) {
    const q = await Queue.open(file)
    for (let i = 0; i < jobs; i += 5000) {
      await q.addMany(
        'q',
        Array.from({ length: Math.min(5000, jobs - i) }, (_, j) => ({ payload: { n: i + j } })),
      )
    }
    await q.close()
  }
  const child = spawn(process.execPath, [path.join(here, '..', 'bin', 'shepherd.js'), 'start', '-c', file], {
    stdio: 'ignore',
  })
  try {
    await sleep(10_000)
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
    return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.on('exit', r))
    rmSync(dir, { recursive: true, force: true })
  }
}

// BENCH_ONLY=redelivery (say) runs one part and prints it, without writing docs/benchmarks.md.
const only = process.env.BENCH_ONLY?.split(',')
if (only) {
  if (only.includes('redelivery')) {
    const r = await redelivery(Number(process.env.BENCH_FAULTS ?? 30))
    console.log('back in the queue', summarize(r.back), 'running again', summarize(r.started))
  }
  if (only.includes('memory'))
    console.log('RSS MiB, no jobs / 1M jobs:', await memoryWith(0), await memoryWith(1_000_000))
  process.exit(0)
}

const started = new Date()
const rows: string[] = []
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const [workers, concurrency] of SETTINGS) {
  // Alternate the two systems, and take each one's median of RUNS runs: the machine is noisy.
  const ss: number[] = []
  const bs: number[] = []
  for (let r = 0; r < RUNS; r++) {
    ss.push(await shepherdThroughput(workers, concurrency))
    bs.push(await bullThroughput(workers, concurrency))
  }
  const s = median(ss)
  const b = median(bs)
  rows.push(`| ${workers} | ${concurrency} | ${Math.round(s)} | ${Math.round(b)} | ${(s / b).toFixed(2)} |`)
  console.log(rows.at(-1))
}
const enq = await enqueue100k()
console.log('enqueue', enq)
const red = await redelivery(Number(process.env.BENCH_FAULTS ?? 30))
const back = summarize(red.back)
const again = summarize(red.started)
console.log('redelivery', back, again)
const mem0 = await memoryWith(0)
const mem100k = await memoryWith(100_000)
const mem1m = await memoryWith(1_000_000)
console.log('memory', mem0, mem100k, mem1m)

const body = `## Queue (\`npm run bench:queue\`)

Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}; Redis ${await redisVersion()} on
127.0.0.1 for BullMQ (Redis keeps nothing on disk on this machine; Shepherd's store is SQLite in WAL
mode with \`synchronous=FULL\` for every settlement).

**Throughput**, end to end: ${N.toLocaleString('en')} trivial jobs enqueued in batches of 1,000 while the
workers run, until every one is acknowledged (Shepherd: the job is \`done\` in the store; BullMQ:
\`completed\`); the median of ${RUNS} runs of each, the two systems alternating. Worker processes are separate Node processes in both cases (\`bench/workers/noop-jobs.mjs\`,
\`bench/workers/bullmq-worker.mjs\`); the producer and, for Shepherd, the supervisor run in the
benchmark's process. Jobs per second:

| workers | concurrency | Shepherd | BullMQ ${bullVersion()} | Shepherd / BullMQ |
| --- | --- | --- | --- | --- |
${rows.join('\n')}

**Enqueue** of 100,000 jobs (payloads of about 40 bytes) in batches of 1,000 through \`Queue.addMany\`:
${Math.round(enq.ms)} ms (${Math.round(enq.perSecond).toLocaleString('en')} jobs/s); store file ${enq.mb.toFixed(1)} MiB.

**Redelivery** after a worker's death: a worker holding a job is killed with SIGKILL (${back.n} times);
"back in the queue" is the moment the \`job:requeued\` event reaches a listener, "restarted" the moment
the other worker's handler began the job's second delivery (its own clock, epoch ms).

| | p50 ms | p95 ms | max ms | target |
| --- | --- | --- | --- | --- |
| kill → back in the queue | ${fmtMs(back.p50)} | ${fmtMs(back.p95)} | ${fmtMs(back.max)} | |
| kill → running again on another worker | ${fmtMs(again.p50)} | ${fmtMs(again.p95)} | ${fmtMs(again.max)} | p50 < 10 ms |

**Memory** of \`shepherd start\` (its RSS from /proc after 10 s, with the pool's backlog counted every
second) with a pool whose queue holds no job: ${mem0.toFixed(0)} MiB; 100,000 waiting jobs: ${mem100k.toFixed(0)} MiB;
1,000,000 waiting jobs: ${mem1m.toFixed(0)} MiB. The queue lives in the store, not in the supervisor: what a
backlog adds is SQLite's page cache (at most 16 MiB, better-sqlite3's default \`cache_size\`), filled
once the backlog is counted and the same for any backlog larger than it.
`
writeSection('queue', body)
console.log(body)
process.exit(0)

async function redisVersion(): Promise<string> {
  const redis = new Redis({ host: '127.0.0.1', port: 6379 })
  const info = await redis.info('server')
  redis.disconnect()
  return /redis_version:(\S+)/.exec(info)?.[1] ?? '?'
}

function bullVersion(): string {
  const pkg = JSON.parse(
    readFileSync(path.join(here, '..', 'node_modules', 'bullmq', 'package.json'), 'utf8'),
  ) as {
    version: string
  }
  return pkg.version
}
