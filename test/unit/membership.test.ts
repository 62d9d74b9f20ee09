/** Membership of a fleet (src/core/membership.ts): an agent's standing from its renewals. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { AnyEvent } from '../../src/core/events.js'
import { standing } from '../../src/core/membership.js'
import type { Logger } from '../../src/logger.js'
import { FakeClock } from '../../src/ports/clock.js'
import { FleetMembership } from '../../src/store/fleet-membership.js'
import { takeOwnership } from '../../src/store/ownership.js'
import { FakeTimers, settle } from '../helpers/fake-timers.js'
import { MemoryStore } from '../helpers/fakes.js'

const T0 = 1_700_000_000_000
const TTL = 10_000
const MARGIN = 3_000

describe('standing', () => {
  const cases: Array<[string, number | null, number, string]> = [
    ['no renewal yet', null, 0, 'lapsed'],
    ['just renewed', 1_000, 1_000, 'member'],
    ['up to ttl − margin', 1_000, 7_999, 'member'],
    ['from ttl − margin', 1_000, 8_000, 'unsure'],
    ['until ttl', 1_000, 10_999, 'unsure'],
    ['from ttl on', 1_000, 11_000, 'lapsed'],
    ['long after', 1_000, 1_000_000, 'lapsed'],
  ]
  for (const [what, sent, now, want] of cases) {
    it(`${what}: ${want}`, () => assert.equal(standing(sent, now, TTL, MARGIN), want))
  }

  it('counts from the send, so the agent stops no later than the store expires its lease', () => {
    // Sent at 1,000; the store received it at 1,400 and set its expiry to 11,400.
    const storeExpiry = 1_400 + TTL
    for (let now = 1_000; now < 20_000; now += 100) {
      if (now >= storeExpiry) assert.equal(standing(1_000, now, TTL, 0), 'lapsed', `at ${now}`)
    }
    // Counted from the receipt, it would still be a member here; counted from the send it has stopped.
    assert.equal(standing(1_000, storeExpiry - 1, TTL, 0), 'lapsed')
  })

  it('clamps the margin to the lease', () => {
    assert.equal(standing(0, 0, TTL, 50_000), 'unsure')
    assert.equal(standing(0, 9_999, TTL, -5), 'member')
  })
})

/** One agent's membership on a store in memory whose link the test cuts (renewals fail or hang). */
/**
 * How renewals sent while the link is down end: refused at once, never answered, or answered once
 * it is back (the TCP stream resumed), each with the time it was sent, those younger than a lease.
 */
type Outage = 'fail' | 'hang' | 'late'

async function agent(outage: Outage = 'fail') {
  const clock = new FakeClock(T0)
  const timers = new FakeTimers(clock)
  const store = new MemoryStore([])
  const link = { up: true }
  const renew = store.renewOwnership.bind(store)
  const late: Array<() => void> = []
  /** What the store answered to the renewals held up, once the link was back. */
  const answeredLate: string[] = []
  const renewLate = async (owner: string, now: number, ttl: number) => {
    const answer = await renew(owner, now, ttl)
    answeredLate.push(answer)
    return answer
  }
  store.renewOwnership = (owner, now, ttl) => {
    if (link.up) return renew(owner, now, ttl)
    if (outage === 'fail') return Promise.reject(new Error('ECONNREFUSED'))
    return new Promise((resolve) => {
      // One older than the lease never reaches the store: the adapter gave up on it (query_timeout)
      // and closed its connection.
      if (outage === 'late')
        late.push(() => void (clock.now() - now < ttl && resolve(renewLate(owner, now, ttl))))
    })
  }
  /** The link is back: renewals held up answer now, in the order they were sent. */
  const restore = (): void => {
    link.up = true
    for (const answer of late.splice(0)) answer()
  }
  const ownership = await takeOwnership(store, 'memory', T0, 'a', LEASE)
  const events: AnyEvent[] = []
  const adopted: Array<readonly string[]> = []
  const membership = new FleetMembership({
    ownership,
    jobs: {
      adopt: async (tokens) => {
        adopted.push(tokens)
        return { kept: 1, released: 2 }
      },
    },
    held: () => ['j1:1'],
    excuse: () => undefined,
    node: 'a',
    ttlMs: LEASE,
    joinedAt: T0,
    now: () => clock.now(),
    timers,
    record: (e) => void events.push(e),
    logger: { debug: () => undefined } as unknown as Logger,
  })
  membership.start()
  /** Moves time on in steps of 100 ms, letting the renewals' promises settle between them. */
  const pass = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 100) {
      timers.advance(100)
      await settle()
    }
  }
  return { clock, store, link, restore, membership, events, adopted, answeredLate, pass }
}

