/**
 * The ids Shepherd writes and reads back, each formatted and parsed in one place:
 *
 * | id             | form                 | example     |
 * | -------------- | -------------------- | ----------- |
 * | worker id      | `<pool>#<index>`     | `email#2`   |
 * | spare id       | `<pool>#s<n>`        | `email#s1`  |
 * | process key    | `<pool>:<seq>`       | `email:17`  |
 * | delivery token | `<jobId>:<delivery>` | `8f3f…:2`   |
 *
 * Pool names are letters, digits, `_`, `.` and `-` (the config schema), so the pool ends at the
 * last `#` or `:`. A job id may contain `:` itself; a delivery number never does, so a token is
 * split at its last `:`.
 * @module
 */

/** The id of a pool's slot `index` (from 1): `email#2`. */
export function workerId(pool: string, index: number): string {
  return `${pool}#${index}`
}

/** The id of a pool's warm spare `n` (from 1): `email#s1`. */
export function spareId(pool: string, n: number): string {
  return `${pool}#s${n}`
}

/** The pool of a worker or spare id; null for a string that is not one. */
export function poolOfWorkerId(id: string): string | null {
  const hash = id.lastIndexOf('#')
  return hash > 0 ? id.slice(0, hash) : null
}

/**
 * The key of one process the supervisor spawned: the pool and a sequence number unique for the
 * supervisor's run, so that a worker id's successive processes are told apart.
 */
export function processKey(pool: string, seq: number): string {
  return `${pool}:${seq}`
}

/** The pool of a process key; null for a string that is not one. */
export function poolOfProcessKey(key: string): string | null {
  const colon = key.lastIndexOf(':')
  return colon > 0 ? key.slice(0, colon) : null
}

/** The token of one delivery of a job: `<jobId>:<delivery>`. */
export function deliveryToken(jobId: string, delivery: number): string {
  return `${jobId}:${delivery}`
}

/** A delivery token read back. */
export interface ParsedToken {
  jobId: string
  /**
   * The delivery number; null when the part after the last `:` is not exactly what
   * {@link deliveryToken} writes (digits, no sign, no leading zero), so that a token names a
   * delivery only when it equals `deliveryToken(jobId, delivery)`.
   */
  delivery: number | null
}

/** Reads a delivery token; null when it has no `:` and so names no job. */
export function parseDeliveryToken(token: string): ParsedToken | null {
  const colon = token.lastIndexOf(':')
  if (colon < 0) return null
  const digits = token.slice(colon + 1)
  return { jobId: token.slice(0, colon), delivery: /^[1-9]\d{0,14}$/.test(digits) ? Number(digits) : null }
}
