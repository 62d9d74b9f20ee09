// The `shepherd` command as one file: dist/shepherd-cli.cjs, every module of dist/cli/main.js and
// its dependencies in one CommonJS script, which bin/shepherd.js runs with V8's code cache
// (bin/load-cli.js). Why: a node process spends most of an agent's start loading modules one by
// one (about 240 files: resolve, read, compile, link); one file cuts the CPU time from start to
// the first job by about a third, and the code cache saves most of what is left of compiling it
// (docs/benchmarks.md, fleet). A script rather than an ES module because node 20 can give a code
// cache to a script only (vm.Script's cachedData). The library (dist/index.js, dist/worker/) stays
// tsc's output, module by module.
//
// Left outside the bundle: better-sqlite3 (a native addon found through its own package) and
// pg-native (pg's optional native driver, loaded only when asked for). Files shipped beside the
// code (sql/, dashboard/, package.json) are found from the package root (src/package-root.ts),
// from `import.meta.url`: in the script, the URL of the bundle's own file, as the loader names it.
import { readFile } from 'node:fs/promises'

import { build } from 'esbuild'

/**
 * pg asks, as its stream module loads, whether it runs in a Cloudflare Worker: `typeof Response`,
 * which on node 20 loads undici (fetch) for that one question, about 20 ms of every start (see
 * `node -e "const t = performance.now(); typeof Response; console.log(performance.now() - t)"`). The bundle runs on node only, so the answer is built in. The build
 * fails if pg's code no longer reads as expected, rather than bundle it unchanged.
 */
const nodeOnlyPg = {
  name: 'pg-on-node',
  setup(b) {
    b.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async ({ path }) => {
      const source = await readFile(path, 'utf8')
      const check = 'if (isCloudflareRuntime()) {'
      if (!source.includes(check)) throw new Error(`${path}: no "${check}" to answer (pg changed)`)
      return { contents: source.replace(check, 'if (false) {'), loader: 'js' }
    })
  },
}

await build({
  entryPoints: ['dist/cli/main.js'],
  outfile: 'dist/shepherd-cli.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['better-sqlite3', 'pg-native'],
  define: { 'import.meta.url': 'shepherdBundleUrl' },
  banner: { js: "const shepherdBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [nodeOnlyPg],
  sourcemap: true,
  logLevel: 'warning',
})
