/**
 * `npm run bench:fleet`: Shepherd on PostgreSQL against graphile-worker and pg-boss on the same
 * server, with the same trivial workload, and Shepherd on SQLite as a reference.
 *
 * 1. Throughput: N no-op jobs (payload `{ i }`) enqueued in bulk in a fresh database of the
 *    system's own, then 1, 2 or 4 agents (OS processes) started at some concurrency; timed from the
 *    first start until every job is done, or until the cap: throughput is done / elapsed.
 * 2. Latency: single jobs enqueued one at a time from one process; each timed from just before its
 *    enqueue to its start in another process (the worker's `performance.timeOrigin + now()`).
 *
 * Each setting is run BENCH_RUNS times (3) per system, the systems in a rotating order so that no
 * system always runs first or last, and the tables give the median of a figure over the runs (a run
 * that reached the cap is not repeated: its figure is the cap's).
 *
 * Knobs: BENCH_JOBS (60000), BENCH_SECONDS (the cap, 30), BENCH_RUNS (3), BENCH_AGENTS (1,2,4; 0: no throughput
 * part), BENCH_CONCURRENCY (1,8,32), BENCH_SYSTEMS (graphile,pgboss,shepherd-pg,shepherd-sqlite),
 * BENCH_WORKERS (Shepherd's worker processes per agent, 1), BENCH_LATENCY (jobs, 200; 0: none),
 * BENCH_SHEPHERD_HOSTS=uts (each Shepherd agent a host of its own: see bench/fleet/agents.ts),
 * BENCH_DRY=1 (print, do not write docs/benchmarks.md).
 * Writes the section "Fleet on PostgreSQL" of docs/benchmarks.md.
 */
import os from 'node:os'

import { SEPARATE_HOSTS, sleep } from './fleet/agents.js'
import { graphile, graphilePoolSize, pgBoss } from './fleet/competitors.js'
import {
  type LatencyResult,
  type Setting,
  type System,
  throughput,
  type ThroughputResult,
} from './fleet/measure.js'
import { describeServer } from './fleet/pg.js'
import { shepherdPg, shepherdPgDrop, shepherdSqlite, WORKERS_PER_AGENT } from './fleet/shepherd.js'
import { fmtMs, machine, summarize, writeSection } from './lib.js'

const list = (v: string | undefined, fallback: string) => (v ?? fallback).split(',').map((s) => s.trim())
// The backlog: large enough that draining it, not starting the agents, is most of a run's time. With
// 20,000 jobs a run lasted 0.7 s on a fast machine (2026-12-06 04:25), a third of it start-up, and the
// order of the systems at a setting changed from one run of the benchmark to the next.
const N = Number(process.env.BENCH_JOBS ?? 60_000)
const CAP_S = Number(process.env.BENCH_SECONDS ?? 30)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const AGENTS = list(process.env.BENCH_AGENTS, '1,2,4')
  .map(Number)
  .filter((n) => n > 0)
const CONCURRENCY = list(process.env.BENCH_CONCURRENCY, '1,8,32').map(Number)
const LATENCY_JOBS = Number(process.env.BENCH_LATENCY ?? 200)
const ALL: System[] = [graphile, pgBoss, shepherdPg, shepherdPgDrop, shepherdSqlite]
const SYSTEMS = list(process.env.BENCH_SYSTEMS, ALL.map((s) => s.key).join(',')).map((key) => {
  const s = ALL.find((x) => x.key === key)
  if (!s) throw new Error(`BENCH_SYSTEMS: no system "${key}" (${ALL.map((x) => x.key).join(', ')})`)
  return s
})
const has = (s: System) => SYSTEMS.includes(s)
const KNOBS = [
  'BENCH_JOBS',
  'BENCH_SECONDS',
  'BENCH_RUNS',
  'BENCH_AGENTS',
  'BENCH_CONCURRENCY',
  'BENCH_SYSTEMS',
  'BENCH_WORKERS',
  'BENCH_LATENCY',
  'BENCH_SHEPHERD_HOSTS',
]
const COMMAND = [
  ...KNOBS.filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]}`),
  'npm run bench:fleet',
].join(' ')
const SERVER = await describeServer()
const HOSTS_TEXT =
  ',\n  each agent in a UTS namespace of its own whose host name is its node name (`agent-<k>`): the store tells\n  agents apart by host name'
const SETTINGS_TEXT = `Settings, each system's best documented ones for a backlog of tiny jobs (\`bench/workers/*-agent.mjs\`):

