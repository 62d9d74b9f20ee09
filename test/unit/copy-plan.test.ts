import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { COPY_TABLES, inFlightAsCrashed, sameRow } from '../../src/store/copy-plan.js'

const active = {
  id: 'j1',
  queue: 'email',
  state: 'active',
  crashes: 0,
  run_at: 100,
  updated_at: 500,
  finished_at: null,
  lease_worker: 'email#1',
  lease_expires: 9_000,
  owner_node: 'node-a',
  owner_epoch: 4,
  checkpoint: '{"page":3}',
}

describe('store copy plan', () => {
  it('puts a job that was in flight back to waiting as its crash would, from the row alone', () => {
    const back = inFlightAsCrashed(active, 3)
    assert.deepEqual(back, {
      ...active,
      state: 'waiting',
      crashes: 1,
      run_at: 500,
      finished_at: null,
      lease_worker: null,
      lease_expires: null,
      owner_node: null,
      owner_epoch: null,
    })
    // The same row gives the same result: a second copy finds it equal.
    assert.ok(sameRow(back, inFlightAsCrashed(active, 3), COPY_TABLES[0]!.columns))
  })

  it('quarantines it when that crash reaches the poison threshold', () => {
    const q = inFlightAsCrashed({ ...active, crashes: 2 }, 3)
    assert.equal(q.state, 'quarantined')
    assert.equal(q.crashes, 3)
    assert.equal(q.finished_at, 500)
  })

  it('copies every column of the adapters but the jobs seq, which is the target’s own', () => {
    const jobs = COPY_TABLES.find((t) => t.name === 'jobs')!
    assert.ok(!jobs.columns.includes('seq'))
    assert.ok(jobs.columns.includes('idempotency_key') && jobs.columns.includes('checkpoint'))
    assert.ok(jobs.columns.includes('owner_node') && jobs.columns.includes('owner_epoch'))
    assert.deepEqual(
      COPY_TABLES.map((t) => [t.name, t.key]),
      [
        ['jobs', 'id'],
        ['incidents', 'id'],
        ['events', 'seq'],
        ['worker_state', 'worker_id'],
      ],
    )
    assert.ok(!sameRow({ a: 1, b: null }, { a: 1, b: 'x' }, ['a', 'b']))
    assert.ok(sameRow({ a: 1 }, { a: 1, b: null }, ['a', 'b']))
  })
})
