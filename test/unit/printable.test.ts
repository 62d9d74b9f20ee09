import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { printable } from '../../src/cli/printable.js'

describe('printable', () => {
  it('escapes C0 (but tab and newline), DEL, C1 and bidi controls', () => {
    assert.equal(
      printable('a\u001b]0;t\u0007b\tc\nd\u007fe\u009bf\u202eg'),
      'a\\x1b]0;t\\x07b\tc\nd\\u007fe\\u009bf\\u202eg',
    )
  })

  it('keeps colour sequences on a colour terminal, and nothing else', () => {
    assert.equal(
      printable('\u001b[1mok\u001b[22m \u001b[2J', { colour: true }),
      '\u001b[1mok\u001b[22m \\x1b[2J',
    )
    assert.equal(printable('\u001b[1mok\u001b[22m'), '\\x1b[1mok\\x1b[22m')
  })

  it('leaves JSON valid: C1 and bidi characters become JSON escapes', () => {
    const text = JSON.stringify({ id: 'a\u001b\u009b\u202e' })
    assert.deepEqual(JSON.parse(printable(text)), { id: 'a\u001b\u009b\u202e' })
  })
})
