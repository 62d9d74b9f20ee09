/**
 * Schema migrations of the SQLite store: numbered, append-only files `sql/sqlite/NNNN_name.sql`,
 * applied in order and recorded in the ledger table `shepherd_migrations`. The files and the ledger
 * are checked as for every adapter (../sql/migration-files.ts); this module runs them under
 * SQLite's write lock.
 * @module
 */
import Database from 'better-sqlite3'

import { coerceError, ShepherdError } from '../../errors.js'
import { packageFile } from '../../package-root.js'
import {
  type LedgerRow,
  type Migration,
  type MigrationRun,
  pendingMigrations,
  readMigrations,
} from '../sql/migration-files.js'

export type { Migration, MigrationRun } from '../sql/migration-files.js'

/**
 * The folder of SQLite migration files, `sql/sqlite/` at the package root: the package must ship
 * `sql/` beside `dist/`.
 */
export const SQLITE_MIGRATIONS_DIR: URL = packageFile('sql/sqlite/')

// The ledger. version is the file's number, name the part after it; applied_at is epoch ms.
const LEDGER_DDL = `CREATE TABLE IF NOT EXISTS shepherd_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
)`

/**
 * The SQLite result code of a better-sqlite3 error (`SQLITE_FULL`, `SQLITE_READONLY_DBMOVED`…), or
 * null for anything else.
 */
export function sqliteCode(e: unknown): string | null {
  return e instanceof Database.SqliteError ? e.code : null
}

/**
 * Reads and checks the SQLite migration files (see readMigrations).
 * @param dir - the folder; {@link SQLITE_MIGRATIONS_DIR} by default.
 */
export function loadMigrations(dir: URL | string = SQLITE_MIGRATIONS_DIR): Migration[] {
  return readMigrations(dir)
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
    const pending = pendingMigrations(store, rows, migrations)
    const from = rows.length
    const record = db.prepare('INSERT INTO shepherd_migrations (version, name, applied_at) VALUES (?, ?, ?)')
    const applied: string[] = []
    for (const m of pending) {
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
