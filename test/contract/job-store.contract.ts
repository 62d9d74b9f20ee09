/**
 * The behaviour every JobStore adapter must have. Each adapter's test file calls
 * {@link jobStoreContract} with a factory; the same cases then run against SQLite today and
 * PostgreSQL later. Time is a fixed `now` moved by hand and randomness is seeded: no case sleeps.
 * @module
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { decideFailure, type Delivery, type Job, type JobPolicy, type NewJob } from '../../src/core/job.js'
import { isShepherdError } from '../../src/errors.js'
import { seededRandom } from '../../src/ports/clock.js'
import {
  type ClaimRequest,
  type JobStore,
  type QueueCounts,
  type Settlement,
  type SettleResult,
  zeroCounts,
} from '../../src/ports/job-store.js'

/** What an adapter's factory hands the contract: a fresh, empty JobStore of its own. */
export interface OpenedJobStore {
  jobs: JobStore
  /** Closes every store the factory opened and removes their data. */
  cleanup: () => Promise<void>
  /**
   * Closes `jobs` and opens another JobStore on the same data; absent when the adapter cannot.
   */
  /** Opens the same database again (after close); every adapter must keep its data. */
  reopen: () => Promise<JobStore>
  /**
   * Opens another JobStore on the same data (`jobs` stays open) whose claims are those of an agent
   * of the fleet: the node and lease epoch its store's claim of the node gave it.
   */
  asNode: (node: string, epoch: number) => Promise<JobStore>
  /**
   * Whether several agents share the store (PostgreSQL). SQLite has one supervisor per file, so a
   * start puts back every active job, whichever node name held it.
   */
  sharedByAgents: boolean
}

/** 2023-11-14T22:13:20Z: a realistic epoch-ms time. */
export const T0 = 1_700_000_000_000

/** Queue defaults as the config gives them: 3 attempts, no timeout, except the `timed` queue. */
export function defaults(queue: string): { maxAttempts: number; timeoutMs: number | null } {
  return { maxAttempts: 3, timeoutMs: queue === 'timed' ? 30_000 : null }
}

/** Retry after 1 s, doubling to 60 s, no jitter; quarantine at the third crash; done jobs kept. */
export const POLICY: JobPolicy = {
  retryDelay: 1_000,
  maxRetryDelay: 60_000,
  jitter: 0,
  poisonThreshold: 3,
  keepDone: true,
}

const policy = (): JobPolicy => POLICY

/**
 * Registers the JobStore contract as node:test cases under `describe(name)`.
 * @param name - the adapter, e.g. `sqlite`.
 * @param open - gives each case a fresh, empty store; called once per case.
 */
