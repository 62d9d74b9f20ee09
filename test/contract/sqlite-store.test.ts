/**
 * The Store contract on a temp SQLite file, and what only the SQLite adapter promises: its pragmas,
 * its migrations (idempotent, serialised between processes, refused when newer, rolled back on
 * failure), and how it reports files it cannot open and writes it cannot make.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'

import Database from 'better-sqlite3'

import { BUSY_TIMEOUT_MS } from '../../src/adapters/sqlite/connection.js'
import { loadMigrations, type Migration, runMigrations } from '../../src/adapters/sqlite/migrate.js'
import { openSqliteStore, SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js'
import { isShepherdError, type ShepherdError } from '../../src/errors.js'
import type { Store } from '../../src/ports/store.js'
import { openStore } from '../../src/store/open-store.js'
import { exitEvent, incident, sampleEvents, storeContract, T0, workerState } from './store.contract.js'

const REPO = fileURLToPath(new URL('../../', import.meta.url))

const cleanups = new WeakMap<TestContext, (() => unknown)[]>()

/**
 * Runs `undo` when the test ends, however it ends, in reverse order of registration (node:test runs
 * `after` hooks in order), so stores close before their temp dir is removed.
 */
function defer(t: TestContext, undo: () => unknown): void {
  let list = cleanups.get(t)
  if (!list) {
    const own: (() => unknown)[] = []
    cleanups.set(t, own)
    t.after(async () => {
      for (const f of own.reverse()) await f()
    })
    list = own
  }
  list.push(undo)
}

/** A temp dir of the test's own, removed when the test ends. */
function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shepherd-'))
  defer(t, () => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Opens a store and closes it when the test ends (close is idempotent, so tests may close it too). */
async function openFor(t: TestContext, file: string): Promise<SqliteStore> {
  const store = await openSqliteStore(file)
  defer(t, () => store.close())
  return store
}

/** A plain better-sqlite3 connection, as an operator's sqlite3 shell would have one. */
function raw(t: TestContext, file: string, options?: Database.Options): Database.Database {
  const db = new Database(file, options)
  defer(t, () => db.close())
  return db
}

function ledger(db: Database.Database): { version: number; name: string }[] {
  return db.prepare('SELECT version, name FROM shepherd_migrations ORDER BY version').all() as {
    version: number
    name: string
  }[]
}

function tables(db: Database.Database): string[] {
  return (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
      name: string
    }[]
  ).map((r) => r.name)
}

function expectError(code: ShepherdError['code'], ...patterns: RegExp[]) {
  return (e: unknown): boolean => {
    assert.ok(isShepherdError(e, code), `expected ${code}, got ${String(e)}`)
    for (const p of patterns) assert.match(e.message, p)
    return true
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

storeContract('sqlite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shepherd-'))
  const file = path.join(dir, 'shepherd.db')
  const opened: Store[] = [await openSqliteStore(file)]
  return {
    store: opened[0]!,
    reopen: async () => {
      const store = await openSqliteStore(file)
      opened.push(store)
      return store
    },
    alongside: async () => {
      const store = await openSqliteStore(file)
      opened.push(store)
      return store
    },
    cleanup: async () => {
      for (const s of opened) await s.close()
      fs.rmSync(dir, { recursive: true, force: true })
    },
    sharedByAgents: false,
  }
})

