/**
 * Delivers jobs from the store to the workers that asked for them, and settles what comes back.
 *
 * - The dispatcher listens to every worker's messages (`watch`): a worker subscribes with its
 *   concurrency (the SDK's `work()`) and is sent at most that many jobs at once (plus a batch
 *   ahead for short jobs), in one `jobs` message per round; its settlements come the same way.
 * - Which worker gets which of the due jobs is the dispatch policy's decision (core/dispatch.ts):
 *   spread over every ready worker of the queue, concurrency first, prefetch after, suspects alone.
 * - Rounds are coalesced: whatever frees a slot or adds work (an ack, a new subscriber, an
 *   enqueue, a delayed job falling due) asks for one round on the next turn of the event loop.
 *   The store wakes the dispatcher when jobs of a queue it serves are added or put back
 *   (`JobStore.watch`): on PostgreSQL those of every process, through LISTEN/NOTIFY. While workers
 *   have free slots and the queue looked empty, the store is also asked again every POLL_MS, which
 *   picks up what no wake told (on SQLite, jobs enqueued by other processes: the CLI, a `Queue`
 *   elsewhere); only every POLL_LISTENING_MS while the store's wakes come from every process.
 * - Settlements (acks, failures, checkpoints, progress) are written in one transaction per turn.
 *   A settlement whose token is no longer the job's current delivery is refused by the store; its
 *   worker is reported (the supervisor stops it): it woke up after its job was given away.
 * - When a worker dies or hangs, the jobs it held go back at once (`workerGone`, which says how
 *   many), before its incident opens and its replacement starts, counting toward quarantine. At
 *   shutdown they are released, counting nothing.
 * @module
 */
import { backgroundTimers } from '../adapters/timers.js'
import { parseDeliveryToken } from '../core/ids.js'
import type { Delivery, JobPolicy } from '../core/job.js'
import { isShepherdError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Scheduler } from '../ports/clock.js'
import { type LongTimeout, setLongTimeout } from '../ports/clock.js'
import type { JobStore, JobWatch, Settlement, SettleResult } from '../ports/job-store.js'
import type { SettleItem } from '../protocol/messages.js'
import { type ClaimPlan, planClaims, starvedQueues } from './claims.js'
import { type OutcomeDeps, reportOutcomes, reportRequeued } from './job-outcomes.js'
import { StoreBackoff } from './store-backoff.js'
import { type HeldSummary, type JobWorker, NOTHING_HELD, Subscription } from './subscription.js'

export type { HeldSummary, JobWorker } from './subscription.js'

/**
 * How often a worker with free slots looks for jobs when the queue looked empty. Low enough that
 * an enqueue from another process starts within a few tens of ms; each look is one indexed query.
 */
const POLL_MS = 25

/**
 * How often the same look is made while the store wakes the dispatcher for every process's
 * enqueues (PostgreSQL while its listening connection is up): the poll is then only the fallback
 * for what a wake cannot tell, so an idle agent asks the database once a second rather than forty
 * times. A wake that says the listening stopped brings the next look back within POLL_MS.
 */
const POLL_LISTENING_MS = 1_000

/** Group commit of settlements: at most this often, unless SETTLE_BATCH are waiting. */
const SETTLE_EVERY_MS = 2
const SETTLE_BATCH = 512

export interface DispatcherDeps<W extends JobWorker> extends OutcomeDeps<W> {
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
  logger: Logger
  /** The jobs a worker finished, per settle message it sent: for metrics. */
  onJobs?: (pool: string, queue: string, jobs: FinishedJobs) => void
  /** Whether a subscribed worker may be given jobs now (warm spares wait until they are promoted). */
  eligible: (worker: W) => boolean
  /**
   * Whether this agent may claim jobs at all now: in a fleet, only while its lease is surely live
   * (src/store/fleet-membership.ts). While it may not, workers keep what they hold and the
   * dispatcher looks again at its next poll.
   * @defaultValue always
   */
  mayClaim?: () => boolean
}

