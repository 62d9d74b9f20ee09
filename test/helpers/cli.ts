/**
 * Runs the `shepherd` CLI from source in real processes, as a user would, and finds free ports
 * for the supervisors tests start.
 */
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import net from 'node:net'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'

/** The CLI's entry (`node --import tsx <RUN> …`): tests run the source; bin/shepherd.js runs dist. */
export const RUN = fileURLToPath(new URL('../../src/cli/run.ts', import.meta.url))
export const TSX = import.meta.resolve('tsx')
/** The built command (`npm run build` first): what a user runs. */
export const BIN = fileURLToPath(new URL('../../bin/shepherd.js', import.meta.url))

/** The environment the CLI runs in unless a test gives its own: no colour, UTC, no config from the runner. */
export const CLI_ENV: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', TZ: 'UTC', SHEPHERD_CONFIG: '' }

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface CliOptions {
  /** The whole environment (default CLI_ENV). */
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Written to the CLI's stdin, which is a pipe (never a terminal, as in CI) closed after it. */
  stdin?: string
  /** Run the built command (bin/shepherd.js, from dist/) rather than the source. */
  built?: boolean
  /** A command that runs it (`['ip', 'netns', 'exec', '<name>']`: on a host of its own). */
  prefix?: string[]
}

/** Spawns `shepherd <args>`; stdout and stderr are pipes in UTF-8. */
export function spawnCli(args: string[], o: CliOptions = {}): ChildProcessWithoutNullStreams {
  const entry = o.built ? [BIN] : ['--import', TSX, RUN]
  const [command, ...rest] = [...(o.prefix ?? []), process.execPath, ...entry, ...args]
  const child = spawn(command!, rest, {
    cwd: o.cwd,
    env: o.env ?? CLI_ENV,
  })
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdin.end(o.stdin ?? '')
  return child
}

/**
 * Runs `shepherd <args>` to completion. Asynchronous on purpose: a test may serve the API the CLI
 * talks to from its own process, which must keep answering while the CLI runs.
 */
export function runCli(args: string[], o: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, o)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: string) => (stdout += d))
    child.stderr.on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

export interface RunningCli {
  child: ChildProcess
  exited: Promise<number | null>
  /** What it printed so far, stdout and stderr together. */
  log: () => string
}

/** Starts a long-running `shepherd <args>` (such as `start`), killed after the test if still running. */
export function startCli(t: TestContext, args: string[], o: CliOptions = {}): RunningCli {
  const child = spawnCli(args, o)
  let log = ''
  child.stdout.on('data', (d: string) => (log += d))
  child.stderr.on('data', (d: string) => (log += d))
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { child, exited, log: () => log }
}

/** A port nobody listens on right now (on `host`). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}