- ${graphile.label}: per agent one \`run()\` with \`concurrentJobs\` = the concurrency and the batching of
  graphile-worker's performance page (\`localQueue: { size: 500 }\`, \`completeJobBatchDelay: 0\`,
  \`failJobBatchDelay: 0\`); \`maxPoolSize\` as its docs advise, the larger of 10 and concurrency + 2, but at most
  80 / agents (${graphilePoolSize(4, 32)} with 4 agents at 32) so that the fleet stays within the server's 100 connections; new jobs wake it
  through LISTEN/NOTIFY (\`pollInterval\` left at 2 s).
- ${pgBoss.label}: per agent one instance with one \`work()\` that fetches \`batchSize\` = the concurrency
  jobs at a time (so that at most that many are in an agent's hands, as with the others) and polls every 0.5 s
  (\`pollingIntervalSeconds\`, the least it allows; the default is 2 s). pg-boss 10 has no wake-up on enqueue,
  and after each fetch its worker waits the polling interval minus the fetch's duration (\`src/worker.js\`): an
  agent runs at most \`batchSize\` jobs per 0.5 s, ≤ 2 × agents × concurrency jobs/s.
- Shepherd on PostgreSQL: per agent one \`shepherd start\` (the built CLI, its own node name and API port) with one
  pool of ${WORKERS_PER_AGENT} worker process${WORKERS_PER_AGENT === 1 ? '' : 'es'} (\`bench/workers/noop-jobs.mjs\`, the SDK's \`work()\`) at the concurrency, every agent on the
  same database${SEPARATE_HOSTS ? HOSTS_TEXT : ''}; done jobs kept 24 h (\`keep_done\`'s default).
  Shepherd on PostgreSQL, keep_done 0: the same with \`queues.q.keep_done: 0\`, so that an ack deletes its job
  as graphile-worker's completion does (its workers, \`bench/workers/noop-counted.mjs\`, say how many jobs they ran
  and when, since no row is left to tell). Shepherd on SQLite: one \`shepherd start\` with agents × ${WORKERS_PER_AGENT} worker processes.
- graphile-worker 0.17.3 and pg-boss 10.4.2 are the newest releases that run on Node 20, this project's Node.`
// The 1-minute load average still counts what ran just before (an earlier benchmark, a build): the
// runs start once it has fallen below 1, or after QUIET_WAIT_MS whatever it is, and the note says which.
const QUIET_WAIT_MS = 180_000
const waitedFrom = performance.now()
while (os.loadavg()[0]! >= 1 && performance.now() - waitedFrom < QUIET_WAIT_MS) await sleep(5_000)
const SHARED_NOTE =
  os.loadavg()[0]! >= 1
    ? 'other work shared the machine during this run (2 cores), so every figure is noisy.'
    : 'the machine was otherwise quiet.'

const started = new Date()
const loadBefore = os.loadavg()[0]!
const settings: Setting[] = AGENTS.flatMap((agents) =>
  CONCURRENCY.map((concurrency) => ({ agents, concurrency })),
)
/** Every run of a system at a setting, in the order they ran. */
const results = new Map<string, ThroughputResult[]>()
const key = (s: System, x: Setting) => `${s.key} ${x.agents} ${x.concurrency}`
for (const setting of settings) {
  for (let run = 0; run < RUNS; run++) {
    // Rotated: each system runs first in one round, last in another.
    const order = SYSTEMS.map((_, i) => SYSTEMS[(i + run) % SYSTEMS.length]!)
    for (const system of order) {
      const earlier = results.get(key(system, setting)) ?? []
      if (earlier.some((r) => !r.complete)) continue
      const r = await throughput(system, setting, N, CAP_S * 1000)
      results.set(key(system, setting), [...earlier, r])
      log(system, setting, r)
    }
  }
}

