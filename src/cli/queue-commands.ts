/**
 * The queue commands of `shepherd`: `enqueue`, `queues`, `jobs`, `retry` and `purge`. They open the
 * store the config names and call the queue library directly, so they work whether the supervisor
 * runs or not; a running supervisor picks new and retried jobs up within tens of milliseconds.
 *
 * Argv to library calls, nothing else: the rules (what a job may say, what a duplicate is, which
 * jobs a retry or a purge touches) are the enqueue schema's and the JobStore's.
 * @module
 */
import { createInterface } from 'node:readline'

import { type Command, InvalidArgumentError, Option } from 'commander'

import { systemClock } from '../adapters/system-clock.js'
import { loadConfigFile, type LoadedConfig } from '../config/load.js'
import { coerceError, isShepherdError, ShepherdError } from '../errors.js'
import {
  type AddResult,
  JOB_LIST_STATES,
  PURGE_STATES,
  type PurgeState,
  type QueueCounts,
} from '../ports/job-store.js'
import {
  type CheckedJob,
  EnqueueBodySchema,
  type EnqueueOptions,
  EnqueueOptionsSchema,
  QueueNameSchema,
} from '../queue/enqueue.js'
import type { Queue } from '../queue/queue.js'
import { describeValue, joinIssues, parseWith } from '../validation.js'
import { formatJobs, formatQueues, type Styler } from './format.js'

/**
 * Jobs `shepherd enqueue` adds per transaction when it reads stdin. A transaction of 1000 small
 * jobs holds the store's write lock for a few ms, so a large import never makes a running
 * supervisor's claims and settlements wait long; and it is the API's batch limit.
 */
export const ENQUEUE_BATCH = 1000

/** Bad lines `shepherd enqueue` lists before it says how many more there are. */
export const MAX_LISTED_BAD_LINES = 10

/** What the queue commands read and write; `main` builds it from its CliIo. */
export interface QueueCommandIo {
  /** Writes one block of standard output (a newline is added). */
  out(text: string): void
  /** Writes one block of standard error (a newline is added). */
  err(text: string): void
  /** Standard input: the JSON lines `enqueue` reads when it is given no JSON argument. */
  stdin: NodeJS.ReadableStream
  /** Whether stdin is a terminal that a person answers at (the question of `purge`). */
  interactive: boolean
  /** Asks a question on the terminal and resolves with the line answered ('' at end of input). */
  ask(question: string): Promise<string>
}

/** What the queue commands need from the program that registers them. */
export interface QueueCommandContext {
  io: QueueCommandIo
  /** The config file a command names (`-c`, `$SHEPHERD_CONFIG`, or the default). */
  configFile(cmd: Command): string
  style: Styler
  /** Sets the exit code of a command that ends without throwing (a declined `purge`: 1). */
  setExitCode(code: number): void
}

/** The exit codes the queue commands use; the same as `ExitCode` of main.ts. */
const EXIT = { failure: 1, usage: 2 } as const

type JobListState = (typeof JOB_LIST_STATES)[number]

/** `--delay` and the other enqueue options as commander hands them over. */
interface EnqueueFlags {
  id?: string
  key?: string
  delay?: string
  priority?: string
  maxAttempts?: string
  timeout?: string
  linesAreJobs?: boolean
  json?: boolean
}

/** The command-line flag of each enqueue option, for error messages. */
const FLAG_OF: Record<keyof EnqueueOptions, string> = {
  id: '--id',
  idempotencyKey: '--key',
  delay: '--delay',
  priority: '--priority',
  maxAttempts: '--max-attempts',
  timeout: '--timeout',
}

