/**
 * The dispatcher under fake time, on the in-memory job queue of the supervisor's harness: it
 * listens to a worker's messages itself, delivers on the next turn, polls a starved queue, and
 * gives a gone worker's jobs back saying how many it held, and spreads the jobs over every ready worker.
 */
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'

import { jobPolicy } from '../../src/config/load.js'
import { QueueSchema } from '../../src/config/schema.js'
import type { AnyEvent } from '../../src/core/events.js'
import { ShepherdError } from '../../src/errors.js'
import type { Logger } from '../../src/logger.js'
import { FakeClock } from '../../src/ports/clock.js'
import type { SupervisorMessage, WorkerMessage } from '../../src/protocol/messages.js'
import { Dispatcher, type JobWorker } from '../../src/queue/dispatcher.js'
import { FakeTimers } from '../helpers/fake-timers.js'
import { MemoryJobs, T0 } from './supervisor/harness.js'

class TestWorker implements JobWorker {
  readonly currentId: string
  alive = true
  readonly received: SupervisorMessage[] = []
  private readonly listeners: Array<(m: WorkerMessage) => void> = []
  constructor(readonly key: string) {
    this.currentId = key
  }
  send(m: SupervisorMessage): boolean {
    this.received.push(m)
    return true
  }
  recordOutcome(): void {}
  onMessage(listener: (m: WorkerMessage) => void): void {
    this.listeners.push(listener)
  }
  say(m: WorkerMessage): void {
    for (const l of this.listeners) l(m)
  }
  get tokens(): string[] {
    return this.received.flatMap((m) => (m.t === 'jobs' ? m.jobs.map((j) => j.token) : []))
  }
}

/**
 * Runs what it is sent one job at a time, each taking `jobMs` of fake time, and acks it saying so:
 * the SDK's work() with concurrency 1.
 */
function runJobs(w: TestWorker, timers: FakeTimers, jobMs: number): void {
  const queue: string[] = []
  let busy = false
  const next = (): void => {
    const token = queue.shift()
    if (token === undefined) {
      busy = false
      return
    }
    busy = true
    timers.set(() => {
      w.say({ t: 'settle', items: [{ k: 'ack', token, ms: jobMs }] })
      next()
    }, jobMs)
  }
  const send = w.send.bind(w)
  w.send = (m) => {
    if (m.t === 'jobs') queue.push(...m.jobs.map((j) => j.token))
    if (!busy) next()
    return send(m)
  }
}

/** A worker of queue q (concurrency 1) that has asked the dispatcher for work. */
function asking(dispatcher: Dispatcher<TestWorker>, key: string): TestWorker {
  const w = new TestWorker(key)
  dispatcher.watch(w, { pool: 'q', queue: 'q', concurrency: 1 })
  w.say({ t: 'work', concurrency: 1 })
  return w
}

function setup(t: TestContext, o: { storeFails?: boolean } = {}) {
  const clock = new FakeClock(T0)
  const timers = new FakeTimers(clock)
  const jobs = new MemoryJobs(() => clock.now())
  const events: AnyEvent[] = []
  const warnings: string[] = []
  const logger = {
    warn: (_o: unknown, msg: string) => warnings.push(msg),
    error: (fields: unknown, msg: string) =>
      o.storeFails ? warnings.push(msg) : assert.fail(`${msg}: ${JSON.stringify(fields)}`),
    info: () => undefined,
    debug: () => undefined,
  } as unknown as Logger
  const dispatcher = new Dispatcher<TestWorker>({
    jobs,
    now: () => clock.now(),
    timers,
    random: () => 0.5,
    policy: () => jobPolicy(QueueSchema.parse({}), 0),
    emit: (type, severity, origin, message, data) =>
      events.push({
        type,
        severity,
        message,
        data,
        at: clock.now(),
        pool: origin.pool ?? null,
        workerId: origin.workerId ?? null,
        incidentId: null,
      } as AnyEvent),
    logger,
    onStaleWorker: () => assert.fail('no worker is stale here'),
    eligible: () => true,
  })
  t.after(async () => {
    const stopped = dispatcher.stop()
    await timers.run(0)
    await stopped
  })
  return { clock, timers, jobs, events, warnings, dispatcher }
}

