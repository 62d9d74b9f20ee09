/** Membership of a fleet (src/core/membership.ts): an agent's standing from its renewals. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { standing } from '../../src/core/membership.js'

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
