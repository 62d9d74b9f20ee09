/**
 * Time as the core sees it: milliseconds since the epoch, given in by the caller. The daemon uses
 * a monotonic clock (performance.timeOrigin + performance.now()); tests use a fake one.
 * @module
 */
export interface Clock {
  now(): number
}

/** A clock tests move by hand. */
export class FakeClock implements Clock {
  constructor(private t = 1_700_000_000_000) {}
  now(): number {
    return this.t
  }
  advance(ms: number): number {
    this.t += ms
    return this.t
  }
  set(t: number): void {
    this.t = t
  }
}

/**
 * The clock as the supervisor reads it: it never runs backwards. The daemon's clock is monotonic
 * already; one that steps back (a wall clock set back, a clock a library user injects) would make
 * durations negative and hold every age at zero until it caught up (a hang unseen for as long as
 * the step). A step back is absorbed instead: readings go on from the last one, the step added
 * to every later reading, so durations stay true. Steps forward are taken as they come.
 */
export function steadyClock(clock: Clock): Clock {
  let last = -Infinity
  let offset = 0
  return {
    now() {
      const t = clock.now() + offset
      if (t >= last) {
        last = t
        return t
      }
      offset += last - t
      return last
    },
  }
}

/** A deterministic source of numbers in [0, 1) for jitter in tests (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * One-shot timers as the platform arms them (setTimeout, clearTimeout), behind a port so that the
 * supervisor, the dispatcher and the report scheduler run under fake time in tests. A port arms one
 * timer of at most 2^31−1 ms; {@link setLongTimeout} (below) is how anything longer is
 * waited for. Timers measure elapsed time: a clock that steps (a fake one set back, a wall clock
 * corrected) moves `now()`, never a pending timer.
 */
export interface TimerPort {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

/**
 * The timers of the supervisor, the dispatcher and the write-behind: one-shot timers, and a call
 * after the current turn of the event loop (setImmediate), for work that gathers up whatever one
 * turn brought (acks from many workers, records of one recovery) into one round. Only
 * src/adapters/timers.ts touches the platform's; tests pass fakes (test/helpers/fake-timers.ts).
 */
export interface Scheduler extends TimerPort {
  /** Calls `fn` once, after the current turn: after every callback and I/O event already due. */
  defer(fn: () => void): void
}

/**
 * The longest delay one setTimeout takes (Node's TIMEOUT_MAX, about 24.8 days). Node turns a longer
 * delay, or one that is not a number, into 1 ms with a TimeoutOverflowWarning: a job delayed 30
 * days would wake the supervisor every millisecond. Every timer in Shepherd that a user's number
 * can reach (a job's delay or timeout, a config duration, a report schedule) goes through
 * {@link setLongTimeout}.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

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
export function setLongTimeout(fn: () => void, ms: number, timers: TimerPort): LongTimeout {
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
