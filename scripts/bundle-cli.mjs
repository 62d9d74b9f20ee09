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
import { build } from 'esbuild'

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
  sourcemap: true,
  logLevel: 'warning',
})
