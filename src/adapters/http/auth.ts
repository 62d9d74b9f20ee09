/**
 * Who may use the API: bearer tokens in two scopes, the rule that a non-loopback address needs
 * one, and the middleware that checks every request. docs/security.md explains the choices.
 *
 * | token                                      | GET / HEAD | POST and the rest |
 * | ------------------------------------------ | ---------- | ----------------- |
 * | none configured (loopback only)            | yes        | yes               |
 * | control (`api.token`, SHEPHERD_API_TOKEN)  | yes        | yes               |
 * | read (`api.read_token`, SHEPHERD_API_READ_TOKEN) | yes  | 403               |
 * | missing or wrong, once a token is set      | 401        | 401               |
 *
 * Tokens guard `/api/*` and `/metrics`; the dashboard's static files load without one (they hold
 * no data). A browser's EventSource cannot send headers, so `GET /api/events` alone also takes the
 * token as `?access_token=`.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { BlockList, isIP } from 'node:net'

import type { MiddlewareHandler } from 'hono'

import type { LoadedConfig } from '../../config/load.js'
import { apiTokenProblem, type Config } from '../../config/schema.js'
import { ShepherdError } from '../../errors.js'
import { errorResponse } from './errors.js'

/** Overrides `api.token`: the control token, kept out of the config file. */
export const API_TOKEN_ENV = 'SHEPHERD_API_TOKEN'
/** Overrides `api.read_token`: the read-only token. */
export const API_READ_TOKEN_ENV = 'SHEPHERD_API_READ_TOKEN'

/** The only route that takes the token in its query, for EventSource (which cannot send headers). */
export const QUERY_TOKEN_ROUTE = '/api/events'
/** The query parameter of {@link QUERY_TOKEN_ROUTE}. */
export const QUERY_TOKEN_PARAM = 'access_token'

/** The effective tokens: the config's, overridden by the environment. */
export interface ApiTokens {
  /** Control scope: every route. */
  token?: string
  /** Read scope: GET and HEAD only. */
  readToken?: string
}

/** What a request is allowed to do. */
export type ApiScope = 'read' | 'control'

/**
 * The tokens the API runs with: `SHEPHERD_API_TOKEN` / `SHEPHERD_API_READ_TOKEN` when set and not
 * empty, else `api.token` / `api.read_token`. An environment token is held to the config's rules
 * (length, characters); a read token without a control token, or equal to it, is refused. Each
 * problem is a SHEPHERD_CONFIG_INVALID naming where the value came from, never the value.
 * @example
 * ```ts
 * const tokens = resolveApiTokens(loaded.config.api, process.env)
 * ```
 */
export function resolveApiTokens(
  api: Pick<Config['api'], 'token' | 'read_token'>,
  env: Record<string, string | undefined>,
): ApiTokens {
  const pick = (envName: string, configured: string | undefined, key: string): string | undefined => {
    const fromEnv = env[envName]
    if (fromEnv === undefined || fromEnv === '') return configured
    const problem = apiTokenProblem(fromEnv)
    if (problem !== null)
      throw new ShepherdError('SHEPHERD_CONFIG_INVALID', `${envName} (which overrides ${key}): ${problem}`)
    return fromEnv
  }
  const token = pick(API_TOKEN_ENV, api.token, 'api.token')
  const readToken = pick(API_READ_TOKEN_ENV, api.read_token, 'api.read_token')
  if (readToken !== undefined && token === undefined) {
    throw new ShepherdError(
      'SHEPHERD_CONFIG_INVALID',
      `a read token (api.read_token or ${API_READ_TOKEN_ENV}) is set without a control token: set api.token or ${API_TOKEN_ENV} too, or nobody could restart a worker`,
    )
  }
  if (readToken !== undefined && readToken === token) {
    throw new ShepherdError(
      'SHEPHERD_CONFIG_INVALID',
      'the read token and the control token are the same: one token cannot have two scopes',
    )
  }
  const out: ApiTokens = {}
  if (token !== undefined) out.token = token
  if (readToken !== undefined) out.readToken = readToken
  return out
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/**
 * Whether only this machine can reach an address: `localhost`, 127.0.0.0/8, `::1` (and IPv4
 * addresses mapped into IPv6). Any other name counts as reachable from elsewhere, even one that
 * resolves to loopback today: names change, the rule must not.
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true
  const family = isIP(host)
  if (family === 4) return LOOPBACK.check(host, 'ipv4')
  if (family === 6) return LOOPBACK.check(host, 'ipv6')
  return false
}

/**
 * Refuses to serve the API on a non-loopback address without a control token, with
 * SHEPHERD_API_TOKEN_REQUIRED saying why and what to do. The daemon calls it before it opens
 * anything.
 */
export function assertApiExposureAllowed(host: string, tokens: ApiTokens, configFile?: string): void {
  if (isLoopbackHost(host) || tokens.token !== undefined) return
  const where = configFile === undefined ? '' : ` in ${configFile}`
  throw new ShepherdError(
    'SHEPHERD_API_TOKEN_REQUIRED',
    `api.host${where} is ${host}, which other machines can reach, and no API token is set. Whoever reaches the API could restart workers and add or delete jobs, so Shepherd does not serve it there without one. Set ${API_TOKEN_ENV} (or api.token) to a secret of at least 24 characters, e.g. \`openssl rand -base64 32\`, or bind api.host to 127.0.0.1.`,
  )
}

/** The tokens of a loaded config with the environment applied, checked against api.host. */
export function apiTokensFor(loaded: LoadedConfig, env: Record<string, string | undefined>): ApiTokens {
  const tokens = resolveApiTokens(loaded.config.api, env)
  assertApiExposureAllowed(loaded.config.api.host, tokens, loaded.file)
  return tokens
}

/**
 * A copy of `env` without the API token variables. Workers and hook commands get the daemon's
 * environment; a worker (its code, its dependencies) must not get the key to the API with it. A
 * pool that needs one sets it in its own `env`.
 */
export function withoutApiTokens(
  env: Record<string, string | undefined>,
): Record<string, string | undefined> {
  const out = { ...env }
  delete out[API_TOKEN_ENV]
  delete out[API_READ_TOKEN_ENV]
  return out
}

/** Whether a request path is guarded: the JSON API and the Prometheus metrics. */
export function isProtectedPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/') || path === '/metrics' || path.startsWith('/metrics/')
}

