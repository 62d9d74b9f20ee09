/**
 * Writes docs/openapi.json: the OpenAPI 3.1 document of the API, built from the route table and
 * the zod schemas the server validates with (src/http/openapi.ts), formatted as Prettier would so
 * that `prettier --check` and `npm run check:generated` both pass on a fresh copy.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import { format, resolveConfig } from 'prettier'

import { API_ROUTES, buildOpenApiDocument } from '../src/http/openapi.js'

const file = fileURLToPath(new URL('../docs/openapi.json', import.meta.url))
const options = (await resolveConfig(file)) ?? {}
const text = await format(JSON.stringify(buildOpenApiDocument()), { ...options, filepath: file })
writeFileSync(file, text)
console.log(`docs/openapi.json: ${API_ROUTES.length} operations`)
