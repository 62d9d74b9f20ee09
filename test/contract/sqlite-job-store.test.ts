/**
 * The JobStore contract on a temp SQLite file, and what only the SQLite adapter promises: its
 * migration onto an existing store, the query plans of its hot statements (claim never sorts or
 * scans the table), its error mapping, its batched deletes, and correctness at 100,000 jobs.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'

import Database from 'better-sqlite3'

import { JOB_BATCH, JOB_SQL } from '../../src/adapters/sqlite/job-queries.js'
import { loadMigrations, runMigrations } from '../../src/adapters/sqlite/migrate.js'
import { SqliteJobStore } from '../../src/adapters/sqlite/sqlite-job-store.js'
import { openSqliteStore, SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js'
import type { SqliteGuard } from '../../src/adapters/sqlite/store-guard.js'
import type { NewJob } from '../../src/core/job.js'
import { isShepherdError, type ShepherdError } from '../../src/errors.js'
import { seededRandom } from '../../src/ports/clock.js'
import { defaults, jobStoreContract, POLICY, T0 } from './job-store.contract.js'

jobStoreContract('sqlite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shepherd-jobs-'))
  const file = path.join(dir, 'shepherd.db')
  const opened: SqliteStore[] = [await openSqliteStore(file)]
  return {
    jobs: opened[0]!.jobs,
    reopen: async () => {
      await opened[0]!.close()
      const store = await openSqliteStore(file)
      opened.push(store)
      return store.jobs
    },
    asNode: async (node, epoch) => {
      const store = await openSqliteStore(file)
      opened.push(store)
      store.jobs.ownedBy({ node, epoch })
      return store.jobs
    },
    sharedByAgents: false,
    cleanup: async () => {
      for (const s of opened) await s.close()
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
})

/** A temp dir of the test's own, removed when the test ends (after the stores it holds close). */
function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shepherd-jobs-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Opens a store on a new file of the test's own; closed when the test ends. */
async function openFor(t: TestContext, file = path.join(tempDir(t), 'shepherd.db')): Promise<SqliteStore> {
  const store = await openSqliteStore(file)
  t.after(() => store.close())
  return store
}

/** A plain connection, as an operator's sqlite3 shell would have one; closed when the test ends. */
function raw(t: TestContext, file: string, options?: Database.Options): Database.Database {
  const db = new Database(file, options)
  t.after(() => db.close())
  return db
}

function expectError(code: ShepherdError['code'], ...patterns: RegExp[]) {
  return (e: unknown): boolean => {
    assert.ok(isShepherdError(e, code), `expected ${code}, got ${String(e)}`)
    for (const p of patterns) assert.match(e.message, p)
    return true
  }
}

/** EXPLAIN QUERY PLAN of a statement, its details joined; parameters bound to placeholders. */
function plan(db: Database.Database, sql: string): string {
  const params = (sql.match(/\?/g) ?? []).map(() => 1)
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[])
    .map((r) => r.detail)
    .join(' | ')
}

function count(db: Database.Database, where: string): number {
  return (db.prepare(`SELECT count(*) AS n FROM jobs WHERE ${where}`).get() as { n: number }).n
}

/** Inserts `n` jobs straight into the table, as a large backlog left by an earlier run would be. */
function backlog(db: Database.Database, n: number, state: string, finishedAt: number | null): void {
  const insert = db.prepare(`INSERT INTO jobs (id, queue, state, priority, run_at, created_at, updated_at,
      finished_at, attempts, max_attempts, crashes, delivery, payload)
    VALUES (?, 'email', ?, 0, ?, ?, ?, ?, 0, 3, 0, 1, '{}')`)
  db.transaction(() => {
    for (let i = 0; i < n; i++) insert.run(`${state}-${i}`, state, T0, T0, T0, finishedAt)
  })()
}

const policy = () => POLICY

