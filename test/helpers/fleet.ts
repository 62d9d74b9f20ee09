/**
 * Fleets for the tests: real `shepherd start` agents on one PostgreSQL schema of the test's own.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import type { TestContext } from 'node:test'

import { stringify } from 'yaml'

import { CLI_ENV, freePort, type RunningCli, startCli } from './cli.js'
import { fixture, NODE, tempDir } from './daemon.js'
import { adminQuery, dropSchema, testSchema } from './postgres.js'
import { waitFor } from './wait.js'

/** A fleet's schema and agents; `join` starts one more agent on it (returns once it holds its lease). */
export interface Fleet {
  schema: string
  url: string
  dir: string
  agents: RunningCli[]
  join(node: string): Promise<RunningCli>
}

/**
 * Real `shepherd start` agents, one per node name, on one fresh PostgreSQL schema; `extra` is
 * merged into each agent's config (and into that of the agents that `join` later). Killed and the
 * schema dropped after the test.
 */
export async function startAgents(
  t: TestContext,
  nodes: string[],
  extra: Record<string, unknown>,
): Promise<Fleet> {
  const { schema, url } = testSchema()
  const dir = tempDir(t)
  const agents: RunningCli[] = []
  t.after(async () => {
    for (const d of agents) if (d.child.exitCode === null) d.child.kill('SIGKILL')
    await Promise.all(agents.map((d) => d.exited))
    await dropSchema(schema)
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
      env: { ...CLI_ENV, SHEPHERD_TEST_STORE_URL: url, SHEPHERD_NODE: node },
      built: true,
    })
    agents.push(agent)
    return agent
  }
  const running = (n: number, logs: () => string) =>
    waitFor(
      async () =>
        (await adminQuery(`SELECT node FROM ${schema}.supervisor_leases`).catch(() => [])).length === n,
      `every agent runs (logs: ${logs()})`,
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