/** Adds `enqueue`, `queues`, `jobs`, `retry` and `purge` to the program. */
export function addQueueCommands(program: Command, ctx: QueueCommandContext): void {
  const { io, style } = ctx

  program
    .command('enqueue')
    .description('add jobs to a queue: one with a JSON argument, else one per line of stdin')
    .argument('<queue>', 'the queue, e.g. email')
    .argument('[json]', 'the payload of one job, as JSON; "-" or nothing: read JSON lines from stdin')
    .option('--id <id>', 'the job id (one job only); an existing id makes the add a duplicate')
    .option('--key <key>', 'idempotency key (one job only); an existing key in the queue makes a duplicate')
    .option('--delay <time>', 'not delivered before: milliseconds, or "30s", "2m"')
    .option('--priority <n>', 'higher runs first (default 0)')
    .option('--max-attempts <n>', 'deliveries before a failing job is dead-lettered (default: the queue’s)')
    .option('--timeout <time>', 'a delivery running longer fails: milliseconds, or "30s"')
    .option('--lines-are-jobs', 'each stdin line is {"payload": …, <options>} instead of a bare payload')
    .option('--json', 'print {"jobs":[{"id","added"}]} as JSON')
    .action(async (queueName: string, json: string | undefined, flags: EnqueueFlags, cmd: Command) => {
      checkQueueArg(cmd, queueName)
      const fromStdin = json === undefined || json === '-'
      if (!fromStdin && flags.linesAreJobs) {
        usage(cmd, '--lines-are-jobs reads stdin: give no JSON argument (or "-") with it')
      }
      if (fromStdin && (flags.id !== undefined || flags.key !== undefined)) {
        usage(
          cmd,
          `${flags.id !== undefined ? '--id' : '--key'} names one job: with jobs from stdin, give each line its own "id" or "idempotencyKey" (and --lines-are-jobs)`,
        )
      }
      const options = enqueueOptions(cmd, flags)
      const payload = fromStdin ? undefined : parseJsonArgument(cmd, json)
      const loaded = loadConfigFile(ctx.configFile(cmd))
      let lines: CheckedJob[] = []
      if (fromStdin) {
        if (io.interactive) io.err('reading jobs from stdin, one JSON value a line (end with Ctrl-D)')
        lines = await readJobLines(io.stdin, options, flags.linesAreJobs === true)
        if (lines.length === 0) usage(cmd, 'no jobs on stdin: give a JSON argument, or JSON lines on stdin')
      }
      const results = await withQueue(loaded, (queue) =>
        fromStdin
          ? addInBatches(queue, queueName, lines, io)
          : queue.addMany(queueName, [{ payload, ...options }]),
      )
      io.out(flags.json ? JSON.stringify({ jobs: results }) : formatAdded(results))
      if (fromStdin) io.err(addedSummary(results, queueName))
    })

  program
    .command('queues')
    .description('show every queue: waiting, delayed, in flight, done, failed, dead, quarantined, throughput')
    .option('--json', 'print {"queues":[{"name",…}]} as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const queues = await withQueue(loadConfigFile(ctx.configFile(cmd)), (queue) => queue.overview())
      io.out(opts.json ? JSON.stringify({ queues: queues.map(queueJson) }) : formatQueues(queues, style))
    })

  program
    .command('jobs')
    .description('list the jobs of a queue, newest first')
    .argument('<queue>', 'the queue, e.g. email')
    .addOption(
      new Option(
        '--state <state>',
        'only jobs in this state (delayed: not due yet; failed: waiting after an error)',
      ).choices(JOB_LIST_STATES),
    )
    .option('--limit <n>', 'at most this many (1..1000)', parseLimit, 50)
    .option('--json', 'print {"jobs":[…]} as JSON')
    .action(
      async (
        queueName: string,
        opts: { state?: JobListState; limit: number; json?: boolean },
        cmd: Command,
      ) => {
        checkQueueArg(cmd, queueName)
        const loaded = loadConfigFile(ctx.configFile(cmd))
        const now = systemClock.now()
        const jobs = await withQueue(loaded, (queue) =>
          queue.list(queueName, { state: opts.state, limit: opts.limit }),
        )
        io.out(opts.json ? JSON.stringify({ jobs }) : formatJobs(jobs, { now, style }))
      },
    )

  program
    .command('retry')
    .description('put dead-lettered or quarantined jobs back in the queue (all of them, or those ids)')
    .argument('<queue>', 'the queue, e.g. email')
    .argument('[ids...]', 'only these jobs')
    .option('--dead', 'retry dead-lettered jobs')
    .option('--quarantined', 'retry quarantined jobs')
    .action(
      async (
        queueName: string,
        ids: string[],
        opts: { dead?: boolean; quarantined?: boolean },
        cmd: Command,
      ) => {
        checkQueueArg(cmd, queueName)
        const from = oneState(cmd, opts, ['dead', 'quarantined'])
        const loaded = loadConfigFile(ctx.configFile(cmd))
        const only = ids.length > 0 ? [...new Set(ids)] : undefined
        const retried = await withQueue(loaded, (queue) => queue.retry(queueName, from, only))
        const missed = only ? only.length - retried : 0
        io.out(
          `retried ${plural(retried, `${from} job`)} of ${queueName}` +
            (missed > 0 ? ` (${plural(missed, 'id')} named no ${from} job of ${queueName})` : ''),
        )
      },
    )

  program
    .command('purge')
    .description(
      'delete waiting, dead-lettered, quarantined or done jobs for good (asks first, unless --yes)',
    )
    .argument('<queue>', 'the queue, e.g. email')
    .argument('[ids...]', 'only these jobs')
    .option(
      '--waiting',
      'delete jobs not yet delivered: due, delayed or waiting for a retry (never one in flight)',
    )
    .option('--dead', 'delete dead-lettered jobs')
    .option('--quarantined', 'delete quarantined jobs')
    .option('--done', 'delete done jobs')
    .option('-y, --yes', 'do not ask: delete')
    .action(
      async (
        queueName: string,
        ids: string[],
        opts: Partial<Record<PurgeState, boolean>> & { yes?: boolean },
        cmd: Command,
      ) => {
        checkQueueArg(cmd, queueName)
        const state = oneState(cmd, opts, PURGE_STATES)
        const loaded = loadConfigFile(ctx.configFile(cmd))
        const only = ids.length > 0 ? [...new Set(ids)] : undefined
        await withQueue(loaded, async (queue) => {
          const what = (n: number) => `${plural(n, `${state} job`)} of ${queueName}`
          const found = await queue.purgeable(queueName, state, only)
          if (found === 0) {
            io.out(`no ${state} jobs of ${queueName}${only ? ' with those ids' : ''}: nothing deleted`)
            return
          }
          if (!opts.yes) {
            if (!io.interactive) {
              usage(
                cmd,
                `would delete ${what(found)}, but stdin is not a terminal to ask on: pass --yes to delete them (nothing was deleted)`,
              )
            }
            io.err(`this deletes ${what(found)} for good`)
            const answer = (await io.ask(`Delete ${plural(found, 'job')}? [y/N] `)).trim().toLowerCase()
            if (answer !== 'y' && answer !== 'yes') {
              io.err('aborted: nothing deleted')
              ctx.setExitCode(EXIT.failure)
              return
            }
          }
          const purged = await queue.purge(queueName, state, only)
          io.out(`purged ${what(purged)}`)
        })
      },
    )
}

