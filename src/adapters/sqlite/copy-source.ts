/**
 * The source of `shepherd store copy`: a SQLite store read through its own read-only connection,
 * in one read transaction (one snapshot: a CLI enqueueing beside the copy changes nothing it
 * reads), table by table in batches. It refuses a store a running supervisor holds.
 * @module
 */
import fs from 'node:fs'

import Database from 'better-sqlite3'

import { describeHolder } from '../../core/supervisor-lease.js'
import { coerceError, ShepherdError } from '../../errors.js'
import type { SupervisorLease } from '../../ports/store.js'
import type { CopyRow, CopyTable } from '../../store/copy-plan.js'
import { type LeaseRow, toLease } from '../sql/store-sql.js'
import { BUSY_TIMEOUT_MS } from './connection.js'
import { LEASE_SQL } from './lease-queries.js'
import { loadMigrations } from './migrate.js'
import { isStoreLocked, lockFileOf } from './store-lock.js'

/** A SQLite store opened for reading by the copy. */
export interface CopySource {
  readonly file: string
  /** The lease a supervisor that is gone left behind (killed), or null. */
  readonly leftBy: SupervisorLease | null
  /**
   * Rows of `table` after `after` in `orderBy` order (start below every value: 0 for a seq, '' for
   * an id), at most `limit`, with the order column.
   */
  read(table: CopyTable, after: unknown, limit: number): CopyRow[]
  /** How many rows a table holds (tables the copy does not carry). */
  count(table: string): number
  close(): void
}

/**
 * Opens the store at `file` for the copy, read-only.
 * @throws ShepherdError `SHEPHERD_STORE_LOCKED` while a supervisor runs on it (it would go on
 *   changing jobs the copy has read); `SHEPHERD_STORE_OPEN_FAILED` for a file that is missing, not
 *   a Shepherd store, or of a newer schema than this Shepherd knows.
 */
export function openCopySource(file: string, now: number): CopySource {
  if (!fs.existsSync(file)) {
    throw new ShepherdError(
      'SHEPHERD_STORE_OPEN_FAILED',
      `Could not read the store ${file}: there is no such file. Give --from the store.path of the config (or the config itself).`,
    )
  }
  let db: Database.Database
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
  } catch (e) {
    throw notAStore(file, e)
  }
  try {
    checkSchema(db, file)
    const lease = readLease(db)
    if (isStoreLocked(file)) {
      throw new ShepherdError(
        'SHEPHERD_STORE_LOCKED',
        `Cannot copy the store ${file}: a supervisor runs on it${lease ? ` (${describeHolder(lease, now)})` : ''} ` +
          `and holds its lock (${lockFileOf(file)}), so its jobs would change under the copy. Nothing was copied. ` +
          'Stop it (`kill -TERM <pid>` or Ctrl-C; in-flight jobs go back to the queue), then copy again.',
        { details: { holder: lease } },
      )
    }
    // One snapshot for the whole copy: a deferred read transaction holds it from its first read.
    db.exec('BEGIN')
    const statements = new Map<string, Database.Statement>()
    return {
      file,
      leftBy: lease,
      read(table, after, limit) {
        const sql = `SELECT ${orderColumns(table)} FROM ${table.name}
          WHERE ${table.orderBy} > ? ORDER BY ${table.orderBy} LIMIT ?`
        let s = statements.get(sql)
        if (!s) {
          s = db.prepare(sql)
          statements.set(sql, s)
        }
        return s.all(after, limit) as CopyRow[]
      },
      count(name) {
        return (db.prepare(`SELECT count(*) AS n FROM ${name}`).get() as { n: number }).n
      },
      close() {
        if (db.inTransaction) db.exec('COMMIT')
        db.close()
      },
    }
  } catch (e) {
    db.close()
    throw e instanceof ShepherdError ? e : notAStore(file, e)
  }
}

/** The columns a read selects: the table's, and the order column if it is not one of them. */
function orderColumns(table: CopyTable): string {
  return table.columns.includes(table.orderBy)
    ? table.columns.join(', ')
    : [table.orderBy, ...table.columns].join(', ')
}

/** A store this Shepherd wrote: its ledger knows no migration newer than ours. */
function checkSchema(db: Database.Database, file: string): void {
  const known = loadMigrations().length
  const hasLedger = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'shepherd_migrations'")
    .get()
  if (!hasLedger) {
    throw new ShepherdError(
      'SHEPHERD_STORE_OPEN_FAILED',
      `Could not read the store ${file}: it is a SQLite file but not a Shepherd store (no shepherd_migrations table). Give --from a Shepherd store.`,
    )
  }
  const version = (
    db.prepare('SELECT max(version) AS v FROM shepherd_migrations').get() as { v: number | null }
  ).v
  if ((version ?? 0) > known) {
    throw new ShepherdError(
      'SHEPHERD_STORE_OPEN_FAILED',
      `Could not read the store ${file}: its schema is version ${version}, newer than this Shepherd knows (${known}). Copy it with the Shepherd that wrote it.`,
    )
  }
  if ((version ?? 0) < known) {
    throw new ShepherdError(
      'SHEPHERD_STORE_OPEN_FAILED',
      `Could not read the store ${file}: its schema is version ${version ?? 0}, older than this Shepherd's (${known}). ` +
        'Open it once with this Shepherd (`shepherd queues -c <config>` migrates it), then copy.',
    )
  }
}

function readLease(db: Database.Database): SupervisorLease | null {
  const r = db.prepare(LEASE_SQL.readLease).get() as LeaseRow | undefined
  return r ? toLease(r) : null
}

function notAStore(file: string, e: unknown): ShepherdError {
  return new ShepherdError(
    'SHEPHERD_STORE_OPEN_FAILED',
    `Could not read the store ${file}: ${coerceError(e).message}. Give --from a Shepherd SQLite store (store.path of the config).`,
    { cause: e },
  )
}