describe('SQLite store', () => {
  it('opens through openStore, creating missing directories', async (t) => {
    const file = path.join(tempDir(t), 'state', 'nested', 'shepherd.db')
    const store = await openStore(file)
    defer(t, () => store.close())
    assert.ok(store instanceof SqliteStore)
    assert.ok(fs.existsSync(file))
  })

  it('runs in WAL mode with synchronous=FULL, busy_timeout and foreign keys, on every open', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const expected = {
      journalMode: 'wal',
      synchronous: 'full',
      busyTimeoutMs: BUSY_TIMEOUT_MS,
      foreignKeys: true,
    }

    const created = await openFor(t, file)
    assert.deepEqual(created.settings(), expected)
    await created.appendEvent(exitEvent(T0, 'email#1', 100))
    assert.ok(fs.existsSync(`${file}-wal`), 'commits go to the write-ahead log')
    await created.close()

    // A second open of a file already in WAL mode is where this SQLite build would fall back to
    // synchronous=NORMAL (SQLITE_DEFAULT_WAL_SYNCHRONOUS=1) unless the store sets FULL itself.
    const reopened = await openFor(t, file)
    assert.deepEqual(reopened.settings(), expected)
    assert.equal(raw(t, file).pragma('journal_mode', { simple: true }), 'wal', 'WAL is recorded in the file')
  })

  it('has no advice to give: its settings are its own, set at every open', async (t) => {
    const store = await openFor(t, path.join(tempDir(t), 'shepherd.db'))
    assert.deepEqual(await store.advise(), [])
  })

  it('applies each migration once, however often it is opened and migrated', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const known = loadMigrations()
    assert.deepEqual(
      known.map((m) => m.file),
      fs
        .readdirSync(path.join(REPO, 'sql', 'sqlite'))
        .filter((f) => f.endsWith('.sql'))
        .sort(),
    )

    const first = await openFor(t, file)
    await first.saveIncident(incident({ id: 'inc-1', at: T0, until: 'recovered' }))
    await first.close()
    const second = await openFor(t, file)
    await second.migrate()
    await second.migrate()
    assert.deepEqual(
      ledger(raw(t, file)),
      known.map((m) => ({ version: m.version, name: m.name })),
    )
    assert.deepEqual(tables(raw(t, file)), [
      'events',
      'fleet_chores',
      'fleet_leader',
      'fleet_notifications',
      'incidents',
      'jobs',
      'node_epochs',
      'shepherd_migrations',
      'sqlite_sequence',
      'supervisor_lease',
      'worker_processes',
      'worker_state',
    ])
    assert.equal((await second.listIncidents()).length, 1, 'migrating again kept the data')
  })

  // SQLite answers SQLITE_BUSY at once, without waiting, when a new file cannot be switched to WAL
  // because another connection holds its write lock; two processes creating the store together
  // meet this. The store must wait for the lock rather than fail.
  it('waits for another connection to release a new file before switching it to WAL', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const other = raw(t, file)
    other.exec('BEGIN IMMEDIATE')
    const opening = openSqliteStore(file)
    // The first attempt ran synchronously inside openSqliteStore and met the lock; release it.
    other.exec('ROLLBACK')
    const store = await opening
    defer(t, () => store.close())
    assert.equal(store.settings().journalMode, 'wal')
  })

  it('serialises two processes migrating the same new file at once', { timeout: 120_000 }, async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const results = await raceChildren(t, [
      `const { openSqliteStore } = await import(${JSON.stringify(moduleUrl('src/adapters/sqlite/sqlite-store.ts'))})`,
      'await ready()',
      `const store = await openSqliteStore(${JSON.stringify(file)})`,
      "await store.appendEvent({ type: 'supervisor:stopping', at: Date.now(), severity: 'info', message: 'child ' + process.pid, pool: null, workerId: null, incidentId: null, data: { reason: 'test' } })",
      'await store.close()',
    ])
    for (const r of results) assert.equal(r.code, 0, r.stderr)

    const db = raw(t, file)
    assert.deepEqual(
      ledger(db),
      loadMigrations().map((m) => ({ version: m.version, name: m.name })),
    )
    assert.equal((db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n, 2)
  })

  // The upgrade of an existing store is the harder race: the ledger already exists, so nothing
  // The extra migration added after the real ones fills a table so that it runs long enough for the other process to arrive
  // Migration 0002 fills a table so that it runs long enough for the other process to arrive
  // while it is under way; if the two do not overlap, the test still holds (it cannot flake).
  it('serialises two processes upgrading the same store at once', { timeout: 120_000 }, async (t) => {
    const dir = tempDir(t)
    const file = path.join(dir, 'shepherd.db')
    await (await openFor(t, file)).close()
    const migrations = path.join(dir, 'migrations')
    fs.mkdirSync(migrations)
    for (const m of loadMigrations()) fs.writeFileSync(path.join(migrations, m.file), m.sql)
    fs.writeFileSync(
      path.join(migrations, `${String(loadMigrations().length + 1).padStart(4, '0')}_fill.sql`),
      'CREATE TABLE filler (n INTEGER NOT NULL);\n' +
        'WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 200000) INSERT INTO filler SELECT n FROM c;',
    )
    const results = await raceChildren(t, [
      "const { default: Database } = await import('better-sqlite3')",
      `const { loadMigrations, runMigrations } = await import(${JSON.stringify(moduleUrl('src/adapters/sqlite/migrate.ts'))})`,
      `const migrations = loadMigrations(${JSON.stringify(migrations)})`,
      `const db = new Database(${JSON.stringify(file)})`,
      `db.pragma('busy_timeout = ${BUSY_TIMEOUT_MS}')`,
      'await ready()',
      'const run = runMigrations(db, migrations)',
      'db.close()',
      'process.stdout.write(JSON.stringify(run) + "\\n")',
    ])
    for (const r of results) assert.equal(r.code, 0, r.stderr)
    const runs = results.map(
      (r) => JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as { applied: string[] },
    )
    assert.deepEqual(
      runs.map((r) => r.applied.length).sort(),
      [0, 1],
      'one process applied the new migration, the other found nothing to do',
    )
    const db = raw(t, file)
    assert.deepEqual(
      ledger(db).map((r) => r.version),
      [...loadMigrations().map((m) => m.version), loadMigrations().length + 1],
    )
    assert.equal((db.prepare('SELECT count(*) AS n FROM filler').get() as { n: number }).n, 200_000)
  })

  it('refuses a file that is not a SQLite database, and leaves it as it was', async (t) => {
    const dir = tempDir(t)
    const garbage = path.join(dir, 'garbage.db')
    fs.writeFileSync(garbage, Buffer.from('PK\u0003\u0004 this is a zip file, not a database '.repeat(200)))
    // A real SQLite header followed by a page of noise: looks like a database until it is read.
    const corrupt = path.join(dir, 'corrupt.db')
    const noise = Buffer.alloc(8192)
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919 + 13) % 251
    fs.writeFileSync(corrupt, Buffer.concat([Buffer.from('SQLite format 3\0'), noise]))

    for (const file of [garbage, corrupt]) {
      const before = fs.readFileSync(file)
      await assert.rejects(
        openSqliteStore(file),
        expectError(
          'SHEPHERD_STORE_OPEN_FAILED',
          new RegExp(escape(file)),
          /SQLITE_(NOTADB|CORRUPT)/,
          /move the file aside/,
        ),
      )
      assert.deepEqual(fs.readFileSync(file), before, `${path.basename(file)} was not modified`)
    }
  })

  it('refuses a store whose directory cannot be created', async (t) => {
    const dir = tempDir(t)
    fs.writeFileSync(path.join(dir, 'not-a-dir'), 'a file where the directory should be')
    const file = path.join(dir, 'not-a-dir', 'shepherd.db')
    await assert.rejects(
      openSqliteStore(file),
      expectError('SHEPHERD_STORE_OPEN_FAILED', new RegExp(escape(file)), /cannot be created/, /store\.path/),
    )
  })

  it('refuses a store written by a newer Shepherd and leaves it untouched', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    await (await openFor(t, file)).close()
    const future = loadMigrations().length + 1
    const db = raw(t, file)
    db.prepare('INSERT INTO shepherd_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
      future,
      'future',
      T0,
    )

    await assert.rejects(
      openSqliteStore(file),
      expectError(
        'SHEPHERD_STORE_MIGRATION_FAILED',
        new RegExp(`schema version ${future}`),
        /Upgrade Shepherd/,
      ),
    )
    assert.equal(ledger(db).at(-1)?.version, future)
  })

  it('rolls a failed migration back and leaves the store at its previous version', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    await (await openFor(t, file)).close()
    const shipped = loadMigrations()
    const broken: Migration = {
      version: shipped.length + 1,
      name: 'broken',
      file: `${String(shipped.length + 1).padStart(4, '0')}_broken.sql`,
      sql: 'CREATE TABLE leases (job_id TEXT PRIMARY KEY);\nALTER TABLE events ADD COLUMN x TEXT;\nINSERT INTO nowhere VALUES (1);',
    }
    const db = raw(t, file)
    assert.throws(
      () => runMigrations(db, [...shipped, broken]),
      expectError(
        'SHEPHERD_STORE_MIGRATION_FAILED',
        new RegExp(broken.file),
        new RegExp(`version ${shipped.length}`),
        /no such table/,
      ),
    )
    assert.equal(db.inTransaction, false)
    assert.equal(ledger(db).length, shipped.length)
    assert.ok(!tables(db).includes('leases'), 'the statements before the failing one were rolled back too')
    assert.ok(
      !(db.prepare('PRAGMA table_info(events)').all() as { name: string }[]).some((c) => c.name === 'x'),
    )
    await (await openFor(t, file)).close()
  })

  it('refuses a ledger that does not match the files (a renamed or reordered migration)', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    await (await openFor(t, file)).close()
    raw(t, file).prepare("UPDATE shepherd_migrations SET name = 'renamed' WHERE version = 1").run()
    await assert.rejects(
      openSqliteStore(file),
      expectError('SHEPHERD_STORE_MIGRATION_FAILED', /"renamed"/, /append-only/),
    )
  })

  it('refuses misnamed, missing or duplicated migration files', (t) => {
    const dir = tempDir(t)
    fs.writeFileSync(path.join(dir, '0001_init.sql'), 'CREATE TABLE a (x INTEGER);')
    fs.writeFileSync(path.join(dir, 'README.md'), 'not a migration, ignored')
    fs.writeFileSync(path.join(dir, '0002_more.sql'), 'CREATE TABLE b (x INTEGER);')
    assert.deepEqual(
      loadMigrations(dir).map((m) => [m.version, m.name, m.file]),
      [
        [1, 'init', '0001_init.sql'],
        [2, 'more', '0002_more.sql'],
      ],
    )
    fs.writeFileSync(path.join(dir, '0004_gap.sql'), 'SELECT 1;')
    assert.throws(
      () => loadMigrations(dir),
      expectError('SHEPHERD_STORE_MIGRATION_FAILED', /0004_gap\.sql/, /number 3/),
    )
    fs.renameSync(path.join(dir, '0004_gap.sql'), path.join(dir, '0002_twice.sql'))
    assert.throws(() => loadMigrations(dir), expectError('SHEPHERD_STORE_MIGRATION_FAILED', /duplicates/))
    fs.renameSync(path.join(dir, '0002_twice.sql'), path.join(dir, '3-bad.sql'))
    assert.throws(
      () => loadMigrations(dir),
      expectError('SHEPHERD_STORE_MIGRATION_FAILED', /3-bad\.sql/, /misnamed/),
    )
  })

  // SQLite opens a file it may not write read-only and then refuses every write with
  // SQLITE_READONLY. chmod cannot show that when tests run as root, so the test opens the connection
  // with better-sqlite3's `readonly` option (SQLITE_OPEN_READONLY, the same state) and wraps it with
  // the SqliteStore constructor.
  it('reports every refused write as SHEPHERD_STORE_READ_ONLY (read-only file)', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const writable = await openFor(t, file)
    const inc = incident({ id: 'inc-1', at: T0, until: 'recovered' })
    await writable.saveIncident(inc)
    await writable.appendEvent(exitEvent(T0, 'email#1', 100))
    await writable.close()

    const store = new SqliteStore(new Database(file, { readonly: true, fileMustExist: true }), file)
    defer(t, () => store.close())
    const refused = (operation: RegExp) =>
      expectError(
        'SHEPHERD_STORE_READ_ONLY',
        operation,
        new RegExp(escape(file)),
        /SQLITE_READONLY/,
        /read-only/,
        /Nothing was written/,
      )

    await assert.rejects(store.saveIncident({ ...inc, detail: 'changed' }), refused(/save incident inc-1/))
    await assert.rejects(
      store.appendEvent(exitEvent(T0 + 1, 'email#1', 101)),
      refused(/append event worker:exit/),
    )
    await assert.rejects(store.pruneEvents(T0 + 10), refused(/prune events/))
    await assert.rejects(
      store.saveWorkerState(workerState('email#1', T0)),
      refused(/save the state of worker email#1/),
    )
    await assert.rejects(store.saveIncident(inc), (e: unknown) => {
      assert.ok(isShepherdError(e))
      assert.equal((e.cause as { code?: unknown }).code, 'SQLITE_READONLY')
      return true
    })
    assert.deepEqual(await store.getIncident('inc-1'), inc, 'reads still work')
    assert.equal((await store.listEvents()).length, 1)
  })

  // A full disk, for real: max_page_count caps the file at its current size, and SQLite answers a
  // write that needs one more page with SQLITE_FULL, as it does when the filesystem is out of space.
  it('reports a full disk as SHEPHERD_STORE_FULL and loses nothing already stored', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const writable = await openFor(t, file)
    const first = await writable.appendEvent(exitEvent(T0, 'email#1', 100))
    await writable.close()

    const db = new Database(file)
    const pages = Number(db.pragma('page_count', { simple: true }))
    db.pragma(`max_page_count = ${pages}`)
    const store = new SqliteStore(db, file)
    defer(t, () => store.close())
    const big = { ...exitEvent(T0 + 1, 'email#1', 101), message: 'x'.repeat(256 * 1024) }
    await assert.rejects(
      store.appendEvent(big),
      expectError('SHEPHERD_STORE_FULL', /append event worker:exit/, /SQLITE_FULL/, /disk is full/),
    )
    assert.deepEqual(
      (await store.listEvents()).map((e) => e.seq),
      [first],
    )
  })

  it('refuses work after close instead of failing obscurely', async (t) => {
    const store = await openFor(t, path.join(tempDir(t), 'shepherd.db'))
    await store.close()
    await assert.rejects(
      store.appendEvent(exitEvent(T0, 'email#1', 100)),
      expectError('SHEPHERD_STORE_WRITE_FAILED', /append event/, /closed/),
    )
    await assert.rejects(store.listIncidents(), expectError('SHEPHERD_INTERNAL', /list incidents/, /closed/))
    await assert.rejects(store.migrate(), expectError('SHEPHERD_STORE_MIGRATION_FAILED', /closed/))
  })

  it('refuses a checkpoint that is not JSON instead of storing part of it', async (t) => {
    const store = await openFor(t, path.join(tempDir(t), 'shepherd.db'))
    const state = { ...workerState('email#1', T0), checkpoint: { offset: 10n } }
    await assert.rejects(
      store.saveWorkerState(state),
      expectError('SHEPHERD_STORE_WRITE_FAILED', /save the state of worker email#1/, /BigInt/),
    )
    assert.equal(await store.loadWorkerState('email#1'), undefined)

    const { checkpoint: _omitted, ...withoutCheckpoint } = workerState('email#2', T0)
    await store.saveWorkerState(withoutCheckpoint as typeof state)
    assert.equal(
      (await store.loadWorkerState('email#2'))?.checkpoint,
      null,
      'a missing checkpoint reads back as null',
    )
  })

  it('keeps whole milliseconds in its time columns and exact times in incident data', async (t) => {
    const store = await openFor(t, path.join(tempDir(t), 'shepherd.db'))
    const at = T0 + 0.75
    const inc = incident({ id: 'inc-1', at, until: 'recovered' })
    await store.saveIncident(inc)
    await store.appendEvent(exitEvent(at, 'email#1', 100))
    assert.deepEqual(await store.getIncident('inc-1'), inc)
    assert.deepEqual(ids(await store.listIncidents({ since: T0 })), ['inc-1'])
    assert.equal((await store.listEvents())[0]?.at, T0)
    await assert.rejects(
      store.appendEvent(exitEvent(Number.NaN, 'email#1', 100)),
      expectError('SHEPHERD_STORE_WRITE_FAILED', /finite epoch milliseconds/),
    )
  })

  it('writes a batch of events in one transaction: all or none', async (t) => {
    const store = await openFor(t, path.join(tempDir(t), 'shepherd.db'))
    const batch = sampleEvents(T0)
    const seqs = await store.writeBatch({ events: batch })
    assert.equal(seqs.length, batch.length)
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!)
    assert.deepEqual(
      await store.listEvents(),
      batch.map((e, i) => ({ ...e, seq: seqs[i] })),
    )
    assert.deepEqual(await store.writeBatch({}), [])

    const poisoned = [
      exitEvent(T0 + 1, 'email#1', 1),
      exitEvent(Number.NaN, 'email#1', 2),
      exitEvent(T0 + 3, 'email#1', 3),
    ]
    await assert.rejects(
      store.writeBatch({ events: poisoned }),
      expectError('SHEPHERD_STORE_WRITE_FAILED', /write 3 events \(worker:exit\)/),
    )
    assert.equal(
      (await store.listEvents()).length,
      batch.length,
      'the first event of the failed batch was rolled back',
    )
    const next = await store.appendEvent(exitEvent(T0 + 4, 'email#1', 4))
    assert.ok(next > seqs.at(-1)!)
  })

  it('reads incidents and events stored before nodes were recorded with node null', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const recordNode = loadMigrations().find((m) => m.name === 'record_node')
    assert.ok(recordNode, 'the migration that adds the node columns')
    // A store as the Shepherd before that migration left it, with an incident and an event in it.
    const old = new Database(file)
    runMigrations(
      old,
      loadMigrations().filter((m) => m.version < recordNode.version),
    )
    const { node: _node, ...before } = incident({ id: 'inc-old', at: T0, until: 'recovered' })
    old
      .prepare(
        `INSERT INTO incidents (id, worker_id, pool, cause, severity, strategy, phase, outcome, attempts, detected_at, data)
         VALUES (?, 'email#1', 'email', 'crash', 'ordinary', 'soft_restart', 'recovered', 'recovered', 1, ?, ?)`,
      )
      .run('inc-old', T0, JSON.stringify(before))
    old
      .prepare(
        "INSERT INTO events (at, type, severity, pool, worker_id, message, data) VALUES (?, 'worker:exit', 'warning', 'email', 'email#1', 'old', '{}')",
      )
      .run(T0)
    old.close()

    const store = await openFor(t, file)
    assert.deepEqual(await store.getIncident('inc-old'), { ...before, node: null })
    assert.deepEqual(
      (await store.listIncidents()).map((i) => [i.id, i.node]),
      [['inc-old', null]],
    )
    assert.deepEqual(
      (await store.listEvents()).map((e) => [e.message, e.node]),
      [['old', null]],
    )
    assert.deepEqual(await store.listIncidents({ node: 'web-1' }), [])
  })

  it('prunes a large backlog of events in batches', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const store = await openFor(t, file)
    const db = raw(t, file)
    const insert = db.prepare(
      "INSERT INTO events (at, type, severity, message, data) VALUES (?, 'worker:exit', 'info', 'old', '{}')",
    )
    db.transaction(() => {
      for (let i = 0; i < 12_345; i++) insert.run(T0 + i)
    })()
    const kept = await store.appendEvent(exitEvent(T0 + 1_000_000, 'email#1', 100))

    assert.equal(await store.pruneEvents(T0 + 1_000_000), 12_345)
    assert.deepEqual(
      (await store.listEvents()).map((e) => e.seq),
      [kept],
    )
  })
})

