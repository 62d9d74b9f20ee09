/**
 * `npm run bench:events`: does the event stream slow a recovery, or grow the supervisor?
 *
 * A supervisor (`shepherd start`, the built CLI, in its own process) runs 50 workers (`sleep`, no
 * SDK: a replacement is ready after min_uptime, 500 ms). Each round SIGKILLs all 50 at once and
 * waits until every one is recovered; the time to recover is each incident's recoveredAt −
 * detectedAt. Meanwhile `GET /api/health` is timed every 100 ms, and the supervisor's resident
 * memory read from /proc every 100 ms. Three settings, one after the other on one supervisor:
 *
 * 1. no client on `GET /api/events`;
 * 2. 500 clients that read everything;
 * 3. 500 clients that never read (paused sockets: what the kernel does not take waits in Shepherd).
 *
 * Writes the results to docs/benchmarks.md (section "event-stream").
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

import { stringify } from 'yaml'

import { freePort } from '../test/helpers/cli.js'
import { fmtMs, machine, summarize, writeSection } from './lib.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const WORKERS = Number(process.env.BENCH_WORKERS ?? 50)
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 500)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

type Worker = { id: string; pid: number | null; state: string }
type Incident = {
  id: string
  workerId: string
  detectedAt: number
  recoveredAt: number | null
  outcome: string | null
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-bench-events-'))
const port = await freePort()
const base = `http://127.0.0.1:${port}`
const file = path.join(dir, 'bench.yaml')
writeFileSync(
  file,
  stringify({
    recovery: { check_interval: 5, stable_after: '1s', restart_limit: { max: 1000, window: 60 } },
    api: { port, max_event_clients: CLIENTS + 10 },
    log: { level: 'warn' },
    workers: { w: { command: 'sleep', args: ['3600'], replicas: WORKERS, stop_timeout: 2 } },
  }),
)
const child = spawn(process.execPath, [path.join(here, '..', 'bin', 'shepherd.js'), 'start', '-c', file], {
  stdio: ['ignore', 'ignore', 'pipe'],
})
let stderr = ''
child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))

const api = async <T>(route: string): Promise<T> => (await (await fetch(`${base}${route}`)).json()) as T
const rssMb = (): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

const allReady = async (): Promise<Worker[] | null> => {
  const { workers } = await api<{ workers: Worker[] }>('/api/workers')
  return workers.length === WORKERS && workers.every((w) => w.state === 'ready' && w.pid !== null)
    ? workers
    : null
}

/** One event-stream client on a raw socket, so that one that does not read can be made. */
interface Client {
  socket: net.Socket
  bytes: number
  closedByServer: boolean
}

async function connectClients(n: number, reading: boolean): Promise<Client[]> {
  const clients: Client[] = []
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, () => {
        return new Promise<Client>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1')
          const c: Client = { socket, bytes: 0, closedByServer: false }
          socket.once('error', reject)
          socket.once('connect', () => {
            socket.write(
              `GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`,
            )
          })
          socket.once('data', (d: Buffer) => {
            if (!d.toString().startsWith('HTTP/1.1 200')) reject(new Error(d.toString().split('\r\n')[0]))
            c.bytes += d.length
            if (reading) socket.on('data', (more: Buffer) => (c.bytes += more.length))
            else socket.pause()
            resolve(c)
          })
          socket.once('end', () => (c.closedByServer = true))
          socket.once('close', () => (c.closedByServer = true))
        })
      }),
    )
    clients.push(...batch)
  }
  return clients
}

interface RoundResult {
  mttr: number[]
  allBackMs: number
  health: number[]
  peakRssMb: number
}

async function round(): Promise<RoundResult> {
  const workers = (await allReady())!
  const since = (await api<{ incidents: Incident[] }>('/api/incidents?limit=1')).incidents[0]?.id ?? null
  const health: number[] = []
  let peakRssMb = rssMb()
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      const t0 = performance.now()
      await fetch(`${base}/api/health`).then((r) => r.arrayBuffer())
      health.push(performance.now() - t0)
      peakRssMb = Math.max(peakRssMb, rssMb())
      await sleep(100)
    }
  })()
  const t0 = performance.now()
  for (const w of workers) process.kill(w.pid!, 'SIGKILL')
  const killed = new Set(workers.map((w) => w.pid))
  await until(async () => {
    const { workers: now } = await api<{ workers: Worker[] }>('/api/workers')
    return now.length === WORKERS && now.every((w) => w.state === 'ready' && !killed.has(w.pid))
  }, 'every worker recovered')
  const allBackMs = performance.now() - t0
  sampling = false
  await sampler
  const { incidents } = await api<{ incidents: Incident[] }>(`/api/incidents?limit=${WORKERS * 2}`)
  const fresh: Incident[] = []
  for (const inc of incidents) {
    if (inc.id === since) break
    fresh.push(inc)
  }
  const mttr = fresh.filter((i) => i.recoveredAt !== null).map((i) => i.recoveredAt! - i.detectedAt)
  if (mttr.length !== WORKERS) throw new Error(`expected ${WORKERS} recovered incidents, got ${mttr.length}`)
  return { mttr, allBackMs, health, peakRssMb }
}