/**
 * Asks `question` on the terminal (the prompt on stderr, so that stdout stays clean) and resolves
 * with the line answered; Ctrl-C or Ctrl-D answers ''.
 */
export function askOnTerminal(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr })
    let answered = false
    rl.on('SIGINT', () => {
      process.stderr.write('\n')
      rl.close()
    })
    rl.once('close', () => {
      if (!answered) resolve('')
    })
    rl.question(question, (answer) => {
      answered = true
      rl.close()
      resolve(answer)
    })
  })
}

/** The `--json` form of one queue's counts: `name` for QueueCounts' `queue`, the other keys as they are. */
export function queueJson(counts: QueueCounts): { name: string } & Omit<QueueCounts, 'queue'> {
  const { queue, ...rest } = counts
  return { name: queue, ...rest }
}

/** Opens the store the config names, gives `run` the queue service on it, and closes it. */
async function withQueue<T>(loaded: LoadedConfig, run: (queue: Queue) => Promise<T>): Promise<T> {
  // Loaded on use: the native SQLite binding is not needed by the other commands.
  const [{ openStore }, { Queue }] = await Promise.all([
    import('../store/open-store.js'),
    import('../queue/queue.js'),
  ])
  const store = await openStore(loaded.store)
  try {
    return await run(new Queue(store, loaded, systemClock))
  } finally {
    await store.close()
  }
}

/**
 * Adds the jobs {@link ENQUEUE_BATCH} at a time, one transaction each. When a batch fails, the
 * batches before it stay added: their ids are printed before the error says how far it got.
 */
async function addInBatches(
  queue: Queue,
  queueName: string,
  jobs: readonly CheckedJob[],
  io: QueueCommandIo,
): Promise<AddResult[]> {
  const results: AddResult[] = []
  for (let i = 0; i < jobs.length; i += ENQUEUE_BATCH) {
    try {
      results.push(...(await queue.addChecked(queueName, jobs.slice(i, i + ENQUEUE_BATCH))))
    } catch (thrown) {
      if (i === 0) throw thrown
      io.out(formatAdded(results))
      const err = coerceError(thrown)
      throw new ShepherdError(
        isShepherdError(err) ? err.code : 'SHEPHERD_INTERNAL',
        `added the first ${results.length} of ${jobs.length} jobs (their ids are above), then: ${err.message}`,
        { cause: err },
      )
    }
  }
  return results
}

/** The enqueue options the flags give, checked by the enqueue schema; a bad one is a usage error. */
function enqueueOptions(cmd: Command, flags: EnqueueFlags): EnqueueOptions {
  const raw: Record<keyof EnqueueOptions, string | number | undefined> = {
    id: flags.id,
    idempotencyKey: flags.key,
    delay: millisFlag(flags.delay),
    priority: integerFlag(flags.priority),
    maxAttempts: integerFlag(flags.maxAttempts),
    timeout: millisFlag(flags.timeout),
  }
  const options = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined))
  const parsed = parseWith(EnqueueOptionsSchema, options)
  if (!parsed.success) {
    const problems = parsed.issues.map((issue) => {
      const flag = FLAG_OF[issue.path as keyof EnqueueOptions] ?? issue.path
      // The schema's wording of a malformed duration speaks of JSON numbers; a flag is text.
      const message =
        (issue.path === 'delay' || issue.path === 'timeout') &&
        issue.message.startsWith('expected milliseconds')
          ? `expected milliseconds or a duration such as "500ms", "30s", "2m", got ${JSON.stringify(options[issue.path])}`
          : issue.message
      return `${flag}: ${message}`
    })
    usage(cmd, problems.join('; '))
  }
  return options as EnqueueOptions
}

