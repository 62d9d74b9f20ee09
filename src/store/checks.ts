/**
 * The argument checks of the store ports (Store, JobStore), apart from any adapter: what a caller
 * gets back for a bad argument is SHEPHERD_BAD_REQUEST with the same words whichever database is
 * behind the port, so the SQLite adapter and a PostgreSQL one import these as they are. Each check
 * runs before anything is written, so a refused call changes nothing.
 * @module
 */
import { ShepherdError } from '../errors.js'

/** SHEPHERD_BAD_REQUEST with `message`. */
export function badRequest(message: string, cause?: unknown): ShepherdError {
  return new ShepherdError('SHEPHERD_BAD_REQUEST', message, cause === undefined ? undefined : { cause })
}

/** A value as error messages show it: `` `-1` (number) ``, `` `x` (string) ``, `a function`. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return `\`${v}\` (string)`
  if (typeof v === 'bigint') return `\`${v}n\` (bigint)`
  if (typeof v === 'function' || typeof v === 'symbol') return `a ${typeof v}`
  return `\`${String(v)}\` (${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v})`
}

/** A finite number, at least `min` when given. */
export function checkNumber(name: string, v: unknown, min?: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (min !== undefined && v < min)) {
    const range = min === undefined ? '' : ` ≥ ${min}`
    throw badRequest(`Expected \`${name}\` to be a finite number${range}, got ${describe(v)}`)
  }
  return v
}

/** A number of milliseconds > 0. */
export function checkPositive(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw badRequest(`Expected \`${name}\` to be a number of milliseconds > 0, got ${describe(v)}`)
  }
  return v
}

/** A safe integer, within `min` and `max` when given. */
export function checkInteger(name: string, v: unknown, min?: number, max?: number): number {
  if (
    typeof v !== 'number' ||
    !Number.isSafeInteger(v) ||
    (min !== undefined && v < min) ||
    (max !== undefined && v > max)
  ) {
    const range =
      min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min !== undefined ? ` ≥ ${min}` : ''
    throw badRequest(`Expected \`${name}\` to be an integer${range}, got ${describe(v)}`)
  }
  return v
}

/** A non-empty string: a queue, a worker, a job id. */
export function checkName(name: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) {
    throw badRequest(`Expected \`${name}\` to be a non-empty string, got ${describe(v)}`)
  }
  return v
}

/** An array of job ids. */
export function checkIds(ids: unknown): asserts ids is readonly string[] {
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
    throw badRequest(`Expected \`ids\` to be an array of job ids, got ${describe(ids)}`)
  }
}

/**
 * A time the caller gives (`now`, `before`) as it goes into the columns: whole epoch milliseconds
 * (the daemon's monotonic clock has a fraction; PostgreSQL's BIGINT has none). Flooring changes no
 * comparison with a stored time.
 */
export function epochMs(name: string, t: unknown): number {
  return Math.floor(checkNumber(name, t))
}

/** JSON text of a value the caller gives; undefined inside objects drops out as JSON says. */
export function toJson(value: unknown, what: string): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (e) {
    throw badRequest(
      `Expected \`${what}\` to be a JSON value: ${e instanceof Error ? e.message : String(e)}`,
      e,
    )
  }
  if (text === undefined) throw badRequest(`Expected \`${what}\` to be a JSON value, got ${describe(value)}`)
  return text
}

/** `1 job`, `2 jobs`: for the operation named in a store error. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}
