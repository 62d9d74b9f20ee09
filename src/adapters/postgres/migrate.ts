/**
 * Schema migrations of the PostgreSQL store: numbered, append-only files `sql/postgres/NNNN_name.sql`,
 * applied in order and recorded in the ledger table `shepherd_migrations`, as the SQLite store's are
 * (the files and the ledger are checked by ../sql/migration-files.ts).
 *
 * Every pending file runs in one transaction that first takes an advisory transaction lock named
 * after the store's schema: agents that start together on a new database (a fleet rolled out at
 * once) migrate one after another, and every one after the first finds nothing to do. DDL is
 * transactional in PostgreSQL, so a failed migration leaves the schema at the version it had.
 * @module
 */
import type pg from 'pg'

import { ShepherdError } from '../../errors.js'
import { packageFile } from '../../package-root.js'
import {
  type LedgerRow,
  type Migration,
  type MigrationRun,
  pendingMigrations,
  readMigrations,
} from '../sql/migration-files.js'
import type { PostgresTarget } from './connection.js'
import { describePgError } from './failures.js'

/** The folder of PostgreSQL migration files, `sql/postgres/` at the package root. */
export const POSTGRES_MIGRATIONS_DIR: URL = packageFile('sql/postgres/')

/**
 * The first key of the migration lock (`pg_advisory_xact_lock(key, hashtext(schema))`): any fixed
 * 32-bit number; this one spells "shep". The second key is the schema, so stores in two schemas of
 * one database migrate without waiting for each other.
 */
export const MIGRATION_LOCK = 0x73686570

// The ledger, as SQLite's: version is the file's number, name the part after it; applied_at epoch ms.
const LEDGER_DDL = `CREATE TABLE IF NOT EXISTS shepherd_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`

/** Reads and checks the PostgreSQL migration files. */
export function loadPostgresMigrations(dir: URL | string = POSTGRES_MIGRATIONS_DIR): Migration[] {
  return readMigrations(dir)
}

/**
 * Brings the store's schema to the newest version on a connection of `pool` (see
 * {@link runPostgresMigrations}). A failure to connect is thrown as the driver gave it.
 */
export async function migratePool(
  pool: pg.Pool,
  target: PostgresTarget,
  migrations: readonly Migration[],
): Promise<MigrationRun> {
  const c = await pool.connect()
  // A connection that ends while checked out also emits 'error'; the query in flight rejects with it.
  const ignore = (): void => undefined
  c.on('error', ignore)
  let broken: Error | undefined
  try {
    return await runPostgresMigrations(c, target, migrations)
  } catch (e) {
    broken = e instanceof Error ? e : undefined
    throw e
  } finally {
    c.off('error', ignore)
    c.release(broken)
  }
}

/**
 * Brings the store's schema to the newest version, under the migration lock, in one transaction.
 * With `?schema=` in the URL the schema is created first if missing.
 * @param c - a connection of the store's pool, outside any transaction.
 * @throws ShepherdError `SHEPHERD_STORE_MIGRATION_FAILED` when a migration fails (rolled back), the
 *   ledger knows a newer version, or does not match the files; `cause` holds the server's error.
 */
export async function runPostgresMigrations(
  c: pg.ClientBase,
  target: PostgresTarget,
  migrations: readonly Migration[],
  now: () => number = Date.now,
): Promise<MigrationRun> {
  const store = target.name
  // A store that is current (every agent's start but the first) is read, not locked: this also
  // opens it on a server that takes no writes (a standby, default_transaction_read_only).
  const ledger = target.schema === null ? 'shepherd_migrations' : `${target.schema}.shepherd_migrations`
  try {
    const exists = (await c.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [ledger]))
      .rows[0]?.t
    if (exists) {
      const rows = (
        await c.query<LedgerRow>('SELECT version, name FROM shepherd_migrations ORDER BY version')
      ).rows
      if (pendingMigrations(store, rows, migrations).length === 0) {
        return { from: rows.length, to: rows.length, applied: [] }
      }
    }
  } catch (e) {
    if (e instanceof ShepherdError) throw e
    throw failed(`Could not read the schema version of the store ${store}`, e)
  }
  try {
    await c.query('BEGIN')
    await c.query("SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2, current_schema(), '')))", [
      MIGRATION_LOCK,
      target.schema,
    ])
    if (target.schema !== null) await c.query(`CREATE SCHEMA IF NOT EXISTS ${target.schema}`)
    await c.query(LEDGER_DDL)
    const rows = (await c.query<LedgerRow>('SELECT version, name FROM shepherd_migrations ORDER BY version'))
      .rows
    const pending = pendingMigrations(store, rows, migrations)
    const from = rows.length
    // A file that ends the transaction itself (COMMIT in it) shows as a new transaction id after it.
    const xid = await transactionId(c)
    const applied: string[] = []
    for (const m of pending) {
      try {
        await c.query(m.sql)
      } catch (e) {
        throw failed(`Migration ${m.file} failed on the store ${store}; it was left at version ${from}`, e)
      }
      if ((await transactionId(c)) !== xid) {
        throw new ShepherdError(
          'SHEPHERD_STORE_MIGRATION_FAILED',
          `Migration ${m.file} ended the migration transaction itself (COMMIT or ROLLBACK in the file): ` +
            `the store ${store} may hold part of it without a ledger entry. Remove the transaction statements ` +
            'from the file and restore the database from a backup.',
        )
      }
      await c.query('INSERT INTO shepherd_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        Math.floor(now()),
      ])
      applied.push(m.file)
    }
    await c.query('COMMIT')
    return { from, to: from + applied.length, applied }
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined)
    if (e instanceof ShepherdError) throw e
    throw failed(`Could not migrate the store ${store}; it was left at its previous version`, e)
  }
}

async function transactionId(c: pg.ClientBase): Promise<string> {
  return String((await c.query<{ x: string }>('SELECT txid_current()::text AS x')).rows[0]?.x)
}

function failed(what: string, e: unknown): ShepherdError {
  return new ShepherdError('SHEPHERD_STORE_MIGRATION_FAILED', `${what}: ${describePgError(e)}.`, { cause: e })
}