/** A bare number of milliseconds becomes a number (the schema reads a digit string as seconds). */
function millisFlag(value: string | undefined): string | number | undefined {
  return value !== undefined && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value
}

function integerFlag(value: string | undefined): string | number | undefined {
  return value !== undefined && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value
}

function parseJsonArgument(cmd: Command, json: string): unknown {
  try {
    return JSON.parse(json) as unknown
  } catch (cause) {
    usage(
      cmd,
      `the payload argument is not valid JSON (${coerceError(cause).message}); quote it for the shell, e.g. '{"to":"a@example.com"}' or '"text"'`,
    )
  }
}

/**
 * Reads every line of `input` into jobs, all before anything is added, so that a bad line adds
 * nothing. A line is a bare payload (any JSON value) that gets the flags' options; with
 * `linesAreJobs` it is an object `{ "payload": …, "delay": …, … }` of the enqueue schema whose keys
 * win over the flags'. Blank lines are skipped. Lines are numbered from 1, blank ones included.
 * @throws ShepherdError SHEPHERD_BAD_REQUEST listing each bad line (the first
 *   {@link MAX_LISTED_BAD_LINES}) with its number and what is wrong.
 */
export async function readJobLines(
  input: NodeJS.ReadableStream,
  options: EnqueueOptions,
  linesAreJobs: boolean,
): Promise<CheckedJob[]> {
  const jobs: CheckedJob[] = []
  const bad: string[] = []
  let badCount = 0
  let n = 0
  const reject = (problem: string) => {
    badCount++
    if (bad.length < MAX_LISTED_BAD_LINES) bad.push(`  line ${n}: ${problem}`)
  }
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    n++
    if (line.trim() === '') continue
    let value: unknown
    try {
      value = JSON.parse(line) as unknown
    } catch (cause) {
      reject(`not valid JSON (${coerceError(cause).message})`)
      continue
    }
    if (linesAreJobs && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      reject(`expected an object {"payload": …, <options>} (--lines-are-jobs), got ${describeValue(value)}`)
      continue
    }
    // A bare payload gets the flags' options; either way the line is checked as the API checks a job.
    const job = linesAreJobs ? { ...options, ...(value as object) } : { ...options, payload: value }
    const parsed = parseWith(EnqueueBodySchema, job)
    if (!parsed.success) {
      reject(joinIssues(parsed.issues))
      continue
    }
    jobs.push(parsed.data)
  }
  if (badCount > 0) {
    const more = badCount - bad.length
    throw new ShepherdError(
      'SHEPHERD_BAD_REQUEST',
      [
        `${plural(badCount, 'bad line')} on stdin; nothing was added`,
        ...bad,
        ...(more > 0 ? [`  … and ${plural(more, 'more bad line')}`] : []),
      ].join('\n'),
    )
  }
  return jobs
}

/** The one state flag given, of `states`; none or several is a usage error. */
function oneState<S extends string>(
  cmd: Command,
  opts: Partial<Record<S, boolean>>,
  states: readonly S[],
): S {
  const given = states.filter((s) => opts[s] === true)
  if (given.length !== 1) {
    const flags = states.map((s) => `--${s}`).join(', ')
    usage(cmd, given.length === 0 ? `say which jobs: one of ${flags}` : `give only one of ${flags}`)
  }
  return given[0]!
}

function checkQueueArg(cmd: Command, queue: string): void {
  const parsed = parseWith(QueueNameSchema, queue, { root: '<queue>' })
  if (!parsed.success) usage(cmd, joinIssues(parsed.issues))
}

/** A usage error: printed as `shepherd: <message>`, exit code 2. */
function usage(cmd: Command, message: string): never {
  cmd.error(message, { exitCode: EXIT.usage, code: 'shepherd.usage' })
}

function parseLimit(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new InvalidArgumentError('expected an integer from 1 to 1000.')
  return n
}

/** One id a line; a duplicate says so (its id is that of the job already there). */
function formatAdded(results: readonly AddResult[]): string {
  return results.map((r) => (r.added ? r.id : `${r.id} (duplicate: already there, unchanged)`)).join('\n')
}

function addedSummary(results: readonly AddResult[], queue: string): string {
  const added = results.filter((r) => r.added).length
  const dup = results.length - added
  return `added ${plural(added, 'job')} to ${queue}${dup > 0 ? `, ${plural(dup, 'duplicate')} left as they were` : ''}`
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}
