/**
 * Fake one-shot timers on a fake clock, for code that takes a TimerPort (the dispatcher, the report
 * scheduler). They do what Node's setTimeout does with a delay above 2^31−1 ms (or one that is not
 * a number ≥ 0): fire it after 1 ms, and note it in `overflows`, so that a test sees the spin the
 * real thing would have.
 */
import type { FakeClock, TimerPort } from '../../src/core/clock.js'

/** setTimeout's largest delay (Node: TIMEOUT_MAX). */
export const NODE_TIMEOUT_MAX = 2 ** 31 - 1

interface Pending {
  id: number
  at: number
  fn: () => void
}

export class FakeTimers implements TimerPort {
  private pending: Pending[] = []
  private seq = 0
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
    this.pending.push({ id, at: this.clock.now() + delay, fn })
    return id
  }

  clear(handle: unknown): void {
    this.pending = this.pending.filter((p) => p.id !== handle)
  }

  /** Timers armed and not yet fired or cleared. */
  get size(): number {
    return this.pending.length
  }

  /**
   * Moves the clock to `now + ms`, firing every timer that falls due on the way, in order, each at
   * its own time (a timer armed by one that fires is fired too when it falls due in the span).
   */
  advance(ms: number): void {
    const end = this.clock.now() + ms
    while (this.fireNext(end));
    this.clock.set(end)
  }

  /**
   * As {@link advance}, for code that awaits: before each timer and at the end, every promise chain
   * that was started runs as far as it can (one turn of the event loop), so that what it arms is
   * seen in time.
   */
  async run(ms: number): Promise<void> {
    const end = this.clock.now() + ms
    do await nextTurn()
    while (this.fireNext(end))
    this.clock.set(end)
    await nextTurn()
  }

  /** Fires the first timer due by `end`, at its time; false when there is none. */
  private fireNext(end: number): boolean {
    const next = this.pending.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0]
    if (!next) return false
    this.pending = this.pending.filter((p) => p !== next)
    if (next.at > this.clock.now()) this.clock.set(next.at)
    next.fn()
    return true
  }
}

/** One turn of the real event loop: promise callbacks and ready I/O run. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
