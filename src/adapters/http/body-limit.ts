/**
 * The API's limit on request bodies, judged from the headers whenever they can tell: a GET or HEAD
 * has no body, and a body with a Content-Length (and no Transfer-Encoding) is that long, since
 * Node's HTTP parser reads exactly that many bytes as the body. Only a chunked body is counted as
 * it streams in (Hono's bodyLimit).
 *
 * Why not Hono's bodyLimit alone: it asks the request for its `body` stream first, and on the Node
 * server (@hono/node-server) that makes the full web Request of every request, a stream over the
 * socket included, where the handler would otherwise read the body straight from Node's request.
 * That cost about a millisecond of every POST, an enqueue's included (docs/benchmarks.md).
 * @module
 */
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit as streamedBodyLimit } from 'hono/body-limit'

/**
 * Refuses, through `onTooLarge`, a request whose body is over `maxSize` bytes, without reading a
 * body whose headers give its length.
 */
export function bodyLimit(
  maxSize: number,
  onTooLarge: (c: Context) => Response | Promise<Response>,
): MiddlewareHandler {
  const streamed = streamedBodyLimit({ maxSize, onError: onTooLarge })
  return async (c, next) => {
    const method = c.req.method
    if (method === 'GET' || method === 'HEAD') return next()
    const length = c.req.header('content-length')
    if (length === undefined || c.req.header('transfer-encoding') !== undefined) return streamed(c, next)
    return Number.parseInt(length, 10) > maxSize ? onTooLarge(c) : next()
  }
}
