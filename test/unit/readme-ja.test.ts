/**
 * README.ja.md keeps pace with README.md: the same sections (## headings, in number) and the very
 * same code blocks, so a new section or a changed command in one shows up as a failure until the
 * other follows. Prose is translated; commands, configs and logs are not.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'

const en = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
const ja = readFileSync(new URL('../../README.ja.md', import.meta.url), 'utf8')

/** The text outside fenced code blocks. */
function prose(md: string): string {
  return md.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '')
}

function headings(md: string, level: number): string[] {
  return [...prose(md).matchAll(new RegExp(`^${'#'.repeat(level)} (.+)$`, 'gm'))].map((m) => m[1]!)
}

function codeBlocks(md: string): string[] {
  return [...md.matchAll(/^```[^\n]*\n[\s\S]*?^```$/gm)].map((m) => m[0])
}

describe('README.ja.md', () => {
  it('has as many sections as README.md', () => {
    assert.ok(headings(en, 2).length >= 5)
    assert.equal(headings(ja, 2).length, headings(en, 2).length, `README.md: ${headings(en, 2).join(' | ')}`)
    assert.equal(headings(ja, 1).length, headings(en, 1).length)
  })

  it('has the same code blocks, in the same order', () => {
    assert.ok(codeBlocks(en).length >= 5)
    assert.deepEqual(codeBlocks(ja), codeBlocks(en))
  })

  it('links to the same documents, and the two point at each other', () => {
    const docs = (md: string) => [...md.matchAll(/\]\((docs\/[^)]+)\)/g)].map((m) => m[1]).sort()
    assert.deepEqual(docs(ja), docs(en))
    assert.match(en, /\[日本語\]\(README\.ja\.md\)/)
    assert.match(ja, /\[English\]\(README\.md\)/)
  })
})
