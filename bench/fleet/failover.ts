/**
 * Failover in the fleet benchmark: three `shepherd start` agents on one PostgreSQL database, each
 * holding jobs that run for a minute; one is SIGKILLed (its SDK workers end with it), and the time
 * is taken from the kill until every job it held is active on another agent (claimed by a worker
 * there). Two cases: an agent that does not lead (its lease lapses, the leader reclaims its jobs),
 * and the leader itself (its leadership lapses too: another agent must take it before the reclaim
 * chore runs). For the leader, also the time until another agent holds the leadership.
 *
 * Knobs: BENCH_FAILOVER (runs per case, 5), BENCH_LEASE (node.lease, 3s: the default).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { stringify } from 'yaml'

import { parseDuration } from '../../src/config/units.js'
import { Queue } from '../../src/queue/queue.js'
import { fmtMs, summarize } from '../lib.js'
import { type Agent, shepherdAgent, stopAll, waitFor, workerScript } from './agents.js'
import { freshDatabase } from './pg.js'

export const FAILOVER_RUNS = Number(process.env.BENCH_FAILOVER ?? 5)
export const LEASE = process.env.BENCH_LEASE ?? '3s'
const AGENTS = 3
const CONCURRENCY = 4
/** Fewer than the agents' slots, and more than one agent's: the survivors have room for any agent's. */
const JOBS = 6

export type FailoverCase = 'agent' | 'leader'

export interface FailoverRun {
  kind: FailoverCase
  /** Jobs the killed agent held. */
  held: number
  /** From the SIGKILL until every one of them was active on another agent. */
  movedMs: number
  /** From the SIGKILL until another agent held the leadership (the leader's case only). */
  leaderMs: number | null
}

/** One run of a case. */
async function once(kind: FailoverCase): Promise<FailoverRun> {
  const db = await freshDatabase('failover')
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-failover-'))
  const agents: Agent[] = []
  const q = (sql: string, params: unknown[] = []) => db.client.query(sql, params).then((r) => r.rows)
  try {
    const files = Array.from({ length: AGENTS }, (_, k) => {
      const file = path.join(dir, `agent-${k + 1}`, 'shepherd.yaml')
      mkdirSync(path.dirname(file), { recursive: true })
      writeFileSync(
        file,
        stringify({
          node: { lease: LEASE },
          api: { port: 0 },
          log: { level: 'warn' },
          store: { url: db.url },
          workers: {
            w: {
              command: process.execPath,
              args: [workerScript('hold-jobs.mjs')],
              queue: 'q',
              concurrency: CONCURRENCY,
            },
          },
        }),
      )
      return file
    })
    // The first agent migrates the schema; the others start once it has.
    agents.push(shepherdAgent(files[0]!, 'agent-1'))
    const started = (n: number) =>
      waitFor(
        async () =>
          Number((await q('SELECT count(*) AS n FROM supervisor_leases').catch(() => [{ n: 0 }]))[0].n) >= n,
        performance.now() + 30_000,
        50,
      )
    if (!(await started(1))) throw new Error('the first agent did not start within 30 s')
    for (let k = 1; k < AGENTS; k++) agents.push(shepherdAgent(files[k]!, `agent-${k + 1}`))
    if (!(await started(AGENTS))) throw new Error(`${AGENTS} agents did not start within 30 s`)
    const queue = await Queue.open(files[0]!)
    try {
      await queue.addMany(
        'q',
        Array.from({ length: JOBS }, (_, i) => ({ id: `j${i}`, payload: { ms: 120_000 } })),
      )
    } finally {
      await queue.close()
    }
    const holders = async () =>
      (await q(`SELECT id, owner_node FROM jobs WHERE state = 'active'`)) as Array<{
        id: string
        owner_node: string
      }>
    if (!(await waitFor(async () => (await holders()).length === JOBS, performance.now() + 30_000, 20))) {
      throw new Error(`the ${JOBS} jobs were not all active within 30 s`)
    }
    const leader = String((await q('SELECT node FROM fleet_leader'))[0]?.node ?? '')
    const byNode = new Map<string, string[]>()
    for (const h of await holders()) byNode.set(h.owner_node, [...(byNode.get(h.owner_node) ?? []), h.id])
    const victim =
      kind === 'leader' ? leader : [...byNode.keys()].find((n) => n !== leader && byNode.get(n)!.length > 0)
    const held = byNode.get(victim ?? '') ?? []
    if (!victim || held.length === 0) throw new Error(`no ${kind} holding jobs to kill (leader ${leader})`)
    const agent = agents[Number(victim.split('-')[1]) - 1]!
    const t0 = performance.now()
    agent.child.kill('SIGKILL')
    let leaderMs: number | null = null
    const moved = await waitFor(
      async () => {
        if (kind === 'leader' && leaderMs === null) {
          const now = String((await q('SELECT node FROM fleet_leader'))[0]?.node ?? '')
          if (now !== '' && now !== victim) leaderMs = performance.now() - t0
        }
        const rows = (await q(`SELECT owner_node FROM jobs WHERE id = ANY($1) AND state = 'active'`, [
          held,
        ])) as Array<{ owner_node: string }>
        return rows.length === held.length && rows.every((r) => r.owner_node !== victim)
      },
      t0 + 60_000,
      5,
    )
    if (!moved) throw new Error(`the ${held.length} jobs of ${victim} did not move within 60 s`)
    return { kind, held: held.length, movedMs: performance.now() - t0, leaderMs }
  } finally {
    await stopAll(agents.filter((a) => a.child.exitCode === null && a.child.signalCode === null))
    rmSync(dir, { recursive: true, force: true })
    await db.drop()
  }
}

