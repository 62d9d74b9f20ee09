/**
 * `shepherd store copy`: moves an embedded SQLite store into PostgreSQL (src/store/store-copy.ts
 * does it). Argv to that call, nothing else: where the source and target are, from a file, a
 * config, a URL or an environment variable, so that the URL's password stays out of shell history.
 * @module
 */
import path from 'node:path'

import type { Command } from 'commander'

import { loadConfigFile, type LoadedConfig, queueSettings } from '../config/load.js'
import { QueueSchema } from '../config/queue-schema.js'
import { postgresUrlProblem } from '../config/store-schema.js'
import { formatCopySummary } from '../store/copy-plan.js'
import { copyStore } from '../store/store-copy.js'

/** What `store` needs from the program that registers it. */
export interface StoreCommandContext {
  out(text: string): void
  env: NodeJS.ProcessEnv
  /** The config file the command names (`-c`, `$SHEPHERD_CONFIG`, or the default). */
  configFile(cmd: Command): string
}

interface CopyFlags {
  from?: string
  to?: string
  toEnv?: string
  dryRun?: boolean
  skipConflicts?: boolean
  json?: boolean
}

const USAGE_EXIT = 2

/** Adds `store copy` to the program. */
export function addStoreCommand(program: Command, ctx: StoreCommandContext): void {
  const store = program.command('store').description('move a store: `shepherd store copy`')
  store
    .command('copy')
    .description(
      'copy a SQLite store (jobs in every state, incidents, events, worker states) into PostgreSQL, in one transaction',
    )
    .option(
      '--from <file>',
      'the SQLite store, or a config whose store.path names it (default: the config’s store)',
    )
    .option('--to <url-or-config>', 'the PostgreSQL store: a postgres:// URL, or a config whose store is one')
    .option(
      '--to-env <var>',
      'an environment variable holding the postgres:// URL (keeps the password out of shell history)',
    )
    .option('--dry-run', 'do the whole copy, then roll it back: print what it would copy')
    .option(
      '--skip-conflicts',
      'copy the rest when the target holds other rows under the same ids (kept as they are)',
    )
    .option('--json', 'print the summary as JSON')
    .action(async (flags: CopyFlags, cmd: Command) => {
      const source = sourceOf(cmd, flags, ctx)
      const to = targetOf(cmd, flags, ctx.env)
      const defaults = QueueSchema.parse({})
      const summary = await copyStore({
        from: source.file,
        to,
        dryRun: flags.dryRun === true,
        skipConflicts: flags.skipConflicts === true,
        poisonThreshold: (queue) =>
          (source.config ? queueSettings(source.config.config, queue) : defaults).poison_threshold,
        now: () => Date.now(),
        elapsed: () => performance.now(),
      })
      ctx.out(flags.json ? JSON.stringify(summary) : formatCopySummary(summary))
    })
}

/** The SQLite file to copy, and the config it came from (for the queues' poison thresholds). */
function sourceOf(
  cmd: Command,
  flags: CopyFlags,
  ctx: StoreCommandContext,
): { file: string; config: LoadedConfig | null } {
  const given = flags.from ?? ctx.configFile(cmd)
  if (flags.from !== undefined && !/\.ya?ml$/i.test(flags.from)) {
    return { file: path.resolve(flags.from), config: null }
  }
  const config = loadConfigFile(given, ctx.env)
  if (config.store.kind !== 'sqlite') {
    usage(
      cmd,
      `--from: the config ${given} names a PostgreSQL store (${config.storePath}); the copy reads a SQLite store`,
    )
  }
  return { file: config.store.path, config }
}

/** The PostgreSQL URL to copy into, from --to (a URL or a config) or --to-env. */
function targetOf(cmd: Command, flags: CopyFlags, env: NodeJS.ProcessEnv): string {
  if ((flags.to === undefined) === (flags.toEnv === undefined)) {
    usage(cmd, 'say where to copy to: one of --to <postgres://… or config> and --to-env <variable>')
  }
  if (flags.toEnv !== undefined) {
    const url = env[flags.toEnv]
    if (url === undefined || url === '')
      usage(cmd, `--to-env: the environment variable ${flags.toEnv} is not set`)
    const problem = postgresUrlProblem(url)
    if (problem !== null) usage(cmd, `--to-env: ${flags.toEnv}: ${problem}`)
    return url
  }
  const to = flags.to!
  if (/^postgres(ql)?:/i.test(to)) {
    const problem = postgresUrlProblem(to)
    if (problem !== null) usage(cmd, `--to: ${problem}`)
    return to
  }
  const config = loadConfigFile(to, env)
  if (config.store.kind !== 'postgres') {
    usage(
      cmd,
      `--to: the config ${to} names a SQLite store (${config.storePath}); the copy writes a PostgreSQL store`,
    )
  }
  return config.store.url
}

function usage(cmd: Command, message: string): never {
  cmd.error(message, { exitCode: USAGE_EXIT, code: 'shepherd.usage' })
}
