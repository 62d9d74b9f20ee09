/**
 * The fleet-wide chores: work that must run once for the whole fleet, not once per agent (pruning
 * old events, finished jobs and notification claims past their window; putting dead agents' jobs
 * back and closing their open incidents). Every agent keeps the
 * schedule; only the leader (src/store/leader-election.ts) runs a chore when it falls due. A
 * chore runs at once when its agent becomes the leader, so killing the leader moves the chores to
 * another agent within the leadership's lease and one renewal.
 *
 * A chore must be safe to run twice: two leaders cannot overlap while the hosts' clocks agree to
 * within the margin, but a chore that began just before its leader lost the leadership may still
 * finish after another began (each chore here is a bounded, idempotent statement).
 * @module
 */
import type { Logger } from '../logger.js'
import type { TimerPort } from '../ports/clock.js'

/** One chore: what to run and how often. */
export interface Chore {
  /** For the log: "prune events". */
  name: string
  everyMs: number
  run(now: number): Promise<unknown>
}

export interface FleetChoresOptions {
  chores: readonly Chore[]
  /**
   * Whether this agent leads the fleet now, asked once per look: the election's
   * `checkStanding()`, which records a leadership found lapsed.
   */
  leading: () => boolean
  now: () => number
  timers: TimerPort
  logger: Logger
  /**
   * How often the agent looks whether it became the leader (so that a new leader starts at once).
   * The election's renewal interval.
   */
  lookEveryMs: number
}

/** Runs the chores on the leader; see the module's doc. */
export class FleetChores {
  readonly #o: FleetChoresOptions
  /** When each chore last ran here (by index); -Infinity: due. */
  readonly #ranAt: number[]
  /** Chores under way, by index: a chore slower than its interval is not started twice. */
  readonly #running = new Map<number, Promise<unknown>>()
  #timer: unknown = null
  #led = false

  constructor(o: FleetChoresOptions) {
    this.#o = o
    this.#ranAt = o.chores.map(() => -Infinity)
  }

  /** Looks now, then every `lookEveryMs`, until {@link stop}. */
  start(): void {
    if (this.#timer !== null) return
    this.#look()
  }

  /** Stops looking; resolves once the chores under way have finished. */
  async stop(): Promise<void> {
    if (this.#timer !== null) this.#o.timers.clear(this.#timer)
    this.#timer = null
    await Promise.allSettled([...this.#running.values()])
  }

  #look(): void {
    this.#timer = this.#o.timers.set(() => this.#look(), this.#o.lookEveryMs)
    const leading = this.#o.leading()
    // A new reign owes every chore at once: the last leader may have died with them due.
    if (leading && !this.#led) this.#ranAt.fill(-Infinity)
    this.#led = leading
    if (!leading) return
    const now = this.#o.now()
    this.#o.chores.forEach((chore, i) => {
      if (this.#running.has(i) || now - this.#ranAt[i]! < chore.everyMs) return
      this.#ranAt[i] = now
      const run = chore
        .run(now)
        .catch((err: unknown) => this.#o.logger.warn({ err, chore: chore.name }, `could not ${chore.name}`))
        .finally(() => this.#running.delete(i))
      this.#running.set(i, run)
    })
  }
}
