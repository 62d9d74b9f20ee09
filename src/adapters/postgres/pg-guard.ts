/**
 * How every operation of a PostgreSQL store runs: refused at once when the store is closed or
 * fenced off (its lease taken by another supervisor); a write run as one transaction on one pooled
 * connection (run again, up to three times, after a deadlock or a serialisation failure); a failure
 * turned into a SHEPHERD_STORE_* error that names the operation, the store's URL without its
 * password, the SQLSTATE and what to do; and the outcome of every write told to the store's
 * listeners (the store monitor). A server whose disk is full, a read-only server and a server that
 * cannot be reached are passing outages, named as such; the job store runs through the same guard.
 * @module
 */
import type pg from 'pg'

import { coerceError, ShepherdError } from '../../errors.js'
import type { StoreGate } from '../store-gate.js'
import {
  describePgError,
  isRetryable,
  isUnreachable,
  isUnstorableText,
  outageOf,
  writeAdvice,
} from './failures.js'
import type { Queryable } from './statements.js'

/** Tries of a write transaction that lost to a deadlock or a serialisation failure. */
const TRIES = 3

/** The guard of one PostgreSQL store. */
export class PgGuard {
  readonly #pool: pg.Pool
  readonly #gate: StoreGate

  constructor(pool: pg.Pool, gate: StoreGate) {
    this.#pool = pool
    this.#gate = gate
  }

  /** The store as messages name it: its URL without the password. */
  get name(): string {
    return this.#gate.name
  }

  /**
   * Runs a write as one transaction (READ COMMITTED) and tells its outcome; any failure becomes a
   * SHEPHERD_STORE_* error naming `operation`, and nothing of the transaction stays.
   */
  async write<T>(operation: string, run: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const refused = this.#gate.refusal(operation)
    if (refused !== null) throw refused
    if (this.#gate.closed) throw this.#gate.closedError('SHEPHERD_STORE_WRITE_FAILED', operation, 'in')
    return this.#tries(operation, () => this.transaction('BEGIN', run))
  }

  /**
   * Runs a write that is one statement, in a transaction of its own (PostgreSQL's autocommit): one
   * round trip where BEGIN, the statement and COMMIT take three. Same refusals, retries and errors
   * as {@link write}. `run` may read after its statement (outside the transaction).
   */
  async writeOne<T>(operation: string, run: (q: Queryable) => Promise<T>): Promise<T> {
    const refused = this.#gate.refusal(operation)
    if (refused !== null) throw refused
    if (this.#gate.closed) throw this.#gate.closedError('SHEPHERD_STORE_WRITE_FAILED', operation, 'in')
    return this.#tries(operation, () => run(this.#pool))
  }

  async #tries<T>(operation: string, once: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await once()
        this.#gate.tell({ ok: true })
        return result
      } catch (e) {
        if (isRetryable(e) && attempt < TRIES) continue
        throw this.#writeError(operation, e)
      }
    }
  }

  /** Runs a read on any pooled connection; a failure becomes SHEPHERD_STORE_UNREACHABLE or SHEPHERD_INTERNAL. */
  async read<T>(operation: string, run: (q: Queryable) => Promise<T>): Promise<T> {
    if (this.#gate.closed) throw this.#gate.closedError('SHEPHERD_INTERNAL', operation, 'from')
    try {
      return await run(this.#pool)
    } catch (e) {
      throw this.#readError(operation, e)
    }
  }

  /** Runs reads that must see one moment (counts) in one read-only REPEATABLE READ transaction. */
  async snapshot<T>(operation: string, run: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#gate.closed) throw this.#gate.closedError('SHEPHERD_INTERNAL', operation, 'from')
    try {
      return await this.transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', run)
    } catch (e) {
      throw this.#readError(operation, e)
    }
  }

  /**
   * Runs `run` between `begin` and COMMIT on one pooled connection, rolled back on any failure. A
   * connection that failed, or whose rollback failed, is closed rather than handed out again.
   */
  async transaction<T>(begin: string, run: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.#pool.connect()
    // A connection that ends while checked out also emits 'error'; the query in flight rejects
    // with it, which is what is handled here.
    const ignore = (): void => undefined
    c.on('error', ignore)
    let broken: Error | undefined
    try {
      await c.query(begin)
      const result = await run(c)
      await c.query('COMMIT')
      return result
    } catch (e) {
      broken = isUnreachable(e) ? coerceError(e) : await rollback(c)
      throw e
    } finally {
      c.off('error', ignore)
      c.release(broken)
    }
  }

  /**
   * Asks the server whether it answers (`SELECT 1`). One that does not is told to the listeners as
   * an outage (unreachable), as a failed write would be; nothing is thrown.
   */
  async check(): Promise<void> {
    if (this.#gate.closed || this.#gate.fenced) return
    try {
      await this.#pool.query('SELECT 1')
    } catch (e) {
      if (!isUnreachable(e)) return
      this.#gate.tell({
        ok: false,
        problem: 'unreachable',
        message: this.#unreachable(`The store ${this.name} does not answer`, e),
      })
    }
  }

  #writeError(operation: string, e: unknown): ShepherdError {
    if (e instanceof ShepherdError) return e
    const what = describePgError(e)
    const where = `Could not ${operation} in the store ${this.name}`
    const kept = 'writes resume by themselves, and the supervisor keeps what workers reported until then.'
    switch (outageOf(e)) {
      case 'full':
        return this.#gate.outage(
          'full',
          `${where}: the database server's disk is full (${what}). Nothing was written. Free some space on the server: ${kept}`,
          e,
        )
      case 'read-only':
        return this.#gate.outage(
          'read-only',
          `${where}: the database is read-only (${what}: a standby, or default_transaction_read_only). Nothing was written. ` +
            `Point store.url at the primary, or make the database writable: ${kept}`,
          e,
        )
      case 'unreachable':
        return this.#gate.outage('unreachable', this.#unreachable(where, e), e)
      case null:
        break
    }
    if (isUnstorableText(e)) {
      return new ShepherdError(
        'SHEPHERD_BAD_REQUEST',
        `${where}: PostgreSQL cannot store the character U+0000 in a text column (${what}). Nothing was written.`,
        { cause: e },
      )
    }
    return new ShepherdError('SHEPHERD_STORE_WRITE_FAILED', `${where}: ${what}. ${writeAdvice(e)}`, {
      cause: e,
    })
  }

  /** @param lead - what failed: "Could not … in the store …", "The store … does not answer". */
  #unreachable(lead: string, e: unknown): string {
    return (
      `${lead}: the database server cannot be reached (${describePgError(e)}). ` +
      'Nothing was written. Writes resume by themselves once it answers, and the supervisor keeps what workers reported until then.'
    )
  }

  #readError(operation: string, e: unknown): ShepherdError {
    if (e instanceof ShepherdError) return e
    const what = describePgError(e)
    if (isUnreachable(e)) {
      return new ShepherdError(
        'SHEPHERD_STORE_UNREACHABLE',
        `Could not ${operation} from the store ${this.name}: the database server cannot be reached (${what}).`,
        { cause: e },
      )
    }
    return new ShepherdError(
      'SHEPHERD_INTERNAL',
      `Could not ${operation} from the store ${this.name}: ${what}. See docs/store.md.`,
      { cause: e },
    )
  }
}

/** Rolls back; returns the error that makes the connection unfit to reuse, if the rollback failed. */
async function rollback(c: pg.PoolClient): Promise<Error | undefined> {
  try {
    await c.query('ROLLBACK')
    return undefined
  } catch (e) {
    return coerceError(e)
  }
}
