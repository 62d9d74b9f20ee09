/**
 * Every error Shepherd raises on purpose carries a code from this registry. The registry holds
 * the code, the HTTP status the API answers with, and a line for docs/errors.md; a unit test keeps
 * the two in step.
 * @module
 */

export const ErrorRegistry = {
  SHEPHERD_CONFIG_INVALID: {
    status: 400,
    summary: 'The config file does not match the schema; every problem is listed with its path and line.',
  },
  SHEPHERD_CONFIG_NOT_FOUND: { status: 400, summary: 'The config file could not be read.' },
  SHEPHERD_STORE_OPEN_FAILED: {
    status: 500,
    summary:
      'The store could not be opened (SQLite: bad path, permissions, corrupt file; PostgreSQL: server unreachable, user refused, no such database).',
  },
  SHEPHERD_STORE_MIGRATION_FAILED: {
    status: 500,
    summary: 'A store migration failed; the store was left at the previous version.',
  },
  SHEPHERD_STORE_WRITE_FAILED: {
    status: 500,
    summary: 'The store refused a write (corrupt file, disk I/O error, lock held too long).',
  },
  SHEPHERD_STORE_FULL: {
    status: 507,
    summary: 'The store’s disk is full: nothing was written. Writes resume once space is freed.',
  },
  SHEPHERD_STORE_READ_ONLY: {
    status: 503,
    summary: 'The store’s file, folder or filesystem is read-only: nothing was written.',
  },
  SHEPHERD_STORE_UNREACHABLE: {
    status: 503,
    summary:
      'The store’s database server (PostgreSQL) cannot be reached: nothing was written. Writes resume once it answers again.',
  },
  SHEPHERD_STORE_GONE: {
    status: 503,
    summary:
      'The store file was deleted or replaced while the supervisor runs: writes are refused until a restart.',
  },
  SHEPHERD_STORE_LOCKED: {
    status: 409,
    summary: 'Another supervisor owns the store; the message names it (host, pid, API, since when).',
  },
  SHEPHERD_STORE_COPY_FAILED: {
    status: 500,
    summary:
      '`shepherd store copy` failed while writing the target (a refused row, a lost connection); it was rolled back, and the target is as it was.',
  },
  SHEPHERD_STORE_COPY_CONFLICT: {
    status: 409,
    summary:
      '`shepherd store copy` found rows in the target under the same ids with other values; nothing was written (or, with --skip-conflicts, those rows were left as they are).',
  },
  SHEPHERD_WORKER_NOT_FOUND: { status: 404, summary: 'No worker has that id.' },
  SHEPHERD_INCIDENT_NOT_FOUND: { status: 404, summary: 'No incident has that id.' },
  SHEPHERD_NODE_NOT_FOUND: { status: 404, summary: 'No agent of the fleet has that node name.' },
  SHEPHERD_NODE_ALIVE: {
    status: 409,
    summary:
      'The node to forget is alive (its lease is live): stop its agent, whose clean stop takes it off the list, or forget it once its lease has expired.',
  },
  SHEPHERD_JOB_NOT_FOUND: { status: 404, summary: 'No job has that id.' },
  SHEPHERD_RECOVERY_IN_PROGRESS: {
    status: 409,
    summary: 'The worker is already being recovered; wait for the incident to end.',
  },
  SHEPHERD_SUPERVISOR_STOPPING: {
    status: 409,
    summary: 'The supervisor is shutting down and takes no new actions.',
  },
  SHEPHERD_BAD_REQUEST: { status: 400, summary: 'The request is malformed; the message says which part.' },
  SHEPHERD_NOT_FOUND: { status: 404, summary: 'No such API route.' },
  SHEPHERD_METHOD_NOT_ALLOWED: { status: 405, summary: 'The route exists but not with this HTTP method.' },
  SHEPHERD_HOST_NOT_ALLOWED: {
    status: 403,
    summary:
      'The request named a Host the API does not answer to (a DNS rebinding attack looks like this); reach it by IP address or localhost, or list the name in api.allowed_hosts.',
  },
  SHEPHERD_ORIGIN_NOT_ALLOWED: {
    status: 403,
    summary:
      "A browser sent the request from a page of another origin; only the API's own dashboard may call it.",
  },
  SHEPHERD_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    summary:
      'A POST without content-type: application/json (a form or a text/plain beacon, which any web page can send).',
  },
  SHEPHERD_PAYLOAD_TOO_LARGE: { status: 413, summary: 'The request body is over the API limit (64 KiB).' },
  SHEPHERD_SUPERVISOR_UNREACHABLE: {
    status: 503,
    summary: 'The CLI could not reach a running supervisor at the configured API address.',
  },
  SHEPHERD_UNAUTHORIZED: {
    status: 401,
    summary: 'The API requires a token and the request carried none, or one that is not valid.',
  },
  SHEPHERD_FORBIDDEN: {
    status: 403,
    summary: 'The token is valid but read-only; the request needs the control token.',
  },
  SHEPHERD_API_TOKEN_REQUIRED: {
    status: 500,
    summary: 'api.host is not a loopback address and no control token is set; the supervisor does not start.',
  },
  SHEPHERD_API_PORT_IN_USE: {
    status: 500,
    summary: 'The API port is taken, usually by another supervisor on the same config.',
  },
  SHEPHERD_EVENT_STREAM_FULL: {
    status: 503,
    summary:
      'The event stream already serves `api.max_event_clients` clients; the answer says when to try again (Retry-After).',
  },
  SHEPHERD_INTERNAL: { status: 500, summary: 'An unexpected failure; the message and cause say what broke.' },
} as const satisfies Record<string, { status: number; summary: string }>

export type ErrorCode = keyof typeof ErrorRegistry

export const ErrorCodes = Object.fromEntries(Object.keys(ErrorRegistry).map((k) => [k, k])) as {
  readonly [K in ErrorCode]: K
}

export class ShepherdError extends Error {
  readonly code: ErrorCode
  /** Extra facts for machines (the API puts them in the error body), e.g. the list of config issues. */
  readonly details: unknown

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, { cause: options?.cause })
    this.name = 'ShepherdError'
    this.code = code
    this.details = options?.details
  }

  get httpStatus(): number {
    return ErrorRegistry[this.code].status
  }
}

/** Normalises anything thrown into an Error, so catch blocks never deal with `unknown`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown
  if (typeof thrown === 'string') return new Error(thrown)
  try {
    return new Error(JSON.stringify(thrown))
  } catch {
    return new Error(String(thrown))
  }
}

export function isShepherdError(e: unknown, code?: ErrorCode): e is ShepherdError {
  return e instanceof ShepherdError && (code === undefined || e.code === code)
}
