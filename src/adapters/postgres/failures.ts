/**
 * What a failed statement or connection of the PostgreSQL store means and what to do about it: the
 * SQLSTATE or socket error behind it, whether it is a passing outage (the disk of the server full,
 * a read-only server, a server that cannot be reached), and the advice each SHEPHERD_STORE_* error
 * ends with. Messages name the server by its URL without the password.
 * @module
 */
import { coerceError } from '../../errors.js'
import type { Outage } from '../store-gate.js'

/** The SQLSTATE of a server error (`53100`), or null for anything else. */
export function sqlState(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null
}

/** A socket error's code (`ECONNREFUSED`), or null. */
function socketCode(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^E[A-Z_]+$/.test(code) ? code : null
}

/**
 * Whether the error says the server cannot be reached or the connection was lost: a socket error,
 * a connection that ended or timed out, SQLSTATE class 08 (connection exception), the server
 * shutting down or starting (57P01 to 57P03), or no connection slot left (53300). node-postgres
 * gives a lost connection no code, only its message, so those are matched by their words.
 */
export function isUnreachable(e: unknown): boolean {
  const state = sqlState(e)
  if (state !== null) return state.startsWith('08') || /^57P0[123]$/.test(state) || state === '53300'
  if (socketCode(e) !== null) return true
  const message = coerceError(e).message
  return /Connection terminated|connection error|timeout exceeded when trying to connect|Connection ended|not queryable|Query read timeout/i.test(
    message,
  )
}

/**
 * The passing problem a failed write met, or null for another failure: the server's disk full
 * (53100), a read-only server (25006: a standby, or `default_transaction_read_only`), a server
 * that cannot be reached.
 */
export function outageOf(e: unknown): Outage | null {
  const state = sqlState(e)
  if (state === '53100') return 'full'
  if (state === '25006') return 'read-only'
  return isUnreachable(e) ? 'unreachable' : null
}

/**
 * Whether the error is about the server rather than a statement: it cannot be reached, refuses the
 * user (class 28), or has no such database (3D000). Met while migrating, it means the store cannot
 * be opened at all.
 */
export function isAboutTheServer(e: unknown): boolean {
  const state = sqlState(e)
  return isUnreachable(e) || state?.startsWith('28') === true || state === '3D000'
}

/** A value PostgreSQL cannot hold in a text column: the character U+0000 (22021, 22P05). */
export function isUnstorableText(e: unknown): boolean {
  const state = sqlState(e)
  return state === '22021' || state === '22P05'
}

/** Whether a transaction lost to a deadlock or a serialisation failure: worth running again. */
export function isRetryable(e: unknown): boolean {
  const state = sqlState(e)
  return state === '40001' || state === '40P01'
}

/** The error as messages show it: `SQLSTATE 53100 (could not extend file…)`, `ECONNREFUSED (…)`. */
export function describePgError(e: unknown): string {
  const err = coerceError(e)
  const state = sqlState(e)
  if (state !== null) return `SQLSTATE ${state} (${err.message})`
  const socket = socketCode(e)
  return socket !== null ? `${socket} (${err.message})` : `${err.name}: ${err.message}`
}

/** What to do after a write failed (and was not a passing outage). */
export function writeAdvice(e: unknown): string {
  const state = sqlState(e)
  if (state === '42P01' || state === '42703') {
    return 'The schema is not the one this Shepherd expects (a table or column is missing): nothing was written. Check that store.url names the database and schema Shepherd migrated.'
  }
  if (state === '42501')
    return 'The database user lacks a privilege on the store’s tables: nothing was written.'
  return 'Nothing was written.'
}

/** What to do after the store could not be opened with this error. */
export function openAdvice(e: unknown, server: string): string {
  const state = sqlState(e)
  const socket = socketCode(e)
  if (socket === 'ECONNREFUSED') {
    return `Nothing listens at ${server}: start PostgreSQL there, or correct the host and port in store.url.`
  }
  if (socket === 'ENOTFOUND' || socket === 'EAI_AGAIN') {
    return 'The host name in store.url does not resolve: correct it, or check DNS.'
  }
  if (state === '28P01' || state === '28000') {
    return 'PostgreSQL refused the user or its password: check the user and password in the URL (or PGPASSWORD), and pg_hba.conf on the server.'
  }
  if (state === '3D000') {
    return 'The database in store.url does not exist: create it (createdb <name>), or correct the URL.'
  }
  if (state === '42501') {
    return 'The database user may not create the store’s schema or tables: grant it CREATE on the database (or the schema), or migrate once as a user that may.'
  }
  if (state === '53300')
    return 'The server has no connection slot left: raise max_connections, or close idle clients.'
  if (state === '57P03') return 'The server is starting up or shutting down: try again in a moment.'
  if (isUnreachable(e)) {
    return `The server at ${server} did not answer: check that it runs and that this host can reach it.`
  }
  return 'See docs/store.md.'
}
