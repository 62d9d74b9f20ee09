/**
 * Seeing the fleet: `shepherd nodes` and `shepherd status` across nodes, with real agents. Two
 * `shepherd start` agents on one PostgreSQL schema (a 1 s lease) are listed alive with their
 * version, host, pid and workers; `status` shows both nodes' workers from what each recorded in
 * the store, `--node` one node's. One agent SIGKILLed is listed dead once its lease lapses, and
 * `status` leaves its workers out but says so. On SQLite, the one supervisor is the one node, which
 * `nodes --forget` refuses (it is alive).
 * The PostgreSQL case is skipped where no server answers at 127.0.0.1:5432, never under CI=true.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'

import { stringify } from 'yaml'

import { openPostgresStore } from '../../src/adapters/postgres/pg-store.js'
import type { FleetWorker } from '../../src/cli/format.js'
import type { NodeView } from '../../src/core/fleet-node.js'
import { packageVersion } from '../../src/version.js'
import { CLI_ENV, freePort, runCli, startCli } from '../helpers/cli.js'
import { fixture, NODE, tempDir } from '../helpers/daemon.js'
import { startAgents } from '../helpers/fleet.js'
import { postgresSkipReason } from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'

const skip = await postgresSkipReason()
const LEASE_MS = 1_000

describe('shepherd nodes and status across nodes', () => {
  it(
    'lists two agents alive with their workers, and one SIGKILLed as dead once its lease lapsed',
    { skip: skip ?? false },
    async (t) => {
      const { url, dir, agents } = await startAgents(t, ['node-a', 'node-b'], {
        node: { lease: `${LEASE_MS}ms` },
        workers: {
          web: { command: NODE, args: [fixture('sdk-ready.mjs')], replicas: 2 },
          batch: { command: NODE, args: [fixture('sdk-ready.mjs')], nodes: ['node-b'] },
        },
      })
      const config = path.join(dir, 'node-a.yaml')
      const env = { ...CLI_ENV, SHEPHERD_TEST_STORE_URL: url }
      const cli = (...args: string[]) => runCli([...args, '-c', config], { env, built: true })
      const nodes = async (): Promise<NodeView[]> => {
        const r = await cli('nodes', '--json')
        assert.equal(r.code, 0, r.stderr)
        return (JSON.parse(r.stdout) as { nodes: NodeView[] }).nodes
      }

      // Both alive, each with all its workers serving (recorded with its heartbeats).
      const listed = await waitFor(
        async () => {
          const n = await nodes()
          return n.length === 2 && n.every((x) => x.running !== null && x.running === x.desired) && n
        },
        'both nodes alive with their workers serving',
        30_000,
        100,
      )
      assert.deepEqual(
        listed.map((n) => [n.name, n.state, n.host, n.version, n.running, n.desired]),
        [
          ['node-a', 'alive', os.hostname(), packageVersion(), 2, 2],
          ['node-b', 'alive', os.hostname(), packageVersion(), 3, 3],
        ],
      )
      assert.deepEqual(
        listed.map((n) => n.pid),
        agents.map((a) => a.child.pid),
      )
      assert.equal(listed.filter((n) => n.leader).length, 1, 'one of them leads')
      for (const n of listed) {
        assert.match(n.apiUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/)
        assert.ok(n.heartbeatAgeMs < 10_000, `a recent heartbeat: ${n.heartbeatAgeMs} ms`)
        assert.equal(n.expiresAt - n.heartbeatAt, LEASE_MS, 'dead once its last heartbeat is a lease old')
      }
      // A 1 s lease is renewed every third of it: the heartbeats' ages stay well under the lease.
      // (With heartbeats once per 1 s store tick, as before, they spread over the whole lease and
      // a live agent was often read dead.) The 90th percentile leaves room for a busy machine.
      const store = await openPostgresStore(url)
      t.after(() => store.close())
      const ages: number[] = []
      for (const until = Date.now() + 3_000; Date.now() < until;) {
        const at = Date.now()
        for (const n of await store.listNodes()) ages.push(at - n.heartbeatAt)
        await new Promise((r) => setTimeout(r, 50))
      }
      ages.sort((x, y) => x - y)
      const p90 = ages[Math.floor(ages.length * 0.9)]!
      assert.ok(p90 < 0.7 * LEASE_MS, `heartbeat age p90 ${p90} ms (max ${ages.at(-1)} ms) of ${ages.length}`)
      const table = await cli('nodes')
      assert.equal(table.code, 0, table.stderr)
      assert.match(table.stdout, /^NODE +HOST +PID +VERSION +STATE +HEARTBEAT +WORKERS +API$/m)
      assert.match(table.stdout, /^node-a .* alive.* ago +2\/2 +http:/m)
      assert.match(table.stdout, /^node-b .* alive.* ago +3\/3 +http:/m)

      // status on a shared store: every live node's workers, from the store; --node one node's.
      const status = await cli('status')
      assert.equal(status.code, 0, status.stderr)
      assert.match(status.stdout, /^NODE +ID +POOL +PID +STATE +HEALTH +RESTARTS +UPTIME +WORST$/m)
      for (const row of [
        'node-a +web#1',
        'node-a +web#2',
        'node-b +web#1',
        'node-b +web#2',
        'node-b +batch#1',
      ])
        assert.match(status.stdout, new RegExp(`^${row} .* ready `, 'm'))
      assert.doesNotMatch(status.stdout, /^node-a +batch/m, 'batch runs on node-b only')
      const onB = await cli('status', '--json', '--node', 'node-b')
      assert.equal(onB.code, 0, onB.stderr)
      const bWorkers = (JSON.parse(onB.stdout) as { workers: FleetWorker[] }).workers
      assert.deepEqual(
        bWorkers.map((w) => [w.node, w.id, w.state]),
        [
          ['node-b', 'web#1', 'ready'],
          ['node-b', 'web#2', 'ready'],
          ['node-b', 'batch#1', 'ready'],
        ],
      )
      const unknown = await cli('status', '--node', 'node-z')
      assert.equal(unknown.code, 1)
      assert.match(
        unknown.stderr,
        /no node "node-z".*the nodes are: node-a, node-b.*\[SHEPHERD_NODE_NOT_FOUND\]/,
      )

      // A host dies: node-b and its workers SIGKILLed. It stays listed, dead once its lease lapsed;
      // the leader, reclaiming its jobs, ends its lease (its expiry then is its last heartbeat), so
      // that no renewal of it held up somewhere is taken.
      const killedAt = Date.now()
      agents[1]!.child.kill('SIGKILL')
      const after = await waitFor(
        async () => {
          const n = await nodes()
          const b = n.find((x) => x.name === 'node-b')
          return b?.state === 'dead' && b.expiresAt === b.heartbeatAt && n
        },
        'node-b listed dead, its lease ended by the leader',
        20_000,
        100,
      )
      const a = after.find((n) => n.name === 'node-a')!
      const b = after.find((n) => n.name === 'node-b')!
      assert.equal(a.state, 'alive')
      assert.ok(b.heartbeatAt <= killedAt + 50, 'its last heartbeat was before the kill')
      assert.equal(b.leader, false)
      assert.ok(a.leader, 'the survivor leads')
      assert.match((await cli('nodes')).stdout, /^node-b .* dead .* ago +3\/3 +http:/m)

      const survivors = await cli('status')
      assert.equal(survivors.code, 0, survivors.stderr)
      assert.doesNotMatch(survivors.stdout, /^node-b +\S+#/m, "a dead node's workers are left out")
      assert.match(survivors.stdout, /^node-a +web#1 /m)
      assert.match(
        survivors.stdout,
        /^node-b is dead \(no heartbeat for [\d.]+s\): shepherd status --node node-b shows its workers as last recorded$/m,
      )
      const deadOnes = await cli('status', '--node', 'node-b')
      assert.equal(deadOnes.code, 0, deadOnes.stderr)
      assert.match(deadOnes.stdout, /^node-b +batch#1 /m)
      assert.match(
        deadOnes.stdout,
        /^node-b is dead \(no heartbeat for [\d.]+s\): its workers as it last recorded them$/m,
      )
    },
  )

  it('shows the one supervisor of a SQLite store as its one node; status keeps its table', async (t) => {
    const dir = tempDir(t)
    const config = path.join(dir, 'shepherd.yaml')
    writeFileSync(
      config,
      stringify({
        api: { port: await freePort() },
        log: { level: 'warn' },
        workers: { web: { command: NODE, args: [fixture('sdk-ready.mjs')], replicas: 2 } },
      }),
    )
    const agent = startCli(t, ['start', '-c', config], {
      env: { ...CLI_ENV, SHEPHERD_NODE: 'solo' },
      built: true,
    })
    const cli = (...args: string[]) => runCli([...args, '-c', config], { built: true })
    const [node] = await waitFor(
      async () => {
        const r = await cli('nodes', '--json')
        if (r.code !== 0) return false
        const n = (JSON.parse(r.stdout) as { nodes: NodeView[] }).nodes
        return n[0]?.running === 2 && n
      },
      `the supervisor listed with its workers serving (log: ${agent.log()})`,
      30_000,
      100,
    )
    assert.deepEqual(
      [node?.name, node?.state, node?.leader, node?.pid, node?.version, node?.desired],
      ['solo', 'alive', true, agent.child.pid, packageVersion(), 2],
    )
    const status = await cli('status')
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, /^ID +POOL +PID +STATE +HEALTH +RESTARTS +UPTIME +WORST$/m, 'no NODE column')
    const mine = await cli('status', '--node', 'solo')
    assert.equal(mine.code, 0, mine.stderr)
    const ids = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((l) => l.split(/ +/)[0])
    assert.deepEqual(ids(mine.stdout), ids(status.stdout), 'the same table: the node is this one')
    assert.deepEqual(ids(status.stdout), ['ID', 'web#1', 'web#2'])
    const other = await cli('status', '--node', 'elsewhere')
    assert.equal(other.code, 1)
    assert.match(other.stderr, /the nodes are: solo .*\[SHEPHERD_NODE_NOT_FOUND\]/)

    // nodes --forget (test/cli/fleet-forget.test.ts): the one supervisor answers, so it is alive.
    const alive = await cli('nodes', '--forget', 'solo')
    assert.equal(alive.code, 1)
    assert.match(
      alive.stderr,
      /node "solo" is alive: it is the agent answering this request.*\[SHEPHERD_NODE_ALIVE\]/,
    )
    const unknown = await cli('nodes', '--forget', 'elsewhere')
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /no node "elsewhere" .*the nodes are: solo .*\[SHEPHERD_NODE_NOT_FOUND\]/)
    const help = await cli('nodes', '--help')
    assert.match(
      help.stdout.replace(/\s+/g, ' '),
      /--forget <name> take a dead node off the list: deletes its lease/,
    )
  })
})
