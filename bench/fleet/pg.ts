/**
 * The machine's PostgreSQL for the fleet benchmark: a fresh database per system and run (so that
 * no system sees another's tables or the last run's rows), dropped afterwards, and a client to read
 * it with.
 */
import pg from 'pg'

/** The server: 127.0.0.1:5432, user postgres, trust auth, unless BENCH_PG_URL names another. */
export const SERVER_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export function databaseUrl(name: string): string {
  const url = new URL(SERVER_URL)
  url.pathname = `/${name}`
  return url.toString()
}

async function admin<T>(f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: SERVER_URL })
  await c.connect()
  try {
    return await f(c)
  } finally {
    await c.end()
  }
}

/** A database of its own: `bench_<system>_<pid>`, created empty now and dropped by `drop`. */
export interface Database {
  name: string
  url: string
  /** One connection to it, for the benchmark's own reads. */
  client: pg.Client
  drop(): Promise<void>
}

export async function freshDatabase(system: string): Promise<Database> {
  const name = `bench_${system.replace(/\W/g, '_')}_${process.pid}`
  await admin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await c.query(`CREATE DATABASE ${name}`)
  })
  const url = databaseUrl(name)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  return {
    name,
    url,
    client,
    drop: async () => {
      await client.end()
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
    },
  }
}

/** The first column of the first row, as a number. */
export async function scalar(c: pg.Client, sql: string, params: unknown[] = []): Promise<number> {
  const r = await c.query<Record<string, unknown>>(sql, params)
  const row = r.rows[0]
  return Number(row ? Object.values(row)[0] : NaN)
}

/** The server's version number, e.g. "15.20" (without the distribution's build note). */
export async function serverVersion(): Promise<string> {
  const full = await admin(
    async (c) => (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version,
  )
  return full.split(' ')[0]!
}