function log(system: System, setting: Setting, r: ThroughputResult): void {
  console.log(
    `${system.key} agents=${setting.agents} concurrency=${setting.concurrency}: ${Math.round(r.jobsPerSecond)} jobs/s`,
    `(drain ${r.drainPerSecond === null ? '?' : Math.round(r.drainPerSecond)} jobs/s)`,
    `(${r.done} done in ${Math.round(r.elapsedMs)} ms${r.complete ? '' : ', capped'};`,
    `open ${r.tally.open}, failed ${r.tally.failed}, duplicates ${r.duplicates ?? '?'})`,
    ...r.agentFailures.map((f) => `\n  ✗ ${f}`),
  )
}

const latencies: Array<{ system: System; result: LatencyResult }> = []
if (LATENCY_JOBS > 0)
  for (const system of SYSTEMS)
    for (const result of (await system.latency?.(LATENCY_JOBS)) ?? []) {
      latencies.push({ system, result })
      console.log(`latency ${system.key} (${result.how}):`, result.failure ?? summarize(result.ms))
    }

const body = render()
if (process.env.BENCH_DRY !== '1') writeSection('fleet', body)
console.log(body)
process.exit(0)

/** A figure of a run: jobs per second end to end, or the drain rate (null where unknown). */
type Figure = (r: ThroughputResult) => number | null
function endToEnd(r: ThroughputResult): number | null {
  return r.jobsPerSecond
}
function drain(r: ThroughputResult): number | null {
  return r.drainPerSecond
}

