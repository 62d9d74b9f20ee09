/**
 * The target of `shepherd store copy`: a PostgreSQL store, migrated to the newest schema first, then
 * written in one transaction on one connection, so a copy that fails halfway (a refused row, a lost
 * connection) leaves the target as it was. Rows go in 1,000 per statement through
 * `json_populate_recordset`, which maps a batch of rows onto the table's own row type by column
 * name: one statement shape for every table, typed by the table itself.
 * @module
 */
import type pg from 'pg'

import { ShepherdError } from '../../errors.js'
import type { CopyRow, CopyTable } from '../../store/copy-plan.js'
import { createPool, openFailed, parseStoreUrl, type PostgresTarget } from './connection.js'
import { describePgError } from './failures.js'
import { loadPostgresMigrations, migratePool } from './migrate.js'

/**
 * The first key of the copy's advisory lock (the second is the schema): two copies into one store
 * wait for each other rather than both finding a row missing. Spells "shcp".
 */
const COPY_LOCK = 0x73686370

/** A PostgreSQL store inside the copy's transaction. */
export interface CopyTarget {
  /** The URL without its password. */
  readonly name: string
  /** Whether the target's `table` has no row (then no batch needs to look for its keys there). */
  isEmpty(table: CopyTable): Promise<boolean>
  /** The target's rows of `table` under these keys, by key (as a string). */
  existing(table: CopyTable, keys: readonly unknown[]): Promise<Map<string, CopyRow>>
  /** Inserts the rows in the order given (jobs: the identity numbers them in that order). */
  insert(table: CopyTable, rows: readonly CopyRow[]): Promise<void>
  /** Commits (events' identity moved past the copied seqs first), or rolls back when `keep` is false. */
  finish(keep: boolean): Promise<void>
  /** Rolls back what is not committed and closes the connection. */
  close(): Promise<void>
}

/**
 * Opens the store at `url`, brings its schema up to date, and begins the copy's transaction.
 * @throws ShepherdError `SHEPHERD_STORE_OPEN_FAILED` (server unreachable, user refused, no such
 *   database), `SHEPHERD_STORE_MIGRATION_FAILED`.
 */
export async function openCopyTarget(url: string): Promise<CopyTarget> {
  const target = parseStoreUrl(url)
  const pool = createPool(target)
  let client: pg.PoolClient | undefined
  try {
    await migratePool(pool, target, loadPostgresMigrations())
    client = await pool.connect()
    // A connection lost mid-copy also emits 'error'; the statement in flight rejects with it.
    client.on('error', () => undefined)
    await client.query('BEGIN')
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2, current_schema(), '')))", [
      COPY_LOCK,
      target.schema,
    ])
  } catch (e) {
    client?.release(true)
    await pool.end().catch(() => undefined)
    if (e instanceof ShepherdError && e.code !== 'SHEPHERD_STORE_OPEN_FAILED') throw e
    throw openFailed(target, e)
  }
  return new PgCopyTarget(pool, client, target)
}

class PgCopyTarget implements CopyTarget {
  readonly name: string
  readonly #pool: pg.Pool
  readonly #client: pg.PoolClient
  #open = true
  #maxEventSeq = 0

  constructor(pool: pg.Pool, client: pg.PoolClient, target: PostgresTarget) {
    this.name = target.name
    this.#pool = pool
    this.#client = client
  }

  async isEmpty(table: CopyTable): Promise<boolean> {
    const found = await this.#query(
      `read the target's ${table.name}`,
      `SELECT 1 FROM ${table.name} LIMIT 1`,
      [],
    )
    return found.length === 0
  }

  async existing(table: CopyTable, keys: readonly unknown[]): Promise<Map<string, CopyRow>> {
    const type = table.numericKey ? 'bigint[]' : 'text[]'
    const found = await this.#query(
      `read the target's ${table.name}`,
      `SELECT ${table.columns.join(', ')} FROM ${table.name} WHERE ${table.key} = ANY($1::${type})`,
      [keys],
    )
    return new Map(found.map((r) => [String(r[table.key]), r]))
  }

  async insert(table: CopyTable, rows: readonly CopyRow[]): Promise<void> {
    if (rows.length === 0) return
    const cols = table.columns.join(', ')
    // events.seq is GENERATED ALWAYS: the copy keeps the source's numbers.
    const overriding = table.columns.includes('seq') ? 'OVERRIDING SYSTEM VALUE' : ''
    await this.#query(
      `write ${rows.length} ${table.name}`,
      `INSERT INTO ${table.name} (${cols}) ${overriding}
        SELECT ${cols} FROM json_populate_recordset(NULL::${table.name}, $1::json) WITH ORDINALITY
        ORDER BY ordinality`,
      [JSON.stringify(rows.map((r) => pick(r, table.columns)))],
    )
    if (table.name === 'events') {
      for (const r of rows) this.#maxEventSeq = Math.max(this.#maxEventSeq, Number(r.seq))
    }
  }

  async finish(keep: boolean): Promise<void> {
    if (!keep) {
      await this.#end('ROLLBACK')
      return
    }
    if (this.#maxEventSeq > 0) {
      // New events must be numbered after the copied ones. A sequence is not transactional, but
      // this only moves it forward, and only just before the commit.
      await this.#query(
        'move the events numbering past the copied events',
        `SELECT setval(pg_get_serial_sequence('events', 'seq'),
          greatest($1::bigint, (SELECT coalesce(max(seq), 1) FROM events)))`,
        [this.#maxEventSeq],
      )
    }
    await this.#end('COMMIT')
  }

  async close(): Promise<void> {
    if (this.#open) await this.#end('ROLLBACK').catch(() => undefined)
    await this.#pool.end().catch(() => undefined)
  }

  async #end(sql: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    this.#open = false
    try {
      await this.#client.query(sql)
      this.#client.release()
    } catch (e) {
      this.#client.release(true)
      throw failed(this.name, sql === 'COMMIT' ? 'commit the copy' : 'roll the copy back', e)
    }
  }

  async #query(what: string, text: string, values: unknown[]): Promise<CopyRow[]> {
    try {
      return (await this.#client.query<CopyRow>(text, values)).rows
    } catch (e) {
      throw failed(this.name, what, e)
    }
  }
}

function pick(r: CopyRow, columns: readonly string[]): CopyRow {
  const out: CopyRow = {}
  for (const c of columns) out[c] = r[c] ?? null
  return out
}

function failed(name: string, what: string, e: unknown): ShepherdError {
  return new ShepherdError(
    'SHEPHERD_STORE_COPY_FAILED',
    `Could not ${what} in ${name}: ${describePgError(e)}. The copy was rolled back: the target is as it was ` +
      'before. Fix the cause (the message names it) and copy again.',
    { cause: e },
  )
}