/** The jobs one settle message of a worker finished: counted once, not job by job. */
export interface FinishedJobs {
  ok: number
  failed: number
  /** How long each handler ran, where known. */
  ms: number[]
}

interface PendingSettlement<W extends JobWorker> {
  item: Settlement
  from: Subscription<W> | null
  /**
   * An earlier write of it failed. When the connection was lost during the commit (PostgreSQL
   * restarting), that write may have taken effect: the store then answers `stale` for a delivery
   * that is still the job's current one, which means "already applied", not a worker that woke up
   * after its job was given away.
   */
  retried?: true
}

export class Dispatcher<W extends JobWorker> {
  private readonly subs = new Map<string, Subscription<W>>()
  /** Workers whose jobs are being given back: a second call waits for the same work. */
  private readonly going = new Map<string, Promise<HeldSummary>>()
  private pending: PendingSettlement<W>[] = []
  /** Deliveries the agent may have lost by itself (see {@link excuse}). */
  private excused = new Set<string>()
  /** The settlements being written now (out of `pending` until the store answers). */
  private writing: readonly PendingSettlement<W>[] = []
  private turnScheduled = false
  private pollTimer: LongTimeout | null = null
  /** When the poll timer fires (the dispatcher's clock). */
  private pollAt = 0
  /** The store's wakes, from the first subscriber on. */
  private watching: JobWatch | null = null
  private settleTimer: LongTimeout | null = null
  private lastSettleAt = 0
  private dueTimers = new Map<string, LongTimeout>()
  private stopped = false
  /** Serialises the turns (claims) and the put-backs of gone workers. */
  private chain: Promise<unknown> = Promise.resolve()
  /** The write of settlements under way, beside the turns; null when none is. */
  private settling: Promise<void> | null = null
  /** Deliveries so far: the order in which workers were last given jobs. */
  private given = 0
  private readonly backoff: StoreBackoff
  private readonly timers: Scheduler

  constructor(private readonly d: DispatcherDeps<W>) {
    this.timers = d.timers ?? backgroundTimers
    this.backoff = new StoreBackoff(d.now, d.logger)
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
    if (existing) existing.capacity = concurrency
    else this.subs.set(worker.key, new Subscription(worker, pool, queue, concurrency))
    if (!this.stopped) this.watching ??= this.d.jobs.watch((queues) => this.woken(queues))
    this.kick()
  }

  /**
   * The store says jobs may be due (null: in any queue, or its listening connection came or went):
   * a round now if a worker here serves one of them, and the next poll no later than it should be.
   */
  private woken(queues: readonly string[] | null): void {
    if (this.stopped) return
    if (queues === null) {
      if (this.pollTimer) this.schedulePoll()
      this.kick()
      return
    }
    for (const sub of this.subs.values()) {
      if (queues.includes(sub.queue)) {
        this.kick()
        return
      }
    }
  }

  /** No new jobs for this worker (it is stopping gracefully); the ones it holds may finish. */
  drain(worker: W): void {
    const sub = this.subs.get(worker.key)
    if (sub) sub.draining = true
  }

  /**
   * The tokens of every delivery this agent holds: those its workers run, and those whose outcome
   * is not written yet (a fleet agent keeps them when it rejoins: JobStore.adopt).
   */
  heldTokens(): string[] {
    const tokens = new Set<string>()
    for (const sub of this.subs.values()) for (const token of sub.held.keys()) tokens.add(token)
    for (const p of [...this.writing, ...this.pending]) tokens.add(p.item.token)
    return [...tokens]
  }

  /**
   * Deliveries this agent may have lost through no fault of its workers (its lease lapsed and the
   * fleet gave them to other agents): a refused answer for one of them is told (`job:stale`) but
   * does not stop the worker, which did nothing wrong. Replaces the last such set.
   */
  excuse(tokens: readonly string[]): void {
    this.excused = new Set(tokens)
  }

