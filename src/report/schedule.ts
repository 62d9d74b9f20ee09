/**
 * When scheduled reports run: a pure function of the time now, the schedule and the previous run,
 * in the process's local time zone (the one people read `at` in).
 *
 * - Without `at`, the first report comes `every` after the supervisor starts, the next ones every
 *   `every` after the previous.
 * - With `at` ("09:00"), reports are anchored to that local time of day. With `every` of a day or
 *   more, the first comes at the next `at`; shorter cycles run through `at` (every 6h at 09:00:
 *   03:00, 09:00, 15:00, 21:00) and the first is the next of those. When `every` is a whole number
 *   of days, each report comes at `at` local time by the calendar, so a daylight-saving change
 *   does not move it by an hour.
 * - A run whose time has passed (the machine slept) is made once, late, and the cycle goes on
 *   from the next time after now; missed runs are not made up one by one.
 * @module
 */

const DAY_MS = 86_400_000

/** A schedule as {@link nextRunAt} needs it (`reports.schedule` of the config, in ms). */
export interface ScheduleRule {
  /** Time between two reports, ms (> 0). */
  every: number
  /** Local time of day, `H:MM` or `HH:MM`. */
  at?: string | undefined
}

/**
 * The time of the next run, strictly after `now`.
 * @param previous - the time the previous run was due (not when it ran), or null before the first.
 * @example
 * ```ts
 * // 08:15 local, daily at 09:00: today 09:00
 * nextRunAt(new Date(2025, 2, 14, 8, 15).getTime(), { every: 86_400_000, at: '09:00' }, null)
 * ```
 */
export function nextRunAt(now: number, rule: ScheduleRule, previous: number | null): number {
  if (!(rule.every > 0)) throw new RangeError(`every must be > 0 ms, got ${rule.every}`)
  const at = rule.at === undefined ? null : parseTimeOfDay(rule.at)
  if (previous === null) {
    if (at === null) return now + rule.every
    if (rule.every >= DAY_MS) {
      let t = localTime(now, 0, at)
      while (t <= now) t = localTime(t, 1, at)
      return t
    }
    return firstAfter(localTime(now, 0, at), rule.every, now)
  }
  if (at !== null && rule.every % DAY_MS === 0) {
    // By the calendar: the same local time of day, a whole number of days apart.
    const days = rule.every / DAY_MS
    let t = localTime(previous, days, at)
    while (t <= now) t = localTime(t, days, at)
    return t
  }
  return firstAfter(previous, rule.every, now)
}

/** The first anchor + k·every strictly after now (k may be negative: an anchor later today). */
function firstAfter(anchor: number, every: number, now: number): number {
  return anchor + (Math.floor((now - anchor) / every) + 1) * every
}

/** Parses `9:00` or `09:00` to hours and minutes. */
export function parseTimeOfDay(s: string): { hour: number; minute: number } {
  const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(s)
  if (!m) throw new RangeError(`expected a time of day "HH:MM", got ${JSON.stringify(s)}`)
  return { hour: Number(m[1]), minute: Number(m[2]) }
}

/** The local time `at` on the calendar day `plusDays` after the day of `base`. */
function localTime(base: number, plusDays: number, at: { hour: number; minute: number }): number {
  const d = new Date(base)
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + plusDays, at.hour, at.minute, 0, 0).getTime()
}
