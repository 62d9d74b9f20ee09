#!/usr/bin/env node
// The `shepherd` command, from the build: dist/shepherd-cli.cjs is dist/cli/main.js bundled into one
// file, which starts faster (scripts/bundle-cli.mjs), loaded with V8's code cache (load-cli.js).
// src/cli/run.ts is the same from source.
import { loadCli } from './load-cli.js'

const { main } = loadCli()

// `shepherd logs -f | head` closes the pipe early: that is the reader's way of saying "enough".
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

process.exitCode = await main(process.argv.slice(2))
