/**
 * PostgreSQL for tests: the machine's server at 127.0.0.1:5432 (user postgres, trust auth), or
 * SHEPHERD_TEST_PG_URL. Every store a test opens lives in a schema of its own,
 * `shepherd_test_<pid>_<random>`, created by the store itself (`?schema=` in its URL) and dropped
 * when the test is done, so runs side by side (two agents' test runs, CI) share nothing. Schemas
 * left by a test process that died are dropped by the next run.
 *
 * Without a server the PostgreSQL tests are skipped, saying why; under CI=true they fail instead.
 */
import pg from 'pg'

/** The database the test schemas are made in. */
export const TEST_PG_URL = process.env.SHEPHERD_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

const PREFIX = 'shepherd_test_'

/** Runs one statement on a short-lived connection of its own (to the test server, or to `database`). */
export async function adminQuery<R extends pg.QueryResultRow>(
  sql: string,
  values: unknown[] = [],
  database = TEST_PG_URL,
): Promise<R[]> {
  const client = new pg.Client({ connectionString: database, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return (await client.query<R>(sql, values)).rows
  } finally {
    await client.end()
  }
}

let checked: Promise<string | null> | null = null

/**
 * Why the PostgreSQL tests cannot run here (no server answers), or null when they can. Under
 * CI=true a missing server is an error, never a skip. Also drops the schemas of test processes
 * that died.
 */
export function postgresSkipReason(): Promise<string | null> {
  checked ??= (async () => {
    try {
      await dropOrphanSchemas()
      return null
    } catch (e) {
      const reason = `PostgreSQL is not reachable at ${TEST_PG_URL} (${(e as Error).message}): start it (pg_ctlcluster 15 main start) to run these tests`
      if (process.env.CI === 'true') throw new Error(`${reason}; CI=true, so they may not be skipped`)
      return reason
    }
  })()
  return checked
}

/** A new schema name for this process, and the URL of a store in it. */
export function testSchema(): { schema: string; url: string } {
  const schema = `${PREFIX}${process.pid}_${Math.random().toString(36).slice(2, 10)}`
  const url = new URL(TEST_PG_URL)
  url.searchParams.set('schema', schema)
  return { schema, url: url.toString() }
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  if (!schema.startsWith(PREFIX)) throw new Error(`not a test schema: ${schema}`)
  await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
}

/** Drops the test schemas whose process is gone (a run killed before its cleanup). */
async function dropOrphanSchemas(): Promise<void> {
  const found = await adminQuery<{ nspname: string }>(
    `SELECT nspname FROM pg_namespace WHERE nspname LIKE '${PREFIX}%'`,
  )
  for (const { nspname } of found) {
    const pid = Number(/^shepherd_test_(\d+)_/.exec(nspname)?.[1])
    // Another run may be dropping it at the same moment: its drop is as good as ours.
    if (Number.isInteger(pid) && !running(pid)) await dropSchema(nspname).catch(() => undefined)
  }
}

/** Whether a process of that pid runs (one of another user's counts). */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}
