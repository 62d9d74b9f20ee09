/**
 * The dashboard's assets: the page at `/`, its modules and stylesheet at `/dashboard/*` (from the
 * `dashboard/` folder at the package root: plain ES modules, no build step) and uPlot's files from
 * node_modules at `/dashboard/vendor/*`. The page reads the same JSON API as the CLI and listens
 * to `/api/events`; it holds no data of its own, so the assets carry nothing secret.
 *
 * Only the files listed here are served (no path from the request ever reaches the file system),
 * each with its content type, an ETag, and security headers: a strict Content-Security-Policy
 * (scripts and styles from this origin only, no inline code, Trusted Types so that no string can
 * become HTML), nosniff, no framing, no referrer. docs/dashboard.md describes the page.
 * @module
 */
import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

import type { Context, Hono } from 'hono'

import { ShepherdError } from '../../../errors.js'
import { packageFile } from '../../../package-root.js'

/** The dashboard folder at the package root. */
const DASHBOARD_DIR = packageFile('dashboard/')

/**
 * Applies to the page and, harmlessly, to every other asset. `require-trusted-types-for` makes the
 * browser refuse any string written to an HTML sink (innerHTML and the like), so text from the API
 * can only ever reach the page as text; uPlot builds its DOM with createElement and textContent
 * and needs no policy. connect-src 'self' covers fetch and the EventSource of `/api/events`.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ')

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': DASHBOARD_CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
}

/**
 * `no-cache` is "revalidate before use", not "do not store": the browser keeps each file and asks
 * with If-None-Match, and a 304 costs a few bytes on loopback. Files have no hashed names (there
 * is no build step), so a longer max-age would show a stale page after an upgrade.
 */
const CACHE_CONTROL = 'no-cache'

const JS = 'text/javascript; charset=utf-8'
const CSS = 'text/css; charset=utf-8'

interface Asset {
  /** The file, resolved on first use (uPlot's through node's resolution). */
  locate: () => string
  type: string
}

const require = createRequire(import.meta.url)
const own = (name: string) => () => fileURLToPath(new URL(name, DASHBOARD_DIR))
const vendor = (specifier: string) => () => require.resolve(specifier)

/** Request path → asset. Nothing else is served from disk. */
const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ['/', { locate: own('index.html'), type: 'text/html; charset=utf-8' }],
  ['/dashboard/app.js', { locate: own('app.js'), type: JS }],
  ['/dashboard/i18n.js', { locate: own('i18n.js'), type: JS }],
  ['/dashboard/style.css', { locate: own('style.css'), type: CSS }],
  ['/dashboard/favicon.svg', { locate: own('favicon.svg'), type: 'image/svg+xml' }],
  ['/dashboard/vendor/uPlot.iife.min.js', { locate: vendor('uplot/dist/uPlot.iife.min.js'), type: JS }],
  ['/dashboard/vendor/uPlot.min.css', { locate: vendor('uplot/dist/uPlot.min.css'), type: CSS }],
])

interface Loaded {
  body: Uint8Array
  etag: string
  mtimeMs: number
  size: number
}

/**
 * Files read so far. Each request stats its file and reads it again only when it changed, so an
 * edited dashboard shows on reload without restarting the supervisor, and a stat is all a hit costs.
 */
const loaded = new Map<string, Loaded>()

async function load(file: string): Promise<Loaded> {
  const s = await stat(file)
  const hit = loaded.get(file)
  if (hit && hit.mtimeMs === s.mtimeMs && hit.size === s.size) return hit
  const body = new Uint8Array(await readFile(file))
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
  const entry = { body, etag, mtimeMs: s.mtimeMs, size: s.size }
  loaded.set(file, entry)
  return entry
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false
  return header.split(',').some((t) => {
    const tag = t.trim()
    return tag === '*' || tag === etag || tag === `W/${etag}`
  })
}

async function serveAsset(c: Context, asset: Asset): Promise<Response> {
  let file: string
  let entry: Loaded
  try {
    file = asset.locate()
    entry = await load(file)
  } catch (cause) {
    throw new ShepherdError('SHEPHERD_INTERNAL', `the dashboard asset for ${c.req.path} cannot be read`, {
      cause,
    })
  }
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    'Content-Type': asset.type,
    'Cache-Control': CACHE_CONTROL,
    ETag: entry.etag,
  }
  if (etagMatches(c.req.header('If-None-Match'), entry.etag)) {
    return new Response(null, { status: 304, headers })
  }
  headers['Content-Length'] = String(entry.body.byteLength)
  return new Response(entry.body, { status: 200, headers })
}

/** Mounts the dashboard: `GET /` (the page), `/dashboard/*` (its files), `/dashboard` → `/`. */
export function dashboardRoutes(app: Hono): void {
  for (const [path, asset] of ASSETS) app.get(path, (c) => serveAsset(c, asset))
  for (const path of ['/dashboard', '/dashboard/']) {
    app.get(path, () => new Response(null, { status: 308, headers: { ...SECURITY_HEADERS, Location: '/' } }))
  }
}
