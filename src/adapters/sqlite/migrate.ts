/**
 * Schema migrations of the SQLite store: numbered, append-only files `sql/sqlite/NNNN_name.sql`,
 * applied in order and recorded in the ledger table `shepherd_migrations`.
 *
 * Rules the code enforces: every `.sql` file in the folder is named `NNNN_name.sql`; versions run
 * 1, 2, 3… without gaps or duplicates; a version the ledger recorded keeps its name (a rename or a
 * reorder is refused); a store whose ledger knows a newer version than this code is refused, so an
 * older Shepherd never writes into a schema it does not understand.
 * @module
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import Database from 'better-sqlite3'

import { coerceError, ShepherdError } from '../../errors.js'

/**
 * The folder of SQLite migration files, `sql/sqlite/` at the package root. Resolved from this
 * module, which sits three levels below the root both as `src/adapters/sqlite/migrate.ts` (run through
 * tsx) and as `dist/store/sqlite/migrate.js` (after `tsc -p tsconfig.build.json`), so the package
 * must ship `sql/` beside `dist/`.
 */
export const SQLITE_MIGRATIONS_DIR: URL = new URL('../../../sql/sqlite/', import.meta.url)

/** `0001_init.sql`: four digits, an underscore, a lower-case snake_case name. */
const MIGRATION_FILE = /^(\d{4})_([a-z0-9][a-z0-9_]*)\.sql$/

// The ledger. version is the file's number, name the part after it; applied_at is epoch ms.
const LEDGER_DDL = `CREATE TABLE IF NOT EXISTS shepherd_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
)`

/** One migration file, read into memory. */
export interface Migration {
  /** The file's number: 1 for `0001_init.sql`. */
  version: number
  /** The file's name without number and extension: `init`. */
  name: string
  /** The file name, for messages: `0001_init.sql`. */
  file: string
  /** The SQL to run; it must not contain transaction statements of its own. */
  sql: string
}

/** What one run of {@link runMigrations} did. */
export interface MigrationRun {
  /** Schema version before the run (0 for a new file). */
  from: number
  /** Schema version after the run. */
  to: number
  /** Files applied by this run, in order; empty when the store was already current. */
  applied: string[]
}

interface LedgerRow {
  version: number
  name: string
}

/**
 * The SQLite result code of a better-sqlite3 error (`SQLITE_FULL`, `SQLITE_READONLY_DBMOVED`…), or
 * null for anything else.
 */
export function sqliteCode(e: unknown): string | null {
  return e instanceof Database.SqliteError ? e.code : null
}

/**
 * Reads and checks the migration files of a folder, sorted by version.
 * @param dir - the folder; {@link SQLITE_MIGRATIONS_DIR} by default.
 * @throws ShepherdError `SHEPHERD_STORE_MIGRATION_FAILED` when the folder cannot be read, a `.sql`
 *   file is misnamed, or the versions have a gap or a duplicate (files were renumbered or lost).
 */
export function loadMigrations(dir: URL | string = SQLITE_MIGRATIONS_DIR): Migration[] {
  const folder = typeof dir === 'string' ? dir : fileURLToPath(dir)
  let names: string[]
  try {
    names = fs.readdirSync(folder).filter((n) => n.endsWith('.sql'))
  } catch (e) {
    throw new ShepherdError(
      'SHEPHERD_STORE_MIGRATION_FAILED',
      `Could not read the store migrations in ${folder} (${coerceError(e).message}); the Shepherd installation is incomplete: reinstall it.`,
      { cause: e },
    )
  }
  const migrations: Migration[] = []
  for (const file of names) {
    const m = MIGRATION_FILE.exec(file)
    if (!m) {
      throw new ShepherdError(
        'SHEPHERD_STORE_MIGRATION_FAILED',
        `Migration file ${path.join(folder, file)} is misnamed: expected NNNN_name.sql (four digits, an underscore, lower-case snake_case).`,
      )
    }
    migrations.push({
      version: Number(m[1]),
      name: m[2] as string,
      file,
      sql: fs.readFileSync(path.join(folder, file), 'utf8'),
    })
  }
  migrations.sort((a, b) => a.version - b.version || a.file.localeCompare(b.file))
  migrations.forEach((m, i) => {
    const previous = migrations[i - 1]
    if (previous && previous.version === m.version) {
      throw new ShepherdError(
        'SHEPHERD_STORE_MIGRATION_FAILED',
        `Migrations ${previous.file} and ${m.file} in ${folder} share version ${m.version}: versions are unique, numbered 1, 2, 3… without gaps or duplicates.`,
      )
    }
    if (m.version !== i + 1) {
      throw new ShepherdError(
        'SHEPHERD_STORE_MIGRATION_FAILED',
        `Migration ${m.file} in ${folder} should be number ${i + 1}: migrations are numbered 1, 2, 3… without gaps or duplicates.`,
      )
    }
  })
  return migrations
}

