/**
 * The store monitor turns the outcome of the store's writes into one `store:failed` per outage and
 * one `store:recovered`, which says how many events and incidents the outage cost past the bound
 * the write-behind keeps in memory.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { AnyEvent } from '../../src/core/events.js'
import type { Logger } from '../../src/logger.js'
import type { StoreWrite } from '../../src/ports/store.js'
import { RECOVERY_QUIET_MS, StoreMonitor } from '../../src/store/store-monitor.js'
import { MemoryStore } from '../helpers/fakes.js'

const T0 = 1_700_000_000_000

describe('StoreMonitor', () => {
  it('says in store:recovered how many events and incidents were dropped during that outage only', async () => {
    const store = new MemoryStore([])
    let tell: (w: StoreWrite) => void = () => undefined
    Object.assign(store, {
      onWrite: (l: (w: StoreWrite) => void) => {
        tell = l
        return () => undefined
      },
    })
    let now = T0
    const dropped = { events: 3, incidents: 0 }
    const events: AnyEvent[] = []
    const monitor = new StoreMonitor({
      store,
      storePath: 'postgres://db/shepherd',
      now: () => now,
      record: (e) => events.push(e),
      logger: {} as Logger,
      heartbeat: async () => true,
      heartbeatEveryMs: 10_000,
      dropped: () => ({ ...dropped }),
    })
    monitor.start()
    const settle = () => new Promise((r) => setImmediate(r))
    tell({ ok: false, problem: 'unreachable', message: 'the database server cannot be reached' })
    await settle()
    assert.equal(monitor.health.problem, 'unreachable')
    // Dropped before the outage (3 events) are not this outage's.
    dropped.events += 40
    dropped.incidents += 2
    now += RECOVERY_QUIET_MS + 1
    tell({ ok: true })
    await settle()
    const recovered = events.find((e) => e.type === 'store:recovered')
    assert.ok(recovered && recovered.type === 'store:recovered')
    assert.deepEqual(recovered.data.dropped, { events: 40, incidents: 2 })
    assert.match(recovered.message, /40 events and 2 incidents dropped/)
    monitor.stop()
  })
})