/** Every run of both cases, one after the other. */
export async function failover(runs = FAILOVER_RUNS): Promise<FailoverRun[]> {
  const out: FailoverRun[] = []
  for (const kind of ['agent', 'leader'] as const) {
    for (let i = 0; i < runs; i++) {
      const r = await once(kind)
      console.log(
        `failover (${kind} killed): ${r.held} jobs elsewhere after ${fmtMs(r.movedMs)} ms` +
          (r.leaderMs === null ? '' : `, leadership moved after ${fmtMs(r.leaderMs)} ms`),
      )
      out.push(r)
    }
  }
  return out
}

/** The Markdown of the failover part. */
export function failoverSection(runs: FailoverRun[]): string {
  const leaseMs = parseDuration(LEASE)
  if (typeof leaseMs !== 'number') throw new Error(`BENCH_LEASE: ${leaseMs.error}`)
  const row = (what: string, values: number[]) => {
    const s = summarize(values)
    return `| ${what} | ${values.length} | ${fmtMs(s.p50)} | ${fmtMs(s.max)} | ${fmtMs(leaseMs + 1_000)} |`
  }
  const moved = (kind: FailoverCase) => runs.filter((r) => r.kind === kind).map((r) => r.movedMs)
  const leader = runs.flatMap((r) => (r.leaderMs === null ? [] : [r.leaderMs]))
  return [
    `**Failover**: ${AGENTS} agents (\`node.lease: ${LEASE}\`), each running one worker at concurrency ${CONCURRENCY}; ` +
      `${JOBS} jobs that run for two minutes, all in flight; one agent SIGKILLed (its SDK workers end with it). ` +
      'Timed from the kill until every job it held was active on another agent (a worker there had it), and, when the ' +
      'leader was killed, until another agent held the leadership. A fresh database per run.',
    '',
    '| killed | runs | p50 ms | max ms | target max (lease + 1 s) |',
    '| --- | --- | --- | --- | --- |',
    row('an agent, its jobs elsewhere', moved('agent')),
    row('the leader, its jobs elsewhere', moved('leader')),
    ...(leader.length > 0 ? [row('the leader, leadership elsewhere', leader)] : []),
  ].join('\n')
}
