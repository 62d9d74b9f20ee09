/**
 * Delivers jobs from the store to the workers that asked for them, and settles what comes back.
 *
 * - The dispatcher listens to every worker's messages (`watch`): a worker subscribes with its
 *   concurrency (the SDK's `work()`) and is sent at most that many jobs at once, in one `jobs`
 *   message per round; its settlements come the same way.
 * - Rounds are coalesced: whatever frees a slot or adds work (an ack, a new subscriber, an
 *   enqueue, a delayed job falling due) asks for one round on the next turn of the event loop.
 *   While workers have free slots and the queue looked empty, the store is asked again every
 *   POLL_MS, which also picks up jobs enqueued by other processes (the CLI, a `Queue` elsewhere).
 * - Settlements (acks, failures, checkpoints, progress) are written in one transaction per turn.
 *   A settlement whose token is no longer the job's current delivery is refused by the store; its
 *   worker is reported (the supervisor stops it): it woke up after its job was given away.
 * - When a worker dies or hangs, the jobs it held go back at once (`workerGone`, which says how
 *   many), before its incident opens and its replacement starts, counting toward quarantine. At
 *   shutdown they are released, counting nothing.
 * @module
 */
import { backgroundTimers } from '../adapters/timers.js'
import type { EventDataMap, EventSeverity, EventType } from '../core/events.js'
import { parseDeliveryToken } from '../core/ids.js'
import type { Delivery, JobPolicy } from '../core/job.js'
import { isShepherdError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Scheduler } from '../ports/clock.js'
import { type LongTimeout, setLongTimeout } from '../ports/clock.js'
import type { JobStore, Settlement, SettleResult } from '../ports/job-store.js'
import type { JobMessage, SettleItem, SupervisorMessage, WorkerMessage } from '../protocol/messages.js'

/**
 * How often a worker with free slots looks for jobs when the queue looked empty. Low enough that
 * an enqueue from another process starts within a few tens of ms; each look is one indexed query.
 */
const POLL_MS = 25

/** Group commit of settlements: at most this often, unless SETTLE_BATCH are waiting. */
const SETTLE_EVERY_MS = 2
const SETTLE_BATCH = 512

/**
 * A store write that failed (a full disk, a read-only or deleted store) is tried again after
 * RETRY_MIN_MS, doubling up to RETRY_MAX_MS. Settlements are kept meanwhile, never dropped: an
 * ack a worker sent is committed once the store takes writes again. The cap keeps the recovery
 * prompt (within 2 s of space coming back) at the cost of one failed write every 2 s.
 */
const RETRY_MIN_MS = 50
const RETRY_MAX_MS = 2_000

/** The deliveries a worker holds (or held when it went). */
export interface HeldSummary {
  jobs: number
  checkpointed: number
}

const NONE: HeldSummary = { jobs: 0, checkpointed: 0 }

/** What the dispatcher needs to know about a worker process. */
export interface JobWorker {
  /** Unique per process. */
  readonly key: string
  readonly currentId: string
  readonly alive: boolean
  send(message: SupervisorMessage): boolean
  recordOutcome(now: number, ok: boolean): void
  /** Subscribes to the worker's messages. */
  onMessage(listener: (message: WorkerMessage) => void): void
}

export interface DispatcherDeps<W extends JobWorker> {
  jobs: JobStore
  now: () => number
  /**
   * The timers of rounds, polls, due jobs and job timeouts; they go with `now` (tests give a fake
   * clock and fake timers together). Any wait, however long, is armed through setLongTimeout.
   * @defaultValue Node's timers, unref'd
   */
  timers?: Scheduler
  random: () => number
  policy: (queue: string) => JobPolicy
  emit: <T extends EventType>(
    type: T,
    severity: EventSeverity,
    origin: { pool?: string | null; workerId?: string | null },
    message: string,
    data: EventDataMap[T],
  ) => void
  logger: Logger
  /** A worker answered for a delivery it no longer holds: stop it. */
  onStaleWorker: (worker: W, detail: string) => void
  /** Every job a worker finished (ok) or failed, with how long its handler ran when known: for metrics. */
  onJob?: (pool: string, queue: string, ok: boolean, ms: number | null) => void
  /** Whether a subscribed worker may be given jobs now (warm spares wait until they are promoted). */
  eligible: (worker: W) => boolean
}

