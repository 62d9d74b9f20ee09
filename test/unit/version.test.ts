/** One function answers the package's version: the CLI's --version, the daemon and the OpenAPI document. */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { it } from 'node:test'

import { buildOpenApiDocument } from '../../src/adapters/http/openapi.js'
import { packageVersion } from '../../src/version.js'

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

it('packageVersion reads package.json, and the OpenAPI document states it', () => {
  assert.equal(packageVersion(), pkg.version)
  assert.equal((buildOpenApiDocument() as { info: { version: string } }).info.version, pkg.version)
})
