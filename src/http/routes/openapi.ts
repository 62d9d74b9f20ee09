/**
 * `GET /api/openapi.json`: the API's OpenAPI 3.1 document (openapi.ts), the same one
 * docs/openapi.json holds.
 * @module
 */
import type { Hono } from 'hono'

import { NO_QUERY, parseQuery } from '../context.js'
import { openApiJson } from '../openapi.js'

/** Mounts `GET /api/openapi.json`. */
export function openApiRoutes(app: Hono): void {
  app.get('/api/openapi.json', (c) => {
    parseQuery(c, NO_QUERY)
    return c.body(openApiJson(), 200, { 'content-type': 'application/json; charset=utf-8' })
  })
}