interface Subscription<W extends JobWorker> {
  worker: W
  pool: string
  queue: string
  /** Jobs it runs at once. */
  capacity: number
  /** Average time from delivery to ack of its recent jobs (ms), for prefetch; null before any. */
  avgJobMs: number | null
  /** Tokens of the deliveries it holds. */
  held: Map<string, Held>
  draining: boolean
}

interface Held {
  jobId: string
  queue: string
  timer: LongTimeout | null
  checkpointed: boolean
  /** It was in flight in a worker crash before: it runs alone on its worker. */
  suspect: boolean
  deliveredAt: number
}

interface PendingSettlement<W extends JobWorker> {
  item: Settlement
  from: Subscription<W> | null
}

export class Dispatcher<W extends JobWorker> {
  private readonly subs = new Map<string, Subscription<W>>()
  /** Workers whose jobs are being given back: a second call waits for the same work. */
  private readonly going = new Map<string, Promise<HeldSummary>>()
  private pending: PendingSettlement<W>[] = []
  private turnScheduled = false
  private pollTimer: LongTimeout | null = null
  private settleTimer: LongTimeout | null = null
  private lastSettleAt = 0
  private dueTimers = new Map<string, LongTimeout>()
  private stopped = false
  /** Serialises store work: settlements and claims never interleave. */
  private chain: Promise<unknown> = Promise.resolve()
  /** Store writes failed in a row (settlements or claims); 0 while the store takes them. */
  private failures = 0
  /** While failing: no store write before this time (backoff). */
  private retryAt = 0

  private readonly timers: Scheduler

  constructor(private readonly d: DispatcherDeps<W>) {
    this.timers = d.timers ?? backgroundTimers
  }

  /** A timer of any length, on the dispatcher's timers. */
  private after(ms: number, fn: () => void): LongTimeout {
    return setLongTimeout(fn, ms, this.timers)
  }

  /**
   * Listens to a new worker's messages: a request for work (at most `concurrency` at once, the
   * pool's setting) and settlements. A worker of a pool without a queue that asks for work is
   * told nothing, and the log says why.
   */
  watch(worker: W, o: { pool: string; queue: string | undefined; concurrency: number }): void {
    worker.onMessage((m) => {
      if (m.t === 'work') {
        if (o.queue === undefined) {
          this.d.logger.warn(
            { pool: o.pool, worker: worker.currentId },
            'a worker asked for jobs, but its pool has no queue',
          )
          return
        }
        this.subscribe(worker, o.pool, o.queue, Math.min(m.concurrency, o.concurrency))
      } else if (m.t === 'settle') {
        this.receive(worker, m.items)
      }
    })
  }

  /** A worker asked for jobs. */
  subscribe(worker: W, pool: string, queue: string, concurrency: number): void {
    const existing = this.subs.get(worker.key)
    if (existing) {
      existing.capacity = concurrency
    } else {
      this.subs.set(worker.key, {
        worker,
        pool,
        queue,
        capacity: concurrency,
        avgJobMs: null,
        held: new Map(),
        draining: false,
      })
    }
    this.kick()
  }

  /** No new jobs for this worker (it is stopping gracefully); the ones it holds may finish. */
  drain(worker: W): void {
    const sub = this.subs.get(worker.key)
    if (sub) sub.draining = true
  }

  /** How many deliveries the worker holds, and how many of them have a checkpoint. */
  held(worker: W): HeldSummary {
    const sub = this.subs.get(worker.key)
    return sub ? summarize(sub) : NONE
  }

  /** Settlements from a worker, written on the next turn. */
  receive(worker: W, items: SettleItem[]): void {
    const sub = this.subs.get(worker.key) ?? null
    const now = this.d.now()
    for (const i of items) {
      if (i.k === 'release') {
        if (sub) this.release(sub, i.token)
      } else if (i.k === 'ack' || i.k === 'fail') {
        worker.recordOutcome(now, i.k === 'ack')
        const h = sub?.held.get(i.token)
        // The handler's own run time when the worker says it; else delivery to ack.
        const ms = typeof i.ms === 'number' ? i.ms : h ? now - h.deliveredAt : null
        if (sub && h) {
          if (ms !== null) noteDuration(sub, ms)
          this.d.onJob?.(sub.pool, sub.queue, i.k === 'ack', ms)
        }
        // The slot is free as soon as the worker says so; the write and the next claim follow in
        // one transaction on the next turn.
        if (sub) this.release(sub, i.token)
      } else if (i.k === 'checkpoint') {
        const h = sub?.held.get(i.token)
        if (h) h.checkpointed = true
      }
      this.pending.push({ item: toSettlement(i), from: sub })
    }
    this.kick()
  }

