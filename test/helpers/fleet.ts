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

/**
 * Real `shepherd start` agents, one per node name, on one fresh PostgreSQL schema; `extra` is
 * merged into each agent's config. Killed and the schema dropped after the test.
 */
export async function startAgents(t: TestContext, nodes: string[], extra: Record<string, unknown>) {
  const { schema, url } = testSchema()
  const dir = tempDir(t)
  const agents: RunningCli[] = []
  t.after(async () => {
    for (const d of agents) if (d.child.exitCode === null) d.child.kill('SIGKILL')
    await Promise.all(agents.map((d) => d.exited))
    await dropSchema(schema)
  })
  for (const node of nodes) {
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
    agents.push(
      startCli(t, ['start', '-c', file], {
        env: { ...CLI_ENV, SHEPHERD_TEST_STORE_URL: url, SHEPHERD_NODE: node },
        built: true,
      }),
    )
  }
  await waitFor(
    async () =>
      (await adminQuery(`SELECT node FROM ${schema}.supervisor_leases`).catch(() => [])).length ===
      nodes.length,
    `every agent runs (logs: ${agents.map((a) => a.log()).join(' ')})`,
    30_000,
    100,
  )
  return { schema, url, dir, agents }
}
