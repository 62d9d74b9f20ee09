/**
 * `npm run bench:recovery`: injects faults into real workers under a real daemon and measures how
 * fast Shepherd sees them and puts a ready worker back; starts a steady leak toward a memory limit
 * and measures how long before the limit the worker is replaced, with the memory trend and with the
 * limit alone; then runs `shepherd start` with 50 idle workers and reads its CPU and memory from
 * /proc. Writes the results to docs/benchmarks.md.
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
const LEAK_FAULTS = Number(process.env.BENCH_LEAK_FAULTS ?? 10)
/** bench/workers/sdk-leak-on-signal.mjs: 8 MiB per 200 ms unit (40 MiB/s) toward a 300 MiB limit. */
const LEAK = { mbPerUnit: 8, unitMs: 200, limitMb: 300 }
const here = path.dirname(fileURLToPath(import.meta.url))
const worker = (name: string) => path.join(here, 'workers', name)
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Waiter {
  match: (e: AnyEvent) => boolean
  resolve: (t: number, e: AnyEvent) => void
}

class Probe {
  private waiters: Waiter[] = []
  constructor(daemon: Daemon) {
    daemon.onEvent((e) => {
      const t = now()
      for (const w of [...this.waiters]) {
        if (w.match(e)) {
          this.waiters.splice(this.waiters.indexOf(w), 1)
          w.resolve(t, e)
        }
      }
    })
  }
  next(type: AnyEvent['type'], workerId: string, timeoutMs = 30_000): Promise<number> {
    return this.nextEvent(type, workerId, timeoutMs).then((r) => r.t)
  }
  nextEvent(
    type: AnyEvent['type'],
    workerId: string,
    timeoutMs = 30_000,
  ): Promise<{ t: number; e: AnyEvent }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${type} for ${workerId} within ${timeoutMs} ms`)),
        timeoutMs,
      )
      this.waiters.push({
        match: (e) => e.type === type && e.workerId === workerId,
        resolve: (t, e) => {
          clearTimeout(timer)
          resolve({ t, e })
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

interface LeakFigures {
  label: string
  detect: Summary
  ready: Summary
  /** When the limit would have been crossed, from the leak's rate and the memory before it. */
  crossing: Summary
  /** Replacement ready this long before the limit would have been crossed (negative: after). */
  lead: Summary
  /** The shortest lead of all. */
  leadMin: number
  rssAtDetectionMb: Summary
  causes: string[]
}

/** Resident MiB of a process (the leaking worker has no children), from /proc. */
function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  return Number(kb) / 1024
}

/**
 * Starts the leak (SIGUSR1) in a ready worker, n times: leak start → detected and → replacement
 * ready, against the moment the limit would have been crossed: unit k ends k × unitMs after the
 * signal with k × mbPerUnit MiB more than before it.
 */
async function leakLoop(
  daemon: Daemon,
  probe: Probe,
  id: string,
  n: number,
  label: string,
): Promise<LeakFigures> {
  const detect: number[] = []
  const ready: number[] = []
  const crossing: number[] = []
  const lead: number[] = []
  const rssAt: number[] = []
  const causes = new Set<string>()
  for (let i = 0; i < n; i++) {
    await until(() => daemon.supervisor.getWorker(id)?.state === 'ready', `${id} ready`)
    await sleep(250)
    const pid = daemon.supervisor.getWorker(id)!.pid!
    const before = rssMb(pid)
    const crossAt = (Math.floor((LEAK.limitMb - before) / LEAK.mbPerUnit) + 1) * LEAK.unitMs
    const opened = probe.nextEvent('incident:opened', id)
    const recovered = probe.next('incident:recovered', id)
    const t0 = now()
    process.kill(pid, 'SIGUSR1')
    const o = await opened
    const r = await recovered
    if (o.e.type !== 'incident:opened') throw new Error('unexpected event')
    const { cause, detail } = o.e.data.incident
    causes.add(cause)
    const mb = /(\d+(?:\.\d+)?) MiB (?:of|> limit)/.exec(detail)?.[1]
    if (mb === undefined) throw new Error(`no MiB in "${detail}"`)
    detect.push(o.t - t0)
    ready.push(r - t0)
    crossing.push(crossAt)
    lead.push(crossAt - (r - t0))
    rssAt.push(Number(mb))
  }
  return {
    label,
    detect: summarize(detect),
    ready: summarize(ready),
    crossing: summarize(crossing),
    lead: summarize(lead),
    leadMin: Math.min(...lead),
    rssAtDetectionMb: summarize(rssAt),
    causes: [...causes],
  }
}

async function faults(): Promise<{ rows: Array<[string, string, Summary]>; leaks: LeakFigures[] }> {
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
        leaky: {
          command: process.execPath,
          args: [worker('sdk-leak-on-signal.mjs'), String(LEAK.mbPerUnit)],
          thresholds: { memory_mb: LEAK.limitMb - 50, memory_limit_mb: LEAK.limitMb },
          stop_timeout: 2,
        },
        'leaky-limit': {
          command: process.execPath,
          args: [worker('sdk-leak-on-signal.mjs'), String(LEAK.mbPerUnit)],
          thresholds: {
            memory_mb: LEAK.limitMb - 50,
            memory_limit_mb: LEAK.limitMb,
            memory_trend_horizon: 0,
          },
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
  const leaks: LeakFigures[] = []
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
    leaks.push(await leakLoop(daemon, probe, 'leaky#1', LEAK_FAULTS, 'memory trend (default horizon, 5 min)'))
    leaks.push(await leakLoop(daemon, probe, 'leaky-limit#1', LEAK_FAULTS, 'trend off: the limit alone'))
  } finally {
    await daemon.stop('benchmark done', true)
    rmSync(dir, { recursive: true, force: true })
  }
  return { rows, leaks }
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

/** fmtMs, with a minus sign for a time after the moment it is measured against. */
function signedMs(v: number): string {
  return v < 0 ? `−${fmtMs(-v)}` : fmtMs(v)
}

const started = new Date()
const loadAtStart = os.loadavg()[0]!
const { rows, leaks } = await faults()
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
const leakTable = [
  '| leak of 40 MiB/s toward a 300 MiB limit | faults | cause | MiB at detection p50 | leak → detected p50 ms | leak → replacement ready p50 ms | p95 ms | max ms | limit would be crossed p50 ms | ready before the limit p50 ms | min ms |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...leaks.map(
    (l) =>
      `| ${l.label} | ${l.ready.n} | ${l.causes.join(', ')} | ${l.rssAtDetectionMb.p50.toFixed(0)} | ${fmtMs(l.detect.p50)} | ${fmtMs(l.ready.p50)} | ${fmtMs(l.ready.p95)} | ${fmtMs(l.ready.max)} | ${fmtMs(l.crossing.p50)} | ${signedMs(l.lead.p50)} | ${signedMs(l.leadMin)} |`,
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

Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}; load average
${loadAtStart.toFixed(2)} at the start and ${os.loadavg()[0]!.toFixed(2)} at the end (other work on the machine slows every figure).

How: one daemon in the benchmark's process (real worker processes, real SQLite store, real API),
pools of one worker each. The benchmark injects each fault itself (\`kill -KILL\`, \`kill -STOP\`,
or SIGUSR2, which sends the worker into an endless loop that freezes its event loop) and times,
with \`performance.now()\`, the moment the daemon's \`incident:opened\` (detected) and
\`incident:recovered\` (a replacement reported ready) events reach a listener. Before each fault the
worker has been ready for 250 ms, past the bench config's \`stable_after: 200ms\`, so every fault is
a first restart rather than a crash loop that backs off. Workers are \`bench/workers/*.mjs\`.

${table}

A leak: pools \`leaky\` and \`leaky-limit\` run \`bench/workers/sdk-leak-on-signal.mjs\`, which idles
until SIGUSR1 and then works in 200 ms units that each keep 8 MiB (40 MiB/s, on an exact
schedule), with \`memory_limit_mb: 300\` and the bench's \`check_interval: 1\`; \`leaky-limit\` sets
\`memory_trend_horizon: 0\`. The benchmark reads the worker's resident memory from /proc, sends
SIGUSR1 and times \`incident:opened\` and \`incident:recovered\` from that moment. The limit would
have been crossed at the end of the first unit that takes the memory past 300 MiB (from the
memory before the leak and the leak's rate); "ready before the limit" is that moment minus the
replacement's ready time (negative: after it). "MiB at detection" is the sample the incident
names.

${leakTable}

The 50-worker figures come from \`shepherd start\` (the built CLI) in its own process, with 50
idle workers of one pool, \`check_interval: 1\`, the default \`hang_timeout\` (10 s); after 8 s of
warm-up, its CPU time is read from \`/proc/<pid>/stat\` over ${IDLE_SECONDS} s and its memory from
\`/proc/<pid>/status\`.

${idleTable}
`
writeSection('recovery', body)
console.log(body)
