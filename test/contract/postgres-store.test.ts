/**
 * The Store contract on PostgreSQL, each case in a schema of its own (test/helpers/postgres.ts).
 * Skipped, saying why, where no server answers at 127.0.0.1:5432; never under CI=true.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { describe, it, type TestContext } from 'node:test'

import pg from 'pg'

import { parseStoreUrl } from '../../src/adapters/postgres/connection.js'
import { loadPostgresMigrations, runPostgresMigrations } from '../../src/adapters/postgres/migrate.js'
import { openPostgresStore, type PostgresStore } from '../../src/adapters/postgres/pg-store.js'
import { STORE_STATEMENTS } from '../../src/adapters/postgres/store-queries.js'
import type { Migration } from '../../src/adapters/sql/migration-files.js'
import { nodeState } from '../../src/core/fleet-node.js'
import { isShepherdError, type ShepherdError } from '../../src/errors.js'
import type { LeaseClaim, SavedWorkerState, StoreWrite } from '../../src/ports/store.js'
import { adminQuery, dropSchema, postgresSkipReason, TEST_PG_URL, testSchema } from '../helpers/postgres.js'
import { defaults } from './job-store.contract.js'
import { incident, sampleEvents, storeContract, T0 } from './store.contract.js'

const TTL = 30_000

const skip = await postgresSkipReason()

if (skip !== null) {
  it('Store contract: postgres', { skip }, () => {})
} else {
  storeContract('postgres', async () => {
    const { schema, url } = testSchema()
    const opened: PostgresStore[] = [await openPostgresStore(url)]
    const open = async (): Promise<PostgresStore> => {
      const store = await openPostgresStore(url)
      opened.push(store)
      return store
    }
    return {
      store: opened[0]!,
      reopen: open,
      alongside: open,
      sharedByAgents: true,
      cleanup: async () => {
        for (const s of opened) await s.close()
        await dropSchema(schema)
      },
    }
  })
}

/** A store in a schema of the test's own, closed and dropped when the test ends. */
async function openFor(
  t: TestContext,
  url?: string,
): Promise<{ store: PostgresStore; url: string; schema: string }> {
  const made = testSchema()
  const store = await openPostgresStore(url ?? made.url)
  t.after(async () => {
    await store.close()
    await dropSchema(made.schema)
  })
  return { store, url: made.url, schema: made.schema }
}

/** A supervisor's claim of `node`: on the host of the same name, pid 1, unless `o` says otherwise. */
function leaseClaim(owner: string, node: string, o: Partial<LeaseClaim> = {}): LeaseClaim {
  return { owner, node, host: node, pid: 1, startTicks: 1, apiUrl: null, ...o }
}

function expectError(code: ShepherdError['code'], ...patterns: RegExp[]) {
  return (e: unknown): boolean => {
    assert.ok(isShepherdError(e, code), `expected ${code}, got ${String(e)}`)
    for (const p of patterns) assert.match(e.message, p)
    return true
  }
}

/** The URL with another value for one of its parts. */
function withUrl(url: string, change: (u: URL) => void): string {
  const u = new URL(url)
  change(u)
  return u.toString()
}

/**
 * A TCP relay to the server that the test can cut and restore, as a network cut or a server
 * restart would: a store opened through it sees its connections end, then none accepted.
 */
async function relay(
  t: TestContext,
): Promise<{ port: number; cut: () => Promise<void>; restore: () => Promise<void> }> {
  const target = new URL(TEST_PG_URL)
  const sockets = new Set<net.Socket>()
  const server = net.createServer((inbound) => {
    const outbound = net.connect(Number(target.port || 5432), target.hostname)
    for (const s of [inbound, outbound]) {
      sockets.add(s)
      s.on('error', () => undefined)
      s.on('close', () => sockets.delete(s))
    }
    inbound.pipe(outbound).pipe(inbound)
  })
  const listen = (port: number) => new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()))
  await listen(0)
  const port = (server.address() as net.AddressInfo).port
  const cut = async () => {
    await new Promise<void>((r) => {
      server.close(() => r())
      for (const s of sockets) s.destroy()
    })
  }
  t.after(cut)
  return { port, cut, restore: () => listen(port) }
}

