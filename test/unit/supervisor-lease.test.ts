import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  decideLease,
  describeHolder,
  holderLiveness,
  type LeaseClaim,
  type LeaseDecision,
  type SupervisorLease,
} from '../../src/core/supervisor-lease.js'

const T0 = 1_700_000_000_000
const TTL = 30_000
const me: LeaseClaim = { owner: 'me', node: 'web-1', host: 'web-1', pid: 200, startTicks: 9, apiUrl: null }
/** The claim as a lease carries it: the node is the key of the lease, not a field of it. */
function asLease(): Omit<LeaseClaim, 'node'> {
  const { node: _node, ...rest } = me
  return rest
}
const held: SupervisorLease = {
  owner: 'other',
  host: 'web-1',
  pid: 100,
  startTicks: 5,
  apiUrl: 'http://127.0.0.1:7717',
  acquiredAt: T0 - 60_000,
  heartbeatAt: T0 - 5_000,
  expiresAt: T0 + 25_000,
  epoch: 4,
}

describe('decideLease', () => {
  it('takes a store nobody owns, with a lease of ttl', () => {
    assert.deepEqual(decideLease(null, me, T0, 'unknown', TTL), {
      kind: 'take',
      lease: { ...asLease(), acquiredAt: T0, heartbeatAt: T0, expiresAt: T0 + TTL, epoch: 1 },
    })
  })

  it('renews its own lease, keeping when it was acquired and taking the new API address', () => {
    const mine = { ...held, ...me }
    const d = decideLease(mine, { ...me, apiUrl: 'http://x' }, T0, 'alive', TTL)
    assert.deepEqual(d, {
      kind: 'renew',
      lease: {
        ...asLease(),
        apiUrl: 'http://x',
        acquiredAt: held.acquiredAt,
        heartbeatAt: T0,
        expiresAt: T0 + TTL,
        epoch: held.epoch,
      },
    })
  })

  it('refuses while the holder runs, even past its expiry', () => {
    assert.deepEqual(decideLease(held, me, T0, 'alive', TTL), { kind: 'refuse', holder: held })
    assert.equal(decideLease(held, me, held.expiresAt + 1, 'alive', TTL).kind, 'refuse')
  })

  it('takes over at once from a holder that is gone, saying so', () => {
    const d = decideLease(held, me, T0, 'dead', TTL)
    assert.equal(d.kind, 'take-over')
    assert.deepEqual(d.kind === 'take-over' && [d.previous, d.reason, d.lease.acquiredAt], [held, 'dead', T0])
  })

  it('waits for the expiry of a holder it cannot see, then takes over', () => {
    assert.equal(decideLease(held, me, held.expiresAt - 1, 'unknown', TTL).kind, 'refuse')
    const d = decideLease(held, me, held.expiresAt, 'unknown', TTL)
    assert.deepEqual(d.kind === 'take-over' && d.reason, 'expired')
  })
})

/** The epoch of the lease a decision gives, or null when it refuses. */
function epochOf(d: LeaseDecision): number | null {
  return d.kind === 'refuse' ? null : d.lease.epoch
}

describe('lease epochs', () => {
  it('gives a first take epoch 1, and a take after a release one more than the node had', () => {
    assert.equal(epochOf(decideLease(null, me, T0, 'unknown', TTL)), 1)
    assert.equal(epochOf(decideLease(null, me, T0, 'unknown', TTL, 7)), 8)
  })

  it('keeps the epoch on a renew', () => {
    const mine = { ...held, owner: me.owner }
    assert.equal(epochOf(decideLease(mine, me, T0, 'alive', TTL)), held.epoch)
  })

  it('raises the epoch on a take-over, dead or expired, past the last one the node had', () => {
    assert.equal(epochOf(decideLease(held, me, T0, 'dead', TTL)), held.epoch + 1)
    assert.equal(epochOf(decideLease(held, me, held.expiresAt, 'unknown', TTL)), held.epoch + 1)
    assert.equal(epochOf(decideLease(held, me, T0, 'dead', TTL, 9)), 10)
  })

  it('treats a claim on its own lapsed lease as a rejoin: taken anew, with a new epoch', () => {
    const mine = { ...held, owner: me.owner }
    const d = decideLease(mine, me, held.expiresAt, 'alive', TTL)
    assert.equal(d.kind, 'take')
    assert.equal(d.kind === 'take' ? d.lease.epoch : null, held.epoch + 1)
    assert.equal(d.kind === 'take' ? d.lease.acquiredAt : null, held.expiresAt)
  })

  it('takes its own lease anew when the claim rejoins its epoch, live again or not; a later epoch is renewed', () => {
    const mine = { ...held, owner: me.owner }
    // Renewals sent before the lapse, answered after it, renewed the lapsed epoch's lease.
    const d = decideLease(mine, { ...me, rejoins: held.epoch }, T0, 'alive', TTL)
    assert.equal(d.kind, 'take')
    assert.equal(d.kind === 'take' ? d.lease.epoch : null, held.epoch + 1)
    // A rejoin whose answer was lost already took the next epoch: this one renews it.
    const again = decideLease(mine, { ...me, rejoins: held.epoch - 1 }, T0, 'alive', TTL)
    assert.equal(again.kind, 'renew')
    assert.equal(again.kind === 'renew' ? again.lease.epoch : null, held.epoch)
  })
})

describe('holderLiveness', () => {
  const self = { host: 'web-1', pid: 200 }
  it('is alive when its process runs on this host, whatever the OS lock says', () => {
    assert.equal(holderLiveness(held, self, true, true), 'alive')
    assert.equal(holderLiveness(held, self, true, false), 'alive')
  })
  it('is dead when this process holds the OS lock and the holder does not run here', () => {
    assert.equal(holderLiveness(held, self, false, true), 'dead')
    assert.equal(holderLiveness({ ...held, host: 'web-2' }, self, null, true), 'dead')
    // The same pid: an earlier owner inside this very process, whose store is closed.
    assert.equal(holderLiveness({ ...held, pid: 200 }, self, true, true), 'dead')
  })
  it('without the OS lock: dead when its process is gone here, unknown elsewhere or when it cannot tell', () => {
    assert.equal(holderLiveness(held, self, false, false), 'dead')
    assert.equal(holderLiveness(held, self, null, false), 'unknown')
    assert.equal(holderLiveness({ ...held, host: 'web-2' }, self, false, false), 'unknown')
  })
})

describe('describeHolder', () => {
  it('names host, pid, API and since when', () => {
    assert.equal(
      describeHolder(held, T0),
      'pid 100 on host web-1 (API http://127.0.0.1:7717), since 2023-11-14T22:12:20.000Z, last heartbeat 5 s ago',
    )
    assert.match(describeHolder({ ...held, apiUrl: null }, T0), /\(API not yet serving\)/)
  })
})
