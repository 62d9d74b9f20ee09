/**
 * `npm run bench:recovery`: injects faults into real workers under a real daemon and measures how
 * fast Shepherd sees them and puts a ready worker back; then runs `shepherd start` with 50 idle
 * workers and reads its CPU and memory from /proc. Writes the results to docs/benchmarks.md.
 *
 * Times are taken in this process with performance.now(): the fault is injected here and the
 * daemon runs in-process, so "detected" and "ready" are the moments its events reach a listener.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'

import { stringify } from 'yaml'

import { loadConfigFile } from '../src/config/load.js'
import type { AnyEvent } from '../src/core/events.js'
import { type Daemon, startDaemon } from '../src/daemon.js'
import { fmtMs, machine, summarize, type Summary, writeSection } from './lib.js'

const FAULTS = Number(process.env.BENCH_FAULTS ?? 40)
const HANG_FAULTS = Number(process.env.BENCH_HANG_FAULTS ?? 30)
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 30)
const HANG_TIMEOUT_MS = 1000
const here = path.dirname(fileURLToPath(import.meta.url))
const worker = (name: string) => path.join(here, 'workers', name)
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Waiter {
  match: (e: AnyEvent) => boolean
  resolve: (t: number) => void
}

class Probe {
  private waiters: Waiter[] = []
  constructor(daemon: Daemon) {
    daemon.onEvent((e) => {
      const t = now()
      for (const w of [...this.waiters]) {
        if (w.match(e)) {
          this.waiters.splice(this.waiters.indexOf(w), 1)
          w.resolve(t)
        }
      }
    })
  }
  next(type: AnyEvent['type'], workerId: string, timeoutMs = 30_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${type} for ${workerId} within ${timeoutMs} ms`)),
        timeoutMs,
      )
      this.waiters.push({
        match: (e) => e.type === type && e.workerId === workerId,
        resolve: (t) => {
          clearTimeout(timer)
          resolve(t)
        },
      })
    })
  }
}

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

async function faultLoop(
  daemon: Daemon,
  probe: Probe,
  id: string,
  n: number,
  inject: (pid: number) => void,
  before: () => boolean = () => true,
): Promise<{ detect: number[]; ready: number[] }> {
  const detect: number[] = []
  const ready: number[] = []
  for (let i = 0; i < n; i++) {
    await until(() => daemon.supervisor.getWorker(id)?.state === 'ready' && before(), `${id} ready`)
    // Past stable_after, so each fault is a first restart, not a crash loop that backs off.
    await sleep(250)
    const pid = daemon.supervisor.getWorker(id)!.pid!
    const opened = probe.next('incident:opened', id)
    const recovered = probe.next('incident:recovered', id)
    const t0 = now()
    inject(pid)
    detect.push((await opened) - t0)
    ready.push((await recovered) - t0)
  }
  return { detect, ready }
}

async function faults(): Promise<Array<[string, string, Summary]>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-bench-'))
  const file = path.join(dir, 'bench.yaml')
  const recovery = {
    check_interval: 1,
    stable_after: '200ms',
    restart_limit: { max: 10_000, window: 60 },
    verify_timeout: 10,
  }
  writeFileSync(
    file,
    stringify({
      recovery,
      api: { port: 0 },
      log: { level: 'warn' },
      workers: {
        crash: { command: process.execPath, args: [worker('sdk-idle.mjs')], stop_timeout: 2 },
        hot: { command: process.execPath, args: [worker('sdk-idle.mjs')], spares: 1, stop_timeout: 2 },
        frozen: {
          command: process.execPath,
          args: [worker('plain-idle.mjs')],
          hang_timeout: HANG_TIMEOUT_MS / 1000,
          stop_timeout: 2,
        },
        busy: {
          command: process.execPath,
          args: [worker('sdk-idle.mjs')],
          hang_timeout: HANG_TIMEOUT_MS / 1000,
          stop_timeout: 2,
        },
      },
    }),
  )
  const daemon = await startDaemon(loadConfigFile(file), {
    logDestination: new Writable({ write: (_c, _e, cb) => cb() }),
  })
  const probe = new Probe(daemon)
  const rows: Array<[string, string, Summary]> = []
  try {
    const crash = await faultLoop(daemon, probe, 'crash#1', FAULTS, (pid) => process.kill(pid, 'SIGKILL'))
    rows.push(['crash (SIGKILL) → detected', '≤ 5 ms p50', summarize(crash.detect)])
    rows.push([
      'crash → replacement ready (small Node worker, SDK)',
      '≤ 300 ms p50, ≤ 600 ms p95',
      summarize(crash.ready),
    ])
    const spareReady = () =>
      daemon.supervisor
        .listWorkers()
        .some((w) => w.pool === 'hot' && w.role === 'spare' && w.state === 'ready')
    const hot = await faultLoop(
      daemon,
      probe,
      'hot#1',
      FAULTS,
      (pid) => process.kill(pid, 'SIGKILL'),
      spareReady,
    )
    rows.push(['crash → warm spare ready in its place', '≤ 20 ms p50', summarize(hot.ready)])
    const frozen = await faultLoop(daemon, probe, 'frozen#1', HANG_FAULTS, (pid) =>
      process.kill(pid, 'SIGSTOP'),
    )
    rows.push([
      `SIGSTOP (no SDK, hang_timeout ${HANG_TIMEOUT_MS} ms) → recovered`,
      `≤ ${HANG_TIMEOUT_MS + 1000} ms`,
      summarize(frozen.ready),
    ])
    const busy = await faultLoop(daemon, probe, 'busy#1', HANG_FAULTS, (pid) => process.kill(pid, 'SIGUSR2'))
    rows.push([
      `busy loop (SDK, hang_timeout ${HANG_TIMEOUT_MS} ms) → recovered`,
      `≤ ${HANG_TIMEOUT_MS + 1000} ms`,
      summarize(busy.ready),
    ])
  } finally {
    await daemon.stop('benchmark done', true)
    rmSync(dir, { recursive: true, force: true })
  }
  return rows
}

interface IdleFigures {
  workers: number
  cpuPercent: number
  rssMb: number
  peakRssMb: number
}

/** Runs `shepherd start` (the built CLI) with 50 idle workers and reads its own CPU and memory. */
async function idle(script: string, label: string): Promise<IdleFigures & { label: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-bench-'))
  const file = path.join(dir, 'idle.yaml')
  writeFileSync(
    file,
    stringify({
      recovery: { check_interval: 1 },
      api: { port: 0 },
      log: { level: 'warn' },
      workers: { idle: { command: process.execPath, args: [worker(script)], replicas: 50, stop_timeout: 5 } },
    }),
  )
  const bin = path.join(here, '..', 'bin', 'shepherd.js')
  const child = spawn(process.execPath, [bin, 'start', '-c', file], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const ticks = () => {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12])
  }
  const status = (key: string) =>
    Number(
      new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN,
    ) / 1024
  try {
    // Let all 50 boot and the first checks settle before measuring.
    await sleep(8000)
    const t0 = ticks()
    const w0 = performance.now()
    await sleep(IDLE_SECONDS * 1000)
    const cpuPercent = ((ticks() - t0) / 100 / ((performance.now() - w0) / 1000)) * 100
    return { label, workers: 50, cpuPercent, rssMb: status('VmRSS'), peakRssMb: status('VmHWM') }
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.on('exit', r))
    rmSync(dir, { recursive: true, force: true })
  }
}

