/**
 * The `shepherd` command: argv to library calls, nothing else. Each command loads the config,
 * calls the supervisor's API (or the log files, the store's queue, or the daemon) and prints what
 * came back. The queue commands (`enqueue`, `queues`, `jobs`, `retry`, `purge`) are in
 * queue-commands.ts.
 *
 * Exit codes: 0 ok; 1 a runtime failure (no supervisor answers, the API refused, bad lines on
 * stdin, a declined purge); 2 an invalid config or a usage error. Errors print `shepherd: <message> [<code>]` on stderr, as `shepherd start` does.
 * @module
 */
import path from 'node:path'

import { Command, CommanderError, InvalidArgumentError } from 'commander'

import { resolveApiTokens } from '../adapters/http/auth.js'
import { apiBaseUrl, ApiClient, clientToken } from '../adapters/http/client.js'
import { commandWarnings } from '../config/commands.js'
import {
  formatProblem,
  lineOfField,
  loadConfigFile,
  loadConfigText,
  type LoadedConfig,
  readConfigFile,
  type ResolvedPool,
} from '../config/load.js'
import { coerceError, isShepherdError } from '../errors.js'
import { packageVersion } from '../version.js'
import { CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH, resolveConfigPath } from './config-path.js'
import { formatConfigSummary, formatEvents, formatIncidents, styler } from './format.js'
import { addNodeCommands } from './node-commands.js'
import { printable } from './printable.js'
import { addQueueCommands, askOnTerminal, type QueueCommandIo } from './queue-commands.js'
import { addReportCommand } from './report-command.js'
import { addStoreCommand } from './store-command.js'

/** The exit codes of `shepherd`. */
export const ExitCode = {
  /** The command did what was asked. */
  ok: 0,
  /** A runtime failure: no supervisor answers, the API refused, a file could not be read. */
  failure: 1,
  /** The config is invalid or the command line is wrong. */
  usage: 2,
} as const

/** Lines `shepherd logs` shows when `-n` is not given. */
export const DEFAULT_LOG_LINES = 50

/** Where the CLI writes and what it knows of its surroundings; tests and embedders pass their own. */
export interface CliIo {
  /** Writes one block of standard output (a newline is added). */
  out(text: string): void
  /** Writes one block of standard error (a newline is added). */
  err(text: string): void
  /** Whether standard output is a terminal that takes colour. */
  color: boolean
  /** The environment: `SHEPHERD_CONFIG`, `SHEPHERD_DEBUG`, `SHEPHERD_API_TOKEN`, `SHEPHERD_API_READ_TOKEN`. */
  env: NodeJS.ProcessEnv
  /** Calls `listener` on the first SIGINT or SIGTERM; returns the unsubscribe function. */
  onInterrupt(listener: () => void): () => void
  /**
   * Standard input: the JSON lines of `shepherd enqueue`.
   * @defaultValue process.stdin
   */
  stdin?: NodeJS.ReadableStream
  /**
   * Whether stdin is a terminal a person answers at (`shepherd purge` asks there).
   * @defaultValue process.stdin.isTTY
   */
  interactive?: boolean
  /**
   * Asks a question and resolves with the line answered ('' when input ends).
   * @defaultValue a question on the terminal: prompt on stderr, answer from stdin
   */
  ask?(question: string): Promise<string>
}

/** The process's own streams, environment and signals. Colour only on a TTY without NO_COLOR. */
export function processIo(): CliIo {
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR
  const errColor = process.stderr.isTTY === true && !process.env.NO_COLOR
  return {
    out: (text) => process.stdout.write(`${printable(text, { colour: color })}\n`),
    err: (text) => process.stderr.write(`${printable(text, { colour: errColor })}\n`),
    color,
    env: process.env,
    onInterrupt(listener) {
      const handler = () => listener()
      process.once('SIGINT', handler)
      process.once('SIGTERM', handler)
      return () => {
        process.off('SIGINT', handler)
        process.off('SIGTERM', handler)
      }
    },
  }
}

