/**
 * The platform's timers behind the timer ports of src/ports/clock.ts. Waits longer than one
 * setTimeout takes go through `setLongTimeout` (src/ports/clock.ts) on top of these.
 * @module
 */
import type { Scheduler } from '../ports/clock.js'

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
