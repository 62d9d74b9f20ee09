/**
 * The thin adapter that serves the web-standard API app on a Node HTTP server.
 * @module
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import type { Hono } from 'hono'

import { coerceError, ShepherdError } from '../../errors.js'
import { connectHost, httpUrl } from './client.js'

/** Where to listen. */
export interface ServeOptions {
  /**
   * Address to bind: a hostname or an IP, `0.0.0.0` / `::` for every interface. Anything but
   * loopback must go with API tokens; the daemon checks that before it serves (auth.ts).
   */
  host: string
  /** 0 picks a free port; the running server reports the one it got. */
  port: number
}

/** A listening API server. */
export interface RunningHttpServer {
  /** Base URL clients on this machine use, e.g. `http://127.0.0.1:7717` (loopback for a wildcard bind). */
  url: string
  /** The port actually bound (the one picked when asked for 0). */
  port: number
  /**
   * Stops accepting connections, lets requests in flight finish for up to
   * {@link CLOSE_GRACE_MS}, then drops what is left. Idempotent.
   */
  close(): Promise<void>
}

/**
 * How long `close()` lets requests in flight finish. Every route answers within milliseconds, so
 * a request still open after this is stuck and must not hold up the supervisor's shutdown.
 * @defaultValue 2000
 */
export const CLOSE_GRACE_MS = 2000

/**
 * Serves the app that `app` makes on `host:port`; it is made at the first request (see
 * {@link listenerOnFirstRequest}). A port already taken (usually by a supervisor on the same config)
 * is SHEPHERD_API_PORT_IN_USE; any other listen failure is SHEPHERD_INTERNAL.
 * @example
 * ```ts
 * const server = await serveHttp(() => createHttpApp({ supervisor, store }), { host: '127.0.0.1', port: 7717 })
 * // ... later
 * await server.close()
 * ```
 */
export async function serveHttp(
  app: () => Hono | Promise<Hono>,
  options: ServeOptions,
): Promise<RunningHttpServer> {
  const server = createServer(listenerOnFirstRequest(app))
  const wanted = httpUrl(options.host, options.port)
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening)
      reject(listenError(err, wanted))
    }
    const onListening = () => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(options.port, options.host)
  })
  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined
  return {
    url: httpUrl(connectHost(options.host), port),
    port,
    close: () => (closing ??= closeServer(server)),
  }
}

/**
 * The request listener, made at the first request, with the app. @hono/node-server reads the global
 * Request and Response as it loads, which loads node's fetch (undici): about 60 ms of CPU; the app's
 * routes, their schemas and the OpenAPI document are built then too. A supervisor's start need not
 * pay for either, since its API may not be called for a while (or at all, on a busy fleet
 * agent). Requests that come meanwhile wait for it; if it cannot be made, they get a 500.
 */
function listenerOnFirstRequest(app: () => Hono | Promise<Hono>): RequestListener {
  let loaded: Promise<RequestListener> | undefined
  return (req, res) => {
    loaded ??= Promise.all([import('@hono/node-server'), app()]).then(([m, made]) =>
      m.getRequestListener(made.fetch),
    )
    loaded.then(
      (listener) => listener(req, res),
      () => {
        res.statusCode = 500
        res.end()
      },
    )
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS)
    timer.unref()
    server.close((err) => {
      clearTimeout(timer)
      if (err) reject(err)
      else resolve()
    })
    server.closeIdleConnections()
  })
}

function listenError(thrown: unknown, url: string): ShepherdError {
  const err = coerceError(thrown)
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'EADDRINUSE') {
    return new ShepherdError(
      'SHEPHERD_API_PORT_IN_USE',
      `cannot serve the API on ${url}: the address is already in use. A supervisor is probably already running on this config (see \`shepherd status\`); otherwise change api.port`,
      { cause: err },
    )
  }
  return new ShepherdError('SHEPHERD_INTERNAL', `cannot serve the API on ${url}: ${err.message}`, {
    cause: err,
  })
}