  /** How many deliveries the worker holds, and how many of them have a checkpoint. */
  held(worker: W): HeldSummary {
    return this.subs.get(worker.key)?.summary() ?? NOTHING_HELD
  }

  /** Settlements from a worker, written on the next turn. */
  receive(worker: W, items: SettleItem[]): void {
    const sub = this.subs.get(worker.key) ?? null
    const now = this.d.now()
    const finished: FinishedJobs = { ok: 0, failed: 0, ms: [] }
    for (const i of items) {
      if (i.k === 'release') {
        sub?.release(i.token)
      } else if (i.k === 'ack' || i.k === 'fail') {
        worker.recordOutcome(now, i.k === 'ack')
        const h = sub?.held.get(i.token)
        // The handler's own run time when the worker says it; else delivery to ack.
        const ms = typeof i.ms === 'number' ? i.ms : h ? now - h.deliveredAt : null
        if (sub && h) {
          if (i.k === 'ack') finished.ok++
          else finished.failed++
          if (ms !== null) {
            sub.noteJobMs(ms)
            finished.ms.push(ms)
          }
        }
        // The slot is free as soon as the worker says so; the write and the next claim follow on
        // the next turn.
        sub?.release(i.token)
      } else if (i.k === 'checkpoint') {
        const h = sub?.held.get(i.token)
        if (h) h.checkpointed = true
      }
      this.pending.push({ item: toSettlement(i, sub?.queue), from: sub })
    }
    if (sub && finished.ok + finished.failed > 0) this.d.onJobs?.(sub.pool, sub.queue, finished)
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
    if (!sub) return Promise.resolve(NOTHING_HELD)
    this.subs.delete(worker.key)
    const summary = sub.summary()
    const tokens = [...sub.held.keys()]
    for (const t of tokens) sub.release(t)
    if (tokens.length === 0) return Promise.resolve(summary)
    // Deliveries run in the order they were sent, `capacity` at a time: the oldest ones the worker
    // still held were running, the rest were prefetched and never started. Only the running ones
    // were in flight at the crash; the others go back counting nothing, so prefetch never makes an
    // innocent job a suspect (or, with poison_threshold 1, a quarantined one).
    const done = this.enqueue(async () => {
      // What its worker reported before it went (a checkpoint) is written first.
      await this.settling
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
        this.backoff.failed(e, `${tokens.length} job(s) of ${worker.currentId} to put back in ${sub.queue}`)
        this.pending.push(...items.map((item) => ({ item, from: sub, retried: true as const })))
        this.scheduleSettle(this.backoff.retryAt - this.d.now())
        return
      }
      this.backoff.worked()
      reportRequeued(this.d, sub, why, results)
      // Redeliver now, before anything else (the replacement's start) gets the event loop.
      await this.turn()
    }).then(() => summary)
    this.going.set(worker.key, done)
    void done.finally(() => this.going.delete(worker.key))
    return done
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
    this.watching?.close()
    this.watching = null
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
   * One turn: a claim for every worker with free slots, sent out at once, and the settlements that
   * came in, written alongside (see {@link startSettle}): a worker has its next job while the acks
   * it sent are being synced, so the commit that makes acknowledged work durable overlaps with the
   * workers' own work and with the next claim instead of delaying them.
   */
  private async turn(claim = !this.stopped): Promise<void> {
    // Group commit: settlements are written together at most every SETTLE_EVERY_MS (or once
    // SETTLE_BATCH are waiting), one write at a time, so one commit covers many acks. Nobody waits
    // on them: workers have their next jobs already, and an ack lost to a crash within that window
    // only means the job, in flight at the crash, runs again, which at-least-once allows. Shutdown
    // writes at once. While the store fails, nothing is written before the backoff's retryAt.
    const now = this.d.now()
    if (!claim) {
      await this.settling
      const batch = latestOnly(this.pending)
      this.pending = []
      if (batch.length > 0) {
        this.lastSettleAt = now
        await this.writeSettlements(batch, now)
      }
      return
    }
    const retryAt = this.backoff.retryAt
    if (now < retryAt) {
      if (this.pending.length > 0) this.scheduleSettle(retryAt - now)
      else this.schedulePoll(retryAt - now)
      return
    }
    const claiming = this.claim(now)
    if (this.pending.length >= SETTLE_BATCH || now - this.lastSettleAt >= SETTLE_EVERY_MS)
      this.startSettle(now)
    else if (this.pending.length > 0) this.scheduleSettle(SETTLE_EVERY_MS - (now - this.lastSettleAt))
    // Claims failed: the store takes no writes; the settlements not yet started wait for the backoff.
    if (!(await claiming) && this.pending.length > 0) this.scheduleSettle(this.backoff.retryAt - now)
  }

