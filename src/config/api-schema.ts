/**
 * The `api` section: where the control API listens, which host names it answers to, its tokens
 * (docs/security.md). A section of the one config schema (schema.ts).
 * @module
 */
import { isIP } from 'node:net'

import { z } from 'zod'

/**
 * Shortest API token accepted. 24 random characters of base64 carry 144 bits, beyond any guessing
 * over the network; a shorter value is most likely a word or a password someone will reuse.
 */
export const MIN_API_TOKEN_LENGTH = 24

/**
 * Clients of `GET /api/events` at once, by default: a dashboard in a few tabs for each of a team's
 * operators and some tools, with room to spare. Each client costs a socket and up to 256 KiB of
 * events it has not read yet (event-broadcaster.ts); a bound keeps a page left open in hundreds of
 * tabs, or a script that connects in a loop, from costing the supervisor more.
 */
export const DEFAULT_MAX_EVENT_CLIENTS = 100

/**
 * What is wrong with an API token, or null when it will do. The value itself is never quoted: it
 * is a secret, and the message goes to a terminal or a log. The environment variables that
 * override `api.token` and `api.read_token` are held to the same rules (src/adapters/http/auth.ts).
 */
export function apiTokenProblem(token: string): string | null {
  if (token.length < MIN_API_TOKEN_LENGTH)
    return `expected a token of at least ${MIN_API_TOKEN_LENGTH} characters (e.g. the output of \`openssl rand -base64 32\`), got ${token.length} characters`
  if (!/^[\x21-\x7e]+$/.test(token))
    return 'expected printable ASCII without spaces (the token travels in an HTTP header), got other characters'
  return null
}

const apiToken = z.string().superRefine((token, ctx) => {
  const problem = apiTokenProblem(token)
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem })
})

/** RFC 1123 hostname: dot-separated labels of letters, digits and inner hyphens. */
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/

const apiHost = z.string().superRefine((host, ctx) => {
  // All digits and dots is meant as an IPv4 address (999.1.1.1), not a hostname.
  if (isIP(host) !== 0 || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host))) return
  const hint = /^\[.*\]$/.test(host) ? ' (write an IPv6 address without brackets)' : ''
  ctx.addIssue({
    code: 'custom',
    message: `expected a hostname or an IP address${hint}, got ${JSON.stringify(host)}`,
  })
})

/** The `api` section. */
export const ApiSchema = z
  .strictObject({
    host: apiHost
      .prefault('127.0.0.1')
      .describe(
        'Address the control API and the dashboard listen on: a hostname or an IP address. Anything but loopback (127.0.0.1, ::1, localhost), e.g. 0.0.0.0, requires api.token: without one the supervisor refuses to start.',
      ),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .prefault(7717)
      .describe('Port of the control API (0 picks a free one).'),
    allowed_hosts: z
      .array(z.string().regex(HOSTNAME, 'expected a host name such as shepherd.internal'))
      .max(100)
      .prefault([])
      .describe(
        "More host names the API and the dashboard answer to (a reverse proxy's, the machine's own name). IP addresses, localhost and api.host always work; a request for any other name is refused with 403, as a DNS rebinding attack from a web page would be.",
      ),
    max_event_clients: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .prefault(DEFAULT_MAX_EVENT_CLIENTS)
      .describe(
        'Clients of the event stream (GET /api/events, which the dashboard uses) at once; one more is answered 503 with Retry-After. A client that stops reading is dropped once 256 KiB of events waits for it.',
      ),
    token: apiToken
      .optional()
      .describe(
        `Bearer token of the control scope (every route). Once a token is set, every /api route and /metrics require one, on loopback too. At least ${MIN_API_TOKEN_LENGTH} characters: long enough that guessing is hopeless (\`openssl rand -base64 32\`). SHEPHERD_API_TOKEN overrides it; prefer the variable, so that the secret stays out of the file.`,
      ),
    read_token: apiToken
      .optional()
      .describe(
        'Bearer token of the read-only scope: GET and HEAD only, POST is refused with 403. Needs api.token. SHEPHERD_API_READ_TOKEN overrides it.',
      ),
  })
  .superRefine((api, ctx) => {
    if (api.read_token !== undefined && api.read_token === api.token) {
      ctx.addIssue({
        code: 'custom',
        path: ['read_token'],
        message: 'expected a token other than api.token: one token cannot have two scopes',
      })
    }
  })
  .prefault({})
  .describe('The HTTP control API the CLI and the dashboard talk to (docs/security.md).')
