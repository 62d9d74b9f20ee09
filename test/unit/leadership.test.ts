/**
 * The fleet's leadership: the core's decision (src/core/leadership.ts), and the agent's election
 * and chores (src/store/leader-election.ts, fleet-chores.ts) under fake time against a store in
 * memory shared by several agents.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { AnyEvent } from '../../src/core/events.js'
import { decideLeadership, leadsNow } from '../../src/core/leadership.js'
import type { Logger } from '../../src/logger.js'
import { FakeClock } from '../../src/ports/clock.js'
import { FleetChores } from '../../src/store/fleet-chores.js'
import { LeaderElection } from '../../src/store/leader-election.js'
import { FakeTimers, settle } from '../helpers/fake-timers.js'
import { MemoryStore } from '../helpers/fakes.js'

const T0 = 1_700_000_000_000
const TTL = 3_000
const a = { owner: 'run-a', node: 'a' }
const b = { owner: 'run-b', node: 'b' }
const quiet = { warn: () => undefined, debug: () => undefined } as unknown as Logger

describe('decideLeadership', () => {
  it('takes a free leadership at epoch 1, renews its own, and follows another live one', () => {
    const took = decideLeadership(null, a, T0, TTL)
    assert.deepEqual(took, {
      kind: 'take',
      leader: { ...a, epoch: 1, acquiredAt: T0, expiresAt: T0 + TTL },
      previous: null,
    })
    const renewed = decideLeadership(took.leader, a, T0 + 1_000, TTL)
    assert.deepEqual(renewed, { kind: 'renew', leader: { ...took.leader, expiresAt: T0 + 1_000 + TTL } })
    assert.deepEqual(decideLeadership(renewed.leader, b, T0 + 3_999, TTL), {
      kind: 'follow',
      leader: renewed.leader,
    })
  })

  it('gives an expired leadership to whoever asks first, its own late leader included, as a new reign', () => {
    const held = { ...a, epoch: 4, acquiredAt: T0, expiresAt: T0 + TTL }
    const byB = decideLeadership(held, b, T0 + TTL, TTL)
    assert.equal(byB.kind, 'take')
    assert.equal(byB.leader.epoch, 5)
    const byA = decideLeadership(held, a, T0 + TTL, TTL)
    assert.equal(byA.kind, 'take', 'its own, once expired, is taken anew')
    assert.equal(byA.leader.epoch, 5)
  })

  it('leads only while the last answered claim made it leader and was sent within ttl − margin', () => {
    const take = decideLeadership(null, a, T0, TTL)
    assert.equal(leadsNow({ decision: take, sentAt: T0 }, T0 + 1_999, TTL, 1_000), true)
    assert.equal(leadsNow({ decision: take, sentAt: T0 }, T0 + 2_000, TTL, 1_000), false)
    const follow = decideLeadership(take.leader, b, T0, TTL)
    assert.equal(leadsNow({ decision: follow, sentAt: T0 }, T0, TTL, 1_000), false)
    assert.equal(leadsNow(null, T0, TTL, 1_000), false)
  })
})

/** Agents sharing one store in memory, each with its election and a chore that counts its runs. */
function fleet(names: string[]) {
  const clock = new FakeClock(T0)
  const timers = new FakeTimers(clock)
  const store = new MemoryStore([])
  const events: AnyEvent[] = []
  const runs: Array<{ node: string; at: number }> = []
  const agents = names.map((node) => {
    // The agent's timers: a dead agent's never fire again (a SIGKILL: no resignation, no renewal).
    const life = { dead: false }
    const own = {
      set: (fn: () => void, ms: number) => timers.set(() => void (life.dead || fn()), ms),
      clear: (h: unknown) => timers.clear(h),
    }
    const record = (e: AnyEvent): void => void events.push({ ...e, message: `${node}: ${e.message}` })
    const election = new LeaderElection({
      store,
      candidate: { owner: `run-${node}`, node },
      ttlMs: TTL,
      now: () => clock.now(),
      timers: own,
      record,
      logger: quiet,
    })
    const chores = new FleetChores({
      leading: () => election.checkStanding(),
      now: () => clock.now(),
      timers: own,
      logger: quiet,
      lookEveryMs: election.everyMs,
      chores: [{ name: 'prune', everyMs: 60_000, run: async (at) => void runs.push({ node, at }) }],
    })
    return { node, election, chores, kill: () => void (life.dead = true) }
  })
  return { clock, timers, store, events, runs, agents }
}

