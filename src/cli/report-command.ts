/**
 * `shepherd report`: availability, incidents, time to recover, restarts and the jobs that took
 * workers down over a period, with the changes since the period before. It reads the store the
 * config names, so it works with the supervisor down; when one answers, the pools are shown as
 * they are now. Argv to library calls: the figures are src/report's.
 * @module
 */
import { type Command, InvalidArgumentError, Option } from 'commander'

import type { ApiClient } from '../adapters/http/client.js'
import { systemClock } from '../adapters/system-clock.js'
import { loadConfigFile, type LoadedConfig } from '../config/load.js'
import { type Locale, LOCALES } from '../config/locales.js'
import { parseDuration } from '../config/units.js'
import { isShepherdError } from '../errors.js'
import type { PoolStrength } from '../report/types.js'

/** The period `shepherd report` covers when `--since` is not given. */
export const DEFAULT_REPORT_SINCE = '24h'

/** What the report command needs from the program that registers it. */
export interface ReportCommandContext {
  io: {
    /** Writes one block of standard output (a newline is added). */
    out(text: string): void
    /** Writes one block of standard error (a newline is added). */
    err(text: string): void
  }
  /** The config file a command names (`-c`, `$SHEPHERD_CONFIG`, or the default). */
  configFile(cmd: Command): string
  /** A client of the supervisor's API, as the other commands make it (address and token). */
  client(loaded: LoadedConfig): Pick<ApiClient, 'workers'>
  /**
   * The time the report is made at.
   * @defaultValue the system clock, as the supervisor's
   */
  now?: () => number
}

interface ReportOptions {
  since: number
  format: 'md' | 'json'
  locale?: Locale
}

/**
 * Adds `shepherd report [--since 24h] [--format md|json] [--locale en|ja]` to the program.
 * @example
 * ```ts
 * addReportCommand(program, { io, configFile, client })
 * ```
 */
export function addReportCommand(program: Command, ctx: ReportCommandContext): void {
  program
    .command('report')
    .description(
      'report availability, incidents, time to recover and restarts over a period (works with the supervisor down)',
    )
    .addOption(
      new Option('--since <duration>', 'the period, ending now: seconds or a duration such as 24h, 7d, 90m')
        .argParser(parseSince)
        .default(parseSince(DEFAULT_REPORT_SINCE), DEFAULT_REPORT_SINCE),
    )
    .addOption(
      new Option(
        '--format <format>',
        'md: Markdown for people; json: the report for machines (docs/reports.md)',
      )
        .choices(['md', 'json'])
        .default('md'),
    )
    .addOption(
      new Option('--locale <locale>', 'language of the Markdown (default: notifications.locale)').choices([
        ...LOCALES,
      ]),
    )
    .action(async (opts: ReportOptions, cmd: Command) => {
      const loaded = loadConfigFile(ctx.configFile(cmd))
      const current = await currentStrength(ctx, loaded)
      // Loaded on use: the native SQLite binding and the report code are not needed by other commands.
      const [{ openStore }, { generateReport }, { renderMarkdown }] = await Promise.all([
        import('../store/open-store.js'),
        import('../report/collect.js'),
        import('../report/markdown.js'),
      ])
      const store = await openStore(loaded.store)
      try {
        const report = await generateReport({
          store,
          config: loaded.config,
          now: (ctx.now ?? systemClock.now)(),
          sinceMs: opts.since,
          current,
        })
        if (opts.format === 'json') ctx.io.out(JSON.stringify(report, null, 2))
        else {
          const locale = opts.locale ?? loaded.config.notifications.locale
          ctx.io.out(renderMarkdown(report, { locale, configFile: loaded.file }).trimEnd())
        }
      } finally {
        await store.close()
      }
    })
}

/**
 * The pools' strength from a running supervisor, or null when none answers. A supervisor that
 * answers with an error (a refused token) is reported on stderr, and the report goes on without it.
 */
async function currentStrength(
  ctx: ReportCommandContext,
  loaded: LoadedConfig,
): Promise<Map<string, PoolStrength> | null> {
  const { strengthFromWorkers } = await import('../report/collect.js')
  try {
    return strengthFromWorkers(await ctx.client(loaded).workers())
  } catch (e) {
    if (isShepherdError(e) && e.code !== 'SHEPHERD_SUPERVISOR_UNREACHABLE') {
      ctx.io.err(
        `shepherd: the supervisor did not list its workers (${e.message} [${e.code}]); the report shows the pools of the config file`,
      )
    } else if (!isShepherdError(e)) throw e
    return null
  }
}

function parseSince(value: string): number {
  const ms = parseDuration(/^\d+(\.\d+)?$/.test(value) ? Number(value) : value)
  if (typeof ms !== 'number' || ms <= 0) {
    throw new InvalidArgumentError(
      'expected a duration > 0: seconds, or a number with a unit such as 24h, 7d, 90m.',
    )
  }
  return ms
}
