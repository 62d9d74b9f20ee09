/**
 * Fleet-wide notifications: the pure rule (which events are fleet facts, under what key, and who
 * sends), and two dispatchers (two agents) sharing one claim table under fake time, the way two
 * agents share one PostgreSQL (test/integration/fleet-notify.test.ts does it with real agents).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { formatSlackMessage } from '../../src/adapters/notify/slack.js'
import { webhookPayload } from '../../src/adapters/notify/webhook.js'
import type { AnyEvent } from '../../src/core/events.js'
import {
  decideFleetClaim,
  fleetKeyOf,
  type FleetNotificationClaim,
  type FleetNotificationDecision,
  type FleetNotificationRow,
  MAX_FLEET_KEY_CHARS,
  MAX_NAMED_NODES,
} from '../../src/core/fleet-notification.js'
import { silentLogger } from '../../src/logger.js'
import {
  type DeliveryContext,
  type DispatcherFleet,
  fleetIdOf,
  NotificationDispatcher,
  type Notifier,
} from '../../src/notify/index.js'
import { FakeClock, seededRandom } from '../../src/ports/clock.js'
import { FakeTimers, settle } from '../helpers/fake-timers.js'
import { incidentEvent, incidentRecord } from '../helpers/fakes.js'

const T0 = 1_700_000_000_000
const DEST = 'slack:0123456789abcdef'
const WINDOW = 300_000
/** notifications.timeout in these tests: the time limit of a delivery attempt, and so of a claim. */
const CLAIM_LIMIT = 5_000

function escalated(workerId: string, cause: 'crash' | 'memory' = 'crash', id = `inc-${workerId}-${cause}`) {
  return incidentEvent('incident:escalated', incidentRecord(id, workerId, T0, { cause, phase: 'escalated' }))
}

function storeFailed(): AnyEvent {
  return {
    type: 'store:failed',
    at: T0,
    severity: 'critical',
    message: 'the store is unreachable',
    pool: null,
    workerId: null,
    incidentId: null,
    data: { problem: 'unreachable', message: 'the store is unreachable', storePath: 'postgres://db/x' },
  }
}

describe('fleetKeyOf', () => {
  it('keys a fleet fact by destination, type, worker and cause, never by node or incident', () => {
    const a = fleetKeyOf(escalated('billing#1', 'crash', 'inc-on-node-a'), DEST)
    const b = fleetKeyOf(escalated('billing#1', 'crash', 'inc-on-node-b'), DEST)
    assert.ok(a !== null)
    assert.equal(a, b, 'the same worker slot escalating for the same cause on two hosts')
    assert.notEqual(fleetKeyOf(escalated('billing#2'), DEST), a, 'another worker: its own message')
    assert.notEqual(fleetKeyOf(escalated('billing#1', 'memory'), DEST), a, 'another cause')
    assert.notEqual(fleetKeyOf(escalated('billing#1'), 'webhook:fedcba9876543210'), a, 'another destination')
    const opened = incidentEvent('incident:opened', incidentRecord('i', 'billing#1', T0))
    assert.notEqual(fleetKeyOf(opened, DEST), a, 'another type')
  })

  it('leaves the host its own facts: the store, quarantines, hook-only events, destinations without a fleet id', () => {
    assert.equal(fleetKeyOf(storeFailed(), DEST), null, 'each agent reports its own store outage')
    const quarantined: AnyEvent = {
      type: 'job:quarantined',
      at: T0,
      severity: 'warning',
      message: 'q',
      pool: 'billing',
      workerId: 'billing#1',
      incidentId: null,
      data: { jobId: 'j1', queue: 'billing', crashes: 3, error: null },
    }
    assert.equal(fleetKeyOf(quarantined, DEST), null)
    const exit: AnyEvent = {
      type: 'worker:exit',
      at: T0,
      severity: 'warning',
      message: 'exit',
      pool: 'billing',
      workerId: 'billing#1',
      incidentId: null,
      data: { pid: 1, exitCode: 1, signal: null, killedByUs: false, forced: false, durationMs: 5 },
    }
    assert.equal(fleetKeyOf(exit, DEST), null)
    assert.equal(fleetKeyOf(escalated('billing#1'), undefined), null, 'a command hook: the host its own')
  })

  it('keys a revival by its worker, and refuses a key too long to be a primary key', () => {
    const revived = (workerId: string): AnyEvent => ({
      type: 'worker:revived',
      at: T0,
      severity: 'warning',
      message: 'running again',
      pool: 'billing',
      workerId,
      incidentId: null,
      data: { afterMs: 1_000, incidentId: null, attempts: 1 },
    })
    assert.equal(fleetKeyOf(revived('billing#1'), DEST), fleetKeyOf(revived('billing#1'), DEST))
    assert.notEqual(fleetKeyOf(revived('billing#1'), DEST), null)
    assert.equal(
      fleetKeyOf(revived(`${'x'.repeat(MAX_FLEET_KEY_CHARS)}#1`), DEST),
      null,
      'sent as the host its own',
    )
  })

  it('names a destination the same on every host without showing its URL', () => {
    const url = 'https://hooks.slack.com/services/T000/B000/SECRET'
    assert.equal(fleetIdOf('slack', url), fleetIdOf('slack', url))
    assert.notEqual(fleetIdOf('slack', url), fleetIdOf('webhook', url))
    assert.notEqual(fleetIdOf('slack', url), fleetIdOf('slack', `${url}2`))
    assert.ok(!fleetIdOf('slack', url).includes('SECRET'))
  })
})