  /**
   * Writes the pending settlements, unless a write of them is under way (what comes in meanwhile
   * goes in the next one, as soon as it ends): beside the claims, not after them. On PostgreSQL the
   * two go on two pooled connections at once; a settlement and a claim never touch the same row
   * (claims take waiting jobs, settlements change active ones), and what a settlement puts back is
   * claimed once it is committed.
   */
  private startSettle(now: number): void {
    if (this.settling !== null || this.pending.length === 0) return
    const batch = latestOnly(this.pending)
    this.pending = []
    this.lastSettleAt = now
    this.settling = this.writeSettlements(batch, now)
      .catch((e: unknown) => this.d.logger.error({ err: e }, 'job store operation failed'))
      .finally(() => {
        this.settling = null
        if (this.pending.length > 0) this.kick()
      })
  }

  /**
   * The claims the dispatch policy makes for the workers that may take jobs now, delivered at once;
   * false when the store refused them. A worker stopping gracefully, one not yet promoted from warm
   * spare, and one whose channel is gone take nothing.
   */
  private async claim(now: number): Promise<boolean> {
    if (this.d.mayClaim?.() === false) {
      this.schedulePoll()
      return true
    }
    const ready = [...this.subs.values()].filter(
      (s) => !s.draining && s.worker.alive && this.d.eligible(s.worker),
    )
    let plan: ClaimPlan<W>
    let claimed: Delivery[][] = []
    try {
      plan = await planClaims(ready, (queue, atMost) => this.d.jobs.countDue(queue, now, atMost))
      if (plan.claims.length > 0) {
        const requests = plan.claims.map((c) => c.request)
        ;({ claimed } = await this.d.jobs.exchange([], requests, now, this.d.policy, this.d.random))
        this.backoff.worked()
      }
    } catch (e) {
      this.backoff.failed(e, 'claims of new jobs')
      this.schedulePoll(this.backoff.retryAt - now)
      return false
    }
    plan.claims.forEach(({ sub }, i) => {
      if (claimed[i]!.length > 0) this.deliver(sub, claimed[i]!)
    })
    const starved = starvedQueues(plan, claimed)
    if (starved.size > 0 && !this.stopped) {
      this.schedulePoll()
      for (const q of starved) await this.watchDue(q, now)
    } else if (plan.claims.length > 0) {
      // Every claim got all it asked for, and a claim asks for at most half a batch ahead (see
      // core/dispatch.ts): the next one goes out now, while the workers run what this one brought.
      this.kick()
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
    this.writing = batch
    try {
      await this.writeOrKeep(batch, now)
    } finally {
      this.writing = []
    }
  }

  private async writeOrKeep(batch: PendingSettlement<W>[], now: number): Promise<void> {
    const outcome = await this.trySettle(batch, now)
    if (outcome === 'written') return
    if (outcome === 'kept') {
      this.pending = latestOnly([...batch.map(retried), ...this.pending])
      this.scheduleSettle(this.backoff.retryAt - now)
      return
    }
    for (let i = 0; i < batch.length; i++) {
      const one = await this.trySettle([batch[i]!], now)
      if (one === 'kept') {
        this.pending = latestOnly([...batch.slice(i).map(retried), ...this.pending])
        this.scheduleSettle(this.backoff.retryAt - now)
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
      this.backoff.worked()
      const excused = (token: string) => this.excused.delete(token)
      settled.forEach((r, i) => {
        // The common answer, an ack that finished its job, has nothing to report.
        if (r.outcome === 'done') return
        if (batch[i]!.retried && appliedBefore(r)) {
          this.d.logger.debug(
            { token: r.token, kind: r.kind },
            'a settlement written again had been applied already',
          )
          return
        }
        reportOutcomes(this.d, [r], batch[i]!.from, excused)
      })
      return 'written'
    } catch (e) {
      if (isShepherdError(e, 'SHEPHERD_BAD_REQUEST')) return 'refused'
      this.backoff.failed(e, `${batch.length} settlement(s) (acks, failures, checkpoints)`)
      return 'kept'
    }
  }

  private deliver(sub: Subscription<W>, deliveries: Delivery[]): void {
    sub.lastGiven = this.given += deliveries.length
    const messages = sub.hold(deliveries, this.d.now(), ({ job, token }) =>
      job.timeoutMs === null
        ? null
        : this.after(job.timeoutMs, () => this.timedOut(sub, token, job.timeoutMs!)),
    )
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

  /**
   * The next look in `inMs` (by default the poll interval: POLL_MS, or POLL_LISTENING_MS while the
   * store's wakes come from every process); a look due sooner already stands.
   */
  private schedulePoll(inMs = this.watching?.everywhere ? POLL_LISTENING_MS : POLL_MS): void {
    if (this.stopped) return
    const at = this.d.now() + inMs
    if (this.pollTimer) {
      if (this.pollAt <= at) return
      this.pollTimer.clear()
    }
    this.pollAt = at
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
    const h = sub.release(token)
    if (!h) return
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
}

/**
 * Settlements to write, without the checkpoints and progress that a later one of the same delivery
 * replaces (the store keeps only the latest of each), applied to every batch and to what is kept
 * while the store takes no writes: what a long outage holds in memory is bounded by the
 * deliveries in flight, not by how often handlers report.
 */
function latestOnly<W extends JobWorker>(pending: PendingSettlement<W>[]): PendingSettlement<W>[] {
  const seen = new Set<string>()
  const kept: PendingSettlement<W>[] = []
  for (let i = pending.length - 1; i >= 0; i--) {
    const p = pending[i]!
    if (p.item.kind === 'checkpoint' || p.item.kind === 'progress') {
      const key = `${p.item.kind} ${p.item.token}`
      if (seen.has(key)) continue
      seen.add(key)
    }
    kept.push(p)
  }
  return kept.reverse()
}

function retried<W extends JobWorker>(p: PendingSettlement<W>): PendingSettlement<W> {
  return { ...p, retried: true }
}

/**
 * Whether a stale answer to a settlement written again means that its first write took effect:
 * the token is still the job's current delivery (nobody was given the job since), so the only
 * settlement that can have ended it is this one. An ack that finds no job at all deleted it the
 * first time (`keep_done: 0`): nothing else takes an active job's row away.
 */
function appliedBefore(r: SettleResult): boolean {
  if (r.outcome !== 'stale') return false
  if (r.job === undefined) return r.kind === 'ack'
  return parseDeliveryToken(r.token)?.delivery === r.job.delivery
}

/** The store's form of a worker's answer; an ack names the queue, whose keep_done it follows. */
function toSettlement(i: SettleItem, queue: string | undefined): Settlement {
  switch (i.k) {
    case 'ack':
      return queue === undefined
        ? { kind: 'ack', token: i.token, result: i.result }
        : { kind: 'ack', token: i.token, result: i.result, queue }
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
