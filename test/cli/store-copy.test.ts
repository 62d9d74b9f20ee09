/**
 * `shepherd store copy` (the built command) from a real SQLite store, filled through the real
 * stores, into a real PostgreSQL schema of its own. Every row arrives equal, read back through the
 * Store and JobStore ports on both sides; a job that was in flight arrives as its crash would leave
 * it; a second copy writes nothing; a supervisor that owns the source stops the copy; a target that
 * refuses a row midway, or holds other rows under the same ids, is left as it was.
 */
import assert from 'node:assert/strict'
import os from 'node:os'
import path from 'node:path'
import { before, describe, it, type TestContext } from 'node:test'

import pg from 'pg'

import { openPostgresStore, type PostgresStore } from '../../src/adapters/postgres/pg-store.js'
import { openSqliteStore, type SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js'
import type { Job, JobPolicy } from '../../src/core/job.js'
import type { SavedWorkerState } from '../../src/ports/store.js'
import { runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/daemon.js'
import { incidentEvent, incidentRecord } from '../helpers/fakes.js'
import { adminQuery, dropSchema, postgresSkipReason, TEST_PG_URL, testSchema } from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'

const T0 = 1_700_000_000_000
const POLICY: JobPolicy = {
  retryDelay: 60_000,
  maxRetryDelay: 600_000,
  jitter: 0,
  poisonThreshold: 3,
  keepDone: true,
}
const policy = () => POLICY
const random = () => 0.5
const defaults = () => ({ maxAttempts: 3, timeoutMs: null })

let skip: string | null = null
before(async () => {
  skip = await postgresSkipReason()
})

/** A schema of its own for the target, dropped after the test; its URL. */
function target(t: TestContext): string {
  const { schema, url } = testSchema()
  t.after(() => dropSchema(schema))
  return url
}

async function withPg<R>(url: string, f: (s: PostgresStore) => Promise<R>): Promise<R> {
  const s = await openPostgresStore(url)
  try {
    return await f(s)
  } finally {
    await s.close()
  }
}

/** Claims the one waiting job of `queue` and returns its token. */
async function claimOne(s: SqliteStore, queue: string, now: number): Promise<string> {
  const [d] = await s.jobs.claim(queue, 1, 'w#1', now)
  assert.ok(d, `a job of ${queue} to claim`)
  return d.token
}

/**
 * A store with jobs in every state (each queue holds one kind), incidents, events and worker
 * states; `extra` more waiting jobs in queue `bulk`, then a last job with key `last-key`.
 */
async function fillSource(file: string, extra = 0): Promise<void> {
  const s = await openSqliteStore(file)
  try {
    const j = s.jobs
    await j.add(
      [
        { id: 'j-wait', queue: 'waiting', payload: { n: 1 }, priority: 7, idempotencyKey: 'k-wait' },
        { id: 'j-delay', queue: 'delayed', payload: 'later', delay: 3_600_000 },
        { id: 'j-retry', queue: 'retrying', payload: [1, 2] },
        { id: 'j-dead', queue: 'dead', payload: null, maxAttempts: 1 },
        { id: 'j-quar', queue: 'quarantined', payload: { poison: true } },
        { id: 'j-done', queue: 'done', payload: { ok: 1 }, idempotencyKey: 'k-done', timeout: 30_000 },
        { id: 'j-active', queue: 'active', payload: { busy: 1 }, timeout: 60_000 },
        { id: 'j-active-poison', queue: 'active-poison', payload: 2 },
      ],
      T0,
      defaults,
    )
    await j.settle(
      [{ kind: 'fail', token: await claimOne(s, 'retrying', T0 + 1), error: 'boom', stack: 'at x' }],
      T0 + 2,
      policy,
      random,
    )
    await j.settle(
      [{ kind: 'fail', token: await claimOne(s, 'dead', T0 + 1), error: 'fatal' }],
      T0 + 2,
      policy,
      random,
    )
    for (let i = 0; i < 3; i++) {
      await j.settle(
        [{ kind: 'crash', token: await claimOne(s, 'quarantined', T0 + 10 * i) }],
        T0 + 10 * i + 1,
        policy,
        random,
      )
    }
    const done = await claimOne(s, 'done', T0 + 5)
    await j.settle(
      [
        { kind: 'checkpoint', token: done, state: { step: 2 } },
        { kind: 'progress', token: done, value: 0.5 },
        { kind: 'ack', token: done, result: { sent: true } },
      ],
      T0 + 6,
      policy,
      random,
    )
    const active = await claimOne(s, 'active', T0 + 7)
    await j.settle([{ kind: 'checkpoint', token: active, state: { page: 3 } }], T0 + 8, policy, random)
    // Two crashes behind it: the third, at the copy, reaches the poison threshold (3).
    for (let i = 0; i < 2; i++) {
      await j.settle(
        [{ kind: 'crash', token: await claimOne(s, 'active-poison', T0 + 20 + i) }],
        T0 + 21 + i,
        policy,
        random,
      )
    }
    await claimOne(s, 'active-poison', T0 + 30)
    for (let i = 0; i < extra; i += 1000) {
      const n = Math.min(1000, extra - i)
      await j.add(
        Array.from({ length: n }, (_, k) => ({ id: `bulk-${i + k}`, queue: 'bulk', payload: { i: i + k } })),
        T0 + 40,
        defaults,
      )
    }
    if (extra > 0)
      await j.add([{ id: 'last', queue: 'bulk', payload: 0, idempotencyKey: 'last-key' }], T0 + 41, defaults)
    const incidents = [1, 2, 3].map((n) => incidentRecord(`inc-${n}`, `email#${n}`, T0 + n * 1000))
    for (const inc of incidents) await s.saveIncident(inc)
    for (const inc of incidents) {
      await s.appendEvent(incidentEvent('incident:opened', inc))
      await s.appendEvent(incidentEvent('incident:recovered', inc, inc.detectedAt + 500))
    }
    const state: SavedWorkerState = {
      workerId: 'email#1',
      pool: 'email',
      savedAt: T0 + 1500,
      incidentId: 'inc-1',
      logTail: ['out| hello', 'err| oops'],
      lastReport: null,
      exit: null,
      checkpoint: { cursor: 'abc' },
    }
    await s.saveWorkerState(state)
  } finally {
    await s.close()
  }
}

const SOURCE_IDS = [
  'j-wait',
  'j-delay',
  'j-retry',
  'j-dead',
  'j-quar',
  'j-done',
  'j-active',
  'j-active-poison',
]

interface Snapshot {
  jobs: (Job | undefined)[]
  incidents: unknown
  events: unknown
  state: unknown
}

async function snapshot(s: SqliteStore | PostgresStore): Promise<Snapshot> {
  return {
    jobs: await Promise.all(SOURCE_IDS.map((id) => s.jobs.getJob(id))),
    incidents: await s.listIncidents({ limit: 1000 }),
    events: await s.listEvents({ limit: 1000 }),
    state: await s.loadWorkerState('email#1'),
  }
}

/** The source's jobs as the target should hold them: the in-flight ones as their crash leaves them. */
function expectedJobs(jobs: (Job | undefined)[]): (Job | undefined)[] {
  return jobs.map((j) => {
    if (j?.state !== 'active') return j
    const crashes = j.crashes + 1
    const quarantined = crashes >= POLICY.poisonThreshold
    return {
      ...j,
      state: quarantined ? 'quarantined' : 'waiting',
      crashes,
      runAt: j.updatedAt,
      finishedAt: quarantined ? j.updatedAt : null,
      leaseWorker: null,
      leaseExpires: null,
      ownerNode: null,
      ownerEpoch: null,
    }
  })
}

function copy(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(['store', 'copy', ...args], {
    built: true,
    env: { ...process.env, NO_COLOR: '1', TZ: 'UTC', SHEPHERD_CONFIG: '', ...env },
  })
}

describe('shepherd store copy', () => {
  it('copies every row equal, puts in-flight jobs back as a crash would, and a second run writes nothing', async (t) => {
    if (skip) return t.skip(skip)
    const file = path.join(tempDir(t), 'shepherd.db')
    await fillSource(file)
    const url = target(t)
    const source = await openSqliteStore(file).then(async (s) => {
      try {
        return await snapshot(s)
      } finally {
        await s.close()
      }
    })
    assert.equal(source.jobs.filter((j) => j?.state === 'active').length, 2)

    const first = await copy(['--from', file, '--to-env', 'PG_TARGET', '--json'], { PG_TARGET: url })
    assert.equal(first.code, 0, first.stderr)
    const summary = JSON.parse(first.stdout) as {
      committed: boolean
      tables: { table: string; read: number; copied: number; alreadyThere: number; conflicts: number }[]
      jobStates: Record<string, number>
      inFlight: { requeued: number; quarantined: number }
    }
    assert.equal(summary.committed, true)
    assert.deepEqual(
      summary.tables.map((x) => [x.table, x.read, x.copied, x.alreadyThere, x.conflicts]),
      [
        ['jobs', 8, 8, 0, 0],
        ['incidents', 3, 3, 0, 0],
        ['events', 6, 6, 0, 0],
        ['worker_state', 1, 1, 0, 0],
      ],
    )
    assert.deepEqual(summary.inFlight, { requeued: 1, quarantined: 1 })
    assert.deepEqual(summary.jobStates, { waiting: 4, dead: 1, quarantined: 2, done: 1 })

    const copied = await withPg(url, snapshot)
    assert.deepEqual(copied.jobs, expectedJobs(source.jobs))
    assert.deepEqual(copied.incidents, source.incidents)
    assert.deepEqual(copied.events, source.events)
    assert.deepEqual(copied.state, source.state)
    // The key still names its job: an add with it is a duplicate of the copied job.
    await withPg(url, async (s) => {
      const [dup] = await s.jobs.add(
        [{ queue: 'waiting', payload: 'x', idempotencyKey: 'k-wait' }],
        T0 + 50,
        defaults,
      )
      assert.deepEqual(dup, { id: 'j-wait', added: false })
      // New events are numbered after the copied ones.
      const seq = await s.appendEvent(
        incidentEvent('incident:opened', incidentRecord('inc-9', 'email#9', T0 + 9000)),
      )
      assert.equal(seq, 7)
      // The job put back is claimed again, with its checkpoint.
      const [d] = await s.jobs.claim('active', 1, 'pg#1', T0 + 60)
      assert.equal(d?.job.id, 'j-active')
      assert.deepEqual(d?.job.checkpoint, { page: 3 })
    })

    // The second run: the job claimed since differs now, so it is a conflict, refused as a whole.
    const again = await copy(['--from', file, '--to', url])
    assert.equal(again.code, 1, again.stdout)
    assert.match(again.stderr, /SHEPHERD_STORE_COPY_CONFLICT/)
    assert.match(again.stderr, /1 jobs \(j-active\)/)
  })

  it('a second copy skips every row and writes nothing; --dry-run writes nothing', async (t) => {
    if (skip) return t.skip(skip)
    const file = path.join(tempDir(t), 'shepherd.db')
    await fillSource(file)
    const url = target(t)
    const dry = await copy(['--from', file, '--to', url, '--dry-run'])
    assert.equal(dry.code, 0, dry.stderr)
    assert.match(dry.stdout, /Dry run: nothing was written/)
    assert.match(dry.stdout, /1 back to waiting, 1 quarantined/)
    assert.deepEqual(await withPg(url, (s) => s.jobs.counts(T0)), [])

    assert.equal((await copy(['--from', file, '--to', url])).code, 0)
    const before = await withPg(url, snapshot)
    const second = await copy(['--from', file, '--to', url])
    assert.equal(second.code, 0, second.stderr)
    assert.match(second.stdout, /jobs\s+8\s+0\s+8\s+0/)
    assert.match(second.stdout, /skipped 18 rows the target already holds/)
    assert.deepEqual(await withPg(url, snapshot), before)
  })

  it('refuses while a supervisor owns the source, and copies once it is gone', async (t) => {
    if (skip) return t.skip(skip)
    const file = path.join(tempDir(t), 'shepherd.db')
    await fillSource(file)
    const url = target(t)
    const owner = await openSqliteStore(file)
    const claim = {
      owner: 'sup-1',
      node: os.hostname(),
      host: os.hostname(),
      pid: process.pid,
      startTicks: null,
      apiUrl: 'http://127.0.0.1:9',
    }
    const decision = await owner.claimOwnership(claim, Date.now(), 30_000, () => true)
    assert.equal(decision.kind, 'take')
    try {
      const r = await copy(['--from', file, '--to', url])
      assert.equal(r.code, 1)
      assert.match(r.stderr, /SHEPHERD_STORE_LOCKED/)
      assert.match(r.stderr, new RegExp(`pid ${process.pid}`))
      assert.match(r.stderr, /Nothing was copied/)
    } finally {
      // Closed without a release: the lease row stays, as a killed supervisor leaves it.
      await owner.close()
    }
    const r = await copy(['--from', file, '--to', url])
    assert.equal(r.code, 0, r.stderr)
    assert.equal((await withPg(url, (s) => s.jobs.getJob('j-wait')))?.priority, 7)
  })

  it('a target that refuses a row midway is left as it was', async (t) => {
    if (skip) return t.skip(skip)
    const file = path.join(tempDir(t), 'shepherd.db')
    // 2,500 more jobs: the refused one comes in the fourth batch, after three were written.
    await fillSource(file, 2_500)
    const url = target(t)
    await withPg(url, (s) =>
      s.jobs.add(
        [{ id: 'theirs', queue: 'bulk', payload: 'theirs', idempotencyKey: 'last-key' }],
        T0,
        defaults,
      ),
    )
    const r = await copy(['--from', file, '--to', url])
    assert.equal(r.code, 1, r.stdout)
    assert.match(r.stderr, /SHEPHERD_STORE_COPY_FAILED/)
    assert.match(r.stderr, /jobs_queue_idempotency_key/)
    assert.match(r.stderr, /rolled back: the target is as it was/)
    await withPg(url, async (s) => {
      assert.deepEqual(
        (await s.jobs.counts(T0)).map((c) => [c.queue, c.waiting + c.delayed]),
        [['bulk', 1]],
      )
      assert.deepEqual(await s.listIncidents(), [])
      assert.deepEqual(await s.listEvents(), [])
    })
  })

  it('a connection lost midway leaves the target as it was', async (t) => {
    if (skip) return t.skip(skip)
    const file = path.join(tempDir(t), 'shepherd.db')
    await fillSource(file)
    const { schema, url } = testSchema()
    t.after(() => dropSchema(schema))
    await withPg(url, async () => undefined)
    // Holds back writes to events: the copy writes jobs and incidents, then waits there.
    const blocker = new pg.Client({ connectionString: TEST_PG_URL })
    await blocker.connect()
    try {
      await blocker.query('BEGIN')
      await blocker.query(`LOCK TABLE ${schema}.events IN EXCLUSIVE MODE`)
      const running = copy(['--from', file, '--to', url])
      const waiting = await waitFor(async () => {
        const found = await adminQuery<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO events%'",
        )
        return found[0]?.pid ?? false
      }, 'the copy waiting to write events')
      await adminQuery('SELECT pg_terminate_backend($1)', [waiting])
      const r = await running
      assert.equal(r.code, 1, r.stdout)
      assert.match(r.stderr, /SHEPHERD_STORE_COPY_FAILED/)
      assert.match(r.stderr, /rolled back: the target is as it was/)
    } finally {
      await blocker.query('ROLLBACK')
      await blocker.end()
    }
    await withPg(url, async (s) => {
      assert.deepEqual(await s.jobs.counts(T0), [])
      assert.deepEqual(await s.listIncidents(), [])
      assert.deepEqual(await s.listEvents(), [])
    })
  })

  it('other rows under the same ids are reported, never overwritten; --skip-conflicts copies the rest', async (t) => {
    if (skip) return t.skip(skip)
    const file = path.join(tempDir(t), 'shepherd.db')
    await fillSource(file)
    const url = target(t)
    await withPg(url, (s) => s.jobs.add([{ id: 'j-done', queue: 'other', payload: 'theirs' }], T0, defaults))
    const refused = await copy(['--from', file, '--to', url])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /Nothing was copied: .* 1 jobs \(j-done\)/)
    assert.deepEqual(
      (await withPg(url, (s) => s.jobs.counts(T0))).map((c) => c.queue),
      ['other'],
    )

    const rest = await copy(['--from', file, '--to', url, '--skip-conflicts'])
    assert.equal(rest.code, 0, rest.stderr)
    assert.match(rest.stdout, /jobs: 1 rows differ in the target .*: j-done/)
    await withPg(url, async (s) => {
      assert.equal((await s.jobs.getJob('j-done'))?.payload, 'theirs')
      assert.equal((await s.jobs.getJob('j-wait'))?.priority, 7)
    })
  })

  it('bad usage exits 2', async (t) => {
    const file = path.join(tempDir(t), 'shepherd.db')
    const none = await copy(['--from', file])
    assert.equal(none.code, 2)
    assert.match(none.stderr, /one of --to/)
    const unset = await copy(['--from', file, '--to-env', 'NO_SUCH_VAR_FOR_COPY'])
    assert.equal(unset.code, 2)
    assert.match(unset.stderr, /NO_SUCH_VAR_FOR_COPY is not set/)
    const notPg = await copy(['--from', file, '--to', 'postgres://x:y@h/d?schema=Bad'])
    assert.equal(notPg.code, 2)
    const missing = await copy(['--from', file, '--to', 'postgres://postgres@127.0.0.1:5432/postgres'])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /no such file/)
  })
})