async function setting(name: string): Promise<{ name: string; rounds: RoundResult[] }> {
  const rounds: RoundResult[] = []
  for (let r = 0; r < ROUNDS; r++) {
    await until(async () => (await allReady()) !== null, 'a ready fleet')
    // Past stable_after, so that each kill is a new fault, not a crash loop that backs off.
    await sleep(1500)
    rounds.push(await round())
    console.log(
      name,
      'round',
      r + 1,
      summarize(rounds.at(-1)!.mttr),
      `rss ${rounds.at(-1)!.peakRssMb.toFixed(0)} MB`,
    )
  }
  return { name, rounds }
}

try {
  await until(async () => (await allReady()) !== null, `${WORKERS} ready workers`)
  await sleep(2000)
  const idleRssMb = rssMb()
  const none = await setting('no clients')

  const readers = await connectClients(CLIENTS, true)
  const withReaders = await setting(`${CLIENTS} reading clients`)
  const readBytes = readers.reduce((s, c) => s + c.bytes, 0)
  for (const c of readers) c.socket.destroy()
  await sleep(1000)

  const stalled = await connectClients(CLIENTS, false)
  const rssStalledStart = rssMb()
  const withStalled = await setting(`${CLIENTS} clients that never read`)
  await sleep(1000)
  const dropped = stalled.filter((c) => c.closedByServer).length
  const rssAfter = rssMb()
  for (const c of stalled) c.socket.destroy()

  const rows = [none, withReaders, withStalled].map((s) => {
    const mttr = summarize(s.rounds.flatMap((r) => r.mttr))
    const health = summarize(s.rounds.flatMap((r) => r.health))
    const back = summarize(s.rounds.map((r) => r.allBackMs))
    const rss = Math.max(...s.rounds.map((r) => r.peakRssMb))
    return { name: s.name, mttr, health, back, rss }
  })
  const ratio = (i: number) => (rows[i]!.mttr.p50 / rows[0]!.mttr.p50).toFixed(2)
  const started = new Date()
  const body = `## Event stream (\`npm run bench:events\`)

Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}.

A supervisor (\`shepherd start\`, the built CLI, in its own process) with ${WORKERS} workers (\`sleep\`, no SDK: a
replacement counts as ready after \`min_uptime\`, 500 ms). Each round SIGKILLs all ${WORKERS} at once; time to
recover is each incident's \`recoveredAt − detectedAt\`. \`GET /api/health\` is timed every 100 ms during the round.
${ROUNDS} rounds per setting; event-stream clients are raw sockets on loopback.

| clients on \`/api/events\` | recovery p50 | p95 | max | × no clients (p50) | all ${WORKERS} back (p50 of rounds) | \`/api/health\` p50 / max | supervisor RSS peak |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows
  .map(
    (r, i) =>
      `| ${r.name} | ${fmtMs(r.mttr.p50)} ms | ${fmtMs(r.mttr.p95)} ms | ${fmtMs(r.mttr.max)} ms | ${i === 0 ? '1.00' : ratio(i)} | ${fmtMs(r.back.p50)} ms | ${fmtMs(r.health.p50)} / ${fmtMs(r.health.max)} ms | ${r.rss.toFixed(0)} MB |`,
  )
  .join('\n')}

Target: recovery p50 with ${CLIENTS} clients within 1.5× of none. The ${CLIENTS} reading clients received
${(readBytes / CLIENTS / 1024).toFixed(0)} KiB each. Of the ${CLIENTS} clients that never read, ${dropped} were dropped by the
supervisor (over 256 KiB waiting for one client, past what the kernel's socket buffers took); the
supervisor's RSS was ${idleRssMb.toFixed(0)} MB idle before the runs, ${rssStalledStart.toFixed(0)} MB with the stalled clients
connected, and ${rssAfter.toFixed(0)} MB after their rounds.
`
  writeSection('event-stream', body)
  console.log(body)
} catch (e) {
  console.error(stderr)
  throw e
} finally {
  child.kill('SIGTERM')
  await new Promise((r) => child.on('exit', r))
  rmSync(dir, { recursive: true, force: true })
}
process.exit(0)
