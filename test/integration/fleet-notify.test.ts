/**
 * Notifications are fleet-wide facts, end to end: three real `shepherd start` agents (three node
 * names) on one PostgreSQL schema run the same pool, which crashes at every start on every host (a
 * bad deploy), and post to one real HTTP server standing in for a webhook. Each agent recovers and
 * escalates its own workers (budgets and escalations stay per worker: the store holds every
 * agent's escalation); the webhook gets each worker slot's opening and escalation once for the
 * fleet, and the store counts the other nodes' messages that were not sent. Skipped where no
 * PostgreSQL answers at 127.0.0.1:5432.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'

import type { WebhookPayload } from '../../src/notify/index.js'
import { fixture, NODE } from '../helpers/daemon.js'
import { startAgents } from '../helpers/fleet.js'
import { adminQuery, postgresSkipReason } from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'

const skip = await postgresSkipReason()
const NODES = ['agent-a', 'agent-b', 'agent-c']

describe('fleet-wide notifications', () => {
  it(
    'the same pool crashing on every agent: one message per worker slot for the fleet, every escalation in the store',
    { skip: skip ?? false },
    async (t) => {
      const received: WebhookPayload[] = []
      const receiver = createServer((req, res) => {
        const chunks: Buffer[] = []
        req.on('data', (c: Buffer) => chunks.push(c))
        req.on('end', () => {
          received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookPayload)
          res.end('ok')
        })
      })
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
      t.after(() => receiver.close())
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`

      const { schema, agents } = await startAgents(t, NODES, {
        // A claim waits as long as a delivery attempt: generous, for a busy 2-core machine.
        notifications: { webhooks: [{ url, min_severity: 'warning' }], retries: 0, timeout: '20s' },
        // The third restart within the window escalates.
        recovery: { retry_delay: '100ms', restart_limit: { max: 2, window: '10m' } },
        // Exits with code 1 moments after every start, on every host: a bad deploy.
        workers: {
          billing: { command: NODE, args: [fixture('exit-with.mjs'), '1', '200'], replicas: 2 },
        },
      })
      const escalations = async () =>
        (
          await adminQuery<{ worker_id: string }>(
            `SELECT worker_id FROM ${schema}.events WHERE type = 'incident:escalated'`,
          ).catch(() => [])
        ).map((r) => r.worker_id)
      await waitFor(
        async () => (await escalations()).length >= NODES.length * 2,
        'every agent escalates both workers',
        60_000,
        100,
      ).catch(async (e: unknown) => {
        const types = await adminQuery<{ node: string; type: string; n: string }>(
          `SELECT type, count(*) AS n FROM ${schema}.events GROUP BY type ORDER BY type`,
        ).catch(() => [])
        t.diagnostic(`events: ${JSON.stringify(types)}; logs: ${agents.map((a) => a.log()).join(' | ')}`)
        throw e
      })
      // Each agent escalated its own billing#1 and billing#2: budgets and escalations are per worker.
      assert.deepEqual((await escalations()).sort(), [
        'billing#1',
        'billing#1',
        'billing#1',
        'billing#2',
        'billing#2',
        'billing#2',
      ])
      // Deliveries follow the events within milliseconds; give a busy machine time to send extras.
      await new Promise((resolve) => setTimeout(resolve, 3_000))

      const seen = received.map((p) => `${p.event.type} ${p.event.workerId}`).sort()
      t.diagnostic(`the webhook received: ${seen.join(', ')}`)
      assert.deepEqual(seen, [
        'incident:escalated billing#1',
        'incident:escalated billing#2',
        'incident:opened billing#1',
        'incident:opened billing#2',
      ])
      for (const p of received) {
        assert.ok(p.fleet && NODES.includes(p.fleet.node), 'a fleet-wide message names the node that sent it')
      }
      // The other two nodes' messages of each fact were counted, for the fact's next message.
      const rows = await adminQuery<{ key: string; node: string; suppressed: string; nodes: string }>(
        `SELECT key, node, suppressed, nodes FROM ${schema}.fleet_notifications`,
      )
      const escalated = rows.filter((r) => r.key.includes('incident:escalated'))
      assert.equal(escalated.length, 2)
      for (const r of escalated) {
        assert.equal(Number(r.suppressed), 2, `two other nodes escalated ${r.key}`)
        assert.deepEqual(
          [...(JSON.parse(r.nodes) as string[]), r.node].sort(),
          NODES,
          'the row names the two nodes it suppressed',
        )
      }
    },
  )
})
