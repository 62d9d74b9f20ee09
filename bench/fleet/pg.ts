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

/**
 * The settings of the server that weigh on a queue's throughput, as the figures were taken with
 * them (its version, where it listens, durability and cleanup): each with its value, and
 * PostgreSQL's own default after it where the server differs, e.g. "PostgreSQL 15.20 on 127.0.0.1:5432
 * (`fsync` on, `synchronous_commit` on, `autovacuum` off (PostgreSQL's default: on), …)".
 */
export async function describeServer(): Promise<string> {
  const rows = await admin(
    async (c) =>
      (
        await c.query<{ name: string; setting: string; unit: string | null; boot_val: string }>(
          `SELECT name, setting, unit, boot_val FROM pg_settings WHERE name = ANY($1)
          UNION ALL SELECT 'server_version', current_setting('server_version'), NULL, ''`,
          [DESCRIBED_SETTINGS],
        )
      ).rows,
  )
  const version = rows.find((r) => r.name === 'server_version')!.setting
  const shown = DESCRIBED_SETTINGS.flatMap((name) => {
    const r = rows.find((x) => x.name === name)
    if (!r) return []
    const value = (v: string) => settingText(v, r.unit)
    const differs = r.setting === r.boot_val ? '' : ` (PostgreSQL's default: ${value(r.boot_val)})`
    return [`\`${name}\` ${value(r.setting)}${differs}`]
  })
  const url = new URL(SERVER_URL)
  return `PostgreSQL ${version.split(' ')[0]!} on ${url.hostname}:${url.port || 5432} (${shown.join(', ')})`
}

const DESCRIBED_SETTINGS = [
  'fsync',
  'synchronous_commit',
  'full_page_writes',
  'autovacuum',
  'shared_buffers',
  'max_connections',
]

/** A pg_settings value with its unit: shared_buffers' "16384" in units of "8kB" as "128 MiB". */
function settingText(value: string, unit: string | null): string {
  if (unit !== '8kB') return value
  const mib = (Number(value) * 8) / 1024
  return Number.isInteger(mib) ? `${mib} MiB` : `${Number(value) * 8} KiB`
}
