/**
 * The write-behind keeps what the store did not take (a full disk) and writes it once the store
 * takes writes again, the latest version of each incident winning; it never drops a batch.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { ShepherdError } from '../../src/errors.js'
import { FakeClock } from '../../src/ports/clock.js'
import type { Store, StoreBatch } from '../../src/ports/store.js'
import { WriteBehind } from '../../src/store/write-behind.js'
import { exitEvent, incident, T0 } from '../contract/store.contract.js'
import { FakeTimers } from '../helpers/fake-timers.js'
import { MemoryStore } from '../helpers/fakes.js'
import { waitFor } from '../helpers/wait.js'

/** A store whose first `failures` batches fail with SHEPHERD_STORE_FULL; it records the ones it takes. */
function flakyStore(failures: number): { store: Store; taken: StoreBatch[]; tried: () => number } {
  const store = new MemoryStore([])
  const taken: StoreBatch[] = []
  let tried = 0
  store.writeBatch = async (batch) => {
    tried++
    if (tried <= failures) throw new ShepherdError('SHEPHERD_STORE_FULL', 'the disk is full')
    taken.push(batch)
    return (batch.events ?? []).map((_, i) => i + 1)
  }
  return { store, taken, tried: () => tried }
}

describe('WriteBehind', () => {
  it('keeps a batch the store did not take and writes it later, the newest incident version winning', async () => {
    const { store, taken, tried } = flakyStore(2)
    const errors: string[] = []
    const writer = new WriteBehind(store, (_e, detail) => errors.push(detail))
    const v1 = incident({ id: 'inc-1', at: T0, until: 'verifying' })
    const v2 = incident({ id: 'inc-1', at: T0, until: 'recovered' })
    writer.saveIncident(v1)
    writer.appendEvent(exitEvent(T0, 'email#1', 100))
    await writer.flush()
    assert.equal(tried(), 1)
    assert.equal(taken.length, 0)
    writer.saveIncident(v2)
    writer.appendEvent(exitEvent(T0 + 1, 'email#1', 101))
    await waitFor(() => taken.length === 1, 'the kept batch to be written')
    assert.equal(tried(), 3, 'retried until the store took it')
    assert.deepEqual(taken[0]!.incidents, [v2])
    assert.deepEqual(
      taken[0]!.events!.map((e) => e.at),
      [T0, T0 + 1],
      'events in order, none lost',
    )
    assert.equal(errors.length, 1, 'one report for the run of failures')
    assert.match(errors[0]!, /kept 1 incidents, 0 worker states and 1 events, retrying/)
    await writer.close()
  })

  it('retries nothing after close', async () => {
    const { store, tried } = flakyStore(100)
    const writer = new WriteBehind(store, () => undefined)
    writer.appendEvent(exitEvent(T0, 'email#1', 100))
    await writer.close()
    const after = tried()
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(tried(), after)
  })

  it('under fake time: one batch a turn, and retries after 100, 200, 400 ms while the store refuses', async () => {
    const { store, taken, tried } = flakyStore(3)
    const timers = new FakeTimers(new FakeClock(T0))
    const writer = new WriteBehind(store, () => undefined, timers)
    writer.appendEvent(exitEvent(T0, 'email#1', 100))
    writer.appendEvent(exitEvent(T0, 'email#2', 101))
    assert.equal(tried(), 0, 'nothing within the turn')
    await timers.run(0)
    assert.equal(tried(), 1, 'both in one batch')
    for (const [wait, attempts] of [
      [99, 1],
      [1, 2],
      [199, 2],
      [1, 3],
      [399, 3],
      [1, 4],
    ] as const) {
      await timers.run(wait)
      assert.equal(tried(), attempts)
    }
    assert.equal(taken.length, 1)
    assert.equal(taken[0]!.events!.length, 2)
    assert.equal(timers.size, 0, 'no retry left once written')
    await writer.close()
  })
})