describe('SQLite job store', () => {
  it('adds the jobs table to a store created before it, keeping what the store held', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const old = new Database(file)
    old.pragma('journal_mode = WAL')
    assert.deepEqual(runMigrations(old, loadMigrations().slice(0, 1)).applied, ['0001_init.sql'])
    old
      .prepare(
        "INSERT INTO events (at, type, severity, message, data) VALUES (?, 'supervisor:started', 'info', 'old', '{}')",
      )
      .run(T0)
    old.close()

    const store = await openFor(t, file)
    const db = raw(t, file)
    assert.deepEqual(
      db.prepare('SELECT version, name FROM shepherd_migrations ORDER BY version').all(),
      loadMigrations().map((m) => ({ version: m.version, name: m.name })),
    )
    assert.equal((await store.listEvents()).length, 1, 'the events of the old store are kept')
    const [r] = await store.jobs.add([{ queue: 'email', payload: 1 }], T0, defaults)
    assert.equal(r?.added, true)
    assert.equal((await store.jobs.claim('email', 1, 'email#1', T0)).length, 1)
  })

  it('refuses to wrap a connection whose schema is older than the code (no jobs table)', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const db = raw(t, file)
    runMigrations(db, loadMigrations().slice(0, 1))
    // Whichever statement meets the old schema first: a table or a column it lacks.
    assert.throws(
      () => new SqliteStore(db, file),
      expectError('SHEPHERD_STORE_OPEN_FAILED', /no such table|has no column named/),
    )
  })

  // SQLite plans without statistics until ANALYZE runs, and differently after; the hot statements
  // name their index (INDEXED BY), so their plans are checked both before and after ANALYZE.
  it('claims from the claim index in order: no sort, no scan of the table, with or without statistics', async (t) => {
    const store = await openFor(t)
    await store.jobs.add(
      Array.from({ length: 2_000 }, (_, i) => ({
        queue: i % 3 === 0 ? 'reports' : 'email',
        payload: i,
        priority: i % 5,
        delay: i % 4 === 0 ? 60_000 : 0,
      })),
      T0,
      defaults,
    )
    const claimed = await store.jobs.claim('email', 100, 'email#1', T0)
    await store.jobs.settle(
      claimed.slice(0, 50).map((d) => ({ kind: 'ack' as const, token: d.token })),
      T0 + 1,
      policy,
      seededRandom(1),
    )
    const db = raw(t, store.file)
    for (const stats of ['without', 'with']) {
      if (stats === 'with') db.exec('ANALYZE')
      const claim = plan(db, JOB_SQL.claim)
      assert.doesNotMatch(claim, /USE TEMP B-TREE/, `claim ${stats} statistics: ${claim}`)
      assert.doesNotMatch(claim, /\bSCAN jobs\b/, `claim ${stats} statistics: ${claim}`)
      assert.match(claim, /SEARCH jobs USING COVERING INDEX jobs_claim \(queue=\?\)/, claim)
      const expected: [keyof typeof JOB_SQL, RegExp][] = [
        ['nextDue', /SEARCH jobs USING COVERING INDEX jobs_waiting_run_at \(queue=\? AND run_at>\?\)$/],
        // The subquery's rows are read as it yields them (a co-routine), not stored.
        ['countDue', /SEARCH jobs USING COVERING INDEX jobs_claim \(queue=\?\) \| SCAN \(subquery-1\)$/],
        ['ack', /SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 \(id=\?\)$/],
        ['current', /SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 \(id=\?\)$/],
        ['countDelayedOf', /COVERING INDEX jobs_waiting_run_at \(queue=\? AND run_at>\?\)$/],
        ['oldestDueOf', /COVERING INDEX jobs_waiting_run_at \(queue=\? AND run_at<\?\)$/],
        ['countFailedOf', /INDEX jobs_retrying \(queue=\?\)$/],
        ['countThroughputOf', /COVERING INDEX jobs_done_finished_at \(finished_at>\?\)$/],
        ['pruneDone', /COVERING INDEX jobs_done_finished_at \(finished_at<\?\)$/],
        ['releaseAll', /INDEX jobs_state_queue_seq \(state=\?\)$/],
        ['listDue', /INDEX jobs_state_queue_seq \(state=\? AND queue=\?\)$/],
      ]
      for (const [name, pattern] of expected) {
        const p = plan(db, JOB_SQL[name])
        assert.match(p, pattern, `${name} ${stats} statistics: ${p}`)
        assert.doesNotMatch(p, /TEMP B-TREE/, `${name} ${stats} statistics: ${p}`)
      }
    }
  })

  // SQLite opens a file it may not write read-only and refuses every write with SQLITE_READONLY;
  // better-sqlite3's `readonly` option gives that state even when tests run as root.
  it('reports every refused job write as SHEPHERD_STORE_READ_ONLY, naming the operation (read-only file)', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const writable = await openSqliteStore(file)
    await writable.jobs.add([{ queue: 'email', payload: 1, id: 'j' }], T0, defaults)
    const [d] = await writable.jobs.claim('email', 1, 'email#1', T0)
    await writable.close()

    const store = new SqliteStore(new Database(file, { readonly: true, fileMustExist: true }), file)
    t.after(() => store.close())
    const refused = (operation: RegExp) =>
      expectError('SHEPHERD_STORE_READ_ONLY', operation, /SQLITE_READONLY/, /Nothing was written/)
    const jobs = store.jobs
    await assert.rejects(
      jobs.add([{ queue: 'email', payload: 2 }], T0, defaults),
      refused(/add 1 job to email/),
    )
    await assert.rejects(jobs.claim('email', 5, 'email#2', T0), refused(/claim jobs of email for email#2/))
    await assert.rejects(
      jobs.settle([{ kind: 'ack', token: d!.token }], T0, policy, seededRandom(1)),
      refused(/settle 1 delivery/),
    )
    await assert.rejects(jobs.releaseAllActive(T0), refused(/release all active jobs/))
    await assert.rejects(jobs.retry('email', 'dead', T0), refused(/retry the dead jobs of email/))
    await assert.rejects(jobs.purge('email', 'done', ['j']), refused(/purge the done jobs of email/))
    await assert.rejects(jobs.pruneDone(T0), refused(/prune done jobs/))
    assert.equal((await jobs.getJob('j'))?.state, 'active', 'reads still work')
    assert.equal((await jobs.counts(T0))[0]?.inFlight, 1)
  })

  // max_page_count caps the file at its size: SQLite answers a write that needs one more page with
  // SQLITE_FULL, as it does when the filesystem is out of space.
  it('reports a full disk as SHEPHERD_STORE_FULL and adds none of the batch', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const writable = await openSqliteStore(file)
    await writable.jobs.add([{ queue: 'email', payload: 'kept', id: 'kept' }], T0, defaults)
    await writable.close()

    const db = new Database(file)
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`)
    const store = new SqliteStore(db, file)
    t.after(() => store.close())
    const batch: NewJob[] = [
      { queue: 'email', payload: 'small', id: 'small' },
      { queue: 'email', payload: 'x'.repeat(256 * 1024), id: 'big' },
    ]
    await assert.rejects(
      store.jobs.add(batch, T0, defaults),
      expectError('SHEPHERD_STORE_FULL', /add 2 jobs to email/, /SQLITE_FULL/, /disk is full/),
    )
    assert.equal(await store.jobs.getJob('small'), undefined, 'the batch was rolled back whole')
    assert.equal((await store.jobs.getJob('kept'))?.payload, 'kept')
  })

  it('rolls a whole settlement batch back when one item fails', async (t) => {
    const store = await openFor(t)
    await store.jobs.add(
      [
        { queue: 'email', payload: 1, id: 'a' },
        { queue: 'email', payload: 2, id: 'b' },
      ],
      T0,
      defaults,
    )
    const [a, b] = await store.jobs.claim('email', 2, 'email#1', T0)
    const before = [await store.jobs.getJob('a'), await store.jobs.getJob('b')]
    const broken = () => {
      throw new Error('no policy for this queue')
    }
    await assert.rejects(
      store.jobs.settle(
        [
          { kind: 'ack', token: a!.token },
          { kind: 'fail', token: b!.token, error: 'e' },
        ],
        T0 + 1,
        broken,
        seededRandom(1),
      ),
      expectError('SHEPHERD_STORE_WRITE_FAILED', /settle 2 deliveries/, /no policy for this queue/),
    )
    assert.deepEqual([await store.jobs.getJob('a'), await store.jobs.getJob('b')], before)
  })

  it('refuses job work after close instead of failing obscurely', async (t) => {
    const store = await openFor(t)
    await store.close()
    await assert.rejects(
      store.jobs.add([{ queue: 'email', payload: 1 }], T0, defaults),
      expectError('SHEPHERD_STORE_WRITE_FAILED', /add 1 job/, /closed/),
    )
    await assert.rejects(store.jobs.getJob('j'), expectError('SHEPHERD_INTERNAL', /read job j/, /closed/))
  })

  it('makes ids with the generator it is given', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const db = raw(t, file)
    runMigrations(db, loadMigrations())
    const direct: SqliteGuard = { write: (_operation, run) => run(), read: (_operation, run) => run() }
    let n = 0
    const jobs = new SqliteJobStore(db, direct, { newId: () => `job-${++n}` })
    const added = await jobs.add(
      [
        { queue: 'email', payload: 1 },
        { queue: 'email', payload: 2, id: 'mine' },
        { queue: 'email', payload: 3 },
      ],
      T0,
      defaults,
    )
    assert.deepEqual(
      added.map((x) => x.id),
      ['job-1', 'mine', 'job-2'],
    )
  })

  it('prunes, purges and retries a large backlog in batches', async (t) => {
    const store = await openFor(t)
    const db = raw(t, store.file)
    const n = JOB_BATCH * 2 + 345
    backlog(db, n, 'done', T0)
    backlog(db, JOB_BATCH + 1, 'dead', T0)
    backlog(db, JOB_BATCH, 'quarantined', T0)
    await store.jobs.add([{ queue: 'email', payload: 'recent', id: 'recent' }], T0, defaults)
    const [d] = await store.jobs.claim('email', 1, 'email#1', T0)
    await store.jobs.settle([{ kind: 'ack', token: d!.token }], T0 + 10, policy, seededRandom(1))

    assert.equal(await store.jobs.pruneDone(T0 + 1), n)
    assert.equal((await store.jobs.getJob('recent'))?.state, 'done', 'finished after the bound: kept')
    assert.equal(await store.jobs.retry('email', 'dead', T0 + 20), JOB_BATCH + 1)
    assert.equal(
      count(db, "state = 'waiting' AND attempts = 0 AND run_at = " + String(T0 + 20)),
      JOB_BATCH + 1,
    )
    assert.equal(await store.jobs.purge('email', 'quarantined'), JOB_BATCH)
    assert.equal(count(db, "state = 'quarantined'"), 0)
  })

  it('stays correct over 100,000 jobs added in batches of 1,000', { timeout: 60_000 }, async (t) => {
    const store = await openFor(t)
    const total = 100_000
    for (let start = 0; start < total; start += 1_000) {
      const batch = Array.from({ length: 1_000 }, (_, k): NewJob => {
        const i = start + k
        return {
          queue: i % 4 === 0 ? 'reports' : 'email',
          payload: { i },
          id: `job-${i}`,
          priority: i % 10 === 1 ? 1 : 0,
          delay: i % 5 === 0 ? 60_000 : 0,
          // Every 1,000th job repeats the key of the job before it (of the same queue): a duplicate.
          idempotencyKey: i % 1_000 === 999 ? `key-${i - 4}` : `key-${i}`,
        }
      })
      const results = await store.jobs.add(batch, T0, defaults)
      assert.equal(results.filter((r) => !r.added).length, 1)
    }
    const added = total - total / 1_000
    const counts = await store.jobs.counts(T0)
    const sum = (k: 'waiting' | 'delayed') => counts.reduce((s, c) => s + c[k], 0)
    assert.equal(sum('delayed'), total / 5, 'every 5th job is delayed (none of them a duplicate)')
    assert.equal(sum('waiting'), added - total / 5)

    // Priority 1 (every i ending in 1: odd, so of email, and never delayed) comes first, in enqueue
    // order, though 70,000 jobs of priority 0 were enqueued among them.
    const claimed = await store.jobs.claim('email', 500, 'email#1', T0)
    assert.deepEqual(
      claimed.map((d) => d.job.id),
      Array.from({ length: 500 }, (_, k) => `job-${k * 10 + 1}`),
    )
    await store.jobs.settle(
      claimed.map((d) => ({ kind: 'ack' as const, token: d.token })),
      T0 + 1_000,
      policy,
      seededRandom(1),
    )
    const [email] = await store.jobs.counts(T0 + 1_000, 'email')
    assert.equal(email?.done, 500)
    assert.equal(email?.throughputPerMinute, 500)
    assert.equal(email?.inFlight, 0)
    assert.equal(await store.jobs.nextDueAt('email', T0), T0 + 60_000)
  })
})