describe('decideFleetClaim', () => {
  const claim = (node: string, now: number): FleetNotificationClaim => ({
    key: 'k',
    node,
    now,
    windowMs: WINDOW,
  })

  it('sends for the first node, suppresses and counts the others within the window', () => {
    const first = decideFleetClaim(undefined, claim('node-a', T0))
    assert.deepEqual(first.decision, { send: true, suppressedBefore: 0, nodes: [] })
    assert.deepEqual(first.row, {
      node: 'node-a',
      sentAt: T0,
      expiresAt: T0 + WINDOW,
      suppressed: 0,
      nodes: [],
    })
    let row: FleetNotificationRow = first.row
    for (const [node, at] of [
      ['node-b', 10],
      ['node-c', 20],
      ['node-b', 30],
    ] as const) {
      const d = decideFleetClaim(row, claim(node, T0 + at))
      assert.deepEqual(d.decision, { send: false, suppressedBefore: 0, nodes: [] })
      row = d.row
    }
    assert.deepEqual(row, { ...first.row, suppressed: 3, nodes: ['node-b', 'node-c'] })
    // The node that sent sends again (one agent alone is never held back), with the count.
    const again = decideFleetClaim(row, claim('node-a', T0 + 40))
    assert.deepEqual(again.decision, { send: true, suppressedBefore: 3, nodes: ['node-b', 'node-c'] })
    assert.equal(again.row.expiresAt, T0 + 40 + WINDOW, 'the window counts from the last message')
  })

  it('lets anyone send once the window has passed, carrying what was suppressed', () => {
    const row: FleetNotificationRow = {
      node: 'node-a',
      sentAt: T0,
      expiresAt: T0 + WINDOW,
      suppressed: 2,
      nodes: ['node-b'],
    }
    assert.equal(decideFleetClaim(row, claim('node-b', T0 + WINDOW - 1)).decision.send, false)
    assert.deepEqual(decideFleetClaim(row, claim('node-b', T0 + WINDOW)).decision, {
      send: true,
      suppressedBefore: 2,
      nodes: ['node-b'],
    })
  })

  it('names at most MAX_NAMED_NODES nodes and counts the rest', () => {
    let row = decideFleetClaim(undefined, claim('node-0', T0)).row
    for (let i = 1; i <= MAX_NAMED_NODES + 5; i++) row = decideFleetClaim(row, claim(`node-${i}`, T0 + i)).row
    assert.equal(row.nodes.length, MAX_NAMED_NODES)
    assert.equal(row.suppressed, MAX_NAMED_NODES + 5)
  })
})