  /**
   * The worker is gone (exited, or hung and about to be killed): the jobs it held go back to the
   * queue now (crash: counted toward quarantine; release: at shutdown, counted nothing), written
   * before this resolves so that its replacement and the other workers can have them at once.
   * Resolves with what it held; a second call while the first is under way shares it.
   */
  workerGone(worker: W, why: 'crash' | 'release'): Promise<HeldSummary> {
    const going = this.going.get(worker.key)
    if (going) return going
    const sub = this.subs.get(worker.key)
    if (!sub) return Promise.resolve(NONE)
    this.subs.delete(worker.key)
    const summary = summarize(sub)
    const tokens = [...sub.held.keys()]
    for (const t of tokens) this.release(sub, t)
    if (tokens.length === 0) return Promise.resolve(summary)
    // Deliveries run in the order they were sent, `capacity` at a time: the oldest ones the worker
    // still held were running, the rest were prefetched and never started. Only the running ones
    // were in flight at the crash; the others go back counting nothing, so prefetch never makes an
    // innocent job a suspect (or, with poison_threshold 1, a quarantined one).
    const done = this.enqueue(async () => {
      const items: Settlement[] = tokens.map((token, i) => ({
        kind: why === 'crash' && i < sub.capacity ? 'crash' : 'release',
        token,
      }))
      let results: SettleResult[]
      try {
        results = await this.d.jobs.settle(items, this.d.now(), this.d.policy, this.d.random)
      } catch (e) {
        // The store takes no writes now. The recovery goes on without it (the worker's replacement
        // starts); these wait with the other settlements until the store takes them.
        this.storeFailed(e, `${tokens.length} job(s) of ${worker.currentId} to put back in ${sub.queue}`)
        this.pending.push(...items.map((item) => ({ item, from: sub })))
        this.scheduleSettle(this.retryAt - this.d.now())
        return
      }
      this.storeWorked()
      this.requeued(sub, worker, why, results)
      // Redeliver now, before anything else (the replacement's start) gets the event loop.
      await this.turn()
    }).then(() => summary)
    this.going.set(worker.key, done)
    void done.finally(() => this.going.delete(worker.key))
    return done
  }

  private requeued(sub: Subscription<W>, worker: W, why: 'crash' | 'release', results: SettleResult[]): void {
    const requeued = results.filter((r) => r.outcome === 'requeued' || r.outcome === 'released')
    if (requeued.length > 0) {
      this.d.emit(
        'job:requeued',
        'info',
        { pool: sub.pool, workerId: worker.currentId },
        `${requeued.length} job${requeued.length === 1 ? '' : 's'} of ${worker.currentId} back in ${sub.queue} (${why})`,
        { queue: sub.queue, count: requeued.length, reason: why, jobIds: requeued.map((r) => r.job!.id) },
      )
    }
    this.report(results, sub)
  }

  /** Something changed (an ack, a free slot, an enqueue, a retry falling due): one turn soon. */
  kick(): void {
    if (this.turnScheduled || this.stopped) return
    this.turnScheduled = true
    this.timers.defer(() => {
      this.turnScheduled = false
      void this.enqueue(() => this.turn())
    })
  }

  /** Writes what is pending; stops rounds, polls and timers. In-flight jobs stay with their workers. */
  async stop(): Promise<void> {
    this.stopped = true
    this.pollTimer?.clear()
    this.settleTimer?.clear()
    for (const t of this.dueTimers.values()) t.clear()
    for (const sub of this.subs.values()) for (const h of sub.held.values()) h.timer?.clear()
    await this.flush()
    if (this.pending.length > 0) {
      // The store took no writes up to the end: these jobs are still active in it, and the next
      // supervisor puts them back in the queue (at-least-once: they run again).
      this.d.logger.error(
        { settlements: this.pending.length },
        'settlements not written at shutdown: the store takes no writes; their jobs run again after the next start',
      )
    }
  }