export function jobStoreContract(name: string, open: () => Promise<OpenedJobStore>): void {
  async function withJobs(run: (jobs: JobStore, opened: OpenedJobStore) => Promise<void>): Promise<void> {
    const opened = await open()
    try {
      await run(opened.jobs, opened)
    } finally {
      await opened.cleanup()
    }
  }

  describe(`JobStore contract: ${name}`, () => {
    it('adds a job with the queue defaults and reads it back whole', () =>
      withJobs(async (jobs) => {
        const [added] = await jobs.add([{ queue: 'email', payload: { to: 'a@example.com' } }], T0, defaults)
        assert.equal(added?.added, true)
        assert.ok(added!.id.length > 0, 'an id is made when none is given')
        assert.deepEqual(await jobs.getJob(added!.id), {
          id: added!.id,
          queue: 'email',
          payload: { to: 'a@example.com' },
          state: 'waiting',
          priority: 0,
          runAt: T0,
          createdAt: T0,
          updatedAt: T0,
          finishedAt: null,
          attempts: 0,
          maxAttempts: 3,
          crashes: 0,
          timeoutMs: null,
          idempotencyKey: null,
          delivery: 0,
          leaseWorker: null,
          leaseExpires: null,
          ownerNode: null,
          ownerEpoch: null,
          lastError: null,
          lastStack: null,
          checkpoint: null,
          progress: null,
          result: null,
        } satisfies Job)
        assert.equal(await jobs.getJob('unknown'), undefined)
      }))

    it('keeps what an add says: id, key, priority, attempts, timeout, delay; defaults per queue', () =>
      withJobs(async (jobs) => {
        const results = await jobs.add(
          [
            {
              queue: 'email',
              payload: ['a', 1, null, { nested: true }],
              id: 'job:with:colons',
              idempotencyKey: 'welcome:42',
              priority: 7,
              maxAttempts: 5,
              timeout: 2_000,
              delay: 1_500,
            },
            { queue: 'timed', payload: 'text' },
            { queue: 'email', payload: null },
            { queue: 'email', payload: 0 },
          ],
          T0,
          defaults,
        )
        assert.deepEqual(
          results.map((r) => r.added),
          [true, true, true, true],
        )
        assert.equal(results[0]?.id, 'job:with:colons')
        assert.equal(new Set(results.map((r) => r.id)).size, 4, 'made ids are unique')
        const first = await jobs.getJob('job:with:colons')
        assert.deepEqual(
          pick(first, ['payload', 'idempotencyKey', 'priority', 'maxAttempts', 'timeoutMs', 'runAt']),
          {
            payload: ['a', 1, null, { nested: true }],
            idempotencyKey: 'welcome:42',
            priority: 7,
            maxAttempts: 5,
            timeoutMs: 2_000,
            runAt: T0 + 1_500,
          },
        )
        assert.equal((await jobs.getJob(results[1]!.id))?.timeoutMs, 30_000, 'the queue default timeout')
        assert.equal((await jobs.getJob(results[2]!.id))?.payload, null)
        assert.equal((await jobs.getJob(results[3]!.id))?.payload, 0)
        assert.deepEqual(await jobs.add([], T0, defaults), [])
      }))

    it('treats an existing id as a duplicate and changes nothing', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'email', payload: 1, id: 'j1' }], T0, defaults)
        const before = await jobs.getJob('j1')
        assert.deepEqual(
          await jobs.add([{ queue: 'email', payload: 2, id: 'j1', priority: 9 }], T0 + 1_000, defaults),
          [{ id: 'j1', added: false }],
        )
        assert.deepEqual(
          await jobs.add([{ queue: 'reports', payload: 3, id: 'j1' }], T0 + 1_000, defaults),
          [{ id: 'j1', added: false }],
          'ids are unique across queues',
        )
        assert.deepEqual(await jobs.getJob('j1'), before)
        assert.equal((await jobs.listJobs('reports', {}, T0)).length, 0)
      }))

    it('treats an existing idempotency key of the queue as a duplicate, in any state, until pruned', () =>
      withJobs(async (jobs) => {
        const [first] = await jobs.add([{ queue: 'email', payload: 1, idempotencyKey: 'k' }], T0, defaults)
        assert.deepEqual(
          await jobs.add([{ queue: 'email', payload: 2, idempotencyKey: 'k' }], T0 + 1, defaults),
          [{ id: first!.id, added: false }],
          'the existing job is named',
        )
        const [other] = await jobs.add([{ queue: 'reports', payload: 3, idempotencyKey: 'k' }], T0, defaults)
        assert.equal(other?.added, true, 'keys are per queue')

        const [d] = await jobs.claim('email', 1, 'email#1', T0 + 10)
        assert.equal((await settle(jobs, [{ kind: 'ack', token: d!.token }], T0 + 20))[0]?.outcome, 'done')
        assert.deepEqual(
          await jobs.add([{ queue: 'email', payload: 4, idempotencyKey: 'k' }], T0 + 30, defaults),
          [{ id: first!.id, added: false }],
          'a done job keeps its key',
        )
        assert.equal((await jobs.getJob(first!.id))?.payload, 1)
        assert.equal(await jobs.pruneDone(T0 + 21), 1)
        const [again] = await jobs.add(
          [{ queue: 'email', payload: 5, idempotencyKey: 'k' }],
          T0 + 40,
          defaults,
        )
        assert.equal(again?.added, true, 'a pruned job frees its key')
      }))

    it('finds duplicates within one batch, adds the rest', () =>
      withJobs(async (jobs) => {
        const results = await jobs.add(
          [
            { queue: 'email', payload: 'a', id: 'same' },
            { queue: 'email', payload: 'b', id: 'same' },
            { queue: 'email', payload: 'c', idempotencyKey: 'kb' },
            { queue: 'email', payload: 'd', idempotencyKey: 'kb' },
            { queue: 'email', payload: 'e' },
          ],
          T0,
          defaults,
        )
        assert.deepEqual(
          results.map((r) => r.added),
          [true, false, true, false, true],
        )
        assert.equal(results[3]?.id, results[2]?.id)
        assert.equal((await jobs.getJob('same'))?.payload, 'a')
        assert.deepEqual(
          (await jobs.listJobs('email', {}, T0)).map((j) => j.payload),
          ['e', 'c', 'a'],
        )
      }))

    it('adds a batch larger than one insert statement takes, in order, duplicates found across it', () =>
      withJobs(async (jobs) => {
        // 2,501 jobs: several statements' worth on PostgreSQL (1,000 a statement, in one
        // transaction); the last has the key of the first.
        const batch: NewJob[] = Array.from({ length: 2_500 }, (_, i) => ({
          queue: 'bulk',
          payload: i,
          id: `b${i}`,
          idempotencyKey: `k${i}`,
        }))
        batch.push({ queue: 'bulk', payload: 'again', id: 'b-again', idempotencyKey: 'k0' })
        const results = await jobs.add(batch, T0, defaults)
        assert.equal(results.length, 2_501)
        assert.ok(results.slice(0, 2_500).every((r, i) => r.added && r.id === `b${i}`))
        assert.deepEqual(results[2_500], { id: 'b0', added: false })
        const claimed = await jobs.claim('bulk', 1_000, 'bulk#1', T0)
        assert.deepEqual(
          claimed.map((d) => d.job.payload),
          Array.from({ length: 1_000 }, (_, i) => i),
          'claimed in enqueue order',
        )
        assert.equal((await jobs.counts(T0, 'bulk'))[0]?.waiting, 1_500)
      }))

    it('does not deliver a delayed job before its time', () =>
      withJobs(async (jobs) => {
        const [r] = await jobs.add([{ queue: 'email', payload: 1, delay: 5_000 }], T0, defaults)
        assert.deepEqual(await jobs.claim('email', 10, 'email#1', T0), [])
        assert.equal(await jobs.nextDueAt('email', T0), T0 + 5_000)
        assert.deepEqual(await jobs.claim('email', 10, 'email#1', T0 + 4_999), [])
        const [d] = await jobs.claim('email', 10, 'email#1', T0 + 5_000)
        assert.equal(d?.job.id, r?.id)
      }))

    it('claims the highest priority first, then in enqueue order', () =>
      withJobs(async (jobs) => {
        await jobs.add(
          [
            { queue: 'email', payload: 'a', id: 'a' },
            { queue: 'email', payload: 'b', id: 'b', priority: 5 },
            { queue: 'email', payload: 'c', id: 'c' },
          ],
          T0,
          defaults,
        )
        await jobs.add(
          [
            { queue: 'email', payload: 'd', id: 'd', priority: 5 },
            { queue: 'email', payload: 'e', id: 'e', priority: -1 },
            { queue: 'email', payload: 'f', id: 'f' },
          ],
          T0 + 1,
          defaults,
        )
        // A later job that was due earlier does not overtake: the order is priority, then enqueue.
        await jobs.add([{ queue: 'email', payload: 'g', id: 'g' }], T0 - 10_000, defaults)
        assert.deepEqual(
          (await jobs.claim('email', 10, 'email#1', T0 + 2)).map((d) => d.job.id),
          ['b', 'd', 'a', 'c', 'f', 'g', 'e'],
        )
      }))

    it('claims at most `limit` jobs and never the same job twice', () =>
      withJobs(async (jobs) => {
        await jobs.add(
          Array.from({ length: 10 }, (_, i) => ({ queue: 'email', payload: i, id: `j${i}` })),
          T0,
          defaults,
        )
        await jobs.add([{ queue: 'reports', payload: 'r', id: 'r1' }], T0, defaults)
        assert.deepEqual(await jobs.claim('email', 0, 'email#1', T0), [])
        const first = await jobs.claim('email', 3, 'email#1', T0 + 1)
        const second = await jobs.claim('email', 3, 'email#2', T0 + 1)
        const rest = await jobs.claim('email', 10, 'email#3', T0 + 2)
        assert.deepEqual(await jobs.claim('email', 10, 'email#4', T0 + 3), [])
        assert.deepEqual(
          [...first, ...second, ...rest].map((d) => d.job.id),
          Array.from({ length: 10 }, (_, i) => `j${i}`),
        )
        assert.equal(rest.length, 4)
        assert.equal((await jobs.getJob('r1'))?.state, 'waiting', 'other queues are not touched')
      }))

    it('leases a claimed job: active, next delivery, the worker, the expiry, and its token', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'timed', payload: { n: 1 }, id: 't1' }], T0, defaults)
        await jobs.add([{ queue: 'email', payload: { n: 2 }, id: 'e1' }], T0, defaults)
        const waiting = await jobById(jobs, 't1', { state: 'waiting', delivery: 0 })
        const [timed] = await jobs.claim('timed', 1, 'timed#1', T0 + 100)
        const expected: Delivery = { token: 't1:1', job: { ...pick(waiting, [...DELIVERED]), delivery: 1 } }
        assert.deepEqual(timed, expected, 'the delivery carries what its worker is sent')
        assert.deepEqual(await jobs.getJob('t1'), {
          ...waiting,
          state: 'active',
          delivery: 1,
          leaseWorker: 'timed#1',
          leaseExpires: T0 + 100 + 30_000,
          updatedAt: T0 + 100,
        })
        const [email] = await jobs.claim('email', 1, 'email#1', T0 + 100)
        assert.equal((await jobs.getJob('e1'))?.leaseExpires, null, 'no timeout: no expiry')
        assert.equal(email?.token, 'e1:1')
      }))

    it('retries a failing job with backoff until it is dead, keeping the last error and stack', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'email', payload: 1, id: 'f' }], T0, defaults)
        let now = T0
        const runAts: number[] = []
        const outcomes: SettleResult[] = []
        for (let attempt = 1; attempt <= 3; attempt++) {
          const [d] = await jobs.claim('email', 1, 'email#1', now)
          assert.equal(d?.job.delivery, attempt)
          const [r] = await settle(
            jobs,
            [
              {
                kind: 'fail',
                token: d!.token,
                error: `boom ${attempt}`,
                stack: `Error: boom ${attempt}\n    at x`,
              },
            ],
            now + 10,
          )
          outcomes.push(r!)
          if (r?.outcome === 'retry') {
            runAts.push(r.job!.runAt)
            assert.deepEqual(
              await jobs.claim('email', 1, 'email#1', r.job!.runAt - 1),
              [],
              'not before the backoff',
            )
            now = r.job!.runAt
          }
        }
        assert.deepEqual(
          outcomes.map((o) => o.outcome),
          ['retry', 'retry', 'dead'],
        )
        assert.deepEqual(runAts, [T0 + 10 + 1_000, T0 + 1_010 + 10 + 2_000], 'the delay doubles')
        const retried = outcomes[0]!.job!
        assert.deepEqual(
          pick(retried, ['state', 'attempts', 'lastError', 'leaseWorker', 'leaseExpires', 'finishedAt']),
          {
            state: 'waiting',
            attempts: 1,
            lastError: 'boom 1',
            leaseWorker: null,
            leaseExpires: null,
            finishedAt: null,
          },
        )
        const dead = await jobs.getJob('f')
        assert.deepEqual(dead, outcomes[2]!.job)
        assert.deepEqual(
          pick(dead, ['state', 'attempts', 'crashes', 'lastError', 'lastStack', 'finishedAt']),
          {
            state: 'dead',
            attempts: 3,
            crashes: 0,
            lastError: 'boom 3',
            lastStack: 'Error: boom 3\n    at x',
            finishedAt: now + 10,
          },
        )
        assert.deepEqual(
          await jobs.claim('email', 1, 'email#1', now + 3_600_000),
          [],
          'a dead job is never delivered',
        )
      }))

    it('draws the backoff jitter from the random source it is given, as the core decides', () =>
      withJobs(async (jobs) => {
        const jittery: JobPolicy = { ...POLICY, jitter: 0.5 }
        await jobs.add([{ queue: 'email', payload: 1, id: 'j', maxAttempts: 10 }], T0, defaults)
        const random = seededRandom(42)
        const expected = seededRandom(42)
        let now = T0
        for (let i = 0; i < 4; i++) {
          const [d] = await jobs.claim('email', 1, 'email#1', now)
          const decision = decideFailure(d!.job, now, jittery, expected)
          const [r] = await jobs.settle(
            [{ kind: 'fail', token: d!.token, error: 'e' }],
            now,
            () => jittery,
            random,
          )
          assert.ok(decision.kind === 'retry')
          assert.equal(r?.job?.runAt, decision.runAt)
          now = decision.runAt
        }
      }))

    it('counts a timed-out delivery as an attempt', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'timed', payload: 1, id: 'slow', maxAttempts: 2 }], T0, defaults)
        const [d1] = await jobs.claim('timed', 1, 'timed#1', T0)
        const [r1] = await settle(
          jobs,
          [{ kind: 'fail', token: d1!.token, error: 'timed out after 30000 ms', timedOut: true }],
          T0 + 30_000,
        )
        assert.equal(r1?.outcome, 'retry')
        assert.equal(r1?.job?.attempts, 1)
        assert.equal(r1?.job?.lastStack, null)
        const [d2] = await jobs.claim('timed', 1, 'timed#1', r1!.job!.runAt)
        const [r2] = await settle(
          jobs,
          [{ kind: 'fail', token: d2!.token, error: 'again', timedOut: true }],
          T0 + 90_000,
        )
        assert.equal(r2?.outcome, 'dead')
        assert.equal(r2?.job?.attempts, 2)
      }))

    it('requeues a crashed job at once without using an attempt, and quarantines it at the threshold', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'email', payload: 'poison', id: 'p' }], T0, defaults)
        await jobs.add([{ queue: 'email', payload: 'next', id: 'n' }], T0, defaults)
        const outcomes: string[] = []
        let now = T0
        for (let crash = 1; crash <= 3; crash++) {
          const [d] = await jobs.claim('email', 1, `email#${crash}`, now)
          assert.equal(d?.job.id, 'p', 'a requeued job keeps its place at the front')
          const [r] = await settle(jobs, [{ kind: 'crash', token: d!.token }], now + 5)
          outcomes.push(r!.outcome)
          if (r?.outcome === 'requeued') {
            assert.deepEqual(
              pick(r.job, ['state', 'runAt', 'crashes', 'attempts', 'leaseWorker', 'finishedAt']),
              {
                state: 'waiting',
                runAt: now + 5,
                crashes: crash,
                attempts: 0,
                leaseWorker: null,
                finishedAt: null,
              },
            )
          }
          now += 5
        }
        assert.deepEqual(outcomes, ['requeued', 'requeued', 'quarantined'])
        assert.deepEqual(
          pick(await jobs.getJob('p'), ['state', 'crashes', 'attempts', 'finishedAt', 'leaseWorker']),
          {
            state: 'quarantined',
            crashes: 3,
            attempts: 0,
            finishedAt: now,
            leaseWorker: null,
          },
        )
        assert.deepEqual(
          (await jobs.claim('email', 5, 'email#9', now)).map((d) => d.job.id),
          ['n'],
          'a quarantined job is not delivered',
        )
      }))

    it('claims suspects (jobs that were in a crash) apart: only them, or none of them', () =>
      withJobs(async (jobs) => {
        await jobs.add(
          ['a', 'b', 'c', 'd'].map((id) => ({ queue: 'email', payload: id, id })),
          T0,
          defaults,
        )
        const first = await jobs.claim('email', 2, 'email#1', T0)
        assert.deepEqual(
          first.map((d) => d.job.id),
          ['a', 'b'],
        )
        await settle(
          jobs,
          first.map((d) => ({ kind: 'crash', token: d.token })),
          T0 + 1,
        )
        assert.deepEqual(
          (await jobs.claim('email', 5, 'email#2', T0 + 2, 'exclude')).map((d) => d.job.id),
          ['c', 'd'],
        )
        assert.deepEqual(
          (await jobs.claim('email', 5, 'email#3', T0 + 2, 'only')).map((d) => d.job.id),
          ['a', 'b'],
        )
      }))

    it('claims a suspect alone when one is due, else jobs never in a crash', () =>
      withJobs(async (jobs) => {
        await jobs.add(
          ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => ({
            queue: 'email',
            payload: id,
            id,
            priority: i === 0 ? -1 : 0,
          })),
          T0,
          defaults,
        )
        // Which worker took which job: the claim (or request) it answered.
        const ids = (ds: Delivery[]) => ds.map((d) => [d.job.id, d.job.delivery])
        const alone = (worker: string, limit: number) => ({
          queue: 'email',
          limit,
          worker,
          suspects: 'alone' as const,
        })
        const exchange = (claims: ClaimRequest[], now: number) =>
          jobs.exchange([], claims, now, policy, seededRandom(7)).then((r) => r.claimed.map(ids))
        const first = await jobs.claim('email', 3, 'email#1', T0, 'exclude')
        assert.deepEqual(ids(first), [
          ['b', 1],
          ['c', 1],
          ['d', 1],
        ])
        await settle(
          jobs,
          first.map((d) => ({ kind: 'crash', token: d.token })),
          T0 + 1,
        )
        // b, c and d are suspects now; a (priority -1), e and f never were in a crash.
        assert.deepEqual(ids(await jobs.claim('email', 5, 'email#2', T0 + 2, 'alone')), [['b', 2]])
        assert.deepEqual(await exchange([alone('email#3', 5)], T0 + 3), [[['c', 2]]])
        assert.deepEqual(
          await exchange([alone('email#4', 5), alone('email#5', 1)], T0 + 4),
          [[['d', 2]], [['e', 1]]],
          'the last suspect for the first, jobs never in a crash for the second',
        )
        assert.deepEqual(
          await exchange([alone('email#6', 5)], T0 + 5),
          [
            [
              ['f', 1],
              ['a', 1],
            ],
          ],
          'no suspect is due: the others, in claim order',
        )
        assert.deepEqual(await exchange([alone('email#7', 5)], T0 + 6), [[]], 'nothing is due')
      }))

    it('releases a delivery back to the queue at once, counting nothing', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'email', payload: 1, id: 'r', delay: 1_000 }], T0, defaults)
        const [d] = await jobs.claim('email', 1, 'email#1', T0 + 1_000)
        const active = await jobs.getJob(d!.job.id)
        const [r] = await settle(jobs, [{ kind: 'release', token: d!.token }], T0 + 2_000)
        assert.equal(r?.outcome, 'released')
        assert.deepEqual(r?.job, {
          ...active,
          state: 'waiting',
          runAt: T0 + 2_000,
          updatedAt: T0 + 2_000,
          leaseWorker: null,
          leaseExpires: null,
        })
        const [again] = await jobs.claim('email', 1, 'email#2', T0 + 2_000)
        assert.equal(again?.job.delivery, 2)
        assert.equal(again?.token, 'r:2')
      }))

    it('refuses tokens of an earlier delivery and changes nothing', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'email', payload: 1, id: 'j' }], T0, defaults)
        const [old] = await jobs.claim('email', 1, 'email#1', T0)
        await settle(jobs, [{ kind: 'crash', token: old!.token }], T0 + 1)
        const [current] = await jobs.claim('email', 1, 'email#2', T0 + 2)
        const before = await jobs.getJob('j')
        const stale = await settle(jobs, everyKind(old!.token), T0 + 3)
        assert.deepEqual(
          stale.map((r) => [r.token, r.kind, r.outcome]),
          everyKind(old!.token).map((s) => [old!.token, s.kind, 'stale']),
        )
        for (const r of stale) assert.deepEqual(r.job, before, 'a stale result carries the job as it is')
        assert.deepEqual(await jobs.getJob('j'), before, 'nothing changed')
        assert.equal(
          (await settle(jobs, [{ kind: 'ack', token: current!.token }], T0 + 4))[0]?.outcome,
          'done',
        )
        const done = await jobs.getJob('j')
        assert.deepEqual(
          (await settle(jobs, everyKind(current!.token), T0 + 5)).map((r) => r.outcome),
          everyKind(current!.token).map(() => 'stale'),
          'no settlement acts on a finished job',
        )
        assert.deepEqual(await jobs.getJob('j'), done)
      }))

    it('refuses an ack of a job that was requeued, and leaves it waiting', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'email', payload: 1, id: 'j' }], T0, defaults)
        const [d] = await jobs.claim('email', 1, 'email#1', T0)
        await settle(jobs, [{ kind: 'crash', token: d!.token }], T0 + 1)
        const requeued = await jobs.getJob('j')
        const [r] = await settle(jobs, [{ kind: 'ack', token: d!.token, result: 'late' }], T0 + 2)
        assert.deepEqual(r, { token: d!.token, kind: 'ack', outcome: 'stale', job: requeued })
        assert.deepEqual(await jobs.getJob('j'), requeued)
      }))

    it('refuses tokens that name no delivery: unknown job, no delivery number, a malformed one', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'email', payload: 1, id: 'j' }], T0, defaults)
        await jobs.claim('email', 1, 'email#1', T0)
        const active = await jobs.getJob('j')
        const results = await settle(
          jobs,
          [
            { kind: 'ack', token: 'nope:1' },
            { kind: 'ack', token: 'j' },
            { kind: 'ack', token: 'j:01' },
            { kind: 'ack', token: 'j:+1' },
            { kind: 'ack', token: 'j:1.0' },
            { kind: 'ack', token: 'j:' },
            { kind: 'ack', token: 'j:2' },
            { kind: 'ack', token: 'j:0' },
          ],
          T0 + 1,
        )
        assert.deepEqual(
          results.map((r) => r.outcome),
          results.map(() => 'stale'),
        )
        assert.equal(results[0]?.job, undefined, 'an unknown job')
        assert.equal(results[1]?.job, undefined, 'a token without ":" names no job')
        for (const r of results.slice(2)) assert.deepEqual(r.job, active)
        assert.deepEqual(await jobs.getJob('j'), active)
      }))

    it('acks many jobs in one batch, each on its own: the stale among them are refused alone', () =>
      withJobs(async (jobs) => {
        await jobs.add(
          ['a', 'b', 'c', 'd'].map((id) => ({ queue: 'email', payload: id, id })),
          T0,
          defaults,
        )
        const first = await jobs.claim('email', 4, 'email#1', T0)
        const token = (id: string) => first.find((d) => d.job.id === id)!.token
        await settle(jobs, [{ kind: 'release', token: token('b') }], T0 + 1)
        const [b2] = await jobs.claim('email', 1, 'email#2', T0 + 2)
        assert.equal(b2?.job.id, 'b')
        const results = await settle(
          jobs,
          [
            { kind: 'ack', token: token('a'), result: 'A' },
            { kind: 'ack', token: 'nope:1' },
            { kind: 'ack', token: token('b'), result: 'late' },
            { kind: 'ack', token: token('c'), result: 'C' },
            { kind: 'ack', token: token('c'), result: 'again' },
            { kind: 'ack', token: token('d') },
          ],
          T0 + 3,
        )
        assert.deepEqual(
          results.map((r) => [r.token, r.outcome, r.job?.state ?? null, r.job?.result ?? null]),
          [
            [token('a'), 'done', null, null],
            ['nope:1', 'stale', null, null],
            [token('b'), 'stale', 'active', null],
            [token('c'), 'done', null, null],
            [token('c'), 'stale', 'done', 'C'],
            [token('d'), 'done', null, null],
          ],
          'a done result carries no job; a stale one carries the job as it is',
        )
        assert.deepEqual(
          await Promise.all(
            ['a', 'c', 'd'].map(async (id) => pick(await jobs.getJob(id), ['state', 'result'])),
          ),
          [
            { state: 'done', result: 'A' },
            { state: 'done', result: 'C' },
            { state: 'done', result: null },
          ],
        )
        assert.equal((await jobs.getJob('b'))?.delivery, 2, 'the later delivery of b is untouched')
        assert.equal((await settle(jobs, [{ kind: 'ack', token: b2!.token }], T0 + 4))[0]?.outcome, 'done')
      }))

    it('splits a token at its last ":" (ids may contain ":")', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'email', payload: 1, id: 'tenant:7:job' }], T0, defaults)
        const [d] = await jobs.claim('email', 1, 'email#1', T0)
        assert.equal(d?.token, 'tenant:7:job:1')
        assert.equal((await settle(jobs, [{ kind: 'ack', token: d!.token }], T0 + 1))[0]?.outcome, 'done')
      }))

    it('applies a batch in order, each result but a done one carrying the job as it is after its item', () =>
      withJobs(async (jobs) => {
        await jobs.add(
          [
            { queue: 'email', payload: 'a', id: 'a' },
            { queue: 'email', payload: 'b', id: 'b' },
          ],
          T0,
          defaults,
        )
        const [a, b] = await jobs.claim('email', 2, 'email#1', T0)
        const results = await settle(
          jobs,
          [
            { kind: 'checkpoint', token: a!.token, state: { offset: 10 } },
            { kind: 'progress', token: a!.token, value: 0.5 },
            { kind: 'ack', token: a!.token, result: { sent: true } },
            { kind: 'ack', token: a!.token, result: 'twice' },
            { kind: 'fail', token: b!.token, error: 'smtp down' },
          ],
          T0 + 100,
        )
        assert.deepEqual(
          results.map((r) => [r.kind, r.outcome]),
          [
            ['checkpoint', 'saved'],
            ['progress', 'saved'],
            ['ack', 'done'],
            ['ack', 'stale'],
            ['fail', 'retry'],
          ],
        )
        assert.deepEqual(pick(results[0]!.job, ['state', 'checkpoint', 'progress', 'updatedAt']), {
          state: 'active',
          checkpoint: { offset: 10 },
          progress: null,
          updatedAt: T0 + 100,
        })
        assert.deepEqual(pick(results[1]!.job, ['state', 'checkpoint', 'progress']), {
          state: 'active',
          checkpoint: { offset: 10 },
          progress: 0.5,
        })
        assert.equal(results[2]!.job, undefined, 'a done result carries no job')
        const acked = (await jobs.getJob('a'))!
        assert.deepEqual(
          pick(acked, [
            'state',
            'result',
            'finishedAt',
            'leaseWorker',
            'leaseExpires',
            'checkpoint',
            'progress',
          ]),
          {
            state: 'done',
            result: { sent: true },
            finishedAt: T0 + 100,
            leaseWorker: null,
            leaseExpires: null,
            checkpoint: { offset: 10 },
            progress: 0.5,
          },
          'an ack keeps the checkpoint and progress',
        )
        assert.deepEqual(results[3]?.job, acked)
        assert.deepEqual(await jobs.getJob('b'), results[4]?.job)
        assert.deepEqual(await jobs.settle([], T0, policy, seededRandom(7)), [])
      }))

    it('hands the checkpoint to the next delivery after a crash, a retry and a release', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'email', payload: 1, id: 'c', maxAttempts: 5 }], T0, defaults)
        let [d] = await jobs.claim('email', 1, 'email#1', T0)
        assert.equal(d?.job.checkpoint, null)
        await settle(jobs, [{ kind: 'checkpoint', token: d!.token, state: { page: 1 } }], T0 + 1)
        await settle(jobs, [{ kind: 'crash', token: d!.token }], T0 + 2)
        ;[d] = await jobs.claim('email', 1, 'email#2', T0 + 2)
        assert.deepEqual(d?.job.checkpoint, { page: 1 }, 'after a crash')
        await settle(
          jobs,
          [
            { kind: 'checkpoint', token: d!.token, state: { page: 2 } },
            { kind: 'fail', token: d!.token, error: 'e' },
          ],
          T0 + 3,
        )
        const [r] = await jobs.listJobs('email', {}, T0)
        ;[d] = await jobs.claim('email', 1, 'email#2', r!.runAt)
        assert.deepEqual(d?.job.checkpoint, { page: 2 }, 'after a retry')
        await settle(jobs, [{ kind: 'release', token: d!.token }], r!.runAt + 1)
        ;[d] = await jobs.claim('email', 1, 'email#3', r!.runAt + 1)
        assert.deepEqual(d?.job.checkpoint, { page: 2 }, 'after a release')
        assert.equal(d?.job.delivery, 4)
      }))

    it('counts jobs per queue and state, throughput and the age of the oldest due job', () =>
      withJobs(async (jobs) => {
        const now = T0 + 600_000
        await countsFixture(jobs, now)
        const email: QueueCounts = {
          queue: 'email',
          waiting: 2,
          delayed: 2,
          inFlight: 1,
          done: 2,
          failed: 1,
          deadLettered: 1,
          quarantined: 1,
          throughputPerMinute: 1,
          oldestWaitingMs: now - (T0 + 1_000),
        }
        const reports: QueueCounts = {
          ...zeroCounts('reports'),
          waiting: 1,
          oldestWaitingMs: now - T0,
        }
        assert.deepEqual(await jobs.counts(now), [email, reports])
        assert.deepEqual(await jobs.counts(now, 'email'), [email])
        assert.deepEqual(await jobs.counts(now, 'nothing-here'), [zeroCounts('nothing-here')])
        const later = now + 40_000
        // 40 s later: the retry (due at now + 1 s, created at T0) and the delayed job (now + 30 s)
        // are due, and the recent done job has left the last minute.
        assert.deepEqual(await jobs.counts(later, 'email'), [
          { ...email, waiting: 4, delayed: 0, throughputPerMinute: 0, oldestWaitingMs: later - T0 },
        ])
      }))

    it('lists jobs newest first, filtered by state, delayed or failed, and limited', () =>
      withJobs(async (jobs) => {
        const now = T0 + 600_000
        const ids = await countsFixture(jobs, now)
        const list = async (state?: Parameters<JobStore['listJobs']>[1]['state'], limit?: number) =>
          (await jobs.listJobs('email', { state, limit }, now)).map((j) => j.id)
        assert.deepEqual(await list(), [...ids].reverse())
        assert.deepEqual(await list('waiting'), ['due-2', 'due-1'], 'waiting: due now, as counted')
        assert.deepEqual(await list('delayed'), ['delayed', 'retrying'])
        assert.deepEqual(await list('failed'), ['retrying'])
        assert.deepEqual(await list('active'), ['active'])
        assert.deepEqual(await list('done'), ['done-recent', 'done-old'])
        assert.deepEqual(await list('dead'), ['dead'])
        assert.deepEqual(await list('quarantined'), ['quarantined'])
        assert.deepEqual(await list(undefined, 2), [...ids].reverse().slice(0, 2))
        assert.deepEqual(await jobs.listJobs('nothing-here', {}, now), [])
        const [newest] = await jobs.listJobs('email', { limit: 1 }, now)
        assert.deepEqual(newest, await jobs.getJob(newest!.id), 'whole jobs')
      }))

    it('lists at most 50 jobs by default', () =>
      withJobs(async (jobs) => {
        await jobs.add(
          Array.from({ length: 53 }, (_, i) => ({ queue: 'email', payload: i })),
          T0,
          defaults,
        )
        const listed = await jobs.listJobs('email', {}, T0)
        assert.equal(listed.length, 50)
        assert.equal(listed[0]?.payload, 52)
        assert.equal((await jobs.listJobs('email', { limit: 1000 }, T0)).length, 53)
      }))

    it('puts dead and quarantined jobs back in the queue, all or by id', () =>
      withJobs(async (jobs) => {
        const now = T0 + 600_000
        await countsFixture(jobs, now)
        // Priority 10: claimed ahead of the fixture's due jobs.
        await jobs.add(
          [{ queue: 'email', payload: 'x', id: 'dead-2', maxAttempts: 1, priority: 10 }],
          now,
          defaults,
        )
        const [d] = await jobs.claim('email', 1, 'email#1', now)
        assert.equal(d?.job.id, 'dead-2')
        await settle(jobs, [{ kind: 'fail', token: d!.token, error: 'e' }], now)

        assert.equal(await jobs.retry('email', 'dead', now + 1, ['dead-2', 'quarantined', 'unknown']), 1)
        assert.deepEqual(
          pick(await jobs.getJob('dead-2'), [
            'state',
            'attempts',
            'crashes',
            'runAt',
            'finishedAt',
            'delivery',
            'lastError',
          ]),
          {
            state: 'waiting',
            attempts: 0,
            crashes: 0,
            runAt: now + 1,
            finishedAt: null,
            delivery: 1,
            lastError: 'e',
          },
        )
        assert.equal((await jobs.getJob('quarantined'))?.state, 'quarantined', 'only jobs of the state named')
        assert.equal(await jobs.retry('reports', 'dead', now + 1), 0, 'only jobs of the queue named')
        assert.equal(await jobs.retry('email', 'dead', now + 2), 1)
        assert.equal(await jobs.retry('email', 'quarantined', now + 2), 1)
        const q = await jobs.getJob('quarantined')
        assert.deepEqual(pick(q, ['state', 'crashes', 'attempts', 'runAt']), {
          state: 'waiting',
          crashes: 0,
          attempts: 0,
          runAt: now + 2,
        })
        const claimed = (await jobs.claim('email', 10, 'email#1', now + 2)).map((x) => x.job.id)
        assert.ok(['dead', 'dead-2', 'quarantined'].every((id) => claimed.includes(id)))
        const again = await jobs.claim('email', 10, 'email#1', now + 2)
        assert.deepEqual(again, [])
      }))

    it('purges dead, quarantined and done jobs, all or by id', () =>
      withJobs(async (jobs) => {
        const now = T0 + 600_000
        await countsFixture(jobs, now)
        assert.equal(await jobs.purge('email', 'done', ['done-old', 'active', 'unknown']), 1)
        assert.equal(await jobs.getJob('done-old'), undefined)
        assert.equal((await jobs.getJob('active'))?.state, 'active', 'only jobs of the state named')
        assert.equal(await jobs.purge('reports', 'dead'), 0, 'only jobs of the queue named')
        assert.equal(await jobs.purge('email', 'dead'), 1)
        assert.equal(await jobs.purge('email', 'quarantined'), 1)
        assert.equal(await jobs.purge('email', 'done'), 1)
        const [c] = await jobs.counts(now, 'email')
        assert.deepEqual(pick(c, ['done', 'deadLettered', 'quarantined', 'inFlight', 'waiting', 'delayed']), {
          done: 0,
          deadLettered: 0,
          quarantined: 0,
          inFlight: 1,
          waiting: 2,
          delayed: 2,
        })
      }))

    it('purges waiting jobs (due, delayed and waiting for a retry), all or by id, never an active one', () =>
      withJobs(async (jobs) => {
        const now = T0 + 600_000
        await countsFixture(jobs, now)
        assert.equal(await jobs.purge('email', 'waiting', ['due-1', 'active', 'dead', 'unknown']), 1)
        assert.equal(await jobs.getJob('due-1'), undefined)
        assert.equal((await jobs.getJob('active'))?.state, 'active', 'a job in flight is not waiting')
        assert.equal((await jobs.getJob('dead'))?.state, 'dead')
        assert.equal(await jobs.purge('reports', 'waiting', ['due-2']), 0, 'only jobs of the queue named')
        assert.equal(await jobs.purge('email', 'waiting'), 3, 'due-2, delayed and retrying')
        for (const id of ['due-2', 'delayed', 'retrying']) assert.equal(await jobs.getJob(id), undefined)
        const [c] = await jobs.counts(now, 'email')
        assert.deepEqual(pick(c, ['waiting', 'delayed', 'failed', 'inFlight', 'deadLettered', 'done']), {
          waiting: 0,
          delayed: 0,
          failed: 0,
          inFlight: 1,
          deadLettered: 1,
          done: 2,
        })
        assert.equal((await jobs.counts(now, 'reports'))[0]?.waiting, 1, 'other queues keep theirs')
      }))

    it('releases every active job at a restart, counting nothing, and makes their tokens stale', () =>
      withJobs(async (jobs) => {
        await jobs.add(
          [
            { queue: 'email', payload: 1, id: 'e1' },
            { queue: 'email', payload: 2, id: 'e2' },
            { queue: 'timed', payload: 3, id: 't1' },
            { queue: 'email', payload: 4, id: 'w' },
          ],
          T0,
          defaults,
        )
        const held = [
          ...(await jobs.claim('email', 2, 'email#1', T0)),
          ...(await jobs.claim('timed', 1, 'timed#1', T0)),
        ]
        assert.equal(await jobs.releaseAllActive(T0 + 50), 3)
        for (const id of ['e1', 'e2', 't1']) {
          assert.deepEqual(
            pick(await jobs.getJob(id), [
              'state',
              'runAt',
              'attempts',
              'crashes',
              'leaseWorker',
              'leaseExpires',
              'delivery',
            ]),
            {
              state: 'waiting',
              runAt: T0 + 50,
              attempts: 0,
              crashes: 0,
              leaseWorker: null,
              leaseExpires: null,
              delivery: 1,
            },
          )
        }
        assert.equal((await jobs.getJob('w'))?.updatedAt, T0, 'waiting jobs are not touched')
        assert.deepEqual(
          (
            await settle(
              jobs,
              held.map((d) => ({ kind: 'ack', token: d.token })),
              T0 + 60,
            )
          ).map((r) => r.outcome),
          ['stale', 'stale', 'stale'],
        )
        assert.equal(await jobs.releaseAllActive(T0 + 70), 0)
      }))

    it('stamps a claimed job with the claiming node and epoch, and clears them when it leaves active', () =>
      withJobs(async (jobs, opened) => {
        const a = await opened.asNode('node-a', 3)
        await a.add(
          [
            { queue: 'email', payload: 1, id: 'e1' },
            { queue: 'email', payload: 2, id: 'e2' },
            { queue: 'email', payload: 3, id: 'e3' },
          ],
          T0,
          defaults,
        )
        const [d1] = await a.claim('email', 1, 'email#1', T0)
        assert.deepEqual(pick(await a.getJob('e1'), ['state', 'ownerNode', 'ownerEpoch']), {
          state: 'active',
          ownerNode: 'node-a',
          ownerEpoch: 3,
        })
        const { claimed } = await a.exchange(
          [],
          [{ queue: 'email', limit: 1, worker: 'email#2', suspects: 'any' }],
          T0,
          policy,
          seededRandom(1),
        )
        assert.equal(
          (await a.getJob(claimed[0]![0]!.job.id))?.ownerNode,
          'node-a',
          'an exchange claims as the node too',
        )
        const [d3] = await jobs.claim('email', 1, 'email#3', T0)
        assert.deepEqual(
          pick(await jobs.getJob(d3!.job.id), ['ownerNode', 'ownerEpoch']),
          { ownerNode: null, ownerEpoch: null },
          'a store that never claimed its node stamps nothing',
        )
        await settle(a, [{ kind: 'ack', token: d1!.token }], T0 + 1)
        assert.deepEqual(pick(await a.getJob('e1'), ['state', 'ownerNode', 'ownerEpoch']), {
          state: 'done',
          ownerNode: null,
          ownerEpoch: null,
        })
        await settle(a, [{ kind: 'crash', token: claimed[0]![0]!.token }], T0 + 2)
        assert.deepEqual(pick(await a.getJob('e2'), ['state', 'ownerNode', 'ownerEpoch']), {
          state: 'waiting',
          ownerNode: null,
          ownerEpoch: null,
        })
      }))

    it('reclaims the active jobs of nodes whose lease lapsed, and only those', () =>
      withJobs(async (jobs, opened) => {
        const a = await opened.asNode('node-a', 1)
        const b = await opened.asNode('node-b', 1)
        await jobs.add(
          [1, 2, 3, 4].map((n) => ({ queue: 'email', payload: n, id: `j${n}` })),
          T0,
          defaults,
        )
        const held = [
          ...(await a.claim('email', 2, 'email#1', T0)),
          ...(await b.claim('email', 1, 'email#1', T0)),
        ]
        // Every lease is live (the test's agents hold theirs for an hour from T0): nothing to reclaim.
        assert.deepEqual([...(await jobs.reclaimLapsed(T0 + 10, 'sweep'))], [])
        const later = T0 + 3_600_000 + 1
        const reclaimed = await jobs.reclaimLapsed(later, 'look')
        if (!opened.sharedByAgents) {
          // One supervisor per file: its start puts everything back; there is nothing to reclaim.
          assert.equal(reclaimed.size, 0)
          return
        }
        assert.deepEqual(
          new Map([...reclaimed].sort()),
          new Map([
            ['node-a', 2],
            ['node-b', 1],
          ]),
        )
        for (const d of held) {
          assert.deepEqual(pick(await jobs.getJob(d.job.id), ['state', 'ownerNode', 'runAt']), {
            state: 'waiting',
            ownerNode: null,
            runAt: later,
          })
        }
        // The lapsed agent's late ack is refused: its delivery is over.
        const [late] = await settle(a, [{ kind: 'ack', token: held[0]!.token }], later + 1)
        assert.equal(late!.outcome, 'stale')
        assert.equal((await jobs.getJob('j4'))?.state, 'waiting', 'a waiting job is left as it is')
      }))

    it('claims nothing for a node whose lease lapsed, or under an epoch that is no longer its lease', () =>
      withJobs(async (jobs, opened) => {
        const a = await opened.asNode('node-a', 1)
        await jobs.add(
          [1, 2, 3].map((n) => ({ queue: 'email', payload: n, id: `f${n}` })),
          T0,
          defaults,
        )
        assert.equal((await a.claim('email', 1, 'email#1', T0)).length, 1, 'its lease is live')
        const lapsed = await a.claim('email', 1, 'email#1', T0 + 3_600_000 + 1)
        // The rejoin: the same node, the next epoch. The claim of the old one, arriving late, takes nothing.
        await opened.asNode('node-a', 2)
        const stale = await a.claim('email', 1, 'email#1', T0 + 10)
        if (!opened.sharedByAgents) {
          // One supervisor per file, its OS lock held throughout: no lease to check.
          assert.deepEqual([lapsed.length, stale.length], [1, 1])
          return
        }
        assert.deepEqual([lapsed.length, stale.length], [0, 0])
        assert.equal((await jobs.counts(T0 + 10)).find((c) => c.queue === 'email')?.waiting, 2)
      }))

    it('after a rejoin keeps the deliveries its workers still hold and puts back the others of its node', () =>
      withJobs(async (jobs, opened) => {
        const a = await opened.asNode('node-a', 1)
        const b = await opened.asNode('node-b', 1)
        await jobs.add(
          [1, 2, 3, 4].map((n) => ({ queue: 'email', payload: n, id: `r${n}` })),
          T0,
          defaults,
        )
        const [kept, lost, given] = await a.claim('email', 3, 'email#1', T0)
        const theirs = await b.claim('email', 1, 'email#2', T0)
        // While node-a was cut off, the leader gave r3 to another agent (here: back to the queue and claimed by b).
        const again = await opened.asNode('node-a', 2)
        const adopted = await again.adopt([kept!.token, given!.token, 'not-a-token'], T0 + 100)
        if (!opened.sharedByAgents) {
          assert.deepEqual(adopted, { kept: 0, released: 0 })
          return
        }
        assert.deepEqual(adopted, { kept: 2, released: 1 })
        assert.deepEqual(pick(await jobs.getJob(kept!.job.id), ['state', 'ownerNode', 'ownerEpoch']), {
          state: 'active',
          ownerNode: 'node-a',
          ownerEpoch: 2,
        })
        assert.deepEqual(pick(await jobs.getJob(lost!.job.id), ['state', 'ownerNode', 'runAt']), {
          state: 'waiting',
          ownerNode: null,
          runAt: T0 + 100,
        })
        assert.equal(
          (await jobs.getJob(theirs[0]!.job.id))?.ownerNode,
          'node-b',
          "another node's job is untouched",
        )
        const [ack] = await settle(again, [{ kind: 'ack', token: kept!.token }], T0 + 200)
        assert.equal(ack!.outcome, 'done', 'the result of a kept delivery counts')
        const [late] = await settle(a, [{ kind: 'ack', token: lost!.token }], T0 + 200)
        assert.equal(late!.outcome, 'stale', 'the result of one put back does not')
      }))

    it("releases at a restart only its own node's active jobs and those of no owner, never another node's", () =>
      withJobs(async (jobs, opened) => {
        const a = await opened.asNode('node-a', 1)
        const b = await opened.asNode('node-b', 1)
        await jobs.add(
          [
            { queue: 'email', payload: 1, id: 'a1' },
            { queue: 'email', payload: 2, id: 'a2' },
            { queue: 'email', payload: 3, id: 'b1' },
            { queue: 'email', payload: 4, id: 'b2' },
            { queue: 'email', payload: 5, id: 'none' },
          ],
          T0,
          defaults,
        )
        const mine = await a.claim('email', 2, 'email#1', T0)
        const theirs = [
          ...(await b.claim('email', 1, 'email#1', T0)),
          ...(
            await b.exchange(
              [],
              [{ queue: 'email', limit: 1, worker: 'email#2', suspects: 'any' }],
              T0,
              policy,
              seededRandom(1),
            )
          ).claimed[0]!,
        ]
        await jobs.claim('email', 1, 'email#3', T0)
        assert.deepEqual(
          theirs.map((d) => d.job.id),
          ['b1', 'b2'],
        )
        const again = await opened.asNode('node-a', 2)
        if (!opened.sharedByAgents) {
          // One supervisor per file: whatever was active belonged to a run that is gone.
          assert.equal(await again.releaseAllActive(T0 + 50), 5)
          return
        }
        // node-a restarts (same node, a new epoch): its jobs and the unowned one go back, node-b's stay.
        assert.equal(await again.releaseAllActive(T0 + 50), 3)
        for (const id of ['a1', 'a2', 'none']) assert.equal((await jobs.getJob(id))?.state, 'waiting', id)
        for (const d of theirs) {
          assert.deepEqual(pick(await jobs.getJob(d.job.id), ['state', 'ownerNode', 'delivery']), {
            state: 'active',
            ownerNode: 'node-b',
            delivery: 1,
          })
        }
        assert.deepEqual(
          (
            await settle(
              b,
              theirs.map((d) => ({ kind: 'ack', token: d.token })),
              T0 + 60,
            )
          ).map((r) => r.outcome),
          ['done', 'done'],
          "node-b's deliveries are still its own",
        )
        assert.deepEqual(
          (await settle(a, [{ kind: 'ack', token: mine[0]!.token }], T0 + 60)).map((r) => r.outcome),
          ['stale'],
        )
      }))

    it('tells when the next delayed job of a queue is due', () =>
      withJobs(async (jobs) => {
        assert.equal(await jobs.nextDueAt('email', T0), null)
        await jobs.add([{ queue: 'email', payload: 0 }], T0, defaults)
        assert.equal(await jobs.nextDueAt('email', T0), null, 'a due job is not "next"')
        await jobs.add(
          [
            { queue: 'email', payload: 1, delay: 9_000 },
            { queue: 'email', payload: 2, delay: 3_000 },
            { queue: 'reports', payload: 3, delay: 1_000 },
          ],
          T0,
          defaults,
        )
        assert.equal(await jobs.nextDueAt('email', T0), T0 + 3_000)
        assert.equal(await jobs.nextDueAt('email', T0 + 3_000), T0 + 9_000)
        assert.equal(await jobs.nextDueAt('reports', T0), T0 + 1_000)
        assert.equal(await jobs.nextDueAt('email', T0 + 9_000), null)
      }))

    it('counts the due jobs of a queue, suspects included, no further than asked', () =>
      withJobs(async (jobs) => {
        assert.equal(await jobs.countDue('email', T0, 10), 0)
        await jobs.add(
          [
            ...Array.from({ length: 5 }, (_, i) => ({ queue: 'email', payload: i })),
            { queue: 'email', payload: 'later', delay: 3_000 },
            { queue: 'reports', payload: 'other queue' },
          ],
          T0,
          defaults,
        )
        const [d] = await jobs.claim('email', 1, 'email#1', T0)
        await jobs.settle([{ kind: 'crash', token: d!.token }], T0, policy, seededRandom(1))
        assert.equal(
          await jobs.countDue('email', T0, 10),
          5,
          'the suspect is due again, the delayed job not yet',
        )
        assert.equal(await jobs.countDue('email', T0, 3), 3)
        assert.equal(await jobs.countDue('email', T0, 0), 0)
        assert.equal(await jobs.countDue('email', T0 + 3_000, 10), 6)
        assert.equal(await jobs.countDue('reports', T0, 10), 1)
      }))

    it('prunes done jobs finished before a time, and nothing else', () =>
      withJobs(async (jobs) => {
        const now = T0 + 600_000
        await countsFixture(jobs, now)
        // done-old finished at T0 + 2_000, done-recent at now - 30_000.
        assert.equal(
          await jobs.pruneDone(T0 + 2_000),
          0,
          'finishedAt < before: the one at exactly before stays',
        )
        assert.equal(await jobs.pruneDone(T0 + 2_001, 'other-queue'), 0, 'only the queue named')
        assert.equal(await jobs.pruneDone(T0 + 2_001), 1)
        assert.equal(await jobs.getJob('done-old'), undefined)
        assert.equal(await jobs.pruneDone(now + 3_600_000), 1)
        const [c] = await jobs.counts(now, 'email')
        assert.deepEqual(pick(c, ['done', 'deadLettered', 'quarantined']), {
          done: 0,
          deadLettered: 1,
          quarantined: 1,
        })
      }))

    it('deletes a job at its ack when its queue keeps no done jobs (keep_done 0), alone or in a batch', () =>
      withJobs(async (jobs) => {
        const fleeting = (q: string): JobPolicy =>
          q === 'fleeting' ? { ...POLICY, keepDone: false } : POLICY
        const settleAs = (items: Settlement[], now: number) =>
          jobs.settle(items, now, fleeting, seededRandom(7))
        await jobs.add(
          [
            ...['f1', 'f2', 'f3', 'f4', 'f5'].map((id) => ({ queue: 'fleeting', payload: id, id })),
            { queue: 'fleeting', payload: 'keyed', id: 'f6', idempotencyKey: 'once' },
            { queue: 'kept', payload: 'k1', id: 'k1' },
          ],
          T0,
          defaults,
        )
        const held = [
          ...(await jobs.claim('fleeting', 6, 'f#1', T0)),
          ...(await jobs.claim('kept', 1, 'k#1', T0)),
        ]
        const token = (id: string) => held.find((d) => d.job.id === id)!.token
        const batch = await settleAs(
          [
            { kind: 'ack', token: token('f1'), result: 1, queue: 'fleeting' },
            { kind: 'ack', token: token('f2'), queue: 'fleeting' },
            { kind: 'ack', token: token('k1'), result: 'kept', queue: 'kept' },
            { kind: 'ack', token: token('f6'), queue: 'fleeting' },
          ],
          T0 + 1,
        )
        assert.deepEqual(
          batch.map((r) => r.outcome),
          ['done', 'done', 'done', 'done'],
        )
        assert.equal(await jobs.getJob('f1'), undefined, 'deleted by its ack')
        assert.equal(await jobs.getJob('f2'), undefined)
        assert.equal((await jobs.getJob('k1'))?.result, 'kept', 'a queue that keeps done jobs keeps it')
        const [alone] = await settleAs([{ kind: 'ack', token: token('f3'), queue: 'fleeting' }], T0 + 2)
        assert.equal(alone?.outcome, 'done')
        assert.equal(await jobs.getJob('f3'), undefined, 'deleted by an ack alone too')
        const [unnamed] = await settleAs([{ kind: 'ack', token: token('f4') }], T0 + 2)
        assert.equal(unnamed?.outcome, 'done')
        assert.equal((await jobs.getJob('f4'))?.state, 'done', 'an ack that names no queue keeps the job')
        // A late ack of an earlier delivery deletes nothing: only the current delivery's ack does.
        await settleAs([{ kind: 'release', token: token('f5') }], T0 + 3)
        const [again] = await jobs.claim('fleeting', 1, 'f#2', T0 + 4)
        const [late] = await settleAs([{ kind: 'ack', token: token('f5'), queue: 'fleeting' }], T0 + 5)
        assert.equal(late?.outcome, 'stale')
        assert.equal((await jobs.getJob('f5'))?.state, 'active', 'the later delivery runs on')
        // A second ack of a deleted job finds nothing: stale, with no job.
        const [twice] = await settleAs([{ kind: 'ack', token: token('f1'), queue: 'fleeting' }], T0 + 5)
        assert.deepEqual([twice?.outcome, twice?.job], ['stale', undefined])
        // The key of a deleted job may be used again.
        const [re] = await jobs.add(
          [{ queue: 'fleeting', payload: 'keyed again', idempotencyKey: 'once' }],
          T0 + 6,
          defaults,
        )
        assert.equal(re?.added, true)
        await settleAs([{ kind: 'ack', token: again!.token, queue: 'fleeting' }], T0 + 7)
        const [c] = await jobs.counts(T0 + 8, 'fleeting')
        assert.deepEqual(pick(c, ['inFlight', 'done']), { inFlight: 0, done: 1 })
      }))

    it('refuses a bad add with SHEPHERD_BAD_REQUEST, naming the job, and adds none of the batch', () =>
      withJobs(async (jobs) => {
        const ok: NewJob = { queue: 'email', payload: 'fine' }
        const cyclic: Record<string, unknown> = {}
        cyclic.self = cyclic
        const bad: [NewJob, RegExp][] = [
          [{ queue: 'email', payload: { n: 10n }, id: 'big' }, /jobs\[1\]\.payload.*big.*BigInt/],
          [{ queue: 'email', payload: cyclic, id: 'cyc' }, /jobs\[1\]\.payload.*cyc/],
          [{ queue: 'email', payload: () => 1 }, /jobs\[1\]\.payload/],
          [{ queue: 'email', payload: 1, maxAttempts: 0 }, /jobs\[1\]\.maxAttempts.*≥ 1/],
          [{ queue: 'email', payload: 1, maxAttempts: 1.5 }, /jobs\[1\]\.maxAttempts/],
          [{ queue: 'email', payload: 1, delay: -1 }, /jobs\[1\]\.delay/],
          [{ queue: 'email', payload: 1, delay: Number.NaN }, /jobs\[1\]\.delay/],
          [{ queue: 'email', payload: 1, priority: 0.5 }, /jobs\[1\]\.priority/],
          [{ queue: 'email', payload: 1, timeout: 0 }, /jobs\[1\]\.timeout/],
          [{ queue: 'email', payload: 1, timeout: Number.POSITIVE_INFINITY }, /jobs\[1\]\.timeout/],
          [{ queue: '', payload: 1 }, /jobs\[1\]\.queue/],
          [{ queue: 'email', payload: 1, id: '' }, /jobs\[1\]\.id/],
        ]
        for (const [job, message] of bad) {
          await assert.rejects(jobs.add([ok, job], T0, defaults), (e) => {
            assert.ok(isShepherdError(e, 'SHEPHERD_BAD_REQUEST'), String(e))
            assert.match(e.message, message)
            return true
          })
        }
        await assert.rejects(jobs.add([ok], Number.NaN, defaults), (e) =>
          isShepherdError(e, 'SHEPHERD_BAD_REQUEST'),
        )
        await assert.rejects(
          jobs.add([ok], T0, () => ({ maxAttempts: 0, timeoutMs: null })),
          (e) => isShepherdError(e, 'SHEPHERD_BAD_REQUEST'),
        )
        assert.deepEqual(await jobs.counts(T0), [], 'nothing was added')
      }))

    it('refuses a bad settlement with SHEPHERD_BAD_REQUEST before applying any of the batch', () =>
      withJobs(async (jobs) => {
        await jobs.add([{ queue: 'email', payload: 1, id: 'j' }], T0, defaults)
        const [d] = await jobs.claim('email', 1, 'email#1', T0)
        const before = await jobs.getJob('j')
        const bad: unknown[] = [
          { kind: 'checkpoint', token: d!.token, state: { offset: 1n } },
          { kind: 'ack', token: d!.token, result: () => 1 },
          { kind: 'fail', token: d!.token, error: 42 },
          { kind: 'explode', token: d!.token },
          { kind: 'ack', token: 7 },
        ]
        for (const item of bad) {
          await assert.rejects(
            jobs.settle(
              [{ kind: 'progress', token: d!.token, value: 1 }, item as Settlement],
              T0 + 1,
              policy,
              seededRandom(7),
            ),
            (e) => {
              assert.ok(isShepherdError(e, 'SHEPHERD_BAD_REQUEST'), String(e))
              assert.match(e.message, /items\[1\]/)
              return true
            },
          )
        }
        assert.deepEqual(await jobs.getJob('j'), before, 'the valid first item was not applied either')
      }))

    it('refuses bad query arguments with SHEPHERD_BAD_REQUEST', () =>
      withJobs(async (jobs) => {
        const refused = (e: unknown) => isShepherdError(e, 'SHEPHERD_BAD_REQUEST')
        await assert.rejects(jobs.claim('email', -1, 'email#1', T0), refused)
        await assert.rejects(jobs.claim('email', 1.5, 'email#1', T0), refused)
        await assert.rejects(jobs.claim('email', 1, 'email#1', Number.NaN), refused)
        await assert.rejects(jobs.listJobs('email', { limit: 0 }, T0), refused)
        await assert.rejects(jobs.listJobs('email', { limit: 1_001 }, T0), refused)
        await assert.rejects(jobs.listJobs('email', { state: 'sleeping' as unknown as 'done' }, T0), refused)
        await assert.rejects(jobs.retry('email', 'done' as unknown as 'dead', T0), refused)
        await assert.rejects(jobs.purge('email', 'active' as unknown as 'done'), refused)
        await assert.rejects(jobs.purge('email', 'delayed' as unknown as 'waiting'), refused)
        await assert.rejects(jobs.pruneDone(Number.POSITIVE_INFINITY), refused)
      }))

    it('wakes its watchers, right after the commit, with the queues that got jobs to run', () =>
      withJobs(async (jobs) => {
        // Only named wakes count here: a store that also listens to other processes may add wakes
        // for any queue (null) at any time, and hear its own adds again later.
        const heard: string[][] = []
        const watch = jobs.watch((queues) => {
          if (queues !== null) heard.push([...queues].sort())
        })
        const since = (): string[][] => heard.splice(0)

        await jobs.add(
          [
            { queue: 'email', payload: 1, id: 'e1' },
            { queue: 'sms', payload: 2, id: 's1' },
            { queue: 'email', payload: 3, id: 'e2' },
          ],
          T0,
          defaults,
        )
        assert.ok(
          since().some((q) => q.includes('email') && q.includes('sms')),
          'one wake names every queue of the add',
        )

        const [d] = await jobs.claim('email', 1, 'email#1', T0)
        await settle(jobs, [{ kind: 'crash', token: d!.token }], T0 + 1)
        assert.ok(
          since().some((q) => q.includes('email')),
          'a crash puts its job back: a wake',
        )

        const [again] = await jobs.claim('email', 1, 'email#1', T0 + 2)
        const [r] = await jobs
          .exchange(
            [{ kind: 'fail', token: again!.token, error: 'later' }],
            [],
            T0 + 3,
            policy,
            seededRandom(7),
          )
          .then((x) => x.settled)
        assert.equal(r?.outcome, 'retry')
        assert.ok(
          since().some((q) => q.includes('email')),
          'a retry through an exchange: a wake',
        )

        await jobs.add([{ queue: 'dead', payload: 0, id: 'x', maxAttempts: 1 }], T0, defaults)
        const [x] = await jobs.claim('dead', 1, 'dead#1', T0)
        await settle(jobs, [{ kind: 'fail', token: x!.token, error: 'bad' }], T0 + 1)
        since()
        assert.equal(await jobs.retry('dead', 'dead', T0 + 2), 1)
        assert.ok(
          since().some((q) => q.includes('dead')),
          'a retry of dead jobs: a wake',
        )

        watch.close()
        watch.close()
        await jobs.add([{ queue: 'email', payload: 4, id: 'e3' }], T0 + 4, defaults)
        assert.deepEqual(since(), [], 'no wake after close')
      }))

    it('keeps jobs, leases and tokens across a reopen', () =>
      withJobs(async (jobs, opened) => {
        await jobs.add(
          [
            { queue: 'email', payload: { n: 1 }, id: 'a', idempotencyKey: 'ka' },
            { queue: 'email', payload: { n: 2 }, id: 'b', delay: 10_000 },
          ],
          T0,
          defaults,
        )
        const [d] = await jobs.claim('email', 1, 'email#1', T0)
        await settle(jobs, [{ kind: 'checkpoint', token: d!.token, state: ['kept'] }], T0 + 1)
        const a = await jobs.getJob('a')
        const b = await jobs.getJob('b')

        const again = await opened.reopen()
        assert.deepEqual(await again.getJob('a'), a)
        assert.deepEqual(await again.getJob('b'), b)
        assert.deepEqual(
          await again.add([{ queue: 'email', payload: 3, idempotencyKey: 'ka' }], T0 + 2, defaults),
          [{ id: 'a', added: false }],
        )
        assert.equal(await again.nextDueAt('email', T0 + 2), T0 + 10_000)
        const [r] = await again.settle([{ kind: 'ack', token: d!.token }], T0 + 3, policy, seededRandom(7))
        assert.equal(r?.outcome, 'done', 'a delivery survives a restart of the store')
        assert.deepEqual((await again.getJob('a'))?.checkpoint, ['kept'])
      }))
  })
}