const started = new Date()
const rows = await faults()
const idleSdk = await idle('sdk-idle.mjs', '50 idle SDK workers')
const idlePlain = await idle('plain-idle.mjs', '50 idle workers without the SDK')

const table = [
  '| figure | target | faults | p50 ms | p95 ms | max ms |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    ([what, target, s]) =>
      `| ${what} | ${target} | ${s.n} | ${fmtMs(s.p50)} | ${fmtMs(s.p95)} | ${fmtMs(s.max)} |`,
  ),
].join('\n')
const idleTable = [
  '| supervisor running | check_interval | CPU (% of one core) | RSS MiB | peak RSS MiB | target |',
  '| --- | --- | --- | --- | --- | --- |',
  ...[idleSdk, idlePlain].map(
    (f) =>
      `| ${f.label} | 1 s | ${f.cpuPercent.toFixed(2)} | ${f.rssMb.toFixed(0)} | ${f.peakRssMb.toFixed(0)} | < 2 %, < 120 MiB |`,
  ),
].join('\n')

const body = `## Recovery (\`npm run bench:recovery\`)

Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}.

How: one daemon in the benchmark's process (real worker processes, real SQLite store, real API),
pools of one worker each. The benchmark injects each fault itself (\`kill -KILL\`, \`kill -STOP\`,
or SIGUSR2, which sends the worker into an endless loop that freezes its event loop) and times,
with \`performance.now()\`, the moment the daemon's \`incident:opened\` (detected) and
\`incident:recovered\` (a replacement reported ready) events reach a listener. Before each fault the
worker has been ready for 250 ms, past the bench config's \`stable_after: 200ms\`, so every fault is
a first restart rather than a crash loop that backs off. Workers are \`bench/workers/*.mjs\`.

${table}

The 50-worker figures come from \`shepherd start\` (the built CLI) in its own process, with 50
idle workers of one pool, \`check_interval: 1\`, the default \`hang_timeout\` (10 s); after 8 s of
warm-up, its CPU time is read from \`/proc/<pid>/stat\` over ${IDLE_SECONDS} s and its memory from
\`/proc/<pid>/status\`.

${idleTable}
`
writeSection('recovery', body)
console.log(body)
