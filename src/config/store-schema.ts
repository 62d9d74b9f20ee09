/**
 * The `store` section: where Shepherd keeps incidents, events, worker state and jobs. Either an
 * embedded SQLite file (`path`, the default) or a PostgreSQL database shared by many hosts (`url`,
 * or `url_env` naming an environment variable that holds the URL, so that the password stays out
 * of the file). The store it names, resolved, is a {@link StoreTarget}.
 * @module
 */
import path from 'node:path'

import { z } from 'zod'

import { duration, LONG_DURATION_LIMIT } from './units.js'

/** The SQLite file when the section names no store. */
export const DEFAULT_STORE_PATH = 'shepherd.db'

/**
 * The schema a PostgreSQL store's tables live in, given as `?schema=` in its URL: a plain lower-case
 * identifier, so that it needs no quoting in `search_path` or in SQL.
 */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * What is wrong with a PostgreSQL store URL, or null when it is one: `postgres://` or
 * `postgresql://`, as libpq and node-postgres read it, with an optional `schema` parameter.
 */
export function postgresUrlProblem(url: string): string | null {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return `expected a postgres:// URL (postgres://user:password@host:5432/database), got ${JSON.stringify(withoutPassword(url))}`
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    return `expected a postgres:// or postgresql:// URL, got one with ${parsed.protocol}`
  }
  const schema = parsed.searchParams.get('schema')
  if (schema !== null && !SCHEMA_NAME.test(schema)) {
    return `expected the schema parameter to be a lower-case name (letters, digits, "_"; at most 63), got ${JSON.stringify(schema)}`
  }
  return null
}

/**
 * The URL as messages and logs show it: its password replaced by `***`. Anything that does not
 * parse as a URL is shown up to its last `@` hidden, since it may hold a password all the same.
 */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    const at = url.lastIndexOf('@')
    return at < 0 ? url : `***${url.slice(at)}`
  }
}

const postgresUrl = z.string().superRefine((url, ctx) => {
  const problem = postgresUrlProblem(url)
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem })
})

export const StoreSchema = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .optional()
      .describe(
        `SQLite file, relative to the config file: the embedded store of one host. The default (${DEFAULT_STORE_PATH}) when neither url nor url_env is given.`,
      ),
    url: postgresUrl
      .optional()
      .describe(
        'PostgreSQL database shared by many hosts: postgres://user:password@host:5432/database, with ?schema=name for a schema of its own (created if missing; default: the first of the search_path). Prefer url_env, or PGPASSWORD in the environment, to keep the password out of this file. At most one of path, url and url_env.',
      ),
    url_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected the name of an environment variable')
      .optional()
      .describe(
        'Name of an environment variable that holds the PostgreSQL URL (as url), read when the config is loaded: the password stays out of this file. Supervisors do not pass it on to workers or hook commands.',
      ),
    event_retention: duration({ positive: true, max: LONG_DURATION_LIMIT })
      .prefault('30d')
      .describe('Events older than this are pruned (hourly). Incidents are kept.'),
  })
  .superRefine((store, ctx) => {
    const given = (['path', 'url', 'url_env'] as const).filter((k) => store[k] !== undefined)
    if (given.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [given[1]!],
        message: `expected at most one of path, url and url_env, got ${given.join(' and ')}`,
      })
    }
  })
  .prefault({})
  .describe(
    'Where incidents, events, worker state and jobs are kept: a SQLite file (path, the default) or a PostgreSQL database (url or url_env). See docs/store.md.',
  )

export type StoreConfig = z.output<typeof StoreSchema>

/** The store a config names, resolved. */
export type StoreTarget =
  | {
      kind: 'sqlite'
      /** Absolute path of the file. */
      path: string
    }
  | {
      kind: 'postgres'
      /** The connection URL, password included: never log it; {@link StoreTarget.name} is for that. */
      url: string
      /** The URL without its password, as messages name the store. */
      name: string
    }

/**
 * The store of a config: `url`, or the URL in the variable `url_env` names, or the SQLite file
 * (relative to `dir`). A problem (the variable unset, or not a postgres:// URL) is returned for
 * the loader to report with the field's line.
 */
export function storeTarget(
  store: StoreConfig,
  dir: string,
  env: Record<string, string | undefined>,
): StoreTarget | { problem: string } {
  if (store.url !== undefined) return { kind: 'postgres', url: store.url, name: withoutPassword(store.url) }
  if (store.url_env !== undefined) {
    const url = env[store.url_env]
    if (url === undefined || url === '') {
      return {
        problem: `expected the environment variable ${store.url_env} to hold a postgres:// URL, but it is not set`,
      }
    }
    const problem = postgresUrlProblem(url)
    if (problem !== null) return { problem: `${store.url_env}: ${problem}` }
    return { kind: 'postgres', url, name: withoutPassword(url) }
  }
  return { kind: 'sqlite', path: path.resolve(dir, store.path ?? DEFAULT_STORE_PATH) }
}
