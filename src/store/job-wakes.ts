/**
 * The wakes of a JobStore (`JobStore.watch`), the same for every adapter: its subscribers, told
 * after each commit that put jobs in the queue, and which queues a write woke. SQLite tells only
 * what its own object did; PostgreSQL also tells what its listening connection hears from other
 * processes, and says through `everywhere` whether it hears them now.
 * @module
 */
import type { JobWake, JobWatch, SettleResult } from '../ports/job-store.js'

/** What a {@link JobWakes} does when its first subscriber comes and its last one goes. */
export interface WakeHooks {
  /** Whether the wakes of every process reach the subscribers now. @defaultValue never */
  everywhere?: () => boolean
  /** The first subscriber came (PostgreSQL starts listening). */
  first?: () => void
  /** The last subscriber went (PostgreSQL stops listening). */
  last?: () => void
}

/** The subscribers of one JobStore's wakes. */
export class JobWakes {
  readonly #subscribers = new Set<{ wake: JobWake }>()
  readonly #hooks: WakeHooks

  constructor(hooks: WakeHooks = {}) {
    this.#hooks = hooks
  }

  /** Subscribes `wake` (see JobStore.watch). */
  watch(wake: JobWake): JobWatch {
    const entry = { wake }
    const everywhere = this.#hooks.everywhere ?? (() => false)
    this.#subscribers.add(entry)
    if (this.#subscribers.size === 1) this.#hooks.first?.()
    const close = (): void => {
      if (!this.#subscribers.delete(entry)) return
      if (this.#subscribers.size === 0) this.#hooks.last?.()
    }
    return {
      get everywhere() {
        return everywhere()
      },
      close,
    }
  }

  /** Tells every subscriber; one that throws does not keep the others from hearing. */
  tell(queues: readonly string[] | null): void {
    if (queues !== null && queues.length === 0) return
    for (const s of [...this.#subscribers]) {
      try {
        s.wake(queues)
      } catch {
        // A subscriber's own failure is its business: wakes are hints, and the next one comes.
      }
    }
  }

  /** Whether anyone listens. */
  get watched(): boolean {
    return this.#subscribers.size > 0
  }
}

/** The outcomes of a settlement that put its job back in the queue, due now or later. */
const BACK_IN_QUEUE: ReadonlySet<string> = new Set(['retry', 'requeued', 'released'])

/** The queues whose jobs settlements put back in the queue (a retry, a crash, a release), each once. */
export function queuesWoken(settled: readonly SettleResult[]): string[] {
  const queues = new Set<string>()
  for (const r of settled) if (BACK_IN_QUEUE.has(r.outcome) && r.job) queues.add(r.job.queue)
  return [...queues]
}

/** The queues of the jobs an add inserted, each once, in the order first seen. */
export function queuesAdded(
  jobs: readonly { queue: string }[],
  added: readonly { added: boolean }[],
): string[] {
  const queues = new Set<string>()
  jobs.forEach((j, i) => {
    if (added[i]?.added) queues.add(j.queue)
  })
  return [...queues]
}
