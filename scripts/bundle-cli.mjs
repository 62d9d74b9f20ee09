// The `shepherd` command as one file: dist/shepherd-cli.js, every module of dist/cli/main.js and
// its dependencies in one ES module, which bin/shepherd.js runs. Why: a node process spends most of
// an agent's start loading modules one by one (about 240 files: resolve, read, compile, link); one
// file cuts the CPU time from start to the first job by about a third (docs/benchmarks.md, fleet).
// The library (dist/index.js, dist/worker/) stays tsc's output, module by module.
//
// Left outside the bundle: better-sqlite3 (a native addon found through its own package) and
// pg-native (pg's optional native driver, loaded only when asked for). CommonJS dependencies (pg,
// pino) call require() for node's built-ins, which an ES module lacks: the banner gives the bundle
// one. Files shipped beside the code (sql/, dashboard/, package.json) are found from the package
// root (src/package-root.ts), so the bundle finds them as the modules do.
import { build } from 'esbuild'

await build({
  entryPoints: ['dist/cli/main.js'],
  outfile: 'dist/shepherd-cli.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'pg-native'],
  banner: {
    js: "import { createRequire as shepherdCreateRequire } from 'node:module'; const require = shepherdCreateRequire(import.meta.url);",
  },
  sourcemap: true,
  logLevel: 'warning',
})
