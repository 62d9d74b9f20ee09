/** Each kind of id is formatted and parsed in one module (src/core/ids.ts); these pin the forms. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  deliveryToken,
  parseDeliveryToken,
  poolOfProcessKey,
  poolOfWorkerId,
  processKey,
  spareId,
  workerId,
} from '../../src/core/ids.js'

describe('ids', () => {
  it('worker and spare ids name their pool', () => {
    assert.equal(workerId('email', 2), 'email#2')
    assert.equal(spareId('email', 1), 'email#s1')
    assert.equal(poolOfWorkerId('email#2'), 'email')
    assert.equal(poolOfWorkerId('web.v2#s3'), 'web.v2')
    assert.equal(poolOfWorkerId('email'), null, 'a pool name is not a worker id')
    assert.equal(poolOfWorkerId('#2'), null)
  })

  it('process keys name their pool', () => {
    assert.equal(processKey('email', 17), 'email:17')
    assert.equal(poolOfProcessKey('email:17'), 'email')
    assert.equal(poolOfProcessKey('email'), null)
  })

  it('a delivery token is split at its last colon, and names a delivery only in the form it is written', () => {
    assert.equal(deliveryToken('a:b', 3), 'a:b:3')
    assert.deepEqual(parseDeliveryToken('a:b:3'), { jobId: 'a:b', delivery: 3 })
    assert.deepEqual(parseDeliveryToken(deliveryToken('j', 123456789012345)), {
      jobId: 'j',
      delivery: 123456789012345,
    })
    for (const bad of ['j:03', 'j:-1', 'j:+1', 'j:1.0', 'j:', 'j:x', 'j:1234567890123456']) {
      assert.deepEqual(parseDeliveryToken(bad), { jobId: 'j', delivery: null }, bad)
    }
    assert.equal(parseDeliveryToken('no-colon'), null)
  })
})
