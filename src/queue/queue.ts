/**
 * The queue service: the one way jobs are added, listed, retried and purged, by code
 * (`const q = await Queue.open('config/worker_recovery.yaml'); await q.add('email', { to })`), by
 * the HTTP API and by the `shepherd` commands. Each job's defaults (`queues.<name>.max_attempts`,
 * `timeout`) are computed here, and every bad argument is refused here, in the same words.
 *
 * It writes the store directly, so it works whether the supervisor runs or not. The store wakes
 * the dispatchers that watch it after each commit that put jobs in a queue (`JobStore.watch`): the
 * supervisor of this process at once, and on PostgreSQL every agent of the fleet (LISTEN/NOTIFY);
 * a supervisor that hears nothing (SQLite, another process) finds the jobs at its next poll.
 * @module
 */
import { systemClock } from '../adapters/system-clock.js'
import { configuredQueues, loadConfigFile, type LoadedConfig, queueSettings } from '../config/load.js'
import { type Config, QueueSchema } from '../config/schema.js'
import type { Job } from '../core/job.js'
import { ShepherdError } from '../errors.js'
import type { Clock } from '../ports/clock.js'
import {
  type AddResult,
  type JobQuery,
  type PurgeState,
  type QueueCounts,
  zeroCounts,
} from '../ports/job-store.js'
import type { Store } from '../ports/store.js'
import { openStore } from '../store/open-store.js'
import { joinIssues, parseWith } from '../validation.js'
import {
  type CheckedJob,
  EnqueueBodySchema,
  type EnqueueOptions,
  QueueNameSchema,
  toNewJob,
} from './enqueue.js'

export type { AddResult, JobQuery, PurgeState, QueueCounts } from '../ports/job-store.js'
export type { CheckedJob, EnqueueOptions } from './enqueue.js'

/** One job to add: its payload and the enqueue options (`id`, `idempotencyKey`, `delay`, …). */
export type EnqueueJob = { payload: unknown } & EnqueueOptions

/** A job's defaults in one queue: what a job that sets no `maxAttempts` or `timeout` gets. */
export interface QueueDefaults {
  maxAttempts: number
  timeoutMs: number | null
}

/** Options of a {@link Queue} beyond its store and config. */
export interface QueueOptions {
  /**
   * Close the store with the queue ({@link Queue.open} opens its own).
   * @defaultValue false: the caller owns the store
   */
  ownsStore?: boolean
}

export class Queue implements AsyncDisposable {
  /** Opens the store named by a Shepherd config file (`store.path`). */
  static async open(configFile: string, o: { clock?: Clock } = {}): Promise<Queue> {
    const loaded = loadConfigFile(configFile)
    return new Queue(await openStore(loaded.store), loaded, o.clock ?? systemClock, { ownsStore: true })
  }

  readonly #defaults: (queue: string) => QueueDefaults

  /**
   * @param loaded the config whose `queues:` give each queue's defaults and the queues
   *   {@link overview} always lists; without one, every queue gets the schema's defaults.
   */
  constructor(
    private readonly store: Store,
    private readonly loaded: Pick<LoadedConfig, 'config'> | undefined,
    private readonly clock: Clock = systemClock,
    private readonly options: QueueOptions = {},
  ) {
    this.#defaults = queueDefaults(loaded?.config)
  }

  /**
   * Adds one job. Resolves once it is stored (durably). `added` is false when the id or the
   * idempotency key existed already: the existing job is left as it was.
   * @throws ShepherdError SHEPHERD_BAD_REQUEST naming what is wrong; nothing is added.
   * @example
   * ```ts
   * await queue.add('email', { to: 'a@example.com' }, { idempotencyKey: 'welcome:42', delay: '10s' })
   * ```
   */
  async add(queue: string, payload: unknown, options: EnqueueOptions = {}): Promise<AddResult> {
    const [r] = await this.addMany(queue, [{ payload, ...options }])
    return r!
  }

  /**
   * Adds many jobs in one transaction, in order; a duplicate may be earlier in the same call.
   * @throws ShepherdError SHEPHERD_BAD_REQUEST naming the first bad job (`job 3: delay: …`);
   *   nothing is added.
   */
  async addMany(queue: string, jobs: readonly EnqueueJob[]): Promise<AddResult[]> {
    checkQueueName(queue)
    const checked = jobs.map((job, i) => {
      const parsed = parseWith(EnqueueBodySchema, job)
      if (!parsed.success)
        throw new ShepherdError('SHEPHERD_BAD_REQUEST', `job ${i + 1}: ${joinIssues(parsed.issues)}`)
      return parsed.data
    })
    return this.addChecked(queue, checked)
  }

