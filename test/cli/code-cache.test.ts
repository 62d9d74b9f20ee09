/**
 * bin/load-cli.js: the `shepherd` command's bundle runs with V8's code cache, which a run writes
 * when it found none it could use, and never uses when it was made from another bundle (V8 itself
 * tells sources apart by length only). Real `node` processes on a copy of bin/ with a small bundle
 * of its own, and the real command.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'

import { packageRoot } from '../../src/package-root.js'

const root = fileURLToPath(packageRoot())

/** A bundle that says where it thinks it is and what it was given, `tag` making two of one length. */
const bundle = (tag: string) =>
  `exports.main = async (argv) => { console.log(JSON.stringify({ tag: '${tag}', url: shepherdBundleUrl, argv })); return 0 };
const shepherdBundleUrl = require('node:url').pathToFileURL(__filename).href;
${Array.from({ length: 200 }, (_, i) => `exports.f${i} = (x) => x + ${i};`).join('\n')}
`

describe('the code cache of the shepherd command (bin/load-cli.js)', () => {
  let dir: string
  let cache: string
  const run = (...args: string[]) =>
    JSON.parse(
      execFileSync(process.execPath, [path.join(dir, 'bin', 'shepherd.js'), ...args], { encoding: 'utf8' }),
    ) as {
      tag: string
      url: string
      argv: string[]
    }
  const digest = (text: string) => createHash('sha256').update(text).digest()

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'shepherd-code-cache-'))
    mkdirSync(path.join(dir, 'bin'))
    mkdirSync(path.join(dir, 'dist'))
    for (const f of ['shepherd.js', 'load-cli.js'])
      copyFileSync(path.join(root, 'bin', f), path.join(dir, 'bin', f))
    writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }')
    writeFileSync(path.join(dir, 'dist', 'shepherd-cli.cjs'), bundle('one'))
    cache = path.join(dir, 'dist', 'shepherd-cli.cache')
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('runs the bundle, which knows its own file, and writes the cache a later run uses', () => {
    const out = run('status', '--json')
    assert.deepEqual(out, {
      tag: 'one',
      url: pathToFileURL(path.join(dir, 'dist', 'shepherd-cli.cjs')).href,
      argv: ['status', '--json'],
    })
    const written = readFileSync(cache)
    assert.deepEqual(written.subarray(0, 32), digest(bundle('one')), 'headed by the digest of its bundle')
    assert.ok(written.length > 32, 'and V8’s data after it')
    const { mtimeMs } = statSync(cache)
    assert.equal(run().tag, 'one')
    assert.equal(statSync(cache).mtimeMs, mtimeMs, 'a short run that used the cache leaves it as it is')
  })

  it('never uses a cache made from another bundle of the same length, and replaces it', () => {
    run()
    const old = readFileSync(cache)
    writeFileSync(path.join(dir, 'dist', 'shepherd-cli.cjs'), bundle('two'))
    assert.equal(bundle('one').length, bundle('two').length)
    assert.equal(run().tag, 'two', 'the new bundle runs, not the old one’s compiled code')
    const now = readFileSync(cache)
    assert.deepEqual(now.subarray(0, 32), digest(bundle('two')))
    assert.notDeepEqual(now, old)
  })

  it('runs when the cache is damaged, and writes a good one', () => {
    writeFileSync(cache, Buffer.concat([digest(bundle('one')), Buffer.from('not what V8 wrote')]))
    assert.equal(run().tag, 'one')
    assert.ok(readFileSync(cache).length > 32 + 'not what V8 wrote'.length)
  })
})

describe('the shepherd command on its code cache', () => {
  it('runs the same with a cache as without one', () => {
    const cli = path.join(root, 'bin', 'shepherd.js')
    const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }
    rmSync(path.join(root, 'dist', 'shepherd-cli.cache'), { force: true })
    for (let i = 0; i < 2; i++)
      assert.equal(
        execFileSync(process.execPath, [cli, '--version'], { encoding: 'utf8' }).trim(),
        version.version,
      )
    assert.ok(statSync(path.join(root, 'dist', 'shepherd-cli.cache')).size > 100_000)
  })
})
