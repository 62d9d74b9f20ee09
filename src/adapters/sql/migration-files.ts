/**
 * Schema migrations as files, apart from any database: numbered, append-only files
 * `sql/<adapter>/NNNN_name.sql`, read and checked here, and the ledger a store keeps of the ones it
 * applied (`shepherd_migrations(version, name, applied_at)`) checked against them. Each adapter
 * runs the pending files under its own lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL an advisory
 * transaction lock) and calls these for the rest, so both refuse the same mistakes in the same words.
 *
 * Rules enforced here: every `.sql` file in the folder is named `NNNN_name.sql`; versions run
 * 1, 2, 3… without gaps or duplicates; a version the ledger recorded keeps its name (a rename or a
 * reorder is refused); a store whose ledger knows a newer version than this code is refused, so an
 * older Shepherd never writes into a schema it does not understand.
 * @module
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { coerceError, ShepherdError } from '../../errors.js'

/** `0001_init.sql`: four digits, an underscore, a lower-case snake_case name. */
const MIGRATION_FILE = /^(\d{4})_([a-z0-9][a-z0-9_]*)\.sql$/

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

/** What one run of an adapter's migrator did. */
export interface MigrationRun {
  /** Schema version before the run (0 for a new store). */
  from: number
  /** Schema version after the run. */
  to: number
  /** Files applied by this run, in order; empty when the store was already current. */
  applied: string[]
}

/** A row of the ledger `shepherd_migrations`. */
export interface LedgerRow {
  version: number
  name: string
}

/**
 * Reads and checks the migration files of a folder, sorted by version.
 * @throws ShepherdError `SHEPHERD_STORE_MIGRATION_FAILED` when the folder cannot be read, a `.sql`
 *   file is misnamed, or the versions have a gap or a duplicate (files were renumbered or lost).
 */
export function readMigrations(dir: URL | string): Migration[] {
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
 * Checks a store's ledger against the migration files and returns the migrations still to apply.
 * @param store - the store, for messages (a file, or a database URL without its password).
 * @param rows - the ledger, in version order.
 * @throws ShepherdError `SHEPHERD_STORE_MIGRATION_FAILED` when the ledger knows a version newer than
 *   `migrations` (a newer Shepherd wrote the store), or names a migration differently from the files
 *   (one was renamed, reordered or removed).
 */
export function pendingMigrations(
  store: string,
  rows: readonly LedgerRow[],
  migrations: readonly Migration[],
): Migration[] {
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
  return migrations.slice(rows.length)
}
