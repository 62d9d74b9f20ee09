import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  HEALTHY_STORE,
  noteStoreWrite,
  type StoreHealth,
  type StoreWriteOutcome,
} from '../../src/core/store-health.js'

const QUIET = 2_000
const ok: StoreWriteOutcome = { ok: true }
const full: StoreWriteOutcome = { ok: false, problem: 'full', message: 'disk full' }
const gone: StoreWriteOutcome = { ok: false, problem: 'gone', message: 'deleted' }

/** Feeds writes at the given times; returns the changes announced, and the health at the end. */
function run(writes: Array<[number, StoreWriteOutcome]>): { changes: string[]; health: StoreHealth } {
  let health = HEALTHY_STORE
  const changes: string[] = []
  for (const [at, w] of writes) {
    const r = noteStoreWrite(health, w, at, QUIET)
    health = r.health
    if (r.change) changes.push(`${r.change.kind}:${r.change.problem}@${at}`)
  }
  return { changes, health }
}

describe('noteStoreWrite', () => {
  it('says nothing while writes work', () => {
    assert.deepEqual(
      run([
        [0, ok],
        [1, ok],
      ]).changes,
      [],
    )
  })

  it('announces one failure per outage and one recovery once writes worked with none failing for quietMs', () => {
    const { changes, health } = run([
      [1_000, full],
      [1_100, full],
      [1_200, ok], // a small commit fits on a nearly full disk: not over yet
      [1_300, full],
      [3_200, ok], // 1.9 s after the last failure
      [3_300, ok], // 2 s after: recovered
      [3_400, ok],
    ])
    assert.deepEqual(changes, ['failed:full@1000', 'recovered:full@3300'])
    assert.deepEqual(health, HEALTHY_STORE)
  })

  it('counts refused writes and how long the outage lasted', () => {
    let h = HEALTHY_STORE
    for (const at of [0, 10, 20]) h = noteStoreWrite(h, full, at, QUIET).health
    const { change } = noteStoreWrite(h, ok, 5_000, QUIET)
    assert.deepEqual(change, { kind: 'recovered', problem: 'full', downMs: 5_000, refused: 3 })
  })

  it('announces a fence (deleted store) even during another outage, and never a recovery from it', () => {
    const { changes, health } = run([
      [0, full],
      [10, gone],
      [20, gone],
      [10_000, ok],
    ])
    assert.deepEqual(changes, ['failed:full@0', 'failed:gone@10'])
    assert.equal(health.problem, 'gone')
    assert.equal(health.refused, 3)
  })
})
