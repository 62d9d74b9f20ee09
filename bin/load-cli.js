// Loads dist/shepherd-cli.cjs (scripts/bundle-cli.mjs) with V8's code cache: the bytecode of the
// functions earlier runs compiled, in dist/shepherd-cli.cache, so that a start (every agent of a
// fleet, every CLI command) does not compile the 2.8 MB bundle again. V8 checks that the cache
// belongs to this source and this V8, and rejects it otherwise (a rebuild, a node upgrade): the
// script is then compiled as if there were none. V8 tells sources apart by their length alone, so
// the cache starts with the SHA-256 of the bundle it was made from, and one made from another
// bundle (a rebuild that changed a constant but not the length) is not used. A run writes the
// cache as it exits when it found none it could use, or when it ran long enough to have compiled
// more than the cache holds (an agent, after a short command wrote the first one); to a temporary
// file renamed into place, so that runs at once never read half a file. Where dist/ is read-only,
// it runs without one.
import { createHash } from 'node:crypto'
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import vm from 'node:vm'

const dist = fileURLToPath(new URL('../dist/', import.meta.url))
const BUNDLE = path.join(dist, 'shepherd-cli.cjs')
const CACHE = path.join(dist, 'shepherd-cli.cache')
/** A run this long may have compiled more than the cache it loaded: it looks, at its exit. */
const RICHER_AFTER_MS = 500

/** The bundle's exports (`main`), its code cache used when it can be. */
export function loadCli() {
  const bundle = readFileSync(BUNDLE)
  const digest = createHash('sha256').update(bundle).digest()
  let cachedData
  try {
    const file = readFileSync(CACHE)
    if (file.subarray(0, digest.length).equals(digest)) cachedData = file.subarray(digest.length)
  } catch {
    cachedData = undefined
  }
  // As node wraps a CommonJS file: on its first line, so that stack traces keep their line numbers.
  const source = `(function (exports, require, module, __filename, __dirname) { ${bundle.toString('utf8')}\n})`
  const script = new vm.Script(source, {
    filename: BUNDLE,
    cachedData,
    // import() inside the bundle (of node's built-ins, or of a module outside it) as from any file.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  })
  const usable = cachedData !== undefined && !script.cachedDataRejected
  const loadedAt = performance.now()
  process.once('exit', () => {
    if (usable && performance.now() - loadedAt < RICHER_AFTER_MS) return
    const data = script.createCachedData()
    if (!usable || data.length > cachedData.length * 1.1) writeCache(Buffer.concat([digest, data]))
  })
  const module = { exports: {} }
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dist)
  return module.exports
}

/** Writes the cache for the next runs; nothing when it cannot be written. */
function writeCache(data) {
  const temporary = `${CACHE}.${process.pid}`
  try {
    writeFileSync(temporary, data)
    renameSync(temporary, CACHE)
  } catch {
    try {
      unlinkSync(temporary)
    } catch {
      // Never written.
    }
  }
}
