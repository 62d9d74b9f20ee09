/**
 * The supervisor's timers, on the injected timer port: waits of any length (setLongTimeout), kept
 * track of so that shutdown cancels every one that is pending, and arms none after it.
 * @module
 */
import type { TimerPort } from '../ports/clock.js'
import { type LongTimeout, setLongTimeout } from '../ports/clock.js'

export type Timer = LongTimeout

export class TimerSet {
  private readonly pending = new Set<Timer>()
  private closed = false

  constructor(private readonly port: TimerPort) {}

  /** Calls `fn` once, `ms` from now (any length); never after {@link close}. */
  later(ms: number, fn: () => void): Timer {
    if (this.closed) return { clear() {} }
    const t = setLongTimeout(
      () => {
        this.pending.delete(t)
        fn()
      },
      ms,
      this.port,
    )
    this.pending.add(t)
    return t
  }

  cancel(t: Timer): void {
    t.clear()
    this.pending.delete(t)
  }

  /** Resolves `ms` from now; after {@link close}, never. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve))
  }

  /** Calls `fn` every `ms` (as setInterval: the next wait starts as this call does), until {@link close}. */
  every(ms: number, fn: () => void): void {
    const tick = (): void => {
      this.later(ms, tick)
      fn()
    }
    this.later(ms, tick)
  }

  /** Cancels every pending timer; none is armed from now on. */
  close(): void {
    this.closed = true
    for (const t of this.pending) t.clear()
    this.pending.clear()
  }
}