if (skip === null) {
  describe('PostgreSQL store', () => {
    it('migrates once when agents open a new schema at the same time, and records the ledger', async (t) => {
      const { schema, url } = testSchema()
      t.after(() => dropSchema(schema))
      const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(url)))
      t.after(() => Promise.all(stores.map((s) => s.close())))
      const ledger = await adminQuery<{ version: number; name: string }>(
        `SELECT version, name FROM ${schema}.shepherd_migrations ORDER BY version`,
      )
      assert.deepEqual(
        ledger,
        loadPostgresMigrations().map((m) => ({ version: m.version, name: m.name })),
      )
      await stores[0]!.migrate()
      assert.equal((await stores[1]!.appendEvent(sampleEvents(T0)[0]!)) > 0, true)
    })

    it('refuses a schema written by a newer Shepherd, untouched', async (t) => {
      const { store, schema, url } = await openFor(t)
      const future = loadPostgresMigrations().length + 1
      await adminQuery(`INSERT INTO ${schema}.shepherd_migrations VALUES ($1, 'future', 0)`, [future])
      await assert.rejects(
        openPostgresStore(url),
        expectError(
          'SHEPHERD_STORE_MIGRATION_FAILED',
          new RegExp(`schema version ${future}`),
          /Upgrade Shepherd/,
        ),
      )
      await assert.rejects(store.migrate(), expectError('SHEPHERD_STORE_MIGRATION_FAILED'))
    })

    it('rolls a failed migration back whole, leaving the version it had', async (t) => {
      const { schema, url } = await openFor(t)
      const shipped = loadPostgresMigrations()
      const brokenFile = `${String(shipped.length + 1).padStart(4, '0')}_broken.sql`
      const broken: Migration = {
        version: shipped.length + 1,
        name: 'broken',
        file: brokenFile,
        sql: 'CREATE TABLE half_done (x INTEGER); SELECT * FROM no_such_table;',
      }
      const c = new pg.Client({ connectionString: parseStoreUrl(url).connectionString })
      await c.connect()
      t.after(() => c.end())
      await assert.rejects(
        runPostgresMigrations(c, parseStoreUrl(url), [...shipped, broken]),
        expectError('SHEPHERD_STORE_MIGRATION_FAILED', new RegExp(`${brokenFile} failed`), /42P01/),
      )
      const tables = await adminQuery(
        `SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'half_done'`,
        [schema],
      )
      assert.deepEqual(tables, [], 'nothing of the failed migration stays')
    })

    it('cannot be opened where nothing listens, naming the URL without its password', async () => {
      const url = withUrl(TEST_PG_URL, (u) => {
        u.port = '1'
        u.password = 'hunter2'
      })
      await assert.rejects(openPostgresStore(url), (e: unknown) => {
        expectError(
          'SHEPHERD_STORE_OPEN_FAILED',
          /ECONNREFUSED/,
          /Nothing listens at 127\.0\.0\.1:1/,
          /:\*\*\*@/,
        )(e)
        assert.doesNotMatch((e as Error).message, /hunter2/)
        return true
      })
    })

    it('cannot be opened on a database that does not exist, or as a user the server refuses', async () => {
      await assert.rejects(
        openPostgresStore(withUrl(TEST_PG_URL, (u) => (u.pathname = '/shepherd_no_such_db'))),
        expectError('SHEPHERD_STORE_OPEN_FAILED', /3D000/, /does not exist: create it/),
      )
      await assert.rejects(
        openPostgresStore(withUrl(TEST_PG_URL, (u) => (u.username = 'shepherd_no_such_user'))),
        expectError('SHEPHERD_STORE_OPEN_FAILED', /SQLSTATE 28/, /refused the user or its password/),
      )
    })

    it('reports writes to a read-only database as SHEPHERD_STORE_READ_ONLY, told once to onWrite; reads go on', async (t) => {
      const { store, url } = await openFor(t)
      await store.saveIncident(incident({ id: 'inc-1', at: T0, until: 'recovered' }))
      const readOnly = await openPostgresStore(
        withUrl(url, (u) => u.searchParams.set('options', '-c default_transaction_read_only=on')),
      )
      t.after(() => readOnly.close())
      const seen: StoreWrite[] = []
      readOnly.onWrite((w) => seen.push(w))
      const refused = expectError(
        'SHEPHERD_STORE_READ_ONLY',
        /25006/,
        /Nothing was written/,
        /Point store\.url at the primary/,
      )
      await assert.rejects(readOnly.appendEvent(sampleEvents(T0)[0]!), refused)
      await assert.rejects(readOnly.jobs.add([{ queue: 'email', payload: 1 }], T0, defaults), refused)
      assert.deepEqual(
        seen.map((w) => (w.ok ? 'ok' : w.problem)),
        ['read-only', 'read-only'],
      )
      assert.equal((await readOnly.getIncident('inc-1'))?.id, 'inc-1')
    })

    it('treats a server it cannot reach as a passing outage: writes refused as unreachable, then taken again', async (t) => {
      const { url } = await openFor(t)
      const link = await relay(t)
      const store = await openPostgresStore(withUrl(url, (u) => (u.port = String(link.port))))
      t.after(() => store.close())
      const seen: StoreWrite[] = []
      store.onWrite((w) => seen.push(w))
      await store.appendEvent(sampleEvents(T0)[0]!)

      await link.cut()
      const unreachable = expectError(
        'SHEPHERD_STORE_UNREACHABLE',
        /cannot be reached/,
        /resume by themselves/,
      )
      await assert.rejects(store.appendEvent(sampleEvents(T0)[0]!), unreachable)
      await assert.rejects(store.jobs.claim('email', 1, 'email#1', T0), unreachable)
      await assert.rejects(store.listEvents(), expectError('SHEPHERD_STORE_UNREACHABLE', /list events/))
      await store.check()
      assert.deepEqual(
        seen.map((w) => (w.ok ? 'ok' : w.problem)),
        ['ok', 'unreachable', 'unreachable', 'unreachable'],
        'the check tells it too, so an idle supervisor hears of the outage',
      )

      await link.restore()
      await store.check()
      await store.appendEvent(sampleEvents(T0)[0]!)
      assert.equal(seen.at(-1)?.ok, true, 'writes are taken again without reopening the store')
      assert.equal((await store.listEvents()).length, 2)
    })

    it('refuses to renew a lease that lapsed, without fencing: the agent claims its node again with a new epoch', async (t) => {
      const { store } = await openFor(t)
      const web1 = leaseClaim('run-1', 'web-1', { pid: 101 })
      assert.equal((await store.claimOwnership(web1, T0, TTL, () => null)).kind, 'take')
      assert.equal(await store.renewOwnership('run-1', T0 + TTL, TTL), 'lapsed')
      assert.equal((await store.readOwnership())?.expiresAt, T0 + TTL, 'nothing was written')
      await store.appendEvent(sampleEvents(T0)[0]!)
      const rejoin = await store.claimOwnership(web1, T0 + TTL, TTL, () => null)
      assert.equal(rejoin.kind, 'take')
      assert.equal(rejoin.kind === 'take' ? rejoin.lease.epoch : null, 2)
      assert.equal(await store.renewOwnership('run-1', T0 + TTL + 1, TTL), 'renewed')
    })

    it('lets an agent whose node was forgotten while it was cut off rejoin, with a new epoch', async (t) => {
      const { store, url } = await openFor(t)
      const other = await openPostgresStore(url)
      t.after(() => other.close())
      const web1 = leaseClaim('run-1', 'web-1', { pid: 101 })
      await store.claimOwnership(web1, T0, TTL, () => null)
      assert.equal((await other.forgetNode('web-1', T0 + TTL)).kind, 'forgotten')
      assert.equal(
        await store.renewOwnership('run-1', T0 + TTL + 1, TTL),
        'lapsed',
        'not taken: nobody holds it',
      )
      assert.equal(
        (await store.check().then(() => store.appendEvent(sampleEvents(T0)[0]!))) > 0,
        true,
        'not fenced',
      )
      const rejoin = await store.claimOwnership(web1, T0 + TTL + 1, TTL, () => null)
      assert.deepEqual([rejoin.kind, rejoin.kind === 'take' && rejoin.lease.epoch], ['take', 2])
    })

    it("commits agents' events in seq order: one is never visible before a lower one another agent is still writing", async (t) => {
      const { store, url } = await openFor(t)
      const other = await openPostgresStore(url)
      t.after(() => other.close())
      // Another agent's event write, inserted and not yet committed (as the adapter writes one).
      const writing = new pg.Client({ connectionString: parseStoreUrl(url).connectionString })
      await writing.connect()
      t.after(() => writing.end())
      await writing.query('BEGIN')
      await writing.query(STORE_STATEMENTS.lockEvents)
      const [first] = (
        await writing.query<{ seq: string }>(
          `INSERT INTO events (at, type, severity, message, data) VALUES ($1, 'worker:exit', 'warning', 'first', 'null') RETURNING seq`,
          [T0],
        )
      ).rows
      const second = other.appendEvent(sampleEvents(T0)[0]!)
      try {
        await new Promise((r) => setTimeout(r, 300))
        assert.deepEqual(
          await store.listEvents({ afterSeq: 0 }),
          [],
          'the later event waits for the earlier one',
        )
      } finally {
        // Ended here whatever happens: an open transaction would hold the schema's drop after the test.
        await writing.query('COMMIT')
      }
      const seq = await second
      assert.ok(seq > Number(first!.seq))
      assert.deepEqual(
        (await store.listEvents({ afterSeq: 0 })).map((e) => e.seq),
        [Number(first!.seq), seq],
      )
    })

    it("keeps each node's saved worker state apart: two agents' billing#1 are two workers", async (t) => {
      const { store, url } = await openFor(t)
      const b = await openPostgresStore(url)
      const reader = await openPostgresStore(url)
      t.after(() => Promise.all([b.close(), reader.close()]))
      await store.claimOwnership(leaseClaim('run-1', 'web-1'), T0, TTL, () => null)
      await b.claimOwnership(leaseClaim('run-2', 'web-2'), T0, TTL, () => null)
      const state = (checkpoint: string): SavedWorkerState => ({
        workerId: 'billing#1',
        pool: 'billing',
        savedAt: T0,
        incidentId: null,
        logTail: [],
        lastReport: null,
        exit: null,
        checkpoint,
      })
      // Saved before nodes (or copied from an embedded store): no node.
      await reader.saveWorkerState(state('from before'))
      assert.equal((await store.loadWorkerState('billing#1'))?.checkpoint, 'from before')
      await store.saveWorkerState(state('web-1'))
      await b.saveWorkerState(state('web-2'))
      assert.equal((await store.loadWorkerState('billing#1'))?.checkpoint, 'web-1')
      assert.equal((await b.loadWorkerState('billing#1'))?.checkpoint, 'web-2')
      assert.equal((await reader.loadWorkerState('billing#1'))?.checkpoint, 'from before')
    })

    it('gives each node one supervisor: agents of other hosts beside it, a second one of its node refused', async (t) => {
      const { store, url } = await openFor(t)
      const web2 = await openPostgresStore(url)
      const again = await openPostgresStore(url)
      t.after(() => Promise.all([web2.close(), again.close()]))
      const web1 = leaseClaim('run-1', 'web-1', { pid: 101 })
      assert.equal((await store.claimOwnership(web1, T0, TTL, () => true)).kind, 'take')
      const other = leaseClaim('run-2', 'web-2', { pid: 101 })
      assert.equal((await web2.claimOwnership(other, T0, TTL, () => true)).kind, 'take', 'another node')
      // Where the holder's process cannot be seen (running says null, as for a holder on another
      // host), its lease decides: live, refused; expired, taken over.
      const second = leaseClaim('run-3', 'web-1', { pid: 202, startTicks: 2 })
      const refused = await again.claimOwnership(second, T0 + 1_000, TTL, () => null)
      assert.equal(refused.kind, 'refuse')
      assert.equal(refused.kind === 'refuse' ? refused.holder?.owner : null, 'run-1')
      const later = await again.claimOwnership(second, T0 + TTL, TTL, () => null)
      assert.equal(later.kind, 'take-over')
      assert.equal(later.kind === 'take-over' ? later.reason : null, 'expired')
      assert.equal(await store.renewOwnership('run-1', T0 + TTL + 1, TTL), 'taken')
      await assert.rejects(
        store.appendEvent(sampleEvents(T0)[0]!),
        expectError('SHEPHERD_STORE_LOCKED', /node web-1/),
      )
      assert.equal(
        await web2.renewOwnership('run-2', T0 + TTL - 1, TTL),
        'renewed',
        'other nodes are untouched',
      )
    })

    it('lists every node of the fleet by name, each with its own workload, an expired one too', async (t) => {
      const { store, url } = await openFor(t)
      const web1 = await openPostgresStore(url)
      t.after(() => web1.close())
      const claim = (node: string, owner: string): LeaseClaim => ({
        owner,
        node,
        host: node,
        pid: 101,
        startTicks: 1,
        apiUrl: null,
        version: '0.1.0',
      })
      // Claimed in the other order: listed by name all the same.
      await store.claimOwnership(claim('web-2', 'run-2'), T0, TTL, () => null)
      await web1.claimOwnership(claim('web-1', 'run-1'), T0 + 1, TTL, () => null)
      const workload = (running: number) => ({ running, desired: 2, workers: [] })
      await store.renewOwnership('run-2', T0 + TTL - 1, TTL, workload(2))
      await web1.renewOwnership('run-1', T0 + 1_000, TTL, workload(1))
      const nodes = await store.listNodes()
      assert.deepEqual(
        nodes.map((n) => [n.name, n.version, n.heartbeatAt, n.workload?.running]),
        [
          ['web-1', '0.1.0', T0 + 1_000, 1],
          ['web-2', '0.1.0', T0 + TTL - 1, 2],
        ],
      )
      // Whether each is alive is the caller's to tell from the expiry, at its own time.
      assert.deepEqual(
        nodes.map((n) => nodeState(n, T0 + TTL + 1_000)),
        ['dead', 'alive'],
      )
    })

    it('keys the lease by node name: two agents on one host with two names both start, one name twice is refused', async (t) => {
      const { store, url } = await openFor(t)
      const b = await openPostgresStore(url)
      const again = await openPostgresStore(url)
      t.after(() => Promise.all([b.close(), again.close()]))
      const a1 = leaseClaim('run-a', 'agent-a', { host: 'box', pid: 101 })
      const b1 = leaseClaim('run-b', 'agent-b', { host: 'box', pid: 202, startTicks: 2 })
      const a2 = leaseClaim('run-c', 'agent-a', { host: 'box', pid: 303, startTicks: 3 })
      assert.equal((await store.claimOwnership(a1, T0, TTL, () => true)).kind, 'take')
      assert.equal(
        (await b.claimOwnership(b1, T0, TTL, () => true)).kind,
        'take',
        'another name on the same host',
      )
      const refused = await again.claimOwnership(a2, T0 + 1_000, TTL, (pid) => pid === 101)
      assert.equal(refused.kind, 'refuse')
      assert.equal(refused.kind === 'refuse' ? refused.holder?.owner : null, 'run-a')
      const dead = await again.claimOwnership(a2, T0 + 2_000, TTL, () => false)
      assert.equal(dead.kind, 'take-over', 'its holder gone, the name is free')
    })

    it('keeps worker processes per node: each agent lists and clears its own only', async (t) => {
      const { store, url } = await openFor(t)
      const b = await openPostgresStore(url)
      t.after(() => b.close())
      const a1 = leaseClaim('run-a', 'agent-a', { host: 'box', pid: 101 })
      const b1 = leaseClaim('run-b', 'agent-b', { host: 'box', pid: 202, startTicks: 2 })
      await store.claimOwnership(a1, T0, TTL, () => true)
      await b.claimOwnership(b1, T0, TTL, () => true)
      const proc = (pid: number) => ({ pid, startTicks: 7, pool: 'jobs', workerId: 'w#1', spawnedAt: T0 })
      await store.writeBatch({ processesStarted: [proc(1001)] })
      await b.writeBatch({ processesStarted: [proc(2002)] })
      assert.deepEqual(
        (await store.listWorkerProcesses()).map((p) => p.pid),
        [1001],
      )
      assert.deepEqual(
        (await b.listWorkerProcesses()).map((p) => p.pid),
        [2002],
      )
      const reader = await openPostgresStore(url)
      t.after(() => reader.close())
      assert.deepEqual(
        (await reader.listWorkerProcesses()).map((p) => p.pid).sort(),
        [1001, 2002],
        'a store that claimed no node sees every node',
      )
      await store.clearWorkerProcesses()
      assert.deepEqual(await store.listWorkerProcesses(), [])
      assert.deepEqual(
        (await b.listWorkerProcesses()).map((p) => p.pid),
        [2002],
        "another agent's processes are not swept",
      )
    })

    it("lists open incidents per node: an agent's own and those of no node, never another live agent's", async (t) => {
      const { store, url } = await openFor(t)
      const b = await openPostgresStore(url)
      t.after(() => b.close())
      const claim = (owner: string, node: string, pid: number): LeaseClaim => ({
        owner,
        node,
        host: 'box',
        pid,
        startTicks: pid,
        apiUrl: null,
      })
      await store.claimOwnership(claim('run-a', 'agent-a', 101), T0, TTL, () => true)
      await b.claimOwnership(claim('run-b', 'agent-b', 202), T0, TTL, () => true)
      const incs = [
        incident({ id: 'a-open', at: T0, until: 'stopping', node: 'agent-a' }),
        incident({ id: 'b-open', at: T0 + 1, until: 'verifying', node: 'agent-b' }),
        incident({ id: 'old-open', at: T0 + 2, until: 'saving', node: null }),
        incident({ id: 'a-done', at: T0 + 3, until: 'recovered', node: 'agent-a' }),
      ]
      for (const inc of incs) await store.saveIncident(inc)
      const ids = async (s: PostgresStore) => (await s.listOpenIncidents()).map((i) => i.id)
      assert.deepEqual(await ids(store), ['a-open', 'old-open'])
      assert.deepEqual(await ids(b), ['b-open', 'old-open'])
      const reader = await openPostgresStore(url)
      t.after(() => reader.close())
      assert.deepEqual(await ids(reader), ['a-open', 'b-open', 'old-open'], 'a reader sees every node')
    })

    it('lets exactly one of two agents that start together as the same node take it', async (t) => {
      const { url } = await openFor(t)
      const stores = await Promise.all(Array.from({ length: 6 }, () => openPostgresStore(url)))
      t.after(() => Promise.all(stores.map((s) => s.close())))
      const decisions = await Promise.all(
        stores.map((s, i) =>
          s.claimOwnership(
            { owner: `run-${i}`, node: 'web-1', host: 'web-1', pid: 100 + i, startTicks: i, apiUrl: null },
            T0,
            TTL,
            () => true,
          ),
        ),
      )
      assert.equal(decisions.filter((d) => d.kind === 'take').length, 1)
      assert.equal(decisions.filter((d) => d.kind === 'refuse').length, 5)
    })

    it("advises on autovacuum as the server and the store's own tables have it, spelled any way", async (t) => {
      const { store, schema } = await openFor(t)
      const [server] = await adminQuery<{ on: boolean }>("SELECT current_setting('autovacuum') = 'on' AS on")
      const serverAdvice = (advice: string[]) =>
        advice.filter((a) => a.includes('autovacuum is off on the server'))
      // Whichever way this server is set, the advice says it as it is.
      assert.equal(serverAdvice(await store.advise()).length, server!.on ? 0 : 1)
      assert.ok(!(await store.advise()).some((a) => a.startsWith('Autovacuum is off for')))

      // A table's own setting, in two of the spellings PostgreSQL keeps as written; another schema's
      // table is not the store's.
      await adminQuery(`ALTER TABLE ${schema}.jobs SET (autovacuum_enabled = 'no')`)
      await adminQuery(`ALTER TABLE ${schema}.events SET (autovacuum_enabled = 0)`)
      await adminQuery(`ALTER TABLE ${schema}.incidents SET (autovacuum_enabled = on)`)
      const other = await openFor(t)
      await adminQuery(`ALTER TABLE ${other.schema}.worker_state SET (autovacuum_enabled = off)`)
      const tables = (await store.advise()).filter((a) => a.startsWith('Autovacuum is off for'))
      assert.equal(tables.length, 1)
      assert.match(tables[0]!, /^Autovacuum is off for `events`, `jobs` in the store postgres:/)
      assert.match(
        tables[0]!,
        new RegExp(
          `ALTER TABLE ${schema}\\.events RESET \\(autovacuum_enabled\\); ALTER TABLE ${schema}\\.jobs RESET`,
        ),
      )

      await adminQuery(`ALTER TABLE ${schema}.jobs RESET (autovacuum_enabled)`)
      await adminQuery(`ALTER TABLE ${schema}.events RESET (autovacuum_enabled)`)
      assert.ok(!(await store.advise()).some((a) => a.startsWith('Autovacuum is off for')))
    })
  })
}
