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

/** The part of a request a validation issue is in. */
export type RequestPart = 'body' | 'query' | 'path'

/**
 * The keys an object accepts, for the "unknown key" message: one list for every object of the
 * request, or a function of the object's path (`['jobs', 3]`) when it has nested objects.
 */
export type KnownKeys = readonly string[] | ((at: readonly PropertyKey[]) => readonly string[])

/**
 * Turns zod issues of a request part into one SHEPHERD_BAD_REQUEST whose message names every
 * problem (`body.hardd: unknown key "hardd" (known: hard)`) and whose details list them. Parse
 * with `{ reportInput: true }` so that the message can quote the value received.
 */
export function requestValidationError(
  where: RequestPart,
  issues: readonly z.core.$ZodIssue[],
  knownKeys: KnownKeys = [],
): ShepherdError {
  const list = describeIssues(issues, {
    root: where,
    knownKeys,
    noun: where === 'body' ? 'key' : 'parameter',
  })
  const message = list.map((i) => `${i.path}: ${i.message}`).join('; ')
  return new ShepherdError('SHEPHERD_BAD_REQUEST', message, { details: { issues: list } })
}

/** How {@link describeIssues} names things. */
export interface DescribeOptions {
  /** The first segment of every path (`body`); none when empty. @defaultValue '' */
  root?: string
  /** The keys of the object an unknown key was found in. @defaultValue none listed */
  knownKeys?: KnownKeys
  /** What an unknown key is called. @defaultValue 'key' */
  noun?: 'key' | 'parameter'
}

/**
 * Zod issues as sentences for people, each with its path: `body.jobs[3].delay`, an array index in
 * brackets. Parse with `{ reportInput: true }` so that the message can quote the value received.
 * The CLI uses it too, for the lines of `shepherd enqueue`.
 */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  options: DescribeOptions = {},
): RequestIssue[] {
  return issues.flatMap((issue) => describeIssue(issue, options))
}

function describeIssue(issue: z.core.$ZodIssue, options: DescribeOptions): RequestIssue[] {
  const { root = '', knownKeys = [], noun = 'key' } = options
  const at = formatPath(root, issue.path)
  if (issue.code === 'unrecognized_keys') {
    const keys = typeof knownKeys === 'function' ? knownKeys(issue.path) : knownKeys
    const known =
      keys.length > 0
        ? ` (known: ${keys.join(', ')})`
        : noun === 'parameter'
          ? ' (this route takes none)'
          : ''
    return issue.keys.map((key) => ({
      path: formatPath(at, [key]),
      message: `unknown ${noun} "${key}"${known}`,
    }))
  }
  return [{ path: at, message: issue.message }]
}

/**
 * The messages of request validation, as a zod error map: "expected an integer, got 1.5 (number)"
 * rather than zod's "Invalid input: expected int, received number". Pass it to `safeParse` (see
 * {@link parseRequest}); a message a schema sets itself (`.min(1, 'expected a pool name')`) still
 * wins, as zod ranks a schema's own message above the parse's error map.
 */
export const requestErrorMap: z.core.$ZodErrorMap = (issue) => {
  const got = describeValue(issue.input)
  switch (issue.code) {
    case 'invalid_type': {
      const names: Record<string, string> = { object: 'a JSON object', int: 'an integer', array: 'a list' }
      return `expected ${names[issue.expected] ?? `a ${issue.expected}`}, got ${got}`
    }
    case 'too_small': {
      const min = String(issue.minimum)
      if (issue.origin === 'array') return `expected at least ${min} item(s), got ${countOf(issue.input)}`
      if (issue.origin === 'string') return `expected at least ${min} character(s), got ${got}`
      return `expected a number ${issue.inclusive ? '≥' : '>'} ${min}, got ${got}`
    }
    case 'too_big': {
      const max = String(issue.maximum)
      if (issue.origin === 'array') return `expected at most ${max} item(s), got ${countOf(issue.input)}`
      if (issue.origin === 'string') return `expected at most ${max} character(s), got ${got}`
      return `expected a number ${issue.inclusive ? '≤' : '<'} ${max}, got ${got}`
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => String(v)).join(', ')}, got ${got}`
    case 'invalid_union':
      // z.json() (a job's payload) is a union: the only way to fail it from parsed JSON is to leave it out.
      return issue.input === undefined ? 'expected a value, got nothing' : `unexpected value, got ${got}`
    default:
      return undefined
  }
}

/**
 * `schema.safeParse(data)` with the request error map and the input kept in each issue: the one
 * way request parts (and the lines of `shepherd enqueue`) are validated.
 */
export function parseRequest<S extends z.ZodType>(
  schema: S,
  data: unknown,
): z.ZodSafeParseResult<z.output<S>> {
  return schema.safeParse(data, { reportInput: true, error: requestErrorMap })
}

/** `body` + `['jobs', 3, 'delay']` → `body.jobs[3].delay`. */
function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else out += out === '' ? String(segment) : `.${String(segment)}`
  }
  return out
}

function countOf(v: unknown): string {
  return Array.isArray(v) ? String(v.length) : describeValue(v)
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  return `${JSON.stringify(v)} (${typeof v})`
}
