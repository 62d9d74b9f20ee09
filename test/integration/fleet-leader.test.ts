/**
 * One leader per fleet, end to end: two real `shepherd start` agents (two node names) on one
 * PostgreSQL schema; one leads (the fleet_leader row, a leader:elected event); SIGKILLed, the other
 * takes the leadership, as a new reign, within the lease and a renewal. Two agents that keep the
 * same report schedule make one report per period between them. Skipped where no PostgreSQL
 * answers at 127.0.0.1:5432, never under CI=true.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'

import { startAgents } from '../helpers/fleet.js'
import { adminQuery, postgresSkipReason } from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'

const skip = await postgresSkipReason()
const LEASE_MS = 2_000

interface LeaderRow {
  node: string
  epoch: number
}

describe('the fleet leader', () => {
  it(
    'is one agent of two; SIGKILLed, the other leads within the lease and a renewal, as a new reign',
    { skip: skip ?? false },
    async (t) => {
      const {
        schema,
        agents: [a, b],
      } = await startAgents(t, ['agent-a', 'agent-b'], { node: { lease: `${LEASE_MS}ms` } })
      const agents = { a: a!, b: b! }
      const leader = async (): Promise<LeaderRow | null> =>
        (
          await adminQuery<LeaderRow>(
            `SELECT node, epoch FROM ${schema}.fleet_leader WHERE owner <> ''`,
          ).catch(() => [])
        )[0] ?? null
      await waitFor(
        async () => (await leader()) !== null,
        `one agent leads (logs: ${agents.a.log()} ${agents.b.log()})`,
        30_000,
        100,
      )
      const first = (await leader())!
      assert.equal(Number(first.epoch), 1)
      // Events reach the store a moment after the fact (the write-behind's next batch).
      const electedEvents = () =>
        adminQuery<{ message: string }>(`SELECT message FROM ${schema}.events WHERE type = 'leader:elected'`)
      await waitFor(async () => (await electedEvents()).length > 0, 'the leader:elected event', 10_000, 50)
      const elected = await electedEvents()
      assert.equal(elected.length, 1, 'one agent says it leads')
      assert.match(elected[0]!.message, new RegExp(first.node))

      const [dead, survivor] = first.node === 'agent-a' ? [agents.a, agents.b] : [agents.b, agents.a]
      const killedAt = performance.now()
      dead.child.kill('SIGKILL')
      await waitFor(
        async () => (await leader())?.node !== first.node,
        `the other agent leads (log: ${survivor.log()})`,
        20_000,
        50,
      )
      const tookMs = performance.now() - killedAt
      t.diagnostic(`leadership moved ${Math.round(tookMs)} ms after the SIGKILL (lease ${LEASE_MS} ms)`)
      const next = (await leader())!
      assert.equal(Number(next.epoch), 2, 'a new reign')
      // The lease, one renewal (a third of it) and slack for a busy machine.
      assert.ok(tookMs < LEASE_MS + LEASE_MS / 3 + 3_000, `leadership moved in ${Math.round(tookMs)} ms`)
      assert.equal(survivor.child.exitCode, null, 'the survivor runs on')
    },
  )

  it(
    'makes one scheduled report per period for the fleet, not one per agent',
    { skip: skip ?? false },
    async (t) => {
      let reports = 0
      const receiver = createServer((req, res) => {
        req.resume()
        req.on('end', () => {
          reports++
          res.end('ok')
        })
      })
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
      t.after(() => receiver.close())
      const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
      await startAgents(t, ['agent-a', 'agent-b'], {
        notifications: { webhooks: [{ url: hook, min_severity: 'critical' }], retries: 0 },
        reports: { schedule: { every: '1s', since: '1h' } },
      })
      await waitFor(() => reports > 0, 'a first report', 10_000, 50)
      const from = reports
      await new Promise((resolve) => setTimeout(resolve, 5_000))
      const made = reports - from
      t.diagnostic(`${made} reports in 5 s from two agents with every: 1s`)
      // One per second between them (a run may slip on a busy machine); one per agent would be ~10.
      assert.ok(made >= 1 && made <= 6, `${made} reports in 5 s`)
    },
  )
})
