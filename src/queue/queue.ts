/**
 * The enqueue API for code: `const q = await Queue.open('config/worker_recovery.yaml'); await
 * q.add('email', { to })`. It writes the store directly, so it works whether the supervisor runs
 * or not; a running supervisor picks new jobs up within a few tens of milliseconds.
 * @module
 */
import { systemClock } from '../adapters/system-clock.js'
import { configuredQueues, loadConfigFile, type LoadedConfig, queueSettings } from '../config/load.js'
import type { Config } from '../config/schema.js'
import type { Clock } from '../core/clock.js'
import type { Job } from '../core/job.js'
import { ShepherdError } from '../errors.js'
import {
  type AddResult,
  type JobStore,
  type PurgeState,
  type QueueCounts,
  zeroCounts,
} from '../store/job-store.js'
import { openStore } from '../store/open-store.js'
import type { Store } from '../store/store.js'
import {
  checkPayloadDepth,
  type EnqueueOptions,
  EnqueueOptionsSchema,
  QUEUE_NAME,
  toNewJob,
} from './enqueue.js'

export type { AddResult, PurgeState, QueueCounts } from '../store/job-store.js'
export type { EnqueueOptions } from './enqueue.js'

export class Queue implements AsyncDisposable {
  /** Opens the store named by a Shepherd config file (`store.path`). */
  static async open(configFile: string, o: { clock?: Clock } = {}): Promise<Queue> {
    const loaded = loadConfigFile(configFile)
    return new Queue(await openStore(loaded.storePath), loaded, o.clock ?? systemClock, true)
  }

  constructor(
    private readonly store: Store,
    private readonly loaded: LoadedConfig,
    private readonly clock: Clock = systemClock,
    private readonly ownsStore = false,
  ) {}

  /**
   * Adds one job. Resolves once it is stored (durably). `added` is false when the id or the
   * idempotency key existed already: the existing job is left as it was.
   *
   * @example
   * ```ts
   * await queue.add('email', { to: 'a@example.com' }, { idempotencyKey: 'welcome:42', delay: '10s' })
   * ```
   */
  async add(queue: string, payload: unknown, options: EnqueueOptions = {}): Promise<AddResult> {
    const [r] = await this.addMany(queue, [{ payload, ...options }])
    return r!
  }

  /** Adds many jobs in one transaction. */
  async addMany(
    queue: string,
    jobs: ReadonlyArray<{ payload: unknown } & EnqueueOptions>,
  ): Promise<AddResult[]> {
    checkQueueName(queue)
    const items = jobs.map((j, i) => {
      const { payload, ...rest } = j
      checkPayloadDepth(payload, `job ${i + 1}: `)
      const parsed = EnqueueOptionsSchema.safeParse(rest)
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!
        const where = issue.path.length ? `${issue.path.join('.')}: ` : ''
        throw new ShepherdError('SHEPHERD_BAD_REQUEST', `job ${i + 1}: ${where}${issue.message}`)
      }
      return toNewJob(queue, payload, parsed.data)
    })
    return this.store.jobs.add(items, this.clock.now(), (q) => {
      const s = queueSettings(this.loaded.config, q)
      return { maxAttempts: s.max_attempts, timeoutMs: s.timeout ?? null }
    })
  }

  counts(queue?: string): Promise<QueueCounts[]> {
    return this.store.jobs.counts(this.clock.now(), queue)
  }

  getJob(id: string): Promise<Job | undefined> {
    return this.store.jobs.getJob(id)
  }

  /**
   * Deletes the queue's jobs in `state` for good (all of them, or those of `ids` that are in it)
   * and resolves with how many. `waiting` takes the jobs not yet delivered (due, delayed, waiting
   * for a retry); a job in flight is never deleted.
   *
   * @example
   * ```ts
   * await queue.purge('email', 'waiting', ['welcome-42']) // take back a job not yet run
   * ```
   */
  purge(queue: string, state: PurgeState, ids?: readonly string[]): Promise<number> {
    checkQueueName(queue)
    return this.store.jobs.purge(queue, state, ids)
  }

  async close(): Promise<void> {
    if (this.ownsStore) await this.store.close()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

export function checkQueueName(queue: string): void {
  if (!QUEUE_NAME.test(queue)) {
    throw new ShepherdError(
      'SHEPHERD_BAD_REQUEST',
      `"${queue}" is not a queue name: use letters, digits, "_", "." or "-"`,
    )
  }
}

/**
 * The counts of every queue that has jobs, plus (with a config) every queue the config names,
 * with zeros: what `GET /api/queues` and `shepherd queues` show. Sorted by name.
 */
export async function queueOverview(jobs: JobStore, now: number, config?: Config): Promise<QueueCounts[]> {
  const counted = await jobs.counts(now)
  const seen = new Set(counted.map((c) => c.queue))
  const missing = config ? configuredQueues(config).filter((q) => !seen.has(q)) : []
  return [...counted, ...missing.map(zeroCounts)].sort((a, b) =>
    a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0,
  )
}
