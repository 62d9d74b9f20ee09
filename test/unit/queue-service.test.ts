/**
 * The queue service (src/queue/queue.ts) that the library, the HTTP API and the CLI all call: one
 * place for each job's defaults, one wording of refusals, and the wake-up of a dispatcher in the
 * same process after an add or a retry that changed something.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'

import { loadConfigText } from '../../src/config/load.js'
import { isShepherdError } from '../../src/errors.js'
import { FakeClock } from '../../src/ports/clock.js'
import { Queue } from '../../src/queue/queue.js'
import { openStore } from '../../src/store/open-store.js'

const CONFIG = `
queues:
  email: { max_attempts: 7, timeout: 30s }
workers:
  mailer: { command: node, args: [w.js], queue: email }
`

async function setup(t: TestContext) {
  const dir = mkdtempSync(path.join(tmpdir(), 'shepherd-queue-'))
  const store = await openStore(path.join(dir, 'store.db'))
  t.after(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const loaded = loadConfigText(CONFIG, path.join(dir, 'shepherd.yaml'))
  // The dispatcher's wakes: the store's, after each commit that put jobs in a queue.
  let wakes = 0
  store.jobs.watch(() => void wakes++)
  const queue = new Queue(store, loaded, new FakeClock(1_000_000))
  return { store, queue, wakes: () => wakes }
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    assert.ok(isShepherdError(e, 'SHEPHERD_BAD_REQUEST'), String(e))
    return e.message
  }
  assert.fail('expected a refusal')
}

describe('Queue, the one queue service', () => {
  it('gives each job its queue’s defaults, or the schema’s', async (t) => {
    const { queue } = await setup(t)
    const [a, b] = [await queue.add('email', 1), await queue.add('other', 2)]
    const [ja, jb] = [(await queue.getJob(a.id))!, (await queue.getJob(b.id))!]
    assert.deepEqual([ja.maxAttempts, ja.timeoutMs], [7, 30_000])
    assert.deepEqual([jb.maxAttempts, jb.timeoutMs], [3, null])
  })

  it('wakes the dispatcher (through the store) after an add or a retry that changed something, and only then', async (t) => {
    const { store, queue, wakes } = await setup(t)
    await queue.add('email', 1, { id: 'j1' })
    assert.equal(wakes(), 1)
    await queue.add('email', 1, { id: 'j1' })
    assert.equal(wakes(), 1, 'a duplicate changes nothing')
    assert.equal(await queue.retry('email', 'dead'), 0)
    assert.equal(wakes(), 1, 'a retry that moved nothing')
    const [d] = await store.jobs.claim('email', 1, 'w', 1_000_000)
    await store.jobs.settle(
      [{ kind: 'fail', token: d!.token, error: 'x' }],
      1_000_000,
      () => ({
        retryDelay: 1,
        maxRetryDelay: 1,
        jitter: 0,
        poisonThreshold: 3,
        keepDone: true,
      }),
      () => 0,
    )
    await store.jobs.purge('email', 'waiting')
    await queue.add('email', 2, { id: 'j2', maxAttempts: 1 })
    const [d2] = await store.jobs.claim('email', 1, 'w', 1_000_000)
    await store.jobs.settle(
      [{ kind: 'fail', token: d2!.token, error: 'x' }],
      1_000_000,
      () => ({
        retryDelay: 1,
        maxRetryDelay: 1,
        jitter: 0,
        poisonThreshold: 3,
        keepDone: true,
      }),
      () => 0,
    )
    const before = wakes()
    assert.equal(await queue.retry('email', 'dead', ['j2']), 1)
    assert.equal(wakes(), before + 1)
  })

  it('lists, counts, overviews, and purges (telling first how many)', async (t) => {
    const { queue } = await setup(t)
    await queue.addMany('email', [
      { payload: 1, id: 'a' },
      { payload: 2, id: 'b', delay: '1h' },
    ])
    assert.deepEqual(
      (await queue.list('email', { state: 'delayed' })).map((j) => j.id),
      ['b'],
    )
    assert.deepEqual(
      (await queue.overview()).map((c) => c.queue),
      ['email'],
    )
    assert.equal(await queue.purgeable('email', 'waiting'), 2)
    assert.equal(await queue.purgeable('email', 'waiting', ['a', 'a', 'nope']), 1)
    assert.equal(await queue.purge('email', 'waiting', ['a']), 1)
    assert.equal((await queue.counts('email'))[0]!.delayed, 1)
  })

  it('words its refusals as the API and the CLI do', async (t) => {
    const { queue } = await setup(t)
    assert.equal(
      await refusal(queue.add('e mail', 1)),
      'queue: expected a queue name of letters, digits, "_", "." or "-", got "e mail" (string)',
    )
    assert.equal(
      await refusal(queue.addMany('email', [{ payload: 1 }, { payload: 2, priority: 1.5 }])),
      'job 2: priority: expected an integer, got 1.5 (number)',
    )
    assert.equal(
      await refusal(queue.add('email', 1, { delay: '4000d' })),
      'job 1: delay: expected at most 3650d, got "4000d" (string)',
    )
    assert.equal(
      await refusal(queue.add('email', undefined)),
      'job 1: payload: required: expected a JSON value',
    )
    assert.equal(
      await refusal(queue.list('e/mail')),
      'queue: expected a queue name of letters, digits, "_", "." or "-", got "e/mail" (string)',
    )
    assert.equal((await queue.counts()).length, 0, 'nothing was added')
  })
})