class RecordingNotifier implements Notifier {
  readonly minSeverity = 'info' as const
  readonly calls: { event: AnyEvent; ctx: DeliveryContext }[] = []
  constructor(
    readonly name: string,
    readonly fleetId: string | undefined,
  ) {}
  async deliver(event: AnyEvent, ctx: DeliveryContext): Promise<void> {
    this.calls.push({ event, ctx })
  }
}

/** One claim table, as the store keeps it, shared by the agents of a test. */
function claimTable() {
  const rows = new Map<string, FleetNotificationRow>()
  return async (c: FleetNotificationClaim): Promise<FleetNotificationDecision> => {
    const d = decideFleetClaim(rows.get(c.key), c)
    rows.set(c.key, d.row)
    return d.decision
  }
}

/** Agents, each with its dispatcher and its own notifier posting to the same destination. */
function fleetOf(nodes: string[], claim: DispatcherFleet['claim'] | null, fleetId: string | null = DEST) {
  const clock = new FakeClock(T0)
  const timers = new FakeTimers(clock)
  const agents = nodes.map((node) => {
    const notifier = new RecordingNotifier('slack', fleetId ?? undefined)
    const d = new NotificationDispatcher({
      notifiers: [notifier],
      settings: {
        rate_limit: { max: 5, window: 600_000 },
        dedup_window: WINDOW,
        retries: 0,
        timeout: CLAIM_LIMIT,
      },
      now: () => clock.now(),
      random: seededRandom(1),
      logger: silentLogger(),
      timers,
      drainTimers: timers,
      fleet: claim === null ? undefined : { node, claim },
    })
    return { node, notifier, d }
  })
  return { clock, timers, agents }
}

describe('NotificationDispatcher in a fleet', () => {
  it('sends the same escalation of every host once, and each worker its own', async () => {
    const { agents, timers } = fleetOf(['node-a', 'node-b', 'node-c'], claimTable())
    for (const a of agents) a.d.publish(escalated('billing#1', 'crash', `inc-${a.node}-1`))
    for (const a of agents) a.d.publish(escalated('billing#2', 'crash', `inc-${a.node}-2`))
    await timers.run(0)
    await settle()
    const sent = agents.flatMap((a) => a.notifier.calls.map((c) => `${a.node} ${c.event.workerId}`))
    assert.deepEqual(sent, ['node-a billing#1', 'node-a billing#2'])
    assert.deepEqual(
      agents.map((a) => a.d.stats()[0]!.fleetSuppressed),
      [0, 2, 2],
    )
    assert.deepEqual(agents[0]!.notifier.calls[0]!.ctx.fleet, {
      node: 'node-a',
      suppressedBefore: 0,
      nodes: [],
    })
  })

  it("carries the other nodes' count on the fact's next message", async () => {
    const { agents, timers, clock } = fleetOf(['node-a', 'node-b', 'node-c'], claimTable())
    for (const a of agents) a.d.publish(escalated('billing#1', 'crash', `inc-${a.node}-1`))
    await timers.run(0)
    clock.advance(WINDOW)
    agents[1]!.d.publish(escalated('billing#1', 'crash', 'inc-node-b-2'))
    await timers.run(0)
    await settle()
    const next = agents[1]!.notifier.calls[0]
    assert.deepEqual(next?.ctx.fleet, { node: 'node-b', suppressedBefore: 2, nodes: ['node-b', 'node-c'] })
  })

  it('without a fleet (SQLite, one agent) or a fleet id (a command hook), every host sends', async () => {
    for (const f of [
      fleetOf(['node-a', 'node-b'], null),
      fleetOf(['node-a', 'node-b'], claimTable(), null),
    ]) {
      for (const a of f.agents) a.d.publish(escalated('billing#1', 'crash', `inc-${a.node}`))
      await f.timers.run(0)
      await settle()
      assert.deepEqual(
        f.agents.map((a) => [a.notifier.calls.length, a.notifier.calls[0]?.ctx.fleet]),
        [
          [1, undefined],
          [1, undefined],
        ],
      )
    }
  })

  it('never claims a store outage: each agent reports its own', async () => {
    let claims = 0
    const table = claimTable()
    const { agents, timers } = fleetOf(['node-a', 'node-b'], (c) => {
      claims++
      return table(c)
    })
    for (const a of agents) a.d.publish(storeFailed())
    await timers.run(0)
    await settle()
    assert.equal(claims, 0)
    assert.deepEqual(
      agents.map((a) => a.notifier.calls.length),
      [1, 1],
    )
  })

  it('sends when the claim fails, and when the store does not answer within the time limit of a delivery, in order', async () => {
    const failing = fleetOf(['node-a'], () => Promise.reject(new Error('connection refused')))
    failing.agents[0]!.d.publish(escalated('billing#1'))
    await failing.timers.run(0)
    await settle()
    assert.equal(failing.agents[0]!.notifier.calls.length, 1)
    assert.equal(failing.agents[0]!.notifier.calls[0]!.ctx.fleet, undefined, 'sent as the host its own')

    const hanging = fleetOf(['node-a'], () => new Promise(() => undefined))
    const { d, notifier } = hanging.agents[0]!
    d.publish(escalated('billing#1'))
    d.publish(storeFailed())
    await hanging.timers.run(CLAIM_LIMIT - 1)
    assert.equal(notifier.calls.length, 0, 'the lane waits for the claim, and keeps its order')
    await hanging.timers.run(1)
    await settle()
    assert.deepEqual(
      notifier.calls.map((c) => c.event.type),
      ['incident:escalated', 'store:failed'],
    )
  })

  it('a claim that throws at once sends too', async () => {
    const { agents, timers } = fleetOf(['node-a'], () => {
      throw new Error('store closed')
    })
    agents[0]!.d.publish(escalated('billing#1'))
    await timers.run(0)
    await settle()
    assert.equal(agents[0]!.notifier.calls.length, 1)
  })
})

