/**
 * `shepherd nodes --forget`, with real agents. Two `shepherd start` agents on one PostgreSQL schema
 * (a 1 s lease); node-b runs a worker that crashes, so it holds an open incident (waiting a minute
 * before its retry) and its worker's saved state. Forgetting either while alive is refused, saying
 * what to do. Once node-b is SIGKILLed and dead, the leader has closed its incident, and
 * `--forget node-b` takes it off the list with its saved state, keeping its incidents (on SQLite,
 * where the one supervisor is alive and refused: test/cli/fleet-nodes.test.ts). Skipped where no
 * PostgreSQL answers at 127.0.0.1:5432, never under CI=true.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { describe, it } from 'node:test'

import type { NodeView } from '../../src/core/fleet-node.js'
import { CLI_ENV, runCli } from '../helpers/cli.js'
import { fixture, NODE } from '../helpers/daemon.js'
import { startAgents } from '../helpers/fleet.js'
import { adminQuery, postgresSkipReason } from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'

const skip = await postgresSkipReason()
const LEASE_MS = 1_000

describe('shepherd nodes --forget', () => {
  it(
    'refuses a live node, and forgets a dead one with its saved state, keeping its incidents',
    { skip: skip ?? false },
    async (t) => {
      const { schema, url, dir, agents } = await startAgents(t, ['node-a', 'node-b'], {
        node: { lease: `${LEASE_MS}ms` },
        // A failed verification waits a minute before the retry: the incident stays open meanwhile.
        recovery: { retry_delay: 60, jitter: 0 },
        workers: {
          web: { command: NODE, args: [fixture('sdk-ready.mjs')] },
          flaky: { command: NODE, args: [fixture('exit-with.mjs'), '1', '300'], nodes: ['node-b'] },
        },
      })
      const env = { ...CLI_ENV, SHEPHERD_TEST_STORE_URL: url }
      const cli = (...args: string[]) =>
        runCli([...args, '-c', path.join(dir, 'node-a.yaml')], { env, built: true })
      const count = async (sql: string): Promise<number> =>
        Number((await adminQuery<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.${sql}`))[0]!.n)
      await waitFor(
        async () =>
          (await count(`incidents WHERE node = 'node-b' AND phase = 'backoff'`)) === 1 &&
          (await count(`worker_state WHERE node = 'node-b'`)) > 0,
        `node-b's incident waits for its retry (log: ${agents[1]!.log()})`,
        30_000,
        100,
      )

      const self = await cli('nodes', '--forget', 'node-a')
      assert.equal(self.code, 1)
      assert.match(
        self.stderr,
        /^shepherd: node "node-a" is alive: it is the agent answering this request\. Only a dead node can be forgotten\. Stop its agent instead: .* \[SHEPHERD_NODE_ALIVE\]$/m,
      )
      const live = await cli('nodes', '--forget', 'node-b')
      assert.equal(live.code, 1)
      assert.match(
        live.stderr,
        /node "node-b" is alive: its lease is live for another [\d.]+m?s \(last heartbeat [\d.]+m?s ago; pid \d+ on host .+\)\. .*\[SHEPHERD_NODE_ALIVE\]/,
      )

      // node-b dies with its workers. The leader closes its incident, and it is listed dead.
      agents[1]!.child.kill('SIGKILL')
      await waitFor(
        async () => (await count(`incidents WHERE node = 'node-b' AND phase = 'interrupted'`)) === 1,
        `the leader closes node-b's incident (log: ${agents[0]!.log()})`,
        20_000,
        100,
      )
      const listed = async (): Promise<NodeView[]> =>
        (JSON.parse((await cli('nodes', '--json')).stdout) as { nodes: NodeView[] }).nodes
      await waitFor(
        async () => (await listed()).find((n) => n.name === 'node-b')?.state === 'dead',
        'node-b listed dead',
        20_000,
        100,
      )
      const incidents = await count(`incidents WHERE node = 'node-b'`)

      const forgot = await cli('nodes', '--forget', 'node-b')
      assert.equal(forgot.code, 0, forgot.stderr)
      assert.match(
        forgot.stdout,
        /^forgot node node-b \(dead, last heartbeat [\d.]+m?s ago\): its lease and the saved state of 1 worker\(s\) deleted; its incidents and events kept\n$/,
      )
      assert.deepEqual(
        (await listed()).map((n) => [n.name, n.state]),
        [['node-a', 'alive']],
      )
      assert.equal(await count(`worker_state WHERE node = 'node-b'`), 0, 'its saved state went with it')
      assert.equal(await count(`incidents WHERE node = 'node-b'`), incidents, 'its incidents are kept')
      assert.equal(await count(`incidents WHERE phase NOT IN ('recovered', 'escalated', 'interrupted')`), 0)
      // The agent that answered records it, once: who forgot what stays in the fleet's history.
      await waitFor(
        async () => (await count(`events WHERE type = 'node:forgotten'`)) === 1,
        'the node:forgotten event is written',
        10_000,
        50,
      )
      const [event] = await adminQuery<{ node: string; data: string }>(
        `SELECT node, data FROM ${schema}.events WHERE type = 'node:forgotten'`,
      )
      assert.equal(event!.node, 'node-a')
      const data = JSON.parse(event!.data) as { node: string; workerStates: number }
      assert.deepEqual([data.node, data.workerStates], ['node-b', 1])

      const again = await cli('nodes', '--forget', 'node-b')
      assert.equal(again.code, 1)
      assert.match(
        again.stderr,
        /no node "node-b" holds a lease.*the nodes are: node-a .*\[SHEPHERD_NODE_NOT_FOUND\]/,
      )
    },
  )
})