/** The median of a figure over a system's runs at a setting (null where a run does not know it). */
function median(runs: readonly ThroughputResult[] | undefined, figure: Figure): number | null {
  const values = (runs ?? []).map(figure)
  if (values.length === 0 || values.some((v) => v === null)) return null
  const sorted = (values as number[]).sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function cell(s: System, x: Setting, figure: Figure): string {
  const runs = results.get(key(s, x))
  const v = median(runs, figure)
  if (!runs || v === null) return '–'
  return `${Math.round(v)}${runs.every((r) => r.complete) ? '' : ' †'}${runs.some((r) => r.agentFailures.length > 0) ? ' ✗' : ''}`
}

function ratio(a: System, b: System, x: Setting, figure: Figure): string {
  const ra = results.get(key(a, x))
  const rb = results.get(key(b, x))
  const ran = (runs: ThroughputResult[] | undefined) =>
    runs !== undefined && runs.every((r) => r.agentFailures.length === 0)
  const va = median(ra, figure)
  const vb = median(rb, figure)
  return ran(ra) && ran(rb) && va && vb ? `${(va / vb).toFixed(2)}×` : '–'
}

/** An agent's error in a line: its first sentence and its code. */
function brief(error: string): string {
  const code = /\[([A-Z_]+)\]\s*$/.exec(error)?.[1]
  const first = error.split('. ')[0]!
  return code && !first.includes(code) ? `${first} (${code})` : first
}

function checks(): string {
  const lines: string[] = []
  for (const [k, runs] of results)
    runs.forEach((r, i) => {
      const lost = N - r.tally.done - r.tally.open - r.tally.failed
      const dup = r.duplicates ?? 'not visible'
      const first = r.firstJobMs === null ? '?' : Math.round(r.firstJobMs)
      const last = r.lastJobMs === null ? '?' : Math.round(r.lastJobMs)
      lines.push(
        `| ${k.replace(/ /g, ' | ')} | ${i + 1} | ${r.done} | ${Math.round(r.elapsedMs)} | ${first} | ${last} | ${Math.round(r.enqueueMs)} | ${r.tally.open} | ${r.tally.failed} | ${lost} | ${dup} |`,
      )
    })
  const failures = [...results].flatMap(([k, runs]) =>
    runs
      .flatMap((r) => r.agentFailures)
      .map((f) => {
        const [system, agents, concurrency] = k.split(' ')
        return `- ${system}, ${agents} agents at concurrency ${concurrency}, ${brief(f)}`
      }),
  )
  if (failures.length > 0)
    lines.push(
      '',
      `✗: agents exited before they were stopped (the row's figure is what the others did; no ratio is drawn from it):`,
      '',
      ...failures,
    )
  return lines.join('\n')
}

function render(): string {
  const heads = ['agents', 'concurrency', ...SYSTEMS.map((s) => s.label)]
  const ratios: Array<[System, System, string]> = [
    [shepherdPg, graphile, 'Shepherd PG / graphile-worker'],
    [shepherdPgDrop, graphile, 'Shepherd PG keep_done 0 / graphile-worker'],
    [shepherdPg, pgBoss, 'Shepherd PG / pg-boss'],
    [shepherdPg, shepherdSqlite, 'Shepherd PG / SQLite'],
  ]
  const shown = ratios.filter(([a, b]) => has(a) && has(b))
  const table = (figure: Figure) =>
    [
      `| ${[...heads, ...shown.map(([, , h]) => h)].join(' | ')} |`,
      `| ${[...heads, ...shown].map(() => '---').join(' | ')} |`,
      ...settings.map(
        (x) =>
          `| ${[
            x.agents,
            x.concurrency,
            ...SYSTEMS.map((s) => cell(s, x, figure)),
            ...shown.map(([a, b]) => ratio(a, b, x, figure)),
          ].join(' | ')} |`,
      ),
    ].join('\n')
  const latencyRows = latencies.map(({ system, result }) => {
    if (result.failure) return `| ${system.label} | ${result.how} | ✗ ${brief(result.failure)} | | | |`
    const s = summarize(result.ms)
    return `| ${system.label} | ${result.how} | ${s.n} | ${fmtMs(s.p50)} | ${fmtMs(s.p95)} | ${fmtMs(s.max)} |`
  })
  return `## Fleet on PostgreSQL (\`npm run bench:fleet\`)

Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}; ${SERVER}. Load average ${loadBefore.toFixed(2)} at the start and
${os.loadavg()[0]!.toFixed(2)} at the end: ${SHARED_NOTE}
Command: \`${COMMAND}\`.

**Throughput**, end to end: ${N.toLocaleString('en')} no-op jobs (payload \`{ i }\`) enqueued in bulk (batches of 1,000)
into a fresh database of the system's own (\`CREATE DATABASE bench_<system>_<pid>\`, dropped after the run),
then the agents (separate OS processes) are started; timed from the first start until every job is done,
capped at ${CAP_S} s (†: the cap was reached; the figure is the jobs done by then over the cap). Process start-up
is inside the time for every system; the backlog is large enough that it is not most of it. Each figure is the median of ${RUNS} runs (the systems taking turns to run
first; a capped run is not repeated), each ratio the ratio of two medians. Jobs per second:

${table(endToEnd)}

**Drain rate**, the same runs with the start-up left out: the jobs over the time from the first job
to the last (the first as in the table of runs below; the last: Shepherd's latest \`finished_at\` in the
store, the competitors' latest job end as their agents say once stopped). With several agents, those
that start later still start inside it. Jobs per second:

${table(drain)}

${SETTINGS_TEXT}

Every run, checked once its agents stopped (run: its number at that setting): done and ms (elapsed) make the figure; first job: ms from the
first start to the first job (competitors: started, as their agents say; Shepherd: done, from the store),
the start-up inside the elapsed time; last job: ms from the first start to the last job done (as in the drain
rate); enqueue: how long the bulk enqueue before the run took (library
calls in batches of 1,000 from the benchmark's process, not in the figure); open: not yet done, which only a capped run may leave; lost = jobs −
done − open − failed; duplicates: deliveries of done jobs beyond the first.

| system | agents | concurrency | run | done | ms | first job ms | last job ms | enqueue ms | open | failed | lost | duplicates |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${checks()}

**Latency**, enqueue in one process → the job started in another: ${LATENCY_JOBS} single jobs (after 10 not
counted), each enqueued once the last had started, after a random pause of 10–510 ms (so that no
enqueue keeps step with a poll); from just before the enqueue call to the handler's first line, both
read as \`performance.timeOrigin + performance.now()\`.

| system | enqueue | jobs | p50 ms | p95 ms | max ms |
| --- | --- | --- | --- | --- | --- |
${latencyRows.join('\n')}
`
}