/**
 * Runs `shepherd` with `argv` (the arguments after the program name) and resolves with the exit
 * code; it never throws and never exits the process.
 * @example
 * ```ts
 * process.exitCode = await main(['status', '-c', 'config/worker_recovery.yaml', '--json'])
 * ```
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  let code: number = ExitCode.ok
  const program = buildProgram(io, (c) => (code = c))
  try {
    await program.parseAsync(argv, { from: 'user' })
    return code
  } catch (thrown) {
    return reportError(thrown, io)
  }
}

type Options = { config?: string }

function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('shepherd')
    .description('Supervises workers and recovers them on its own.')
    .version(packageVersion(), '-V, --version')
    .option('-c, --config <file>', `config file (default: $${CONFIG_ENV_VAR}, else ${DEFAULT_CONFIG_PATH})`)
    .showHelpAfterError('(run `shepherd --help` for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(`shepherd: ${s.replace(/^error: /, '')}`),
    })

  const configFile = (cmd: Command) => resolveConfigPath(cmd.optsWithGlobals<Options>().config, io.env)
  // The token comes from SHEPHERD_API_TOKEN (or _READ_TOKEN) or the config, as the daemon's does.
  const client = (loaded: LoadedConfig) =>
    new ApiClient(apiBaseUrl(loaded.config), globalThis.fetch, {
      token: clientToken(resolveApiTokens(loaded.config.api, io.env)),
    })
  const style = styler(io.color)
  // Getters: process.stdin is touched only by the commands that read it.
  const queueIo: QueueCommandIo = {
    out: io.out,
    err: io.err,
    get stdin() {
      return io.stdin ?? process.stdin
    },
    get interactive() {
      return io.interactive ?? process.stdin.isTTY === true
    },
    ask: io.ask?.bind(io) ?? askOnTerminal,
  }

  program
    .command('start')
    .description('run the supervisor in the foreground until SIGINT or SIGTERM')
    .action(async (_opts: object, cmd: Command) => {
      const { runDaemon } = await import('../daemon.js')
      setExitCode(await runDaemon(configFile(cmd)))
    })

  program
    .command('validate')
    .description('check the config file and list every problem with its path and line')
    .action(async (_opts: object, cmd: Command) => {
      const file = path.resolve(configFile(cmd))
      const text = readConfigFile(file)
      const loaded = loadConfigText(text, file)
      io.out('ok')
      io.out(formatConfigSummary(loaded.config))
      // Valid, but a worker could not start as written: said, with exit 0.
      for (const w of commandWarnings(loaded.pools, io.env.PATH)) {
        io.err(
          `shepherd: warning: ${formatProblem({ ...w, path: w.path.join('.'), line: lineOfField(text, w.path) }).trimStart()}`,
        )
      }
    })

  addNodeCommands(program, {
    out: io.out,
    target: (cmd) => {
      const loaded = loadConfigFile(configFile(cmd))
      return { client: client(loaded), shared: loaded.store.kind === 'postgres' }
    },
    style,
    now: () => Date.now(),
  })

  program
    .command('restart')
    .description('recover a worker now (soft_restart, or hard_restart with --hard)')
    .argument('<worker-id>', 'the worker, e.g. email#2')
    .option('--hard', 'SIGKILL the process group instead of a graceful stop')
    .action(async (workerId: string, opts: { hard?: boolean }, cmd: Command) => {
      const hard = opts.hard === true
      const { incidentId } = await client(loadConfigFile(configFile(cmd))).restart(workerId, hard)
      io.out(`incident ${incidentId} opened: ${hard ? 'hard_restart' : 'soft_restart'} of ${workerId}`)
    })

  program
    .command('incidents')
    .description('list recent incidents, newest first, each with its timeline')
    .option('--json', 'print {"incidents":[...]} as JSON')
    .option('--limit <n>', 'at most this many (1..1000)', parseLimit, 50)
    .option('--worker <id>', 'only this worker')
    .option('--pool <name>', 'only this pool')
    .option('--node <name>', "only this agent's (on a store that agents share)")
    .action(
      async (
        opts: { json?: boolean; limit: number; worker?: string; pool?: string; node?: string },
        cmd: Command,
      ) => {
        const loaded = loadConfigFile(configFile(cmd))
        const incidents = await client(loaded).incidents({
          limit: opts.limit,
          worker: opts.worker,
          pool: opts.pool,
          node: opts.node,
        })
        // A shared store holds every agent's incidents: each block names its node.
        const nodes = loaded.store.kind === 'postgres'
        io.out(
          opts.json
            ? JSON.stringify({ incidents })
            : formatIncidents(incidents, { now: Date.now(), style, nodes }),
        )
      },
    )

  program
    .command('events')
    .description('list the events recorded in the store, oldest first (every agent’s on a shared store)')
    .option('--json', 'print {"events":[...]} as JSON')
    .option('--limit <n>', 'at most this many (1..1000)', parseLimit, 100)
    .option(
      '--after <seq>',
      'only events after this sequence number (the last SEQ of the previous page)',
      parseSeq,
    )
    .option('--type <types>', 'only these types, comma-separated; a prefix such as incident: takes a family')
    .option('--worker <id>', 'only this worker')
    .option('--node <name>', "only this agent's (on a store that agents share)")
    .action(
      async (
        opts: {
          json?: boolean
          limit: number
          after?: number
          type?: string
          worker?: string
          node?: string
        },
        cmd: Command,
      ) => {
        const loaded = loadConfigFile(configFile(cmd))
        const events = await client(loaded).events({
          limit: opts.limit,
          after: opts.after,
          types: opts.type?.split(','),
          worker: opts.worker,
          node: opts.node,
        })
        const nodes = loaded.store.kind === 'postgres'
        io.out(opts.json ? JSON.stringify({ events }) : formatEvents(events, { style, nodes }))
      },
    )

  program
    .command('logs')
    .description('print the last lines of the worker logs (works with the supervisor down)')
    .argument('[selector]', 'a pool name or a worker id (default: every pool)')
    .option('-f, --follow', 'keep printing new lines until SIGINT')
    .option('-n, --lines <n>', 'lines to print first', parseLines, DEFAULT_LOG_LINES)
    .action(async (selector: string | undefined, opts: { follow?: boolean; lines: number }, cmd: Command) => {
      const loaded = loadConfigFile(configFile(cmd))
      const pools = loaded.pools.map((p) => p.name)
      if (selector !== undefined && !selectsLogs(selector, pools)) {
        cmd.error(
          `no pool or worker "${selector}"; the pools are: ${pools.join(', ')} (a worker id is POOL#N)`,
          {
            exitCode: ExitCode.usage,
            code: 'shepherd.unknownSelector',
          },
        )
      }
      const { readLogTail, followLogs } = await import('../adapters/process/log-reader.js')
      const dir = loaded.logDir
      const pool = loaded.pools.find((p) => p.name === selector?.slice(0, selector.indexOf('#')))
      // A worker id its pool cannot have (past replicas.max, a spare of a pool without spares) is a
      // typo, unless the logs have lines of it (a worker of an earlier config).
      if (selector !== undefined && pool && !workerIdAllowed(selector, pool)) {
        const seen = await readLogTail({ dir, selector, lines: 1, pools })
        if (seen.length === 0) {
          cmd.error(`no worker "${selector}": ${describeWorkerIds(pool)}, and no log line of it`, {
            exitCode: ExitCode.usage,
            code: 'shepherd.unknownSelector',
          })
        }
      }
      const tail = await readLogTail({ dir, selector, lines: opts.lines, pools })
      if (tail.length > 0) io.out(tail.join('\n'))
      if (!opts.follow) return
      const stop = new AbortController()
      const unsubscribe = io.onInterrupt(() => stop.abort())
      try {
        await followLogs({
          dir,
          selector,
          pools,
          signal: stop.signal,
          onLines: (lines) => {
            if (lines.length > 0) io.out(lines.join('\n'))
          },
        })
      } finally {
        unsubscribe()
      }
    })

  addQueueCommands(program, { io: queueIo, configFile, style, setExitCode })
  addReportCommand(program, { io, configFile, client })
  addStoreCommand(program, { out: io.out, env: io.env, configFile })

  return program
}

/** A pool name, or a worker id of a pool (`email#2`, `email#s1`). */
function selectsLogs(selector: string, pools: readonly string[]): boolean {
  if (pools.includes(selector)) return true
  const hash = selector.indexOf('#')
  return hash > 0 && hash < selector.length - 1 && pools.includes(selector.slice(0, hash))
}

