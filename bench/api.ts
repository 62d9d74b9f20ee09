/**
 * `npm run bench:api`: the control API and the dashboard under a fleet of 200 workers in 20 pools.
 *
 * 1. GET /metrics: latency of 300 scrapes, one after another, from this process over loopback.
 * 2. The supervisor's CPU over 30 s without and then with the dashboard open in headless Chromium.
 * 3. Event to dashboard: a worker is killed with SIGKILL; the time until its card on the open page
 *    shows the crash (its state badge changes), and until it shows the replacement's pid.
 *
 * The supervisor is `shepherd start` (the built CLI) in its own process; workers are `sleep`, so
 * that 200 of them fit a 2-core machine. Writes the results to docs/benchmarks.md.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

import { stringify } from 'yaml'

import { launchChromium } from '../test/helpers/chromium.js'
import { freePort } from '../test/helpers/cli.js'
import { fmtMs, machine, summarize, writeSection } from './lib.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const POOLS = 20
const PER_POOL = 10
const SCRAPES = Number(process.env.BENCH_SCRAPES ?? 300)
const CPU_SECONDS = Number(process.env.BENCH_CPU_SECONDS ?? 30)
const KILLS = Number(process.env.BENCH_KILLS ?? 20)
const CHECK_INTERVAL_S = 5
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(
  cond: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

type Worker = { id: string; pid: number | null; state: string }

const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-bench-api-'))
const port = await freePort()
const base = `http://127.0.0.1:${port}`
const workers: Record<string, unknown> = {}
for (let p = 0; p < POOLS; p++) {
  workers[`pool${p}`] = {
    command: 'sleep',
    args: ['3600'],
    replicas: PER_POOL,
    ...(p < 4 ? { queue: `queue${p}` } : {}),
    stop_timeout: 2,
  }
}
const file = path.join(dir, 'bench.yaml')
writeFileSync(
  file,
  stringify({
    recovery: {
      check_interval: CHECK_INTERVAL_S,
      stable_after: '1s',
      restart_limit: { max: 1000, window: 60 },
    },
    api: { port },
    log: { level: 'warn' },
    workers,
  }),
)
const child = spawn(process.execPath, [path.join(here, '..', 'bin', 'shepherd.js'), 'start', '-c', file], {
  stdio: 'ignore',
})
const browser = await launchChromium()
const ticks = () => {
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12])
}
const cpuOver = async (seconds: number): Promise<number> => {
  const t0 = ticks()
  const w0 = performance.now()
  await sleep(seconds * 1000)
  return ((ticks() - t0) / 100 / ((performance.now() - w0) / 1000)) * 100
}
const api = async <T>(route: string): Promise<T> => (await (await fetch(`${base}${route}`)).json()) as T

try {
  await until(
    async () => {
      try {
        const { workers: ws } = await api<{ workers: Worker[] }>('/api/workers')
        return ws.length === POOLS * PER_POOL && ws.every((w) => w.state === 'ready')
      } catch {
        return false
      }
    },
    `${POOLS * PER_POOL} ready workers`,
  )
  // A few jobs in the queues, so that queue metrics have something to count.
  for (let q = 0; q < 4; q++) {
    await fetch(`${base}/api/queues/queue${q}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jobs: Array.from({ length: 100 }, (_, i) => ({ payload: { i } })) }),
    })
  }
  await sleep(CHECK_INTERVAL_S * 1000 + 500)

  // 1. /metrics
  const scrapes: number[] = []
  let bytes = 0
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = performance.now()
    const res = await fetch(`${base}/metrics`)
    bytes = (await res.text()).length
    scrapes.push(performance.now() - t0)
  }
  const metrics = summarize(scrapes)
  console.log('metrics', metrics, bytes)

  // 2. CPU without, then with, the dashboard open
  const cpuIdle = await cpuOver(CPU_SECONDS)
  // The page's CSP forbids eval; the measuring code injected here needs it, the page does not.
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 }, bypassCSP: true })
  await page.goto(base)
  await page.waitForFunction("document.documentElement.dataset.ready === 'true'", undefined, {
    timeout: 60_000,
  })
  await sleep(2000)
  const cpuDashboard = await cpuOver(CPU_SECONDS)
  console.log('cpu', cpuIdle, cpuDashboard)

  // 3. Event to dashboard
  const toCrash: number[] = []
  const toReplacement: number[] = []
  for (let i = 0; i < KILLS; i++) {
    const { workers: ws } = await api<{ workers: Worker[] }>('/api/workers')
    const victim = ws.filter((w) => w.state === 'ready' && w.pid !== null)[i % 50]!
    // Page-side code is plain strings: this file is type-checked for Node, without the DOM's types.
    await page.evaluate(
      `(() => {
      const card = document.querySelector('article[data-worker-id="' + CSS.escape(${JSON.stringify('__ID__')}) + '"]')
      const badge = card.querySelector('.badge.state')
      const before = badge.textContent
      window.__seen = {}
      const observer = new MutationObserver(() => {
        const now = Date.now()
        if (window.__seen.crash === undefined && badge.textContent !== before) window.__seen.crash = now
        if (window.__seen.crash !== undefined && window.__seen.replaced === undefined && badge.textContent === before) {
          window.__seen.replaced = now
          observer.disconnect()
        }
      })
      observer.observe(card, { subtree: true, childList: true, characterData: true })
    })()`.replace('__ID__', victim.id),
    )
    const killedAt = Date.now()
    process.kill(victim.pid!, 'SIGKILL')
    await page.waitForFunction(
      'window.__seen.crash !== undefined && window.__seen.replaced !== undefined',
      undefined,
      {
        timeout: 30_000,
      },
    )
    const seen = (await page.evaluate('window.__seen')) as { crash: number; replaced: number }
    toCrash.push(seen.crash - killedAt)
    toReplacement.push(seen.replaced - killedAt)
    await sleep(1500)
  }
  const crash = summarize(toCrash)
  const replaced = summarize(toReplacement)
  console.log('event', crash, replaced)

  const started = new Date()
  const body = `## API and dashboard (\`npm run bench:api\`)

Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}, Chromium 156 headless.

A supervisor (\`shepherd start\`, the built CLI, in its own process) with ${POOLS * PER_POOL} workers in ${POOLS} pools
(\`sleep 3600\`, so that the fleet fits this machine), 4 of them with a queue of 100 jobs,
\`check_interval: ${CHECK_INTERVAL_S}\`.

| figure | target | n | p50 | p95 | max |
| --- | --- | --- | --- | --- | --- |
| \`GET /metrics\` (${Math.round(bytes / 1024)} KiB of text), loopback, sequential | p50 < 20 ms | ${metrics.n} | ${fmtMs(metrics.p50)} ms | ${fmtMs(metrics.p95)} ms | ${fmtMs(metrics.max)} ms |
| worker killed → its card shows the crash | < 500 ms | ${crash.n} | ${fmtMs(crash.p50)} ms | ${fmtMs(crash.p95)} ms | ${fmtMs(crash.max)} ms |
| worker killed → its card shows it ready again | | ${replaced.n} | ${fmtMs(replaced.p50)} ms | ${fmtMs(replaced.p95)} ms | ${fmtMs(replaced.max)} ms |

The event times are wall-clock milliseconds: the kill is stamped here just before \`kill -KILL\`,
the update by a MutationObserver on the worker's state badge in the page (the same machine's
clock): first when it leaves "ready", then when it says "ready" again. A \`sleep\` worker has no SDK,
so its replacement counts as ready only after \`min_uptime\` (500 ms).

Supervisor CPU (its own time from /proc/<pid>/stat over ${CPU_SECONDS} s, % of one core): ${cpuIdle.toFixed(2)} % with
no dashboard, ${cpuDashboard.toFixed(2)} % with the dashboard open (target: under 5 %).
`
  writeSection('api', body)
  console.log(body)
} finally {
  await browser.close()
  child.kill('SIGTERM')
  await new Promise((r) => child.on('exit', r))
  rmSync(dir, { recursive: true, force: true })
}
process.exit(0)
