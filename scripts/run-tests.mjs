#!/usr/bin/env node
// Runs the test files under the given folders (default: all of test/) with node's test runner and
// tsx, so TypeScript tests run without a build step. Node 20's --test takes no globs of its own.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'))
const files = []
function walk(p) {
  if (statSync(p).isDirectory()) for (const e of readdirSync(p).sort()) walk(path.join(p, e))
  else if (/\.test\.ts$/.test(p)) files.push(p)
}
for (const r of roots.length ? roots : ['test']) walk(r)
if (files.length === 0) {
  console.error('no test files found')
  process.exit(1)
}
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...files],
  {
    stdio: 'inherit',
  },
)
process.exit(r.status ?? 1)
