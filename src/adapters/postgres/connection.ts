/**
 * The connections of a PostgreSQL store: one node-postgres pool per store, opened from `store.url`.
 * The URL's own `schema` parameter (not libpq's) puts every connection's search_path on that schema,
 * so that several stores (a test run, a staging fleet) can share one database. BIGINT columns (epoch
 * milliseconds, sequence numbers) are read as numbers: every value Shepherd stores in one is a safe
 * integer.
 * @module
 */
import pg from 'pg'

import { postgresUrlProblem, SCHEMA_NAME, withoutPassword } from '../../config/store-schema.js'
import { ShepherdError } from '../../errors.js'
import { describePgError, openAdvice } from './failures.js'

/**
 * Connections per store. The supervisor runs one exchange (settlements and claims) at a time and
 * writes events behind it; the API's reads and a prune come beside those. Eight leaves room for all
 * of them without one waiting for another, and keeps a fleet of a hundred agents within the
 * default max_connections of a server that also serves others (100 × 8 is for a server tuned for
 * it; lower it in the URL with a pooler in front if need be).
 * @defaultValue 8
 */
export const POOL_SIZE = 8

/**
 * How long opening one connection may take before it fails. node-postgres waits for ever by
 * default: a server that drops packets (a cut network) would hang every write. 5 s covers a
 * server under load or a TLS handshake across a region; beyond it, the write fails as unreachable
 * and the supervisor keeps it and tries again.
 * @defaultValue 5000
 */
export const CONNECT_TIMEOUT_MS = 5_000

/** Where a store's tables are, read from its URL. */
export interface PostgresTarget {
  /** The URL node-postgres connects with: the `schema` parameter taken out, its search_path in `options`. */
  connectionString: string
  /** The schema from `?schema=`, created at migration if missing; null: the first of the search_path. */
  schema: string | null
  /** The URL as messages name the store: without its password. */
  name: string
  /** `host:port` (or the socket), for "nothing listens at …". */
  server: string
}

const INT8_OID = 20

/** The driver's type parsers, but BIGINT as a number (node-postgres gives a string by default). */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
}

/**
 * Reads a store URL.
 * @throws ShepherdError SHEPHERD_STORE_OPEN_FAILED when it is not a postgres:// URL (the config
 *   loader refuses those earlier, naming the field).
 */
export function parseStoreUrl(url: string): PostgresTarget {
  const problem = postgresUrlProblem(url)
  if (problem !== null) {
    throw new ShepherdError('SHEPHERD_STORE_OPEN_FAILED', `Could not open the PostgreSQL store: ${problem}.`)
  }
  const parsed = new URL(url)
  const schema = parsed.searchParams.get('schema')
  parsed.searchParams.delete('schema')
  if (schema !== null && SCHEMA_NAME.test(schema)) {
    const options = parsed.searchParams.get('options')
    parsed.searchParams.set('options', `${options ? `${options} ` : ''}-c search_path=${schema}`)
  }
  const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost'
  return {
    connectionString: parsed.toString(),
    schema,
    name: withoutPassword(url),
    server: `${host}:${parsed.port || '5432'}`,
  }
}

/**
 * How every connection of a store connects, the pool's and the job store's listening one
 * (job-listener.ts): its URL, the connect timeout, TCP keepalive, BIGINT as numbers.
 */
export function clientConfig(target: PostgresTarget): pg.ClientConfig {
  return {
    connectionString: target.connectionString,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    application_name: 'shepherd',
    types: TYPES,
  }
}

/**
 * The pool of a store. Idle connections that the server closes (a restart) are dropped by the
 * pool; the next statement opens a new one, so the error of an idle connection is not an error of
 * the store, and is not let crash the process.
 */
export function createPool(target: PostgresTarget): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig(target), max: POOL_SIZE })
  pool.on('error', () => {
    // An idle connection ended: the pool has dropped it; the next statement meets the outage, if any.
  })
  return pool
}

/** SHEPHERD_STORE_OPEN_FAILED for an error met while opening the store, with what to do about it. */
export function openFailed(target: PostgresTarget, e: unknown): ShepherdError {
  if (e instanceof ShepherdError && e.code === 'SHEPHERD_STORE_OPEN_FAILED') return e
  const cause = e instanceof ShepherdError ? (e.cause ?? e) : e
  return new ShepherdError(
    'SHEPHERD_STORE_OPEN_FAILED',
    `Could not open the store ${target.name}: ${describePgError(cause)}. ${openAdvice(cause, target.server)}`,
    { cause },
  )
}
