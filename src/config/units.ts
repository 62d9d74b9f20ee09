/**
 * Durations and sizes as people write them in YAML. A plain number of a duration is seconds, as
 * in the plan's config (`check_interval: 30`); strings carry a unit (`500ms`, `10s`, `2m`, `1h`).
 * Everything is parsed to milliseconds (durations) or bytes (sizes).
 * @module
 */
import { z } from 'zod'

const DAY_MS = 86_400_000
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS }

/** The largest value a duration field takes, in ms and as messages and docs write it. */
export interface DurationLimit {
  ms: number
  text: string
}

/**
 * Durations the supervisor waits out with one timer (check_interval, stop_timeout, backoff,
 * timeouts of probes and notifications): 24 days, under setTimeout's limit of 2^31−1 ms (24.8
 * days), past which Node fires after 1 ms. Far above any sensible value of these fields.
 */
export const TIMER_DURATION_LIMIT: DurationLimit = { ms: 24 * DAY_MS, text: '24d' }

/**
 * Durations of data rather than of timers (retention, a job's delay or timeout, a queue's retry
 * delay, a report's period): 10 years. Times stay exact epoch milliseconds (run_at = now + delay)
 * and printable dates, and longer waits are armed in steps (src/adapters/timers.ts).
 */
export const LONG_DURATION_LIMIT: DurationLimit = { ms: 3650 * DAY_MS, text: '3650d' }
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  k: 1024,
  mb: 1024 ** 2,
  m: 1024 ** 2,
  gb: 1024 ** 3,
  g: 1024 ** 3,
}

/** Parses `30`, `1.5`, `"500ms"`, `"2m"` to milliseconds, or returns an explanation of what is wrong. */
export function parseDuration(value: number | string): number | { error: string } {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { error: 'a finite number of seconds' }
    if (value < 0) return { error: 'a duration ≥ 0' }
    return Math.round(value * 1000)
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value)
  if (!m) return { error: 'a duration: seconds as a number, or a string such as "500ms", "10s", "2m", "1h"' }
  const unit = (m[2] ?? 's').toLowerCase()
  return Math.round(Number(m[1]) * DURATION_UNITS[unit]!)
}

/** Parses `1048576`, `"512KB"`, `"10MB"` to bytes. */
export function parseSize(value: number | string): number | { error: string } {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return { error: 'a size ≥ 0 in bytes' }
    return Math.round(value)
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?b?|[kmg])\s*$/i.exec(value)
  if (!m) return { error: 'a size: bytes as a number, or a string such as "512KB", "10MB", "1GB"' }
  const unit = (m[2] || 'b').toLowerCase()
  const factor = SIZE_UNITS[unit]
  if (factor === undefined)
    return { error: 'a size: bytes as a number, or a string such as "512KB", "10MB", "1GB"' }
  return Math.round(Number(m[1]) * factor)
}

/** Formats milliseconds for people: 450ms, 12.3s, 4m05s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`
  const totalS = Math.round(ms / 1000)
  if (totalS < 3600) return `${Math.floor(totalS / 60)}m${String(totalS % 60).padStart(2, '0')}s`
  const h = Math.floor(totalS / 3600)
  return `${h}h${String(Math.floor((totalS % 3600) / 60)).padStart(2, '0')}m`
}

/**
 * A zod schema for a duration field: accepts seconds or a unit string, yields milliseconds, at most
 * `max` ({@link TIMER_DURATION_LIMIT} unless the field says otherwise).
 */
export function duration(opts: { min?: number; positive?: boolean; max?: DurationLimit } = {}) {
  const max = opts.max ?? TIMER_DURATION_LIMIT
  const schema = z.union([z.number(), z.string()]).transform((v, ctx) => {
    const ms = parseDuration(v)
    if (typeof ms !== 'number') {
      ctx.addIssue({ code: 'custom', message: `expected ${ms.error}` })
      return z.NEVER
    }
    if (opts.positive && ms <= 0) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration > 0' })
      return z.NEVER
    }
    if (opts.min !== undefined && ms < opts.min) {
      ctx.addIssue({ code: 'custom', message: `expected a duration ≥ ${formatDuration(opts.min)}` })
      return z.NEVER
    }
    if (ms > max.ms) {
      ctx.addIssue({ code: 'custom', message: `expected a duration of at most ${max.text}` })
      return z.NEVER
    }
    return ms
  })
  // For docs/config.md: the type column says `duration ≤ 24d`.
  return schema.meta({ durationMax: max.text })
}

/** A zod schema for a size field: accepts bytes or a unit string, yields bytes. */
export function size() {
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const bytes = parseSize(v)
    if (typeof bytes !== 'number') {
      ctx.addIssue({ code: 'custom', message: `expected ${bytes.error}` })
      return z.NEVER
    }
    return bytes
  })
}
