/**
 * What a web page in the operator's browser can forge, refused before anything else: the API on
 * loopback has no token by default, so a page on another site must not be able to drive it.
 *
 * - **Host** (DNS rebinding: a name of the attacker's that resolves to 127.0.0.1 makes the page
 *   same-origin with the API). Allowed: an IP literal (a rebinding needs a name), `localhost`, the
 *   bind address `api.host`, and the names in `api.allowed_hosts`.
 * - **Origin**: a browser names the page's origin on every cross-origin request and every POST;
 *   one that is not the API's own (`http(s)://` + the Host asked for) is refused, and so is
 *   `null` (sandboxed frames, file: pages). The CLI and curl send none.
 * - **Content type**: a POST must say `application/json`, which a page cannot send to another
 *   origin without a CORS preflight that Shepherd never answers; forms and `text/plain` beacons
 *   are refused with 415 before the body is read.
 * @module
 */
import { isIP } from 'node:net'

import type { MiddlewareHandler } from 'hono'

import { isLoopbackHost } from './auth.js'
import { errorResponse } from './errors.js'

export interface RequestGuardOptions {
  /** `api.host`: the address the API listens on. */
  bindHost?: string
  /** `api.allowed_hosts`: more names the API may be reached by (a reverse proxy's, the machine's). */
  allowedHosts?: readonly string[]
}

/** The host name of a Host header value (`[::1]:7717` → `::1`, `Example.com:80` → `example.com`). */
export function hostName(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase()
  const name = h.startsWith('[') ? h.slice(1).split(']')[0]! : h.split(':')[0]!
  return name.replace(/\.$/, '')
}

/** Whether the API answers to this host name (see the module header). */
export function hostAllowed(name: string, o: RequestGuardOptions): boolean {
  if (isIP(name) !== 0 || isLoopbackHost(name)) return true
  if (o.bindHost !== undefined && name === o.bindHost.toLowerCase()) return true
  return (o.allowedHosts ?? []).some((h) => h.toLowerCase() === name)
}

/** Refuses a Host the API does not answer to and an Origin other than its own. */
export function requestGuard(o: RequestGuardOptions = {}): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host') ?? new URL(c.req.url).host
    const name = hostName(host)
    if (!hostAllowed(name, o)) {
      return errorResponse(
        c,
        'SHEPHERD_HOST_NOT_ALLOWED',
        `the API does not answer to the host name ${JSON.stringify(name)}: reach it by its address or localhost, or add the name to api.allowed_hosts (a name that is not listed could be a DNS rebinding attack)`,
      )
    }
    const origin = c.req.header('origin')
    if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`) {
      return errorResponse(
        c,
        'SHEPHERD_ORIGIN_NOT_ALLOWED',
        `requests from the page at ${JSON.stringify(origin)} are refused: only the API's own origin (the dashboard) may call it from a browser`,
      )
    }
    await next()
  }
}

/**
 * Refuses a POST that does not say `application/json` (see the module header).
 * It runs after the token check, so that a request without the right token learns nothing else.
 */
export function requireJson(): MiddlewareHandler {
  return async (c, next) => {
    // POST is the only method of the API's state-changing routes (all under /api/) that takes a
    // body; DELETE takes none, and a browser sends one across origins only after a preflight that
    // the API never allows. Any other method or path is answered 405 or 404.
    if (c.req.method === 'POST' && c.req.path.startsWith('/api/')) {
      const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
      if (type !== 'application/json') {
        return errorResponse(
          c,
          'SHEPHERD_UNSUPPORTED_MEDIA_TYPE',
          `${c.req.method} requests must have content-type: application/json${type === '' ? ', and this one has none' : `, not ${type}`}`,
        )
      }
    }
    await next()
  }
}