  /** Writes pending settlements now, without claiming anything (shutdown). */
  flush(): Promise<void> {
    return this.enqueue(() => this.turn(false))
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work)
    this.chain = next.catch((e: unknown) => this.d.logger.error({ err: e }, 'job store operation failed'))
    return next
  }

  /**
   * One turn: a claim for every worker with free slots, sent out at once, then the settlements that
   * came in. Claims go first and without waiting for the disk (a lost claim only leaves its jobs
   * waiting), so a worker has its next job while the acks it sent are being synced: the fsync that
   * makes acknowledged work durable overlaps with the workers' own work instead of delaying it.
   */
  private async turn(claim = !this.stopped): Promise<void> {
    // Group commit: settlements are written together at most every SETTLE_EVERY_MS (or once
    // SETTLE_BATCH are waiting), so one fsync covers many acks. Nobody waits on them: workers have
    // their next jobs already, and an ack lost to a crash within that window only means the job,
    // in flight at the crash, runs again, which at-least-once allows. Shutdown writes at once.
    // While the store fails, nothing is written before the backoff's retryAt.
    const now = this.d.now()
    if (claim && now < this.retryAt) {
      if (this.pending.length > 0) this.scheduleSettle(this.retryAt - now)
      else this.schedulePoll(this.retryAt - now)
      return
    }
    const settleNow =
      !claim || this.pending.length >= SETTLE_BATCH || now - this.lastSettleAt >= SETTLE_EVERY_MS
    const batch = settleNow ? this.pending : []
    if (settleNow) this.pending = []
    else if (this.pending.length > 0) this.scheduleSettle(SETTLE_EVERY_MS - (now - this.lastSettleAt))
    const subs = claim ? this.claimants() : []
    if (subs.length > 0 && !(await this.claim(subs, now))) {
      // Claims failed: the store takes no writes. The settlements wait for the backoff too.
      this.pending = [...batch, ...this.pending]
      if (this.pending.length > 0) this.scheduleSettle(this.retryAt - now)
      return
    }
    if (batch.length > 0) {
      this.lastSettleAt = now
      await this.writeSettlements(batch, now)
    }
  }

  /** One claim per worker with free slots, delivered at once; false when the store refused it. */
  private async claim(subs: Array<{ sub: Subscription<W>; free: number }>, now: number): Promise<boolean> {
    let claimed: Delivery[][]
    try {
      ;({ claimed } = await this.d.jobs.exchange(
        [],
        subs.map(({ sub, free }) => ({
          queue: sub.queue,
          limit: free,
          worker: sub.worker.currentId,
          // Suspects run alone: see claimants().
          suspects: sub.held.size === 0 ? 'alone' : 'exclude',
        })),
        now,
        this.d.policy,
        this.d.random,
      ))
    } catch (e) {
      this.storeFailed(e, 'claims of new jobs')
      this.schedulePoll(this.retryAt - now)
      return false
    }
    this.storeWorked()
    const starved = new Set<string>()
    subs.forEach(({ sub, free }, i) => {
      const deliveries = claimed[i]!
      if (deliveries.length < free) starved.add(sub.queue)
      if (deliveries.length > 0) this.deliver(sub, deliveries)
    })
    if (starved.size > 0 && !this.stopped) {
      this.schedulePoll()
      for (const q of starved) await this.watchDue(q, now)
    }
    return true
  }

  /**
   * Writes settlements in one transaction. When the store does not take them (a full disk, a
   * read-only or deleted store), they are kept, first in line, and tried again after a backoff:
   * an outcome a worker reported is never dropped. A batch refused for what one item holds (a
   * result that is not JSON) is written an item at a time, so that only that item is refused.
   */
  private async writeSettlements(batch: PendingSettlement<W>[], now: number): Promise<void> {
    const outcome = await this.trySettle(batch, now)
    if (outcome === 'written') return
    if (outcome === 'kept') {
      this.pending = [...batch, ...this.pending]
      this.scheduleSettle(this.retryAt - now)
      return
    }
    for (let i = 0; i < batch.length; i++) {
      const one = await this.trySettle([batch[i]!], now)
      if (one === 'kept') {
        this.pending = [...batch.slice(i), ...this.pending]
        this.scheduleSettle(this.retryAt - now)
        return
      }
      if (one === 'refused') {
        const { item, from } = batch[i]!
        this.d.logger.error(
          { token: item.token, kind: item.kind, worker: from?.worker.currentId },
          'a settlement the store can never take (its value is not JSON) was refused',
        )
      }
    }
  }

  private async trySettle(
    batch: PendingSettlement<W>[],
    now: number,
  ): Promise<'written' | 'kept' | 'refused'> {
    try {
      const { settled } = await this.d.jobs.exchange(
        batch.map((p) => p.item),
        [],
        now,
        this.d.policy,
        this.d.random,
      )
      this.storeWorked()
      settled.forEach((r, i) => this.report([r], batch[i]!.from))
      return 'written'
    } catch (e) {
      if (isShepherdError(e, 'SHEPHERD_BAD_REQUEST')) return 'refused'
      this.storeFailed(e, `${batch.length} settlement(s) (acks, failures, checkpoints)`)
      return 'kept'
    }
  }

  /** A store write failed: back off. The first failure of a run is logged; the store's own event says the rest. */
  private storeFailed(e: unknown, what: string): void {
    this.failures++
    this.retryAt = this.d.now() + Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.failures - 1, 16))
    const fields = { err: e, what, failures: this.failures, retryInMs: this.retryAt - this.d.now() }
    if (this.failures === 1)
      this.d.logger.error(fields, 'the store did not take a write of the queue: kept, retrying')
    else this.d.logger.debug(fields, 'the store did not take a write of the queue: kept, retrying')
  }

  private storeWorked(): void {
    if (this.failures === 0) return
    this.d.logger.info({ failures: this.failures }, 'the store takes the queue’s writes again')
    this.failures = 0
    this.retryAt = 0
  }

  /**
   * The workers that may take jobs now, with their free slots. Poison jobs are told from their
   * neighbours by running suspects alone: a job that was in flight in a crash goes only to a worker
   * that holds nothing (the 'alone' claim), and that worker gets nothing else until it is done. A
   * further crash is then the suspect's own, and a job that merely shared a worker with a poison
   * job is never quarantined with it.
   */
  private claimants(): Array<{ sub: Subscription<W>; free: number }> {
    const out: Array<{ sub: Subscription<W>; free: number }> = []
    for (const sub of this.subs.values()) {
      const prefetch = prefetchOf(sub)
      const free = sub.capacity + prefetch - sub.held.size
      // With jobs in hand ahead, refill once half the prefetch is used: fewer, larger claims.
      const wanted = prefetch > 0 && sub.held.size >= sub.capacity ? Math.ceil(prefetch / 2) : 1
      if (free < wanted || sub.draining || !sub.worker.alive || !this.d.eligible(sub.worker)) continue
      if ([...sub.held.values()].some((h) => h.suspect)) continue
      out.push({ sub, free })
    }
    return out
  }

  private deliver(sub: Subscription<W>, deliveries: Delivery[]): void {
    const now = this.d.now()
    const messages: JobMessage[] = []
    for (const { job, token } of deliveries) {
      const timer =
        job.timeoutMs === null
          ? null
          : this.after(job.timeoutMs, () => this.timedOut(sub, token, job.timeoutMs!))
      sub.held.set(token, {
        jobId: job.id,
        queue: job.queue,
        timer,
        checkpointed: job.checkpoint !== null,
        suspect: job.crashes > 0,
        deliveredAt: now,
      })
      messages.push({
        token,
        id: job.id,
        queue: job.queue,
        payload: job.payload,
        delivery: job.delivery,
        attempts: job.attempts,
        maxAttempts: job.maxAttempts,
        checkpoint: job.checkpoint ?? null,
        timeoutMs: job.timeoutMs,
      })
    }
    if (!sub.worker.send({ t: 'jobs', jobs: messages })) {
      // The channel closed under us: the exit handler gives these back through workerGone.
      this.d.logger.warn(
        { worker: sub.worker.currentId },
        'could not send jobs: the worker channel is closed',
      )
    }
  }

  private scheduleSettle(inMs: number): void {
    if (this.settleTimer || this.stopped) return
    this.settleTimer = this.after(inMs, () => {
      this.settleTimer = null
      this.kick()
    })
  }

  private schedulePoll(inMs = POLL_MS): void {
    if (this.pollTimer || this.stopped) return
    this.pollTimer = this.after(inMs, () => {
      this.pollTimer = null
      this.kick()
    })
  }

  /**
   * A delayed job (or a retry) falls due: wake up for it even if polling has stopped by then. A job
   * due in 400 days is woken for in 400 days (setLongTimeout), not every millisecond until then.
   */
  private async watchDue(queue: string, now: number): Promise<void> {
    const at = await this.d.jobs.nextDueAt(queue, now)
    this.dueTimers.get(queue)?.clear()
    this.dueTimers.delete(queue)
    if (at === null || this.stopped) return
    this.dueTimers.set(
      queue,
      this.after(at - now, () => this.kick()),
    )
  }

  private timedOut(sub: Subscription<W>, token: string, timeoutMs: number): void {
    const h = sub.held.get(token)
    if (!h) return
    this.release(sub, token)
    sub.worker.recordOutcome(this.d.now(), false)
    this.d.emit(
      'job:timeout',
      'warning',
      { pool: sub.pool, workerId: sub.worker.currentId },
      `job ${h.jobId} ran past its ${timeoutMs} ms timeout on ${sub.worker.currentId}`,
      { jobId: h.jobId, queue: h.queue, token, timeoutMs },
    )
    this.pending.push({
      item: { kind: 'fail', token, error: `timed out after ${timeoutMs} ms`, timedOut: true },
      from: null,
    })
    this.kick()
  }

  /** Forgets a delivery; true when the subscription held it. */
  private release(sub: Subscription<W>, token: string): boolean {
    const h = sub.held.get(token)
    if (!h) return false
    h.timer?.clear()
    sub.held.delete(token)
    return true
  }

  private report(results: SettleResult[], from: Subscription<W> | null): void {
    for (const r of results) {
      const job = r.job
      if (r.outcome === 'stale') {
        const jobId = parseDeliveryToken(r.token)?.jobId ?? r.token
        const who = from?.worker.currentId ?? 'a worker'
        this.d.emit(
          'job:stale',
          'warning',
          { pool: from?.pool ?? null, workerId: from?.worker.currentId ?? null },
          `${who} answered (${r.kind}) for delivery ${r.token} of job ${jobId}, which was given away: refused`,
          { jobId, queue: job?.queue ?? from?.queue ?? '', token: r.token, kind: r.kind },
        )
        if (from && from.worker.alive && (r.kind === 'ack' || r.kind === 'fail' || r.kind === 'checkpoint')) {
          this.d.onStaleWorker(from.worker, `answered for job ${jobId} after it was given to another worker`)
        }
      } else if (r.outcome === 'dead' && job) {
        this.d.emit(
          'job:dead-lettered',
          'info',
          { pool: from?.pool ?? null, workerId: from?.worker.currentId ?? null },
          `job ${job.id} of ${job.queue} dead-lettered after ${job.attempts} attempts: ${job.lastError ?? ''}`,
          { jobId: job.id, queue: job.queue, attempts: job.attempts, error: job.lastError },
        )
      } else if (r.outcome === 'quarantined' && job) {
        this.d.emit(
          'job:quarantined',
          'warning',
          { pool: from?.pool ?? null, workerId: from?.worker.currentId ?? null },
          `job ${job.id} of ${job.queue} quarantined: in flight in ${job.crashes} worker crashes or hangs`,
          { jobId: job.id, queue: job.queue, crashes: job.crashes, error: job.lastError },
        )
      }
    }
  }
}

