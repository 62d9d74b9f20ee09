/**
 * The write-behind keeps what the store did not take (a full disk) and writes it once the store
 * takes writes again, the latest version of each incident winning; what it keeps is bounded (the
 * oldest events and incidents past the bounds dropped and counted, a process's start and end
 * cancelling out).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { ShepherdError } from '../../src/errors.js'
import { FakeClock } from '../../src/ports/clock.js'
import type { Store, StoreBatch } from '../../src/ports/store.js'
import { MAX_KEPT_EVENTS, MAX_KEPT_INCIDENTS, WriteBehind } from '../../src/store/write-behind.js'
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

  it('keeps at most MAX_KEPT_EVENTS events and MAX_KEPT_INCIDENTS incidents, the newest, and counts the drops', async () => {
    const { store, taken } = flakyStore(1)
    const errors: string[] = []
    const writer = new WriteBehind(store, (_e, detail) => errors.push(detail))
    const extraEvents = 50
    const extraIncidents = 7
    for (let i = 0; i < MAX_KEPT_EVENTS + extraEvents; i++)
      writer.appendEvent(exitEvent(T0 + i, 'email#1', 100))
    for (let i = 0; i < MAX_KEPT_INCIDENTS + extraIncidents; i++) {
      writer.saveIncident(incident({ id: `inc-${i}`, at: T0 + i, until: 'recovered' }))
    }
    // A process that started and ended during the outage, and one that is still running.
    const record = (pid: number) => ({
      pid,
      startTicks: pid * 10,
      pool: 'email',
      workerId: 'email#1',
      spawnedAt: T0,
    })
    writer.processStarted(record(1))
    writer.processStarted(record(2))
    writer.processEnded(1, 10)
    writer.processEnded(3, 30)
    await writer.flush()
    assert.deepEqual(writer.dropped, { events: extraEvents, incidents: extraIncidents })
    assert.match(
      errors[0]!,
      /dropping the oldest from now on \(at most 10000 events and 1000 incidents are kept\)/,
    )
    await waitFor(() => taken.length === 1, 'the kept batch to be written')
    const batch = taken[0]!
    assert.equal(batch.events!.length, MAX_KEPT_EVENTS)
    assert.equal(batch.events![0]!.at, T0 + extraEvents, 'the oldest events were dropped')
    assert.equal(batch.incidents!.length, MAX_KEPT_INCIDENTS)
    assert.equal(batch.incidents![0]!.id, `inc-${extraIncidents}`, 'the oldest incidents were dropped')
    assert.deepEqual(
      batch.processesStarted!.map((p) => p.pid),
      [2],
      'a start and its end cancel out',
    )
    assert.deepEqual(
      batch.processesEnded!.map((p) => p.pid),
      [3],
    )
    await writer.close()
  })
})
