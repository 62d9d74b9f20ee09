/**
 * A host dies: two real agents on one PostgreSQL schema run a queue's jobs; one is SIGKILLed while
 * its workers hold jobs (its SDK workers end with it). Once its lease lapses the leader puts those
 * jobs back and the surviving agent runs them; every job is done, the only ones done twice are
 * those in flight at the kill. An agent killed during a recovery has its open incident closed by
 * the leader, as interrupted, with an event naming it. Skipped where no PostgreSQL answers at
 * 127.0.0.1:5432, never under CI=true.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'

import { openPostgresStore } from '../../src/adapters/postgres/pg-store.js'
import type { Incident } from '../../src/core/incident.js'
import { fixture, NODE } from '../helpers/daemon.js'
import { startAgents } from '../helpers/fleet.js'
import { adminQuery, postgresSkipReason } from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'

const skip = await postgresSkipReason()
const LEASE_MS = 2_000
const JOBS = 24

describe('a fleet when a host dies', () => {
  it(
    "runs the dead agent's jobs on another agent within the lease and a second, and loses none",
    { skip: skip ?? false },
    async (t) => {
      const ledger = path.join(os.tmpdir(), `shepherd-ledger-${process.pid}-${Date.now()}.txt`)
      t.after(() => rmSync(ledger, { force: true }))
      const { schema, url, agents } = await startAgents(t, ['agent-a', 'agent-b'], {
        node: { lease: `${LEASE_MS}ms` },
        queues: { work: { retry_delay: '20ms' } },
        workers: {
          jobs: {
            command: NODE,
            args: [fixture('sdk-jobs.mjs')],
            queue: 'work',
            replicas: 2,
            concurrency: 2,
            env: { LEDGER: ledger },
          },
        },
      })
      const store = await openPostgresStore(url)
      t.after(() => store.close())
      await store.jobs.add(
        Array.from({ length: JOBS }, (_, i) => ({
          queue: 'work',
          id: `j${i}`,
          payload: { op: 'sleep', ms: 1_500 },
        })),
        Date.now(),
        () => ({ maxAttempts: 5, timeoutMs: null }),
      )
      const held = async (node: string): Promise<string[]> =>
        (
          await adminQuery<{ id: string }>(
            `SELECT id FROM ${schema}.jobs WHERE state = 'active' AND owner_node = $1 ORDER BY id`,
            [node],
          )
        ).map((r) => r.id)
      await waitFor(async () => (await held('agent-a')).length >= 2, 'agent-a holds jobs', 20_000, 20)
      const dead = await held('agent-a')
      const killedAt = performance.now()
      agents[0]!.child.kill('SIGKILL')
      const state = async (id: string) =>
        (
          await adminQuery<{ state: string; owner_node: string | null }>(
            `SELECT state, owner_node FROM ${schema}.jobs WHERE id = $1`,
            [id],
          )
        )[0]
      const elsewhere = async (): Promise<boolean> => {
        for (const id of dead) {
          const s = await state(id)
          if (!(s?.state === 'done' || (s?.state === 'active' && s.owner_node === 'agent-b'))) return false
        }
        return true
      }
      await waitFor(elsewhere, `the dead agent's jobs run on agent-b (log: ${agents[1]!.log()})`, 30_000, 20)
      const tookMs = performance.now() - killedAt
      t.diagnostic(
        `${dead.length} jobs of the SIGKILLed agent running elsewhere ${Math.round(tookMs)} ms after the kill (lease ${LEASE_MS} ms)`,
      )
      // The lease (counted from its last renewal, before the kill), a leader's look, and slack.
      assert.ok(tookMs < LEASE_MS + 1_000 + 3_000, `took ${Math.round(tookMs)} ms`)
      // The reclaim is an event, in the store a moment after the fact (the write-behind's next batch).
      await waitFor(
        async () =>
          (
            await adminQuery<{ data: string }>(
              `SELECT data FROM ${schema}.events WHERE type = 'job:reclaimed'`,
            )
          ).length >= 1,
        'the job:reclaimed event',
        10_000,
        50,
      )

      await waitFor(
        async () =>
          Number(
            (
              await adminQuery<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.jobs WHERE state = 'done'`)
            )[0]!.n,
          ) === JOBS,
        'every job done',
        60_000,
        100,
      )
      const lines = existsSync(ledger) ? readFileSync(ledger, 'utf8').trim().split('\n') : []
      const times = new Map<string, number>()
      for (const line of lines) times.set(line.split(' ')[0]!, (times.get(line.split(' ')[0]!) ?? 0) + 1)
      assert.equal(times.size, JOBS, 'every job completed')
      const twice = [...times].filter(([, n]) => n > 1).map(([id]) => id)
      assert.ok(
        twice.every((id) => dead.includes(id)),
        `only jobs in flight at the kill ran twice: ${twice.join(', ')}`,
      )
    },
  )

  it(
    "closes the dead agent's open incidents as interrupted, and says so in an event naming it",
    { skip: skip ?? false },
    async (t) => {
      const { schema, agents } = await startAgents(t, ['agent-a', 'agent-b'], {
        node: { lease: `${LEASE_MS}ms` },
        // A failed verification waits a minute before the retry: the incident stays open meanwhile.
        recovery: { retry_delay: 60, jitter: 0 },
        workers: {
          flaky: { command: NODE, args: [fixture('exit-with.mjs'), '1', '300'], nodes: ['agent-a'] },
        },
      })
      const incidents = () =>
        adminQuery<{ id: string; phase: string; data: string }>(
          `SELECT id, phase, data FROM ${schema}.incidents WHERE node = 'agent-a' ORDER BY detected_at`,
        )
      const [open] = await waitFor(
        async () => {
          const found = await incidents()
          return found.some((i) => i.phase === 'backoff') && found.filter((i) => i.phase === 'backoff')
        },
        `agent-a's incident waits for its retry (log: ${agents[0]!.log()})`,
        30_000,
        50,
      )
      const killedAt = performance.now()
      agents[0]!.child.kill('SIGKILL')
      const closed = await waitFor(
        async () => {
          const rows = await adminQuery<{ data: string; node: string }>(
            `SELECT data, node FROM ${schema}.events WHERE type = 'node:incidents-closed'`,
          )
          return rows.length > 0 && rows
        },
        `the leader closes agent-a's incident (log: ${agents[1]!.log()})`,
        20_000,
        50,
      )
      const tookMs = performance.now() - killedAt
      t.diagnostic(
        `agent-a's open incident closed ${Math.round(tookMs)} ms after the kill (lease ${LEASE_MS} ms)`,
      )
      // Its lease, the leadership moving (agent-a led: it started first) and a look a lease apart.
      assert.ok(tookMs < 3 * LEASE_MS + 3_000, `took ${Math.round(tookMs)} ms`)
      assert.equal(closed.length, 1, 'one event')
      assert.equal(closed[0]!.node, 'agent-b', 'recorded by the leader')
      assert.deepEqual(JSON.parse(closed[0]!.data), { node: 'agent-a', incidents: [open!.id] })
      const [after] = (await incidents()).filter((i) => i.id === open!.id)
      const inc = JSON.parse(after!.data) as Incident
      assert.deepEqual([after!.phase, inc.outcome], ['interrupted', 'interrupted'])
      assert.match(
        inc.timeline.at(-1)!.detail,
        /its agent agent-a died during the recovery .*the leader agent-b closed it/,
      )
      assert.equal(
        (await incidents()).filter(
          (i) => i.phase !== 'interrupted' && i.phase !== 'escalated' && i.phase !== 'recovered',
        ).length,
        0,
      )
    },
  )
})
