/**
 * The advice a supervisor logs at start on PostgreSQL when nothing cleans up after the store
 * (src/adapters/postgres/vacuum-advice.ts): one sentence per problem, naming the store, the
 * setting and the statement that fixes it; none when autovacuum runs.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { vacuumAdvice } from '../../src/adapters/postgres/vacuum-advice.js'

const STORE = 'postgres://shepherd:***@db:5432/shepherd'
const ALL_WELL = { autovacuum: true, trackCounts: true, tablesOff: [], schema: 'fleet' }

describe('vacuumAdvice', () => {
  it('says nothing when the server and every table vacuum themselves', () => {
    assert.deepEqual(vacuumAdvice(STORE, ALL_WELL), [])
  })

  it("names the server's autovacuum, what it costs and how to turn it on", () => {
    const [advice, ...rest] = vacuumAdvice(STORE, { ...ALL_WELL, autovacuum: false })
    assert.deepEqual(rest, [])
    assert.match(
      advice!,
      /^PostgreSQL's autovacuum is off on the server of the store postgres:\/\/shepherd:\*\*\*@db/,
    )
    assert.match(advice!, /dead row version in `jobs`/)
    assert.match(advice!, /ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf\(\)/)
    assert.match(advice!, /VACUUM \(ANALYZE\)/)
  })

  it('names track_counts when autovacuum is on but cannot start, and not when autovacuum is off anyway', () => {
    const [advice] = vacuumAdvice(STORE, { ...ALL_WELL, trackCounts: false })
    assert.match(advice!, /track_counts is off .* so autovacuum never starts/)
    assert.match(advice!, /ALTER SYSTEM SET track_counts = on/)
    const both = vacuumAdvice(STORE, { ...ALL_WELL, autovacuum: false, trackCounts: false })
    assert.equal(both.length, 1)
    assert.match(both[0]!, /autovacuum is off on the server/)
  })

  it('names the tables whose own autovacuum is off, with the statements that turn it back on, in their schema', () => {
    const [advice] = vacuumAdvice(STORE, { ...ALL_WELL, tablesOff: ['events', 'jobs'] })
    assert.match(advice!, /^Autovacuum is off for `events`, `jobs` in the store postgres:/)
    assert.match(advice!, /dead row version in `jobs`/, 'the cost is said where `jobs` is one of them')
    assert.match(
      advice!,
      /ALTER TABLE fleet\.events RESET \(autovacuum_enabled\); ALTER TABLE fleet\.jobs RESET \(autovacuum_enabled\);$/,
    )
    const [events] = vacuumAdvice(STORE, { ...ALL_WELL, tablesOff: ['events'] })
    assert.doesNotMatch(events!, /dead row version/)
  })

  it('gives the server and the tables one sentence each', () => {
    const advice = vacuumAdvice(STORE, { ...ALL_WELL, autovacuum: false, tablesOff: ['jobs'] })
    assert.equal(advice.length, 2)
  })
})