describe('what a fleet-wide message says', () => {
  const fleet = { node: 'node-a', suppressedBefore: 3, nodes: ['node-b', 'node-c'] }

  it('Slack: the other nodes whose same message was not sent, in English and Japanese', () => {
    const event = escalated('billing#1')
    const en = formatSlackMessage(event, { suppressedBefore: 0, fleet, configFile: '/etc/shepherd.yaml' })
    assert.match(
      en.text,
      /Sent once for the fleet by node-a: 3 messages of the same from other nodes \(node-b, node-c\) not sent since the last one \(dedup_window\)\./,
    )
    assert.ok(JSON.stringify(en.blocks).includes('Sent once for the fleet'), 'in the blocks too')
    const ja = formatSlackMessage(event, { suppressedBefore: 0, fleet, configFile: '/x.yaml', locale: 'ja' })
    assert.match(
      ja.text,
      /node-a がフリート全体で 1 回だけ送信しています。.*（node-b、node-c）からの同じメッセージ 3 件/,
    )
    const quiet = formatSlackMessage(event, {
      suppressedBefore: 0,
      fleet: { ...fleet, suppressedBefore: 0, nodes: [] },
      configFile: '/x.yaml',
    })
    assert.match(
      quiet.text,
      /Sent once for the fleet by node-a: the same message from other nodes within dedup_window is not sent\./,
      'the first message of a fact says it stands for the fleet',
    )
    const own = formatSlackMessage(event, { suppressedBefore: 0, configFile: '/x.yaml' })
    assert.ok(!own.text.includes('fleet'), "a host's own message says nothing of the fleet")
  })

  it('webhook: a `fleet` field, only on a fleet-wide message', () => {
    const event = escalated('billing#1')
    assert.deepEqual(webhookPayload(event, { suppressedBefore: 1, fleet }), {
      event,
      suppressedBefore: 1,
      fleet,
      source: 'shepherd',
    })
    assert.ok(!('fleet' in webhookPayload(event, { suppressedBefore: 0 })))
  })
})