/** Whether a pool of this config can have a worker of this id: `pool#1`..`pool#<replicas.max>`, or `pool#s<n>` with spares. */
function workerIdAllowed(id: string, pool: ResolvedPool): boolean {
  const m = /^(s?)([1-9]\d*)$/.exec(id.slice(id.indexOf('#') + 1))
  if (!m) return false
  return m[1] === 's' ? pool.spares > 0 : Number(m[2]) <= pool.replicas.max
}

/** `email has email#1 to email#6 (replicas.max 6), and spares email#s1, email#s2, …` */
function describeWorkerIds(pool: ResolvedPool): string {
  const { name } = pool
  const max = pool.replicas.max
  const ids = max === 1 ? `${name}#1` : `${name}#1 to ${name}#${max}`
  const spares = pool.spares > 0 ? `, and spares ${name}#s1, ${name}#s2, …` : ''
  return `${name} has ${ids} (replicas.max ${max})${spares}`
}

function parseLimit(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new InvalidArgumentError('expected an integer from 1 to 1000.')
  return n
}

function parseSeq(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n))
    throw new InvalidArgumentError('expected an event sequence number (0 or more).')
  return n
}

function parseLines(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n))
    throw new InvalidArgumentError('expected a whole number of lines (0 or more).')
  return n
}

/** Prints an error the way every command does and returns its exit code. */
function reportError(thrown: unknown, io: CliIo): number {
  if (thrown instanceof CommanderError) {
    // Commander has printed its message already (help, version, or a usage error).
    if (thrown.exitCode === 0) return ExitCode.ok
    return ExitCode.usage
  }
  if (isShepherdError(thrown)) {
    const [head = '', ...rest] = thrown.message.split('\n')
    io.err([`shepherd: ${head} [${thrown.code}]`, ...rest].join('\n'))
    return thrown.code.startsWith('SHEPHERD_CONFIG_') ? ExitCode.usage : ExitCode.failure
  }
  const err = coerceError(thrown)
  io.err(`shepherd: ${err.message}`)
  if (io.env.SHEPHERD_DEBUG && err.stack) io.err(err.stack)
  return ExitCode.failure
}