  /**
   * Adds jobs that the enqueue schema already accepted (the API's validated body, the lines
   * `shepherd enqueue` checked), as {@link addMany} does, without checking them twice.
   */
  async addChecked(queue: string, jobs: readonly CheckedJob[]): Promise<AddResult[]> {
    checkQueueName(queue)
    const items = jobs.map((job) => toNewJob(queue, job.payload, job))
    return this.store.jobs.add(items, this.clock.now(), this.#defaults)
  }

  /** The queue's jobs, newest first: at most `limit` (default 50, at most 1000), of `state` if given. */
  async list(queue: string, query: JobQuery = {}): Promise<Job[]> {
    checkQueueName(queue)
    return this.store.jobs.listJobs(queue, query, this.clock.now())
  }

  /** One job, whatever its queue; undefined when no job has that id. */
  async getJob(id: string): Promise<Job | undefined> {
    return this.store.jobs.getJob(id)
  }

  /** The counts of every queue that has jobs, or of `queue` alone (zeros when it has none). */
  async counts(queue?: string): Promise<QueueCounts[]> {
    if (queue !== undefined) checkQueueName(queue)
    return this.store.jobs.counts(this.clock.now(), queue)
  }

  /**
   * The counts of every queue that has jobs, plus every queue the config names (with zeros): what
   * `GET /api/queues` and `shepherd queues` show. Sorted by name.
   */
  async overview(): Promise<QueueCounts[]> {
    const counted = await this.store.jobs.counts(this.clock.now())
    const seen = new Set(counted.map((c) => c.queue))
    const config = this.loaded?.config
    const missing = config ? configuredQueues(config).filter((q) => !seen.has(q)) : []
    return [...counted, ...missing.map(zeroCounts)].sort((a, b) =>
      a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0,
    )
  }

  /**
   * Puts the queue's dead-lettered or quarantined jobs (all of them, or those of `ids` that are in
   * that state) back to waiting, due now, attempts and crashes reset; resolves with how many.
   * @example
   * ```ts
   * await queue.retry('email', 'dead') // after fixing what made them fail
   * ```
   */
  async retry(queue: string, from: 'dead' | 'quarantined', ids?: readonly string[]): Promise<number> {
    checkQueueName(queue)
    return this.store.jobs.retry(queue, from, this.clock.now(), ids)
  }

  /**
   * Deletes the queue's jobs in `state` for good (all of them, or those of `ids` that are in it)
   * and resolves with how many. `waiting` takes the jobs not yet delivered (due, delayed, waiting
   * for a retry); a job in flight is never deleted.
   * @example
   * ```ts
   * await queue.purge('email', 'waiting', ['welcome-42']) // take back a job not yet run
   * ```
   */
  async purge(queue: string, state: PurgeState, ids?: readonly string[]): Promise<number> {
    checkQueueName(queue)
    return this.store.jobs.purge(queue, state, ids)
  }

  /** How many jobs {@link purge} would delete now, with the same arguments (what `shepherd purge` asks about). */
  async purgeable(queue: string, state: PurgeState, ids?: readonly string[]): Promise<number> {
    checkQueueName(queue)
    if (ids) {
      const jobs = await Promise.all([...new Set(ids)].map((id) => this.store.jobs.getJob(id)))
      return jobs.filter((j) => j?.queue === queue && j.state === state).length
    }
    const [counts] = await this.store.jobs.counts(this.clock.now(), queue)
    if (!counts) return 0
    switch (state) {
      case 'waiting':
        // Counts split the waiting state into due and delayed (not yet due, retries in backoff included).
        return counts.waiting + counts.delayed
      case 'dead':
        return counts.deadLettered
      case 'quarantined':
        return counts.quarantined
      case 'done':
        return counts.done
    }
  }

  async close(): Promise<void> {
    if (this.options.ownsStore) await this.store.close()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

/**
 * Refuses a name that is not a queue name (letters, digits, `_`, `.`, `-`).
 * @throws ShepherdError SHEPHERD_BAD_REQUEST `queue: expected a queue name of letters, …, got "e mail" (string)`
 */
export function checkQueueName(queue: string): void {
  const parsed = parseWith(QueueNameSchema, queue, { root: 'queue' })
  if (!parsed.success) throw new ShepherdError('SHEPHERD_BAD_REQUEST', joinIssues(parsed.issues))
}

/** Each queue's job defaults: `queues.<name>` of the config, else the schema's. */
export function queueDefaults(config: Config | undefined): (queue: string) => QueueDefaults {
  return (queue) => {
    const s = config ? queueSettings(config, queue) : QueueSchema.parse({})
    return { maxAttempts: s.max_attempts, timeoutMs: s.timeout ?? null }
  }
}
