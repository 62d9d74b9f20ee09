/**
 * The daemon end to end on PostgreSQL: the built `shepherd start` on a config whose store is a
 * PostgreSQL schema of the test's own (its URL in an environment variable, store.url_env), the
 * example SDK workers, jobs enqueued with `shepherd enqueue`, and a worker SIGKILLed mid-job:
 * recovered, its job delivered again and done once more. Skipped where no PostgreSQL answers at
 * 127.0.0.1:5432, never under CI=true.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

import { stringify } from 'yaml'

import { openPostgresStore } from '../../src/adapters/postgres/pg-store.js'
import { CLI_ENV, freePort, runCli, startCli } from '../helpers/cli.js'
import { fixture, NODE, tempDir } from '../helpers/daemon.js'
import { startAgents } from '../helpers/fleet.js'
import { adminQuery, dropSchema, postgresSkipReason, testSchema } from '../helpers/postgres.js'
import { isGone, waitFor } from '../helpers/wait.js'

const skip = await postgresSkipReason()

interface WorkerRow {
  id: string
  pid: number
  state: string
}

describe('the daemon on PostgreSQL', () => {
  it(
    'runs workers, does enqueued jobs, and redelivers the job of a worker SIGKILLed mid-job',
    { skip: skip ?? false },
    async (t) => {
      const { schema, url } = testSchema()
      const dir = tempDir(t)
      const config = path.join(dir, 'shepherd.yaml')
      writeFileSync(
        config,
        stringify({
          recovery: {
            check_interval: '200ms',
            retry_delay: '50ms',
            max_retry_delay: '200ms',
            min_uptime: '300ms',
          },
          api: { port: await freePort() },
          log: { level: 'warn' },
          store: { url_env: 'SHEPHERD_TEST_STORE_URL' },
          queues: { work: { retry_delay: '20ms', max_retry_delay: '100ms' } },
          workers: {
            jobs: {
              command: NODE,
              args: [fixture('sdk-jobs.mjs')],
              queue: 'work',
              replicas: 2,
              concurrency: 2,
              stop_timeout: 5,
              env: { LEDGER: './ledger.txt' },
            },
          },
        }),
      )
      const env = { ...CLI_ENV, SHEPHERD_TEST_STORE_URL: url }
      const daemon = startCli(t, ['start', '-c', config], { env, built: true })
      // Opened beside the daemon, which may be migrating the new schema at the same moment.
      const store = await openPostgresStore(url)
      t.after(async () => {
        if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL')
        await daemon.exited
        await store.close()
        await dropSchema(schema)
      })
      const workers = async (): Promise<WorkerRow[] | false> => {
        const r = await runCli(['status', '-c', config, '--json'], { env })
        return r.code === 0 ? (JSON.parse(r.stdout) as { workers: WorkerRow[] }).workers : false
      }
      await waitFor(
        async () => {
          const w = await workers()
          return w && w.length === 2 && w.every((x) => x.state === 'ready')
        },
        `both workers ready (daemon log: ${daemon.log()})`,
        30_000,
        200,
      )
      assert.equal((await store.readOwnership())?.pid, daemon.child.pid, 'the daemon holds its node’s lease')

      // Twenty jobs from stdin, and one that sleeps long enough to be killed in the middle.
      const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ op: 'ok', i })).join('\n')
      const many = await runCli(['enqueue', '-c', config, 'work', '--json'], {
        env,
        stdin: lines,
        built: true,
      })
      assert.equal(many.code, 0, many.stderr)
      const ids = (JSON.parse(many.stdout) as { jobs: { id: string; added: boolean }[] }).jobs.map(
        (j) => j.id,
      )
      assert.equal(ids.length, 20)
      const long = await runCli(
        ['enqueue', '-c', config, 'work', '{"op":"sleep","ms":3000}', '--id', 'long'],
        {
          env,
          built: true,
        },
      )
      assert.equal(long.code, 0, long.stderr)

      const active = await waitFor(async () => {
        const job = await store.jobs.getJob('long')
        return job?.state === 'active' ? job : false
      }, 'the long job to be in flight')
      // The store records every worker process the daemon started.
      const victim = (await store.listWorkerProcesses()).find((p) => p.workerId === active.leaseWorker)
      assert.ok(victim, `the process of ${active.leaseWorker} is recorded`)
      process.kill(victim.pid, 'SIGKILL')

      const done = async (id: string) =>
        waitFor(
          async () => {
            const job = await store.jobs.getJob(id)
            return job?.state === 'done' ? job : false
          },
          `job ${id} to be done`,
          30_000,
          50,
        )
      for (const id of ids) assert.equal((await done(id)).delivery, 1)
      const redelivered = await done('long')
      assert.equal(redelivered.delivery, 2, 'delivered again after its worker died')
      assert.equal(redelivered.crashes, 1)
      assert.equal(redelivered.attempts, 0, 'a crash is not an attempt')

      const ledger = readFileSync(path.join(dir, 'ledger.txt'), 'utf8').trim().split('\n').sort()
      assert.deepEqual(ledger, [...ids.map((id) => `${id} 1`), 'long 2'].sort(), 'each job done once')
      await waitFor(async () => {
        const w = await workers()
        return (
          w && w.length === 2 && w.every((x) => x.state === 'ready') && !w.some((x) => x.pid === victim.pid)
        )
      }, 'the killed worker replaced')
      const recovered = await store.listEvents({ types: ['incident:recovered'] })
      assert.equal(recovered.length, 1, 'the recovery is in the store')
      const [counts] = await store.jobs.counts(Date.now(), 'work')
      assert.deepEqual([counts!.done, counts!.inFlight, counts!.waiting], [21, 0, 0])

      daemon.child.kill('SIGTERM')
      assert.equal(await daemon.exited, 0, daemon.log())
      assert.ok(isGone(victim.pid))
      assert.equal(await store.readOwnership(), null, 'a clean stop gives the node up')
      assert.equal(existsSync(path.join(dir, 'shepherd.db')), false, 'no SQLite file was made')
    },
  )

  it(
    'runs two agents on one host under two node names; a third with a name in use is refused, naming it',
    { skip: skip ?? false },
    async (t) => {
      const idle = { command: NODE, args: ['-e', 'setInterval(() => {}, 1000)'] }
      const {
        schema,
        url,
        dir,
        agents: [a, b],
      } = await startAgents(t, ['agent-a', 'agent-b'], { workers: { idle } })
      const leases = async (): Promise<{ node: string; pid: string }[]> =>
        adminQuery<{ node: string; pid: string }>(
          `SELECT node, pid FROM ${schema}.supervisor_leases ORDER BY node`,
        ).catch(() => [])
      assert.deepEqual(
        (await leases()).map((l) => [l.node, Number(l.pid)]),
        [
          ['agent-a', a!.child.pid],
          ['agent-b', b!.child.pid],
        ],
      )
      const third = path.join(dir, 'c.yaml')
      writeFileSync(
        third,
        stringify({
          api: { port: await freePort() },
          store: { url_env: 'SHEPHERD_TEST_STORE_URL' },
          workers: { idle },
        }),
      )
      const refused = await runCli(['start', '-c', third], {
        env: { ...CLI_ENV, SHEPHERD_TEST_STORE_URL: url, SHEPHERD_NODE: 'agent-a' },
        built: true,
      })
      assert.notEqual(refused.code, 0)
      assert.match(refused.stderr + refused.stdout, /SHEPHERD_STORE_LOCKED/)
      assert.match(refused.stderr + refused.stdout, /as node agent-a/)
      assert.equal(a!.child.exitCode, null, 'the holder runs on')
    },
  )

  it(
    "warns at start, once per problem, where PostgreSQL does not vacuum the store's tables",
    { skip: skip ?? false },
    async (t) => {
      const idle = { command: NODE, args: ['-e', 'setInterval(() => {}, 1000)'] }
      const fleet = await startAgents(t, ['before'], { workers: { idle } })
      const [server] = await adminQuery<{ on: boolean }>("SELECT current_setting('autovacuum') = 'on' AS on")
      // One of the store's tables set not to be vacuumed, then an agent that starts on it.
      await adminQuery(`ALTER TABLE ${fleet.schema}.jobs SET (autovacuum_enabled = off)`)
      const after = await fleet.join('after')
      await waitFor(
        () => /Autovacuum is off for `jobs` in the store postgres:/.test(after.log()),
        () => `the warning about jobs (log: ${after.log()})`,
        30_000,
        50,
      )
      assert.match(
        after.log(),
        new RegExp(`ALTER TABLE ${fleet.schema}\\.jobs RESET \\(autovacuum_enabled\\)`),
      )
      // The server's own setting, whichever way this one is set, is said as it is, by both.
      for (const agent of fleet.agents)
        assert.equal(
          /autovacuum is off on the server of the store/.test(agent.log()),
          !server!.on,
          agent.log(),
        )
      after.child.kill('SIGTERM')
      assert.equal(await after.exited, 0, after.log())
      assert.equal(after.log().match(/Autovacuum is off for/g)?.length, 1, 'said once')
      assert.doesNotMatch(fleet.agents[0]!.log(), /Autovacuum is off for/, 'read as an agent starts')
    },
  )
})
