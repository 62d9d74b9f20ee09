import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'

import { coerceError, ErrorRegistry, isShepherdError, ShepherdError } from '../../src/errors.js'

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
const documented = [...doc.matchAll(/^### (SHEPHERD_[A-Z_]+)$/gm)].map((m) => m[1])

describe('error registry', () => {
  it('documents every code in docs/errors.md', () => {
    for (const code of Object.keys(ErrorRegistry))
      assert.ok(documented.includes(code), `${code} is missing from docs/errors.md`)
  })
  it('documents no code that no longer exists', () => {
    for (const code of documented)
      assert.ok(code! in ErrorRegistry, `${code} in docs/errors.md is not in the registry`)
  })
  it('carries code, status and cause', () => {
    const cause = new Error('disk full')
    const e = new ShepherdError('SHEPHERD_STORE_WRITE_FAILED', 'could not save incident', { cause })
    assert.equal(e.code, 'SHEPHERD_STORE_WRITE_FAILED')
    assert.equal(e.httpStatus, 500)
    assert.equal(e.cause, cause)
    assert.ok(isShepherdError(e, 'SHEPHERD_STORE_WRITE_FAILED'))
    assert.ok(!isShepherdError(e, 'SHEPHERD_CONFIG_INVALID'))
    assert.equal(new ShepherdError('SHEPHERD_WORKER_NOT_FOUND', 'x').httpStatus, 404)
  })
  it('coerces anything thrown into an Error', () => {
    assert.equal(coerceError('boom').message, 'boom')
    assert.equal(coerceError({ a: 1 }).message, '{"a":1}')
    const e = new Error('x')
    assert.equal(coerceError(e), e)
  })
})
