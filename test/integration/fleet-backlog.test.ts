/**
 * A backlog drained by a fleet that grows: one real agent runs a queue's jobs; two more agents start
 * on the same PostgreSQL schema while it holds jobs (held until the test lets them finish), and
 * they drain the rest. No fault is
 * injected, so every job runs exactly once: an agent's start puts back only its own node's jobs,
 * the leader reclaims none (every lease is live), no answer is refused as stale, and none is left
 * open. Skipped where no PostgreSQL answers at 127.0.0.1:5432, never under CI=true.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'

import { openPostgresStore } from '../../src/adapters/postgres/pg-store.js'
import { fixture, NODE } from '../helpers/daemon.js'
import { startAgents } from '../helpers/fleet.js'
import { adminQuery, postgresSkipReason } from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'

const skip = await postgresSkipReason()
const JOBS = 800
const HELD = 8

describe('a fleet draining a backlog', () => {
  it(
    'runs every job once while agents join, with no fault: none put back, none refused, none left',
    { skip: skip ?? false },
    async (t) => {
      const ledger = path.join(os.tmpdir(), `shepherd-ledger-${process.pid}-${Date.now()}.txt`)
      t.after(() => rmSync(ledger, { force: true }))
      const fleet = await startAgents(t, ['agent-a'], {
        workers: {
          jobs: {
            command: NODE,
            args: [fixture('sdk-jobs.mjs')],
            queue: 'work',
            concurrency: 8,
            env: { LEDGER: ledger },
          },
        },
      })
      const { schema, url } = fleet
      const store = await openPostgresStore(url)
      t.after(() => store.close())
      // The first 8 jobs (agent-a's 8 slots) run until the gate opens: agent-a holds them while
      // the others start, however long their starts take on a busy machine.
      const gate = path.join(fleet.dir, 'gate')
      const job = (i: number) => (i < HELD ? { op: 'gate', path: gate } : { op: 'sleep', ms: 20 })
      await store.jobs.add(
        Array.from({ length: JOBS }, (_, i) => ({ queue: 'work', id: `j${i}`, payload: job(i) })),
        Date.now(),
        () => ({ maxAttempts: 5, timeoutMs: null }),
      )
      const count = async (where: string): Promise<number> =>
        Number(
          (await adminQuery<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.jobs WHERE ${where}`))[0]!.n,
        )
      const heldByA = `state = 'active' AND owner_node = 'agent-a' AND delivery = 1 AND id IN (${Array.from({ length: HELD }, (_, i) => `'j${i}'`).join(', ')})`
      await waitFor(async () => (await count(heldByA)) === HELD, 'agent-a holds the gated jobs', 20_000, 10)
      // Each start puts back its own node's jobs: never those agent-a runs meanwhile.
      await fleet.join('agent-b')
      await fleet.join('agent-c')
      await waitFor(
        async () => (await count(`state = 'done'`)) === JOBS - HELD,
        'agents b and c run the rest',
        60_000,
        100,
      )
      assert.equal(await count(heldByA), HELD, 'agent-a still holds its jobs, first delivery')
      writeFileSync(gate, '')

      await waitFor(
        async () => (await count(`state = 'done'`)) === JOBS,
        `every job done (logs: ${fleet.agents.map((a) => a.log()).join(' ')})`,
        60_000,
        100,
      )
      assert.equal(await count(`delivery <> 1`), 0, 'no job delivered twice')
      const lines = existsSync(ledger) ? readFileSync(ledger, 'utf8').trim().split('\n') : []
      assert.equal(lines.length, JOBS, 'each job ran once')
      assert.equal(new Set(lines.map((l) => l.split(' ')[0])).size, JOBS)
      // Stopped, so that the events they recorded are all written.
      for (const a of fleet.agents) a.child.kill('SIGTERM')
      await Promise.all(fleet.agents.map((a) => a.exited))
      const faults = await adminQuery<{ type: string; message: string }>(
        `SELECT type, message FROM ${schema}.events WHERE type IN ('job:stale', 'job:reclaimed', 'job:requeued')`,
      )
      assert.deepEqual(faults, [], 'no job put back or refused')
    },
  )
})
