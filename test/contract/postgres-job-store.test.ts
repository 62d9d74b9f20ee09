/**
 * The JobStore contract on PostgreSQL, each case in a schema of its own (test/helpers/postgres.ts).
 * Skipped, saying why, where no server answers at 127.0.0.1:5432; never under CI=true.
 */
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'

import pg from 'pg'

import { JOB_STATEMENTS as S } from '../../src/adapters/postgres/job-queries.js'
import { openPostgresStore, type PostgresStore } from '../../src/adapters/postgres/pg-store.js'
import { seededRandom } from '../../src/ports/clock.js'
import { adminQuery, dropSchema, postgresSkipReason, TEST_PG_URL, testSchema } from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'
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
      asNode: async (node, epoch) => {
        const store = await openPostgresStore(url)
        opened.push(store)
        store.jobs.ownedBy({ node, epoch })
        // The node's agent lives: its lease runs for an hour from T0.
        await adminQuery(
          `INSERT INTO ${schema}.supervisor_leases (node, owner, host, pid, acquired_at, heartbeat_at, expires_at, epoch)
            VALUES ($1, $2, 'test-host', 1, $3, $3, $4, $5)
            ON CONFLICT (node) DO UPDATE SET owner = excluded.owner, epoch = excluded.epoch`,
          [node, `${node}-${epoch}`, T0, T0 + 3_600_000, epoch],
        )
        return store.jobs
      },
      sharedByAgents: true,
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
      // exchange, until the queue gives nothing, as the dispatcher does. The workers' claims are of
      // every kind (no job here was in a crash: each takes the jobs it is given in claim order).
      const RULES = ['any', 'alone', 'exclude'] as const
      const loop = async (agent: number, worker: number): Promise<void> => {
        const jobs = agents[agent]!.jobs
        const name = `hard#${agent}.${worker}`
        let held: string[] = []
        for (;;) {
          const limit = 1 + ((exchanges * 7 + worker) % 16)
          const r = await jobs.exchange(
            held.map((token) => ({ kind: 'ack' as const, token })),
            [{ queue: 'hard', limit, worker: name, suspects: RULES[worker % RULES.length]! }],
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

    it('wakes another store on the same schema at the commit of an add (LISTEN/NOTIFY), and listens again after its connection drops', async (t) => {
      const [front, back] = await twoStores(t)
      // Nothing in a store polls: whatever `back` hears of `front`'s adds came through the channel.
      const heard: Array<{ queues: readonly string[] | null; at: number }> = []
      const watch = back.jobs.watch((queues) => heard.push({ queues, at: performance.now() }))
      assert.equal(front.jobs.listenerPid, null, 'a store nobody watches holds no listening connection')
      await waitFor(() => watch.everywhere, 'the back store to listen', 10_000)
      const pid = back.jobs.listenerPid
      assert.ok(pid !== null)

      const latencies: number[] = []
      for (let i = 0; i < 20; i++) {
        heard.length = 0
        const t0 = performance.now()
        await front.jobs.add(
          [
            { queue: `q${i % 2}`, payload: i },
            { queue: 'other', payload: i },
          ],
          T0,
          defaults,
        )
        const wake = await waitFor(
          () => heard.find((h) => h.queues?.includes(`q${i % 2}`)),
          `the wake of add ${i}`,
          5_000,
          1,
        )
        assert.deepEqual(
          [...wake.queues!].sort(),
          ['other', `q${i % 2}`],
          'one wake names every queue of the add',
        )
        latencies.push(wake.at - t0)
      }
      latencies.sort((a, b) => a - b)
      t.diagnostic(
        `add on one store → wake of the other: p50 ${latencies[10]!.toFixed(1)} ms, max ${latencies[19]!.toFixed(1)} ms (the add's own commit included)`,
      )

      // A duplicate adds nothing and wakes nobody.
      await front.jobs.add([{ queue: 'dup', payload: 0, id: 'one' }], T0, defaults)
      await waitFor(
        () => heard.some((h) => h.queues?.includes('dup')),
        'the wake of the first add of dup',
        5_000,
        1,
      )
      heard.length = 0
      await front.jobs.add([{ queue: 'dup', payload: 0, id: 'one' }], T0, defaults)
      await front.jobs.add([{ queue: 'after', payload: 0 }], T0, defaults)
      await waitFor(
        () => heard.some((h) => h.queues?.includes('after')),
        'the wake of the add after it',
        5_000,
        1,
      )
      assert.ok(!heard.some((h) => h.queues?.includes('dup')), 'no wake for an add of nothing')

      // An administrator (or a server restart) ends the listening connection: the store says it no
      // longer hears everything (its watchers poll meanwhile), wakes them for any queue, and listens
      // again on a new connection by itself.
      heard.length = 0
      await adminQuery('SELECT pg_terminate_backend($1)', [pid])
      await waitFor(() => heard.some((h) => h.queues === null), 'a wake for any queue at the drop', 5_000, 1)
      await waitFor(
        () => watch.everywhere && back.jobs.listenerPid !== pid,
        'a new listening connection',
        10_000,
      )
      heard.length = 0
      await front.jobs.add([{ queue: 'later', payload: 1 }], T0, defaults)
      await waitFor(
        () => heard.some((h) => h.queues?.includes('later')),
        'the wake after re-listening',
        5_000,
        1,
      )

      watch.close()
      await waitFor(async () => {
        const rows = await adminQuery<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1',
          [back.jobs.listenerPid ?? 0],
        )
        return back.jobs.listenerPid === null && rows[0]!.n === 0
      }, 'the listening connection to close with the last watcher')
    })

    it('adds in one round trip, its wake included, and wakes only the queues that got jobs', async (t) => {
      const [front, back] = await twoStores(t)
      const heard: Array<readonly string[] | null> = []
      const watch = back.jobs.watch((queues) => heard.push(queues))
      t.after(() => watch.close())
      await waitFor(() => watch.everywhere, 'the back store to listen', 10_000)
      await front.jobs.add([{ queue: 'dup', payload: 0, id: 'one', idempotencyKey: 'k' }], T0, defaults)

      // Every statement the front store sends, counted at the driver (the back store's listening
      // connection is left out: it sends its own `SELECT 1` now and then).
      const sent: string[] = []
      const query = pg.Client.prototype.query
      const listener = back.jobs.listenerPid
      pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
        const c = this as pg.Client & { processID: number | null }
        const q = args[0] as string | { name?: string; text: string }
        if (c.processID !== listener) sent.push(typeof q === 'string' ? q : (q.name ?? q.text))
        return (query as (...a: unknown[]) => unknown).apply(this, args)
      } as typeof query
      let added
      try {
        added = await front.jobs.add([{ queue: 'fresh', payload: 1 }], T0, defaults)
        assert.deepEqual(sent, [S.insertNotify.name], 'one statement: no BEGIN, notify or COMMIT of its own')
        sent.length = 0
        heard.length = 0
        added = await front.jobs.add(
          [
            { queue: 'dup', payload: 2, idempotencyKey: 'k' },
            { queue: 'other', payload: 3 },
          ],
          T0,
          defaults,
        )
        assert.deepEqual(
          sent,
          [S.insertNotify.name, S.idByKey.name],
          'a duplicate by key: the lookup of the job that has the key, after the commit',
        )
      } finally {
        pg.Client.prototype.query = query
      }
      assert.deepEqual(
        added.map((r) => r.added),
        [false, true],
      )
      assert.equal(added[0]!.id, 'one')
      const wake = await waitFor(
        () => heard.find((q) => q?.includes('other')),
        'the wake of the add',
        5_000,
        1,
      )
      assert.deepEqual(wake, ['other'], 'dup got no job: not woken')
      assert.equal((await front.jobs.getJob(added[1]!.id))?.state, 'waiting', 'committed')
    })

    it('wakes a watcher of another store when a settlement puts a job back, not when it finishes one', async (t) => {
      const [front, back] = await twoStores(t)
      const heard: Array<readonly string[] | null> = []
      const watch = back.jobs.watch((queues) => heard.push(queues))
      t.after(() => watch.close())
      await waitFor(() => watch.everywhere, 'the back store to listen', 10_000)
      await front.jobs.add([{ queue: 'crashy', payload: 0, id: 'c' }], T0, defaults)
      const [d] = await front.jobs.claim('crashy', 1, 'crashy#1', T0)
      heard.length = 0
      await front.jobs.settle([{ kind: 'crash', token: d!.token }], T0 + 1, () => POLICY, seededRandom(1))
      await waitFor(() => heard.some((q) => q?.includes('crashy')), 'the wake of the requeue', 5_000, 1)
      const [d2] = await front.jobs.claim('crashy', 1, 'crashy#1', T0 + 2)
      heard.length = 0
      await front.jobs.exchange(
        [{ kind: 'ack', token: d2!.token }],
        [],
        T0 + 3,
        () => POLICY,
        seededRandom(1),
      )
      await front.jobs.releaseAllActive(T0 + 4)
      await front.jobs.add([{ queue: 'marker', payload: 0 }], T0, defaults)
      await waitFor(() => heard.some((q) => q?.includes('marker')), 'the marker', 5_000, 1)
      assert.ok(!heard.some((q) => q?.includes('crashy')), 'an ack puts nothing back: no wake')
    })

    it('claims from jobs_claim alone, whatever the statistics say: never a sort of the backlog', async (t) => {
      const { schema, url } = testSchema()
      const store = await openPostgresStore(url)
      t.after(async () => {
        await store.close()
        await dropSchema(schema)
      })
      const add = (from: number, n: number) =>
        store.jobs.add(
          Array.from({ length: n }, (_, k) => ({ queue: 'q', payload: from + k })),
          T0,
          defaults,
        )
      const reader = new pg.Client({ connectionString: TEST_PG_URL, options: `-c search_path=${schema}` })
      await reader.connect()
      t.after(() => reader.end())
      const plans = async (when: string) => {
        for (const s of [
          S.claim,
          S.claimClean,
          S.claimSuspectUnsynced,
          S.claimCleanUnsynced,
          S.claimAlone,
          S.claimAloneUnsynced,
        ]) {
          const explained = await reader.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${s.text}`, [
            'w#1',
            T0 + 1,
            'q',
            8,
            null,
            null,
          ])
          const plan = explained.rows.map((r) => r['QUERY PLAN']).join('\n')
          assert.match(plan, /Index Scan using jobs_(claim|suspects) on jobs/, `${s.name} ${when}:\n${plan}`)
          assert.doesNotMatch(plan, /Sort/, `${s.name} ${when}:\n${plan}`)
        }
      }
      // A backlog the planner has never counted: the table was never analyzed.
      for (let i = 0; i < 40_000; i += 5_000) await add(i, 5_000)
      await plans('before any analyze')
      // A backlog that came after an analyze saw none waiting: 'waiting' looks rare.
      await adminQuery(`UPDATE ${schema}.jobs SET state = 'done', finished_at = ${T0}`)
      await adminQuery(`ANALYZE ${schema}.jobs`)
      for (let i = 40_000; i < 80_000; i += 5_000) await add(i, 5_000)
      await plans('after an analyze of done jobs')
    })
  })
}

/** Two stores on one new schema (two agents of a fleet), closed and dropped when the test ends. */
async function twoStores(t: TestContext): Promise<[PostgresStore, PostgresStore]> {
  const { schema, url } = testSchema()
  const stores: [PostgresStore, PostgresStore] = [await openPostgresStore(url), await openPostgresStore(url)]
  t.after(async () => {
    for (const s of stores) await s.close()
    await dropSchema(schema)
  })
  return stores
}