/** The scope a method needs: reading is GET and HEAD, everything else acts. */
export function scopeFor(method: string): ApiScope {
  return method === 'GET' || method === 'HEAD' ? 'read' : 'control'
}

const REALM = 'Bearer realm="shepherd"'

/**
 * The middleware that checks tokens. With no token configured it lets everything through (the
 * daemon allows that on loopback only). Otherwise, on a protected path: no token or an unknown one
 * is 401 SHEPHERD_UNAUTHORIZED with `WWW-Authenticate: Bearer`; the read token on a method that
 * acts is 403 SHEPHERD_FORBIDDEN. Tokens are compared as SHA-256 digests with
 * `crypto.timingSafeEqual`: equal lengths whatever was sent, and no early exit that would time how
 * much of a guess was right. Mount it before the routes (and before the body limit, so that an
 * unauthenticated client cannot make the server read a body).
 */
export function apiAuth(tokens: ApiTokens): MiddlewareHandler {
  const control = tokens.token === undefined ? null : digest(tokens.token)
  const read = tokens.readToken === undefined ? null : digest(tokens.readToken)
  return async (c, next) => {
    if ((control === null && read === null) || !isProtectedPath(c.req.path)) return next()

    const header = c.req.header('authorization')
    const queryAllowed = c.req.path === QUERY_TOKEN_ROUTE && scopeFor(c.req.method) === 'read'
    let presented: string | undefined
    if (header !== undefined) {
      const m = /^Bearer +(\S+) *$/i.exec(header)
      if (!m) {
        return unauthorized(c, 'the Authorization header must be `Bearer <token>`', 'invalid_request')
      }
      presented = m[1]
    } else if (queryAllowed) {
      presented = c.req.query(QUERY_TOKEN_PARAM) || undefined
    }
    if (presented === undefined) {
      const hint =
        !queryAllowed && c.req.query(QUERY_TOKEN_PARAM) !== undefined
          ? ` (${QUERY_TOKEN_PARAM} in the query is taken by GET ${QUERY_TOKEN_ROUTE} only)`
          : ''
      return unauthorized(
        c,
        `this API requires a token: send \`Authorization: Bearer <token>\`${hint}. The CLI sends ${API_TOKEN_ENV} or api.token of its config.`,
        null,
      )
    }

    const d = digest(presented)
    // Both comparisons always run, so the time taken does not tell which token came close.
    const isControl = control !== null && timingSafeEqual(d, control)
    const isRead = read !== null && timingSafeEqual(d, read)
    if (!isControl && !isRead) return unauthorized(c, 'the token is not valid', 'invalid_token')
    if (!isControl && scopeFor(c.req.method) === 'control') {
      return errorResponse(
        c,
        'SHEPHERD_FORBIDDEN',
        `this token is read-only: ${c.req.method} ${c.req.path} needs the control token (api.token or ${API_TOKEN_ENV})`,
      )
    }
    return next()
  }
}

function unauthorized(
  c: Parameters<MiddlewareHandler>[0],
  message: string,
  error: 'invalid_token' | 'invalid_request' | null,
): Response {
  // RFC 6750 §3: a request without credentials gets the bare challenge; a bad one names the error.
  const challenge = error === null ? REALM : `${REALM}, error="${error}"`
  return errorResponse(c, 'SHEPHERD_UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': challenge } })
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest()
}
