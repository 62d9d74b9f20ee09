/**
 * `GET /api/openapi.json`: the API's OpenAPI 3.1 document (openapi.ts), the same one
 * docs/openapi.json holds.
 * @module
 */
import { z } from 'zod'

import { type ApiRoute, defineRoute, json } from '../route.js'

export const openApiRoutes: readonly ApiRoute[] = [
  defineRoute(
    {
      method: 'get',
      path: '/api/openapi.json',
      operationId: 'getOpenApi',
      tag: 'supervisor',
      summary: 'This document',
      responses: {
        200: json(z.record(z.string(), z.unknown()).describe('An OpenAPI 3.1 document.'), 'This document.'),
      },
    },
    (c) => c.json(c.var.ctx.openApiDocument(), 200),
  ),
]
