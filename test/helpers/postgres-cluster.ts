/**
 * A PostgreSQL server of a test's own: a throwaway cluster made with the Debian tools
 * (`pg_createcluster <version> shepherd-<pid>-<random> -p <free port>`), trust authentication,
 * listening on 127.0.0.1 (and any other address the test names), dropped after the test
 * (`pg_dropcluster --stop`). The machine's own cluster on port 5432 serves every other test and
 * other people's runs: a test that restarts, stops or cuts off its database does it to one of
 * these, never to that one.
 *
 * The cluster is managed with `pg_ctlcluster` (start, stop, restart), which runs the server as the
 * `postgres` user. Making clusters needs root (or the postgres user); where that or the tools are
 * missing the test is skipped with the reason, except under CI=true, where it fails. Clusters left
 * by a test process that died are dropped by the next one that makes a cluster.
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { promisify } from 'node:util'

import pg from 'pg'

import { freePort } from './cli.js'
import { running } from './postgres.js'

const exec = promisify(execFile)

const ETC = '/etc/postgresql'
const PREFIX = 'shepherd-'

export interface PgClusterOptions {
  /**
   * The addresses the server listens on (`listen_addresses`), each trusted in pg_hba.conf.
   * @defaultValue ['127.0.0.1']
   */
  listen?: string[]
  /** More networks (CIDR) whose clients are trusted: a namespace's veth subnet. */
  trust?: string[]
  /** More settings for postgresql.conf (`{ max_connections: '50' }`). */
  settings?: Record<string, string>
}

export interface PgCluster {
  readonly version: string
  readonly name: string
  readonly port: number
  /** The server's log file (what a failed test should show). */
  readonly logFile: string
  /**
   * The URL of a database on it (user postgres, no password).
   * @param host - which of the listen addresses; the first by default.
   */
  url(o?: { database?: string; host?: string; params?: Record<string, string> }): string
  /** `pg_ctlcluster … restart` (a fast shutdown, then a start); resolves once it accepts connections. */
  restart(): Promise<void>
  /** `pg_ctlcluster … stop` (fast: open connections are ended); resolves once it is down. */
  stop(): Promise<void>
  /** `pg_ctlcluster … start`; resolves once it accepts connections. */
  start(): Promise<void>
  /** Whether a connection to it works now. */
  accepting(): Promise<boolean>
  /** The last lines of its log. */
  log(lines?: number): string
  /** Stops and drops it (also done after the test). */
  drop(): Promise<void>
}

let tools: Promise<{ version: string } | { skip: string }> | null = null

/**
 * The newest installed PostgreSQL whose cluster tools can run here, or why none can. Under CI=true
 * a missing tool is an error, never a skip.
 */
