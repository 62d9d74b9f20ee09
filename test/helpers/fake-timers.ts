/**
 * Fake timers on a fake clock, for code that takes a TimerPort or a Scheduler (the supervisor, the
 * dispatcher, the report scheduler). They do what Node's setTimeout does with a delay above
 * 2^31−1 ms (or one that is not a number ≥ 0): fire it after 1 ms, and note it in `overflows`, so
 * that a test sees the spin the real thing would have.
 *
 * Timers count elapsed time, as Node's do: moving the clock by hand (`clock.set`, a clock that
 * jumps back) changes what `now()` says, not when a pending timer fires. `advance` and `run` move
 * both together.
 */
import type { FakeClock, Scheduler } from '../../src/ports/clock.js'

/** setTimeout's largest delay (Node: TIMEOUT_MAX). */
export const NODE_TIMEOUT_MAX = 2 ** 31 - 1

interface Pending {
  id: number
  /** Elapsed time at which it fires. */
  at: number
  fn: () => void
}

/** Lets every promise chain that waits for nothing but other promises run to its end. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export class FakeTimers implements Scheduler {
  private pending: Pending[] = []
  private seq = 0
  /** Time that has passed for the timers (the clock may have been moved besides). */
  private elapsed = 0
  /** Every delay ever armed, in order. */
  readonly armed: number[] = []

  constructor(private readonly clock: FakeClock) {}

  /** Delays Node would have turned into 1 ms. */
  readonly overflows: number[] = []

  set(fn: () => void, ms: number): unknown {
    const id = ++this.seq
    this.armed.push(ms)
    let delay = ms
    if (!(ms >= 0 && ms <= NODE_TIMEOUT_MAX)) {
      this.overflows.push(ms)
      delay = 1
    }
    this.pending.push({ id, at: this.elapsed + delay, fn })
    return id
  }

  clear(handle: unknown): void {
    this.pending = this.pending.filter((p) => p.id !== handle)
  }

  /** Runs `fn` at the next advance or run, before the timers due later (a turn takes no time). */
  defer(fn: () => void): void {
    this.pending.push({ id: ++this.seq, at: this.elapsed, fn })
  }

  /** Timers armed (and calls deferred) and not yet fired or cleared. */
  get size(): number {
    return this.pending.length
  }

  /** How long until the next timer fires, or null when none is pending. */
  get nextIn(): number | null {
    if (this.pending.length === 0) return null
    return Math.min(...this.pending.map((p) => p.at)) - this.elapsed
  }

  /**
   * Moves the clock `ms` on, firing every timer that falls due on the way, in order, each at its
   * own time (a timer armed by one that fires is fired too when it falls due in the span).
   */
  advance(ms: number): void {
    const end = this.elapsed + ms
    for (let next = this.nextDue(end); next; next = this.nextDue(end)) this.fire(next)
    this.moveTo(end)
  }

  /**
   * As {@link advance}, for code that awaits: before each timer and at the end, every promise chain
   * that was started runs as far as it can ({@link settle}), so that what it arms is seen in time.
   */
  async run(ms: number): Promise<void> {
    const end = this.elapsed + ms
    for (;;) {
      await settle()
      const next = this.nextDue(end)
      if (!next) break
      this.fire(next)
    }
    this.moveTo(end)
    await settle()
  }

  private nextDue(end: number): Pending | undefined {
    return this.pending.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0]
  }

  private fire(p: Pending): void {
    this.pending = this.pending.filter((q) => q !== p)
    this.moveTo(p.at)
    p.fn()
  }

  private moveTo(at: number): void {
    if (at > this.elapsed) {
      this.clock.advance(at - this.elapsed)
      this.elapsed = at
    }
  }
}