/** It rejoined, once, with a new epoch, keeping what its workers hold, and said so once. */
async function rejoinedOnce(a: Awaited<ReturnType<typeof agent>>): Promise<void> {
  assert.equal(a.membership.mayClaim(), true, 'it rejoined')
  assert.equal((await a.store.readOwnership())?.epoch, 2, 'with a new epoch')
  assert.deepEqual(a.adopted, [['j1:1']], 'keeping what its workers hold')
  assert.deepEqual(
    a.events.slice(1).map((e) => [e.type, e.data]),
    [['node:rejoined', { node: 'a', epoch: 2, previousEpoch: 1, kept: 1, released: 2 }]],
  )
  await a.pass(10_000)
  assert.equal((await a.store.readOwnership())?.epoch, 2, 'once')
  assert.equal(a.events.length, 2, 'nothing more to tell')
}

const LEASE = 3_000

describe('FleetMembership, under fake time', () => {
  for (const outage of ['fail', 'hang', 'late'] as const) {
    it(`stops claiming once a renewal is overdue, tells a lapse once, and rejoins once with a new epoch (renewals ${outage})`, async () => {
      const a = await agent(outage)
      await a.pass(10_000)
      assert.equal(a.membership.mayClaim(), true, 'renewed every second, it claims')
      assert.equal(a.events.length, 0)
      a.link.up = false
      const cut = a.clock.now()
      await a.pass(900)
      assert.equal(a.membership.mayClaim(), true, 'its last renewal is recent')
      await a.pass(1_200)
      assert.equal(a.membership.standing, 'unsure')
      assert.equal(a.membership.mayClaim(), false, 'a renewal is overdue: it claims nothing more')
      await a.pass(5_000)
      assert.equal(a.membership.standing, 'lapsed')
      assert.deepEqual(
        a.events.map((e) => [e.type, e.data]),
        [['node:lapsed', { node: 'a', epoch: 1, held: 1 }]],
      )
      const lapsedAt = a.events[0]!.at
      assert.ok(lapsedAt - cut <= LEASE + 100, `told within the lease of the cut (${lapsedAt - cut} ms)`)
      a.restore()
      // A hung renewal is never answered: the next ones go out all the same. Renewals answered
      // late, each finding the lapse, rejoin once, and none moves the new lease back.
      await a.pass(1_100)
      await rejoinedOnce(a)
    })
  }

  it('rejoins after a cut of between one and two leases, though the renewals held up in the link renew the old lease', async () => {
    const a = await agent('late')
    await a.pass(10_000)
    a.link.up = false
    // A lease and a half: the renewals sent in the second half of the cut are younger than a lease
    // when the link is back, and each finds the lease live by its send time: the store takes them
    // in order and the old epoch's lease runs on. The leader may have reclaimed its jobs meanwhile.
    await a.pass(LEASE + LEASE / 2)
    assert.deepEqual(
      a.events.map((e) => e.type),
      ['node:lapsed'],
    )
    a.restore()
    await a.pass(100)
    assert.ok(a.answeredLate.includes('renewed'), `the old lease renewed late (${a.answeredLate.join(', ')})`)
    await rejoinedOnce(a)
  })
})