export function pgClusterSupport(): Promise<{ version: string } | { skip: string }> {
  tools ??= (async () => {
    const why = await missing()
    if (why === null) {
      const versions = readdirSync(ETC)
        .filter((v) => /^\d+$/.test(v) && existsSync(`/usr/lib/postgresql/${v}/bin/postgres`))
        .sort((a, b) => Number(b) - Number(a))
      if (versions.length > 0) return { version: versions[0]! }
    }
    const reason = `a PostgreSQL cluster of the test's own cannot be made here (${why ?? `no server under /usr/lib/postgresql for the versions in ${ETC}`}): install postgresql and postgresql-common, and run as root`
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true, so these tests may not be skipped`)
    return { skip: reason }
  })()
  return tools
}

async function missing(): Promise<string | null> {
  if (!existsSync(ETC)) return `${ETC} is missing`
  for (const tool of ['pg_createcluster', 'pg_ctlcluster', 'pg_dropcluster']) {
    try {
      await exec('sh', ['-c', `command -v ${tool}`])
    } catch {
      return `${tool} is not on the PATH`
    }
  }
  if (process.getuid?.() !== 0) return 'making a cluster needs root'
  return null
}

/**
 * Makes and starts a cluster for this test; it is dropped after the test. Skips the test (and
 * returns null) where clusters cannot be made.
 */
export async function createPgCluster(t: TestContext, o: PgClusterOptions = {}): Promise<PgCluster | null> {
  const support = await pgClusterSupport()
  if ('skip' in support) {
    t.skip(support.skip)
    return null
  }
  const { version } = support
  await dropOrphanClusters(version)
  const listen = o.listen ?? ['127.0.0.1']
  const port = await freePort()
  const name = `${PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  const logFile = `/var/log/postgresql/postgresql-${version}-${name}.log`
  await ctl('pg_createcluster', [
    version,
    name,
    '--port',
    String(port),
    '--start-conf=manual',
    '--quiet',
    '--',
    '--auth-local=trust',
    '--auth-host=trust',
  ])
  const conf = path.join(ETC, version, name)
  const cluster = makeCluster(version, name, port, logFile, listen)
  t.after(() => cluster.drop())
  // `pg_createcluster -o` quotes some values and not others: the settings go in a file of their own.
  const settings: Record<string, string> = { listen_addresses: `'${listen.join(',')}'`, ...o.settings }
  writeFileSync(
    path.join(conf, 'conf.d', 'shepherd-test.conf'),
    Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}\n`)
      .join(''),
  )
  const trusted = [
    ...listen.filter((a) => net.isIPv4(a) && a !== '127.0.0.1').map((a) => `${a}/32`),
    ...(o.trust ?? []),
  ]
  if (trusted.length > 0) {
    const hba = path.join(conf, 'pg_hba.conf')
    writeFileSync(
      hba,
      readFileSync(hba, 'utf8') + trusted.map((cidr) => `host all all ${cidr} trust\n`).join(''),
    )
  }
  await cluster.start()
  return cluster
}

function makeCluster(
  version: string,
  name: string,
  port: number,
  logFile: string,
  listen: string[],
): PgCluster {
  let dropped = false
  const url: PgCluster['url'] = ({ database = 'postgres', host = listen[0]!, params = {} } = {}) => {
    const u = new URL(`postgres://postgres@${host.includes(':') ? `[${host}]` : host}:${port}/${database}`)
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v)
    return u.toString()
  }
  const accepting = async (): Promise<boolean> => {
    const client = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 1_000 })
    client.on('error', () => undefined)
    try {
      await client.connect()
      await client.query('SELECT 1')
      return true
    } catch {
      return false
    } finally {
      await client.end().catch(() => undefined)
    }
  }
  const cluster: PgCluster = {
    version,
    name,
    port,
    logFile,
    url,
    accepting,
    async restart() {
      await ctl('pg_ctlcluster', [version, name, 'restart', '--mode', 'fast'])
      await untilAccepting(cluster)
    },
    async stop() {
      await ctl('pg_ctlcluster', [version, name, 'stop', '--mode', 'fast'])
    },
    async start() {
      await ctl('pg_ctlcluster', [version, name, 'start'])
      await untilAccepting(cluster)
    },
    log(lines = 40) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
      } catch {
        return `(no log at ${logFile})`
      }
    },
    async drop() {
      if (dropped) return
      dropped = true
      await ctl('pg_dropcluster', [version, name, '--stop'])
    },
  }
  return cluster
}

/** `pg_ctlcluster start` returns once the postmaster runs; connections may lag a moment behind. */
async function untilAccepting(cluster: PgCluster): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!(await cluster.accepting())) {
    if (Date.now() > deadline)
      throw new Error(`the cluster ${cluster.name} did not accept connections within 30 s:\n${cluster.log()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function ctl(tool: string, args: string[]): Promise<void> {
  try {
    await exec(tool, args, { timeout: 60_000 })
  } catch (e) {
    const { stderr, stdout } = e as { stderr?: string; stdout?: string }
    throw new Error(`${tool} ${args.join(' ')} failed: ${(stderr || stdout || String(e)).trim()}`, {
      cause: e,
    })
  }
}

/** Drops the clusters of test processes that are gone (a run killed before its cleanup). */
async function dropOrphanClusters(version: string): Promise<void> {
  for (const name of readdirSync(path.join(ETC, version))) {
    const pid = Number(/^shepherd-(\d+)-[a-z0-9]+$/.exec(name)?.[1])
    if (!Number.isInteger(pid) || running(pid)) continue
    // Another run may be dropping it at the same moment: its drop is as good as ours.
    await ctl('pg_dropcluster', [version, name, '--stop']).catch(() => undefined)
  }
}