function ids(list: { id: string }[]): string[] {
  return list.map((i) => i.id)
}

function moduleUrl(relative: string): string {
  return new URL(relative, new URL('../../', import.meta.url)).href
}

/**
 * Runs the script in two real processes (`node --import tsx`) and lets them race: each child
 * loads what it needs, then `await ready()` reports readiness and waits for its stdin to close; the
 * parent closes both stdins once both are ready, so the code after `ready()` starts at the same
 * moment in both, however long each took to start.
 */
async function raceChildren(
  t: TestContext,
  lines: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }[]> {
  const script = [
    'const ready = () => new Promise((resolve) => {',
    "  process.stdout.write('ready\\n')",
    "  process.stdin.on('data', () => {})",
    "  process.stdin.on('end', resolve)",
    '})',
    ...lines,
  ].join('\n')
  const children = [0, 1].map(() => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    defer(t, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on('close', (code) => resolve({ code, stdout, stderr })),
    )
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => {
        if (stdout.includes('ready\n')) resolve()
      })
      void exited.then(({ code }) =>
        reject(new Error(`child exited (${code}) before it was ready:\n${stderr}`)),
      )
    })
    return { child, ready, exited }
  })
  await Promise.all(children.map((c) => c.ready))
  for (const c of children) c.child.stdin.end()
  return Promise.all(children.map((c) => c.exited))
}