describe('the dispatcher under fake time', () => {
  it('keeps only the latest checkpoint and progress of a delivery while the store takes no writes, and every ack', async (t) => {
    const { timers, jobs, dispatcher } = setup(t, { storeFails: true })
    jobs.put('q', 1)
    const w = new TestWorker('q:1')
    dispatcher.watch(w, { pool: 'q', queue: 'q', concurrency: 1 })
    w.say({ t: 'work', concurrency: 1 })
    await timers.run(0)
    const exchange = jobs.exchange.bind(jobs)
    let down = true
    const written: string[][] = []
    jobs.exchange = async (settlements, claims, ...rest) => {
      if (down) throw new ShepherdError('SHEPHERD_STORE_UNREACHABLE', 'ECONNREFUSED')
      if (settlements.length > 0) written.push(settlements.map((x) => `${x.kind} ${JSON.stringify(x)}`))
      return exchange(settlements, claims, ...rest)
    }
    for (let i = 1; i <= 50; i++) {
      w.say({ t: 'settle', items: [{ k: 'progress', token: 'job-1:1', value: i }] })
      if (i % 10 === 0) w.say({ t: 'settle', items: [{ k: 'checkpoint', token: 'job-1:1', state: { i } }] })
      await timers.run(500)
    }
    w.say({ t: 'settle', items: [{ k: 'ack', token: 'job-1:1', ms: 5 }] })
    await timers.run(0)
    down = false
    await timers.run(2_000)
    assert.equal(jobs.jobs.get('job-1')!.state, 'done')
    const kinds = written.flat().map((x) => x.split(' ')[0])
    assert.deepEqual(kinds, ['progress', 'checkpoint', 'ack'], 'one of each: the latest')
    assert.match(written.flat()[0]!, /"value":50/)
    assert.match(written.flat()[1]!, /"i":50/)
  })
  it('takes a settlement written again, whose first commit landed before the connection was lost, as applied: no stale worker, no event', async (t) => {
    const { timers, jobs, events, warnings, dispatcher } = setup(t, { storeFails: true })
    jobs.put('q', 1)
    const w = new TestWorker('q:1')
    dispatcher.watch(w, { pool: 'q', queue: 'q', concurrency: 1 })
    w.say({ t: 'work', concurrency: 1 })
    await timers.run(0)
    assert.deepEqual(w.tokens, ['job-1:1'])
    // PostgreSQL restarting: the commit of the ack reaches the server, its answer does not.
    const exchange = jobs.exchange.bind(jobs)
    let lost = 1
    jobs.exchange = async (settlements, claims, ...rest) => {
      const r = await exchange(settlements, claims, ...rest)
      if (settlements.length > 0 && lost-- > 0) {
        throw new ShepherdError('SHEPHERD_STORE_UNREACHABLE', 'Connection terminated unexpectedly')
      }
      return r
    }
    w.say({ t: 'settle', items: [{ k: 'ack', token: 'job-1:1', ms: 5 }] })
    await timers.run(0)
    assert.equal(jobs.jobs.get('job-1')!.state, 'done', 'the first write took effect')
    assert.equal(lost, 0)
    assert.match(warnings.join('\n'), /kept, retrying/)
    // Written again after the backoff: the store answers stale for the delivery it already ended.
    await timers.run(2_000)
    assert.deepEqual(
      events.filter((e) => e.type === 'job:stale'),
      [],
      'not a worker that answered after its job was given away',
    )
  })

  it('names the queue on an ack, for its keep_done; an ack written again that finds its job deleted was applied', async (t) => {
    const { timers, jobs, events, dispatcher } = setup(t, { storeFails: true })
    jobs.put('q', 1)
    const w = new TestWorker('q:1')
    dispatcher.watch(w, { pool: 'q', queue: 'q', concurrency: 1 })
    w.say({ t: 'work', concurrency: 1 })
    await timers.run(0)
    const written: unknown[] = []
    const exchange = jobs.exchange.bind(jobs)
    let lost = 1
    jobs.exchange = async (settlements, claims, ...rest) => {
      written.push(...settlements)
      const r = await exchange(settlements, claims, ...rest)
      if (settlements.length > 0 && lost-- > 0) {
        // keep_done 0: the ack deleted the job; its answer is lost with the connection.
        jobs.jobs.delete('job-1')
        throw new ShepherdError('SHEPHERD_STORE_UNREACHABLE', 'Connection terminated unexpectedly')
      }
      return r
    }
    w.say({ t: 'settle', items: [{ k: 'ack', token: 'job-1:1', ms: 5, result: 7 }] })
    await timers.run(0)
    assert.deepEqual(written[0], { kind: 'ack', token: 'job-1:1', result: 7, queue: 'q' })
    // Written again: the store finds no job for the token, which only the first ack can have deleted.
    await timers.run(2_000)
    assert.equal(written.length, 2, 'written again once')
    assert.deepEqual(
      events.filter((e) => e.type === 'job:stale'),
      [],
      'not a worker that answered after its job was given away',
    )
  })

  it('hears a worker ask for work, and delivers on the next turn, at most its concurrency', async (t) => {
    const { timers, jobs, dispatcher } = setup(t)
    jobs.put('q', 5)
    const w = new TestWorker('q:1')
    dispatcher.watch(w, { pool: 'q', queue: 'q', concurrency: 2 })
    w.say({ t: 'work', concurrency: 8 })
    assert.deepEqual(w.tokens, [], 'not within the turn that asked')
    await timers.run(0)
    assert.deepEqual(w.tokens, ['job-1:1', 'job-2:1'], 'the pool’s concurrency caps the worker’s')
    w.say({ t: 'settle', items: [{ k: 'ack', token: 'job-1:1', ms: 500 }] }) // a long job: nothing prefetched
    await timers.run(0)
    assert.deepEqual(w.tokens, ['job-1:1', 'job-2:1', 'job-3:1'])
    assert.equal(jobs.jobs.get('job-1')!.state, 'done')
  })

  it('tells a worker of a pool without a queue nothing, and says why', async (t) => {
    const { timers, jobs, warnings, dispatcher } = setup(t)
    jobs.put('q', 1)
    const w = new TestWorker('web:1')
    dispatcher.watch(w, { pool: 'web', queue: undefined, concurrency: 1 })
    w.say({ t: 'work', concurrency: 1 })
    await timers.run(100)
    assert.deepEqual(w.received, [])
    assert.deepEqual(warnings, ['a worker asked for jobs, but its pool has no queue'])
  })

  it('polls a starved queue every 25 ms: a job added elsewhere starts within that', async (t) => {
    const { timers, jobs, dispatcher } = setup(t)
    const w = asking(dispatcher, 'q:1')
    await timers.run(0)
    jobs.put('q', 1)
    await timers.run(24)
    assert.deepEqual(w.tokens, [])
    await timers.run(1)
    assert.deepEqual(w.tokens, ['job-1:1'])
  })

  it('delivers at once when the store wakes it for a queue it serves, and not for another', async (t) => {
    const { timers, jobs, dispatcher } = setup(t)
    const w = asking(dispatcher, 'q:1')
    await timers.run(0)
    jobs.put('q', 1)
    jobs.wakes.tell(['other'])
    await timers.run(0)
    assert.deepEqual(w.tokens, [], 'a wake for a queue nobody here serves is no round')
    jobs.wakes.tell(['other', 'q'])
    await timers.run(0)
    assert.deepEqual(w.tokens, ['job-1:1'], 'delivered without any time passing')
  })

  it('polls once a second while the store’s wakes come from every process, every 25 ms again once they stop', async (t) => {
    const { timers, jobs, dispatcher } = setup(t)
    jobs.everywhere = true
    const w = asking(dispatcher, 'q:1')
    await timers.run(0)
    jobs.put('q', 1) // added without a wake (one the listening connection missed)
    await timers.run(999)
    assert.deepEqual(w.tokens, [], 'no look before the slow poll')
    await timers.run(1)
    assert.deepEqual(w.tokens, ['job-1:1'], 'the fallback poll found it')
    w.say({ t: 'settle', items: [{ k: 'ack', token: 'job-1:1', ms: 1 }] })
    await timers.run(0)
    // The listening connection drops: the store says so with a wake for any queue.
    jobs.everywhere = false
    jobs.wakes.tell(null)
    await timers.run(0)
    jobs.put('q', 1)
    await timers.run(25)
    assert.deepEqual(w.tokens, ['job-1:1', 'job-2:1'], 'polling every 25 ms again')
  })

  it('stops watching the store’s wakes when it stops', async (t) => {
    const { timers, jobs, dispatcher } = setup(t)
    assert.equal(jobs.wakes.watched, false, 'nobody watches before a worker asks for work')
    asking(dispatcher, 'q:1')
    assert.equal(jobs.wakes.watched, true)
    const stopped = dispatcher.stop()
    await timers.run(0)
    await stopped
    assert.equal(jobs.wakes.watched, false)
  })

  it('gives a gone worker’s jobs back and says how many it held; a second call shares the first', async (t) => {
    const { timers, jobs, events, dispatcher } = setup(t)
    jobs.put('q', 3)
    const w = new TestWorker('q:1')
    dispatcher.watch(w, { pool: 'q', queue: 'q', concurrency: 2 })
    w.say({ t: 'work', concurrency: 2 })
    await timers.run(0)
    w.say({ t: 'settle', items: [{ k: 'checkpoint', token: 'job-1:1', state: { at: 3 } }] })
    w.alive = false
    const first = dispatcher.workerGone(w, 'crash')
    const second = dispatcher.workerGone(w, 'crash')
    assert.equal(first, second)
    assert.deepEqual(await first, { jobs: 2, checkpointed: 1 })
    assert.deepEqual(dispatcher.held(w), { jobs: 0, checkpointed: 0 })
    const requeued = events.filter((e) => e.type === 'job:requeued')
    assert.equal(requeued.length, 1)
    assert.deepEqual((requeued[0]!.data as { jobIds: string[] }).jobIds, ['job-1', 'job-2'])
    assert.equal(jobs.jobs.get('job-1')!.crashes, 1)
    assert.deepEqual(await dispatcher.workerGone(w, 'crash'), { jobs: 0, checkpointed: 0 }, 'nothing left')
  })

  it('spreads a light load over every ready worker: 25 jobs/s of 30 ms on 4 workers of concurrency 1', async (t) => {
    const { timers, jobs, dispatcher } = setup(t)
    const workers = [1, 2, 3, 4].map((i) => new TestWorker(`q:${i}`))
    for (const w of workers) {
      runJobs(w, timers, 30)
      dispatcher.watch(w, { pool: 'q', queue: 'q', concurrency: 1 })
      w.say({ t: 'work', concurrency: 1 })
    }
    for (let i = 0; i < 100; i++) {
      jobs.put('q', 1)
      dispatcher.kick() // what the store's wake of an add does
      await timers.run(40)
    }
    await timers.run(1_000)
    assert.equal([...jobs.jobs.values()].filter((j) => j.state === 'done').length, 100)
    assert.deepEqual(
      workers.map((w) => w.tokens.length),
      [25, 25, 25, 25],
      'each worker in turn: the one given a job least recently takes the next',
    )
  })

  it('claims the next half batch of tiny jobs while the worker still holds the last: it never waits for a claim', async (t) => {
    const { timers, jobs, dispatcher } = setup(t)
    jobs.put('q', 2000)
    const w = asking(dispatcher, 'q:1')
    await timers.run(0)
    assert.deepEqual(w.tokens, ['job-1:1'], 'no job seen yet: no prefetch')
    w.say({ t: 'settle', items: [{ k: 'ack', token: 'job-1:1', ms: 0 }] })
    await timers.run(0)
    // A no-op handler: 1,024 ahead (the most). One claim brings concurrency + 512, and the next,
    // 512 more, goes out at once, before the worker has said anything of the first.
    assert.deepEqual(
      w.received.map((m) => (m.t === 'jobs' ? m.jobs.length : 0)),
      [1, 513, 512],
    )
    const held = w.tokens.slice(1)
    w.say({ t: 'settle', items: held.slice(0, 513).map((token) => ({ k: 'ack' as const, token, ms: 0 })) })
    await timers.run(0)
    assert.deepEqual(
      w.received.map((m) => (m.t === 'jobs' ? m.jobs.length : 0)),
      [1, 513, 512, 513],
      'half a batch done: the next half',
    )
  })

  it('spreads a burst: every worker runs jobs before any worker holds more than it runs at once', async (t) => {
    const { timers, jobs, dispatcher } = setup(t)
    const workers = [1, 2, 3].map((i) => new TestWorker(`q:${i}`))
    for (const w of workers) {
      dispatcher.watch(w, { pool: 'q', queue: 'q', concurrency: 2 })
      w.say({ t: 'work', concurrency: 2 })
    }
    await timers.run(0)
    jobs.put('q', 4)
    dispatcher.kick()
    await timers.run(0)
    assert.deepEqual(
      workers.map((w) => w.tokens.length),
      [2, 1, 1],
    )
  })
})
