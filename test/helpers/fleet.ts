/**
 * Fleets for the tests: real `shepherd start` agents on one PostgreSQL schema of the test's own,
 * or on a PostgreSQL server of the test's own (a `PgCluster`), each agent on this host or on a
 * host of its own (a `NetnsHost`).
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import type { TestContext } from 'node:test'

import { stringify } from 'yaml'

import { CLI_ENV, freePort, type RunningCli, startCli } from './cli.js'
import { fixture, NODE, tempDir } from './daemon.js'
import { adminQuery, dropSchema, testSchema } from './postgres.js'
import { waitFor } from './wait.js'

/** How one agent is started, where it differs from the others. */
export interface AgentOptions {
  /**
   * The store URL the agent connects to: the fleet's database through another address (an agent
   * on a host of its own reaches the server at the host's `hostAddress`). The fleet's `url` by default.
   */
  url?: string
  /** The command that runs the agent (a `NetnsHost`'s `prefix`: on a host of its own). */
  prefix?: string[]
}

export interface FleetOptions {
  /**
   * The fleet's database, on a PostgreSQL server of the test's own (a `PgCluster`'s `url()`):
   * the agents meet in its `public` schema, which goes with the server. By default a fresh schema
   * on the test server, dropped after the test.
   */
  database?: string
  /** Per node name, how its agent is started (now or when it joins). */
  agents?: Record<string, AgentOptions>
}

/** A fleet's schema and agents; `join` starts one more agent on it (returns once it holds its lease). */
export interface Fleet {
  schema: string
  url: string
  dir: string
  agents: RunningCli[]
  join(node: string): Promise<RunningCli>
}

/**
 * Real `shepherd start` agents, one per node name, on one fresh PostgreSQL schema (or the
 * database `o.database`); `extra` is merged into each agent's config (and into that of the agents
 * that `join` later). Killed and the schema dropped after the test.
 */
export async function startAgents(
  t: TestContext,
  nodes: string[],
  extra: Record<string, unknown>,
  o: FleetOptions = {},
): Promise<Fleet> {
  const { schema, url } = o.database === undefined ? testSchema() : { schema: 'public', url: o.database }
  const dir = tempDir(t)
  const agents: RunningCli[] = []
  t.after(async () => {
    for (const d of agents) if (d.child.exitCode === null) d.child.kill('SIGKILL')
    await Promise.all(agents.map((d) => d.exited))
    if (o.database === undefined) await dropSchema(schema)
  })
  const start = async (node: string): Promise<RunningCli> => {
    const file = path.join(dir, `${node}.yaml`)
    writeFileSync(
      file,
      stringify({
        api: { port: await freePort() },
        log: { level: 'warn' },
        store: { url_env: 'SHEPHERD_TEST_STORE_URL' },
        workers: { api: { command: NODE, args: [fixture('sdk-ready.mjs')] } },
        ...extra,
      }),
    )
    const agent = startCli(t, ['start', '-c', file], {
      env: { ...CLI_ENV, SHEPHERD_TEST_STORE_URL: o.agents?.[node]?.url ?? url, SHEPHERD_NODE: node },
      built: true,
      prefix: o.agents?.[node]?.prefix,
    })
    agents.push(agent)
    return agent
  }
  const holders = () =>
    adminQuery(`SELECT node FROM ${schema}.supervisor_leases`, [], o.database).catch(() => [])
  const running = (n: number, logs: () => string) =>
    waitFor(
      async () => (await holders()).length === n,
      () => `every agent runs (logs: ${logs()})`,
      30_000,
      100,
    )
  for (const node of nodes) await start(node)
  await running(nodes.length, () => agents.map((a) => a.log()).join(' '))
  return {
    schema,
    url,
    dir,
    agents,
    join: async (node) => {
      const agent = await start(node)
      await running(agents.length, () => agent.log())
      return agent
    },
  }
}
