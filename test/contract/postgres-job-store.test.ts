/**
 * The JobStore contract on PostgreSQL, each case in a schema of its own (test/helpers/postgres.ts).
 * Skipped, saying why, where no server answers at 127.0.0.1:5432; never under CI=true.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { openPostgresStore, type PostgresStore } from '../../src/adapters/postgres/pg-store.js'
import { seededRandom } from '../../src/ports/clock.js'
import { adminQuery, dropSchema, postgresSkipReason, testSchema } from '../helpers/postgres.js'
import { defaults, jobStoreContract, POLICY, T0 } from './job-store.contract.js'

const skip = await postgresSkipReason()

if (skip !== null) {
  it('JobStore contract: postgres', { skip }, () => {})
} else {
  jobStoreContract('postgres', async () => {
    const { schema, url } = testSchema()
    const opened: PostgresStore[] = [await openPostgresStore(url)]
    return {
      jobs: opened[0]!.jobs,
      reopen: async () => {
        await opened[0]!.close()
        const store = await openPostgresStore(url)
        opened.push(store)
        return store.jobs
      },
      cleanup: async () => {
        for (const s of opened) await s.close()
        await dropSchema(schema)
      },
    }
  })
}

if (skip === null) {
  describe('PostgreSQL job store', () => {
    it('never hands one delivery to two workers: four agents claiming one queue hard', async (t) => {
      const AGENTS = 4
      const LOOPS_PER_AGENT = 4
      const JOBS = 8_000
      const { schema, url } = testSchema()
      const agents = await Promise.all(Array.from({ length: AGENTS }, () => openPostgresStore(url)))
      t.after(async () => {
        for (const a of agents) await a.close()
        await dropSchema(schema)
      })
      for (let i = 0; i < JOBS; i += 2_000) {
        await agents[0]!.jobs.add(
          Array.from({ length: 2_000 }, (_, k) => ({ queue: 'hard', payload: i + k, id: `j${i + k}` })),
          T0,
          defaults,
        )
      }
      const delivered = new Map<string, string[]>()
      let exchanges = 0
      const started = performance.now()
      // Each loop is one worker of one agent: it acks what it got last time and claims again, in one
      // exchange, until the queue gives nothing, as the dispatcher does.
      const loop = async (agent: number, worker: number): Promise<void> => {
        const jobs = agents[agent]!.jobs
        const name = `hard#${agent}.${worker}`
        let held: string[] = []
        for (;;) {
          const limit = 1 + ((exchanges * 7 + worker) % 16)
          const r = await jobs.exchange(
            held.map((token) => ({ kind: 'ack' as const, token })),
            [{ queue: 'hard', limit, worker: name, suspects: 'any' }],
            T0 + 1,
            () => POLICY,
            seededRandom(1),
          )
          exchanges++
          for (const s of r.settled) assert.equal(s.outcome, 'done', `ack of ${s.token}`)
          const got = r.claimed[0]!
          for (const d of got)
            delivered.set(d.job.id, [...(delivered.get(d.job.id) ?? []), `${name} ${d.token}`])
          held = got.map((d) => d.token)
          if (got.length === 0) return
        }
      }
      await Promise.all(
        Array.from({ length: AGENTS * LOOPS_PER_AGENT }, (_, i) => loop(i % AGENTS, Math.floor(i / AGENTS))),
      )
      const seconds = (performance.now() - started) / 1000
      const twice = [...delivered].filter(([, ds]) => ds.length > 1)
      assert.deepEqual(twice, [], 'no job was delivered twice')
      assert.equal(delivered.size, JOBS, 'every job was delivered')
      const [counts] = await agents[1]!.jobs.counts(T0 + 2, 'hard')
      assert.equal(counts!.done, JOBS)
      assert.equal(counts!.waiting + counts!.inFlight, 0)
      const deliveries = await adminQuery<{ n: number; max: number }>(
        `SELECT count(*)::int AS n, max(delivery)::int AS max FROM ${schema}.jobs`,
      )
      assert.deepEqual(deliveries, [{ n: JOBS, max: 1 }], 'each job has had exactly one delivery')
      t.diagnostic(
        `${JOBS} jobs through ${AGENTS} agents × ${LOOPS_PER_AGENT} workers: ${exchanges} exchanges in ` +
          `${seconds.toFixed(2)} s (${Math.round(JOBS / seconds)} jobs/s claimed and acked)`,
      )
    })
  })
}