/**
 * Short jobs are sent one batch ahead: a worker whose recent jobs took under PREFETCH_BELOW_MS on
 * average may hold as many extra deliveries as it runs at once, so that it starts its next job the
 * moment it finishes one instead of waiting for a round trip through the supervisor (and its disk
 * sync). Long jobs are not prefetched: one would wait in a busy worker while another sits idle.
 * Prefetched jobs a worker never started are released, counting nothing, when it stops gracefully.
 */
const PREFETCH_BELOW_MS = 50
const PREFETCH_MIN = 8

function prefetchOf<W extends JobWorker>(sub: Subscription<W>): number {
  return sub.avgJobMs !== null && sub.avgJobMs < PREFETCH_BELOW_MS ? Math.max(PREFETCH_MIN, sub.capacity) : 0
}

/** Exponentially weighted: recent jobs count most, one slow job does not switch prefetch off alone. */
function noteDuration<W extends JobWorker>(sub: Subscription<W>, ms: number): void {
  sub.avgJobMs = sub.avgJobMs === null ? ms : sub.avgJobMs * 0.8 + ms * 0.2
}

function summarize<W extends JobWorker>(sub: Subscription<W>): HeldSummary {
  let checkpointed = 0
  for (const h of sub.held.values()) if (h.checkpointed) checkpointed++
  return { jobs: sub.held.size, checkpointed }
}

function toSettlement(i: SettleItem): Settlement {
  switch (i.k) {
    case 'ack':
      return { kind: 'ack', token: i.token, result: i.result }
    case 'fail':
      return { kind: 'fail', token: i.token, error: i.error, stack: i.stack }
    case 'checkpoint':
      return { kind: 'checkpoint', token: i.token, state: i.state }
    case 'progress':
      return { kind: 'progress', token: i.token, value: i.value }
    case 'release':
      return { kind: 'release', token: i.token }
  }
}
