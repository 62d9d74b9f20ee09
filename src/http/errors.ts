/**
 * The one HTTP error mapping of the control API. Every failure, whatever raised it, leaves the API
 * as `{ error: { code, message, details? } }` with the status the error registry gives its code,
 * so clients branch on `code` and people read `message`. Nothing else writes an error body.
 * @module
 */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { z } from 'zod'

import { coerceError, type ErrorCode, ErrorRegistry, isShepherdError, ShepherdError } from '../errors.js'

/** The JSON body of every API error response. */
export interface ApiErrorBody {
  error: {
    /** A code of the error registry (src/errors.ts, docs/errors.md). */
    code: string
    /** A sentence for people. */
    message: string
    /** Extra facts for machines, e.g. the list of validation issues. */
    details?: unknown
  }
}

/** One request-validation problem, as listed in the `details` of a SHEPHERD_BAD_REQUEST. */
export interface RequestIssue {
  /** Where: `body`, `body.hard`, `query.limit`. */
  path: string
  message: string
}

/** Builds an error body; `details` is left out when undefined. */
export function errorBody(code: string, message: string, details?: unknown): ApiErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } }
}

/**
 * Answers with an error body. `status` defaults to the registry's status for `code`; it is given
 * only for the protocol-level answers (405, 413) whose registry code covers more than one status.
 */
export function errorResponse(
  c: Context,
  code: ErrorCode,
  message: string,
  options: { status?: number; details?: unknown; headers?: Record<string, string> } = {},
): Response {
  const status = (options.status ?? ErrorRegistry[code].status) as ContentfulStatusCode
  return c.json(errorBody(code, message, options.details), status, options.headers)
}

/**
 * The registry code for an HTTP status raised by Hono itself (an HTTPException), for which there
 * is no ShepherdError. 405 has no code of its own: a route is a method and a path, so a path
 * without that method is SHEPHERD_NOT_FOUND. 413 is a malformed request: SHEPHERD_BAD_REQUEST.
 */
export function codeForStatus(status: number): ErrorCode {
  if (status === 404) return 'SHEPHERD_NOT_FOUND'
  if (status === 405) return 'SHEPHERD_METHOD_NOT_ALLOWED'
  if (status === 413) return 'SHEPHERD_PAYLOAD_TOO_LARGE'
  if (status >= 400 && status < 500) return 'SHEPHERD_BAD_REQUEST'
  return 'SHEPHERD_INTERNAL'
}

/**
 * Turns anything a handler threw into the error response (Hono's `onError`). A ShepherdError keeps
 * its code, message and details; an HTTPException keeps its status; anything else is a 500
 * SHEPHERD_INTERNAL whose message names what broke but never carries a stack trace.
 */
export function toErrorResponse(thrown: unknown, c: Context): Response {
  if (isShepherdError(thrown))
    return errorResponse(c, thrown.code, thrown.message, { details: thrown.details })
  if (thrown instanceof HTTPException) {
    const code = codeForStatus(thrown.status)
    const message = thrown.status === 413 ? bodyTooLargeMessage() : thrown.message || `HTTP ${thrown.status}`
    return errorResponse(c, code, message, { status: thrown.status })
  }
  const err = coerceError(thrown)
  return errorResponse(c, 'SHEPHERD_INTERNAL', `internal error: ${err.message}`)
}

/** The message of a 413; the limit is stated so that a client knows what to send instead. */
export function bodyTooLargeMessage(limitBytes?: number): string {
  return limitBytes === undefined
    ? 'body is too large'
    : `body is too large: the limit is ${limitBytes} bytes (${Math.round(limitBytes / 1024)} KiB)`
}

/**
 * Turns zod issues of a request part into one SHEPHERD_BAD_REQUEST whose message names every
 * problem (`body.hardd: unknown key "hardd" (known: hard)`) and whose details list them. Parse
 * with `{ reportInput: true }` so that the message can quote the value received.
 */
export function requestValidationError(
  where: 'body' | 'query',
  issues: readonly z.core.$ZodIssue[],
  knownKeys: readonly string[] = [],
): ShepherdError {
  const list = issues.flatMap((issue) => describeRequestIssue(where, issue, knownKeys))
  const message = list.map((i) => `${i.path}: ${i.message}`).join('; ')
  return new ShepherdError('SHEPHERD_BAD_REQUEST', message, { details: { issues: list } })
}

function describeRequestIssue(
  where: 'body' | 'query',
  issue: z.core.$ZodIssue,
  knownKeys: readonly string[],
): RequestIssue[] {
  const at = [where, ...issue.path.map(String)].join('.')
  const noun = where === 'body' ? 'key' : 'parameter'
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys.length > 0 ? ` (known: ${knownKeys.join(', ')})` : ''
    return issue.keys.map((key) => ({ path: `${at}.${key}`, message: `unknown ${noun} "${key}"${known}` }))
  }
  if (issue.code === 'invalid_type') {
    const expected = issue.expected === 'object' ? 'a JSON object' : `a ${issue.expected}`
    return [{ path: at, message: `expected ${expected}, got ${describeValue(issue.input)}` }]
  }
  return [{ path: at, message: issue.message }]
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  return `${JSON.stringify(v)} (${typeof v})`
}
