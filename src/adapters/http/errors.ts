/**
 * The one HTTP error mapping of the control API. Every failure, whatever raised it, leaves the API
 * as `{ error: { code, message, details? } }` with the status the error registry gives its code,
 * so clients branch on `code` and people read `message`. Nothing else writes an error body.
 * @module
 */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

import { coerceError, type ErrorCode, ErrorRegistry, isShepherdError, ShepherdError } from '../../errors.js'
import { type Issue, joinIssues } from '../../validation.js'

/** The JSON body of every API error response. */
export interface ApiErrorBody {
  error: {
    /** A code of the error registry (src/errors.ts, docs/errors.md). */
    code: ErrorCode
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
export function errorBody(code: ErrorCode, message: string, details?: unknown): ApiErrorBody {
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

/** One SHEPHERD_BAD_REQUEST for the problems of a request: each in the message, and listed in the details. */
export function requestError(issues: readonly Issue[]): ShepherdError {
  const list: RequestIssue[] = issues.map(({ path, message }) => ({ path, message }))
  return new ShepherdError('SHEPHERD_BAD_REQUEST', joinIssues(issues), { details: { issues: list } })
}