/**
 * Brings a database to the newest schema: creates the ledger if missing, then applies each pending
 * migration in order and records it, all inside one `BEGIN IMMEDIATE` transaction. IMMEDIATE takes
 * the write lock before reading the ledger, so two processes migrating the same file serialise
 * (the second waits up to the connection's busy_timeout) and the second finds nothing to do. On any
 * failure the transaction is rolled back and the store stays at the version it had.
 * @param db - an open connection with busy_timeout set.
 * @param migrations - from {@link loadMigrations}.
 * @param now - clock for the ledger's `applied_at`; the wall clock by default.
 * @throws ShepherdError `SHEPHERD_STORE_MIGRATION_FAILED` when a migration fails, the ledger knows a
 *   version newer than `migrations` (the store was written by a newer Shepherd), or the ledger does
 *   not match the files (a migration was renamed, reordered or removed). `cause` holds the SQLite
 *   error, if any.
 */
export function runMigrations(
  db: Database.Database,
  migrations: readonly Migration[],
  now: () => number = Date.now,
): MigrationRun {
  const store = db.name
  try {
    db.exec('BEGIN IMMEDIATE')
  } catch (e) {
    throw failed(`Could not lock the store ${store} to migrate it`, e)
  }
  try {
    db.exec(LEDGER_DDL)
    const rows = db
      .prepare('SELECT version, name FROM shepherd_migrations ORDER BY version')
      .all() as LedgerRow[]
    const from = rows.at(-1)?.version ?? 0
    const latest = migrations.at(-1)?.version ?? 0
    if (from > latest) {
      throw new ShepherdError(
        'SHEPHERD_STORE_MIGRATION_FAILED',
        `The store ${store} has schema version ${from}, but this Shepherd knows versions up to ${latest}: ` +
          'a newer Shepherd wrote it. Upgrade Shepherd to use this store; it was left untouched.',
      )
    }
    rows.forEach((row, i) => {
      const known = migrations[i]
      if (row.version !== i + 1 || !known || known.name !== row.name) {
        throw new ShepherdError(
          'SHEPHERD_STORE_MIGRATION_FAILED',
          `The store ${store} records migration ${row.version} as "${row.name}", but this Shepherd has ` +
            `${known ? `"${known.name}" (${known.file})` : 'no such migration'} in that place: migrations were ` +
            'renamed, reordered or removed. They are append-only; restore the original files.',
        )
      }
    })
    const record = db.prepare('INSERT INTO shepherd_migrations (version, name, applied_at) VALUES (?, ?, ?)')
    const applied: string[] = []
    for (const m of migrations.slice(rows.length)) {
      try {
        db.exec(m.sql)
      } catch (e) {
        throw failed(`Migration ${m.file} failed on the store ${store}; it was left at version ${from}`, e)
      }
      if (!db.inTransaction) {
        throw new ShepherdError(
          'SHEPHERD_STORE_MIGRATION_FAILED',
          `Migration ${m.file} ended the migration transaction itself (BEGIN, COMMIT or ROLLBACK in the file): ` +
            `the store ${store} may hold part of it without a ledger entry. Remove the transaction statements ` +
            'from the file and restore the store from a backup.',
        )
      }
      record.run(m.version, m.name, Math.floor(now()))
      applied.push(m.file)
    }
    db.exec('COMMIT')
    return { from, to: from + applied.length, applied }
  } catch (e) {
    rollback(db)
    if (e instanceof ShepherdError) throw e
    throw failed(`Could not migrate the store ${store}; it was left at its previous version`, e)
  }
}

// A failed ROLLBACK (the connection broke) must not hide the error that led to it; SQLite rolls
// back an unfinished transaction itself when the connection closes.
function rollback(db: Database.Database): void {
  try {
    if (db.inTransaction) db.exec('ROLLBACK')
  } catch {
    // The original error is what the caller needs to see.
  }
}

function failed(what: string, e: unknown): ShepherdError {
  const err = coerceError(e)
  return new ShepherdError(
    'SHEPHERD_STORE_MIGRATION_FAILED',
    `${what}: ${sqliteCode(e) ?? err.name} (${err.message}).`,
    { cause: e },
  )
}
