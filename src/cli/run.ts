/**
 * Runs the CLI from source (`node --import tsx src/cli/run.ts …`), as the CLI tests do;
 * bin/shepherd.js does the same from the build.
 * @module
 */
import { main } from './main.js'

// `shepherd logs -f | head` closes the pipe early: that is the reader's way of saying "enough".
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

process.exitCode = await main(process.argv.slice(2))