/** Settles with the contract's policy and no jitter. */
function settle(jobs: JobStore, items: Settlement[], now: number): Promise<SettleResult[]> {
  // The backoff draws a number even without jitter; with jitter 0 it has no effect.
  return jobs.settle(items, now, policy, seededRandom(7))
}

/** One settlement of each kind for a token (none valid for a stale one). */
function everyKind(token: string): Settlement[] {
  return [
    { kind: 'ack', token, result: 'x' },
    { kind: 'fail', token, error: 'late' },
    { kind: 'checkpoint', token, state: { late: true } },
    { kind: 'progress', token, value: 99 },
    { kind: 'crash', token },
    { kind: 'release', token },
  ]
}

/**
 * Builds jobs of the queue `email` in every state, plus one due job of `reports`, through the
 * store's own methods, and returns the ids of the `email` jobs in enqueue order:
 * - due-1 (created T0 + 1 s), due-2 (T0 + 2 s): waiting and due;
 * - delayed: due at now + 30 s; retrying: failed once at now, due at now + 1 s (failed, delayed);
 * - active: leased to email#1;
 * - done-old: finished at T0 + 2 s; done-recent: finished at now - 30 s (in the last minute);
 * - dead: failed its only attempt; quarantined: crashed three times.
 */
async function countsFixture(jobs: JobStore, now: number): Promise<string[]> {
  await jobs.add([{ queue: 'reports', payload: 'r', id: 'report' }], T0, defaults)
  const add = (id: string, at: number, o: Partial<NewJob> = {}) =>
    jobs.add([{ queue: 'email', payload: id, id, ...o }], at, defaults)
  const one = async (id: string, at: number): Promise<Delivery> => {
    const [d] = await jobs.claim('email', 1, 'email#1', at)
    assert.equal(d?.job.id, id, `the fixture claims ${id}`)
    return d!
  }
  // Claimed in turn while each is the only due job, so every claim gets the job it expects.
  await add('done-old', T0)
  await settle(jobs, [{ kind: 'ack', token: (await one('done-old', T0)).token }], T0 + 2_000)
  await add('dead', T0, { maxAttempts: 1 })
  await settle(jobs, [{ kind: 'fail', token: (await one('dead', T0)).token, error: 'bad' }], T0 + 10)
  await add('quarantined', T0)
  for (let i = 0; i < 3; i++) {
    await settle(jobs, [{ kind: 'crash', token: (await one('quarantined', T0)).token }], T0)
  }
  await add('done-recent', T0)
  await settle(jobs, [{ kind: 'ack', token: (await one('done-recent', T0)).token }], now - 30_000)
  await add('retrying', T0)
  await settle(jobs, [{ kind: 'fail', token: (await one('retrying', T0)).token, error: 'later' }], now)
  await add('active', T0)
  await one('active', T0)
  await add('due-1', T0 + 1_000)
  await add('due-2', T0 + 2_000)
  await add('delayed', now, { delay: 30_000 })
  return ['done-old', 'dead', 'quarantined', 'done-recent', 'retrying', 'active', 'due-1', 'due-2', 'delayed']
}

async function jobById(jobs: JobStore, id: string, expect: Partial<Job>): Promise<Job> {
  const job = await jobs.getJob(id)
  assert.ok(job, `job ${id} exists`)
  assert.deepEqual(pick(job, Object.keys(expect) as (keyof Job)[]), expect)
  return job
}

/** The named fields of a job (or counts row), after asserting that it exists. */
/** What a delivery carries of its job (DeliveredJob). */
const DELIVERED = [
  'id',
  'queue',
  'payload',
  'priority',
  'delivery',
  'attempts',
  'maxAttempts',
  'crashes',
  'timeoutMs',
  'checkpoint',
] as const

function pick<T extends object, K extends keyof T>(value: T | undefined, keys: K[]): Pick<T, K> {
  assert.ok(value, 'it exists')
  return Object.fromEntries(keys.map((k) => [k, value[k]])) as Pick<T, K>
}
