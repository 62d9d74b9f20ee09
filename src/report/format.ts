/**
 * How report figures are written for people, in Markdown and in Slack alike: times in a time zone
 * with its offset, ratios as percentages, changes with their sign.
 * @module
 */
import type { Period } from './types.js'

/** Options shared by the renderers. */
export interface RenderOptions {
  /**
   * IANA time zone of the times shown (`Asia/Tokyo`).
   * @defaultValue the process's own (the `TZ` variable, else the system's)
   */
  timeZone?: string
}

/**
 * `2025-03-14 09:00` in the time zone.
 * @example
 * ```ts
 * formatTime(Date.UTC(2025, 2, 14, 0, 0), 'Asia/Tokyo') // '2025-03-14 09:00'
 * ```
 */
export function formatTime(ms: number, timeZone?: string): string {
  const parts = dateParts(ms, timeZone)
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`
}

/** The offset of the time zone at that time: `UTC`, `UTC+09:00`, `UTC-04:00`. */
export function formatOffset(ms: number, timeZone?: string): string {
  const name = dateParts(ms, timeZone).timeZoneName ?? 'GMT'
  const offset = name.replace(/^GMT/, 'UTC')
  return offset === 'UTC+00:00' ? 'UTC' : offset
}

/** `2025-03-14 09:00 → 2025-03-15 09:00` and the offset of the time zone at its end. */
export function formatPeriod(p: Period, timeZone?: string): { range: string; offset: string } {
  return {
    range: `${formatTime(p.from, timeZone)} → ${formatTime(p.to, timeZone)}`,
    offset: formatOffset(p.to, timeZone),
  }
}

/**
 * A ratio as a percentage with two decimals, rounded down so that `100.00%` is shown only for a
 * pool that was never short: `0.99996` is `99.99%`.
 */
export function formatPercent(ratio: number): string {
  return `${(hundredths(ratio) / 100).toFixed(2)}%`
}

/** The ratio in hundredths of a percent, rounded down (the figure {@link formatPercent} shows). */
function hundredths(ratio: number): number {
  return Math.floor(ratio * 10_000 + 1e-9)
}

/**
 * A change with its sign: `+4`, `-1.11s`, `±0`. `format` writes the magnitude.
 * @example
 * ```ts
 * formatSigned(-1110, formatDuration) // '-1.11s'
 * ```
 */
export function formatSigned(value: number, format: (magnitude: number) => string = String): string {
  if (value === 0) return `±${format(0)}`
  return `${value > 0 ? '+' : '-'}${format(Math.abs(value))}`
}

/**
 * The change from one ratio to another in percentage points, signed, as the difference of the two
 * percentages shown: `99.99%` after `100.00%` is `-0.01`, however small the change really was.
 */
export function formatPointChange(now: number, before: number): string {
  return formatSigned((hundredths(now) - hundredths(before)) / 100, (m) => m.toFixed(2))
}

interface DateParts {
  year: string
  month: string
  day: string
  hour: string
  minute: string
  timeZoneName?: string
}

const formatters = new Map<string, Intl.DateTimeFormat>()

function dateParts(ms: number, timeZone?: string): DateParts {
  const key = timeZone ?? ''
  let f = formatters.get(key)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    })
    formatters.set(key, f)
  }
  const out: Record<string, string> = {}
  for (const p of f.formatToParts(new Date(ms))) out[p.type] = p.value
  return out as unknown as DateParts
}