describe('leader election and fleet chores, under fake time', () => {
  it('one agent of three leads and runs the chores; killed, another runs them within the lease and a renewal', async () => {
    const f = fleet(['a', 'b', 'c'])
    for (const x of f.agents) {
      await x.election.start()
      x.chores.start()
    }
    await f.timers.run(10)
    assert.deepEqual(
      f.agents.map((x) => x.election.leading),
      [true, false, false],
    )
    assert.deepEqual(f.runs, [{ node: 'a', at: T0 }], 'the chore ran once, on the leader')
    await f.timers.run(120_000)
    assert.deepEqual(
      f.runs.map((r) => r.node),
      ['a', 'a', 'a'],
      'every 60 s, on the leader alone',
    )

    // The leader dies: nothing of it runs any more (its timers are gone with it).
    const killedAt = f.clock.now()
    f.agents[0]!.kill()
    await f.timers.run(5_000)
    const next = f.runs.at(-1)!
    assert.notEqual(next.node, 'a')
    assert.ok(
      next.at - killedAt <= TTL + 1_000 + 10,
      `chores ran ${next.at - killedAt} ms after the leader's death`,
    )
    const elected = f.events.filter((e) => e.type === 'leader:elected').map((e) => e.message.split(':')[0])
    assert.deepEqual(elected, ['a', next.node])
  })

  it('a clean stop resigns, and the next agent leads at its next claim', async () => {
    const f = fleet(['a', 'b'])
    for (const x of f.agents) {
      await x.election.start()
      x.chores.start()
    }
    await f.timers.run(10)
    const stoppedAt = f.clock.now()
    await f.agents[0]!.chores.stop()
    await f.agents[0]!.election.stop()
    await f.timers.run(2_000)
    assert.equal(f.agents[1]!.election.leading, true)
    assert.ok(f.runs.at(-1)!.node === 'b' && f.runs.at(-1)!.at - stoppedAt <= f.agents[1]!.election.everyMs)
    assert.deepEqual(
      f.events.map((e) => [e.type, e.severity]),
      [
        ['leader:elected', 'info'],
        ['leader:lost', 'info'],
        ['leader:elected', 'info'],
      ],
    )
  })

  it('a leader whose store stops answering stops leading before its lease ends, and says so', async () => {
    const f = fleet(['a'])
    const [x] = f.agents
    await x!.election.start()
    await settle()
    assert.equal(x!.election.leading, true)
    f.store.claimLeadership = async () => {
      throw new Error('store unreachable')
    }
    await f.timers.run(TTL - x!.election.everyMs)
    assert.equal(x!.election.leading, false, 'stopped at ttl − margin, before the lease ends')
    const lost = f.events.find((e) => e.type === 'leader:lost')
    assert.equal(lost?.severity, 'warning')
    assert.match(lost!.message, /lease may have lapsed/)
  })

  it('reading whether it leads records nothing; checking its standing records a lapse once', async () => {
    const f = fleet(['a'])
    const [x] = f.agents
    await x!.election.start()
    await settle()
    // Its renewals hang: no answer, no failure, so only a look at the clock tells the lapse.
    f.store.claimLeadership = () => new Promise(() => undefined)
    await f.timers.run(TTL)
    assert.equal(x!.election.leading, false)
    assert.equal(x!.election.leading, false)
    const lost = () => f.events.filter((e) => e.type === 'leader:lost')
    assert.deepEqual(lost(), [], 'a read is only a read')
    assert.equal(x!.election.checkStanding(), false)
    assert.equal(x!.election.checkStanding(), false)
    assert.deepEqual(
      lost().map((e) => e.data),
      [{ leader: x!.election.leader, reason: 'lapsed', now: null }],
    )
  })
})
