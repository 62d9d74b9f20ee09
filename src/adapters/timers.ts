/**
 * Timers of any length. Node's setTimeout takes at most 2^31−1 ms (about 24.8 days) and turns a
 * longer delay, or one that is not a number, into 1 ms with a TimeoutOverflowWarning: a job delayed
 * 30 days would wake the supervisor every millisecond. `setLongTimeout` waits any length by arming
 * one timer after another, each within the limit; every timer in Shepherd that a user's number can
 * reach (a job's delay or timeout, a config duration, a report schedule) goes through it.
 * @module
 */
import type { Scheduler, TimerPort } from '../ports/clock.js'

/** The longest delay one setTimeout takes (Node's TIMEOUT_MAX, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** Node's timers; a pending one keeps the process alive. */
export const nodeTimers: Scheduler = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  defer: (fn) => void setImmediate(fn),
}

/**
 * Node's timers, unref'd: a pending one alone never keeps the process alive. A deferred call is
 * not: it runs at the end of this turn anyway, and unref'ing it could only lose it at an exit.
 */
export const backgroundTimers: Scheduler = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  defer: (fn) => void setImmediate(fn),
}

/** A pending {@link setLongTimeout}. */
export interface LongTimeout {
  /** Cancels it; calling it again, or after it fired, does nothing. */
  clear(): void
}

/**
 * Calls `fn` once, `ms` from now, for any `ms`: a wait above {@link MAX_TIMER_MS} is armed in
 * steps of at most that. Negative or NaN is 0; Infinity is never (a step every 24.8 days).
 * Steps are counted, not measured against a clock, so it takes the same time under a fake clock as
 * one timer would (timers never fire early; a late one makes the whole wait that much later).
 * @example
 * ```ts
 * const t = setLongTimeout(() => wake(), 400 * 86_400_000, backgroundTimers)
 * // later
 * t.clear()
 * ```
 */
export function setLongTimeout(fn: () => void, ms: number, timers: TimerPort = nodeTimers): LongTimeout {
  let left = ms > 0 ? ms : 0
  let handle: unknown = null
  let done = false
  const arm = (): void => {
    const step = Math.min(left, MAX_TIMER_MS)
    left -= step
    handle = timers.set(() => {
      if (done) return
      if (left > 0) return arm()
      done = true
      fn()
    }, step)
  }
  arm()
  return {
    clear() {
      if (done) return
      done = true
      timers.clear(handle)
    },
  }
}
