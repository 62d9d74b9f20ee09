/**
 * Reads a YAML config file, validates it against the schema, and resolves each pool's effective
 * settings (the top-level recovery / thresholds / strategies blocks with the pool's overrides on
 * top). A broken file is refused with one SHEPHERD_CONFIG_INVALID error that lists every problem
 * with its path, its line, and what was expected.
 * @module
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs'
import path from 'node:path'

import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from 'yaml'

import type { JobPolicy } from '../core/job.js'
import { ShepherdError } from '../errors.js'
import { parseWith } from '../validation.js'
import { type NodeIdentity, nodeIdentity, placedOn } from './node-schema.js'
import {
  type Config,
  ConfigSchema,
  type PoolConfig,
  type QueueConfig,
  QueueSchema,
  type RecoverySettings,
  type StrategySettings,
  type ThresholdSettings,
} from './schema.js'
import { type StoreTarget, storeTarget } from './store-schema.js'

export interface ConfigProblem {
  /** Dotted path of the field, e.g. `workers.email.replicas.min`. */
  path: string
  /** 1-based line in the file, when the field (or its parent) is in the file. */
  line?: number
  message: string
}

export interface ResolvedPool extends Omit<PoolConfig, 'recovery' | 'thresholds' | 'strategies' | 'cwd'> {
  name: string
  /** Absolute working directory. */
  cwd: string
  recovery: RecoverySettings
  thresholds: ThresholdSettings
  strategies: StrategySettings
}

export interface LoadedConfig {
  /** Absolute path of the config file. */
  file: string
  /** Directory relative paths are resolved against. */
  dir: string
  config: Config
  pools: ResolvedPool[]
  /** The store: a SQLite file, or a PostgreSQL database (its URL read from the environment if so configured). */
  store: StoreTarget
  /**
   * The store as messages name it: the absolute path of the SQLite file, or the PostgreSQL URL
   * without its password.
   */
  storePath: string
  /** Absolute path of the log directory. */
  logDir: string
  /** This agent: its node name (SHEPHERD_NODE, node.name or the host name), labels and lease. */
  node: NodeIdentity
  /** Every pool of the file; `pools` holds those placed on this node (`workers.<pool>.nodes`). */
  allPools: ResolvedPool[]
}

/**
 * The queues a config names: every `queues:` entry and every pool's `queue`, sorted, each once.
 * @example
 * ```ts
 * configuredQueues(loaded.config) // ['email', 'reports']
 * ```
 */
export function configuredQueues(config: Config): string[] {
  const names = new Set(Object.keys(config.queues))
  for (const pool of Object.values(config.workers)) if (pool.queue !== undefined) names.add(pool.queue)
  return [...names].sort()
}

/** The settings of a queue: its `queues:` entry, or the defaults when it has none. */
export function queueSettings(config: Config, queue: string): QueueConfig {
  return config.queues[queue] ?? QueueSchema.parse({})
}

/** The core's job policy for a queue. */
export function jobPolicy(q: QueueConfig, jitter: number): JobPolicy {
  return {
    retryDelay: q.retry_delay,
    maxRetryDelay: q.max_retry_delay,
    jitter,
    poisonThreshold: q.poison_threshold,
    keepDone: q.keep_done > 0,
  }
}

/**
 * Largest config file read, in bytes. A real one is a few KiB; a file of megabytes is a mistake
 * (a log or a dump given by the wrong name) and would only make the parser work for nothing.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024

/**
 * Aliases (`*name`) a file may expand into at most this many copies of their anchors' values (the
 * yaml package's count, its default). A few shared blocks stay far below; an alias bomb ("billion
 * laughs": nested aliases that expand to gigabytes) is refused before it is expanded.
 */
const MAX_ALIAS_COUNT = 100

/**
 * The text of a config file, after checking its size.
 * @throws ShepherdError SHEPHERD_CONFIG_NOT_FOUND when it cannot be read, SHEPHERD_CONFIG_INVALID
 *   when it is over {@link MAX_CONFIG_BYTES}.
 */
export function readConfigFile(file: string): string {
  const abs = path.resolve(file)
  let fd: number | null = null
  try {
    fd = openSync(abs, 'r')
    const size = fstatSync(fd).size
    if (size > MAX_CONFIG_BYTES) {
      const problems = [sizeProblem(size)]
      throw new ShepherdError('SHEPHERD_CONFIG_INVALID', formatProblems(abs, problems), { details: problems })
    }
    return readFileSync(fd, 'utf8')
  } catch (cause) {
    if (cause instanceof ShepherdError) throw cause
    throw new ShepherdError(
      'SHEPHERD_CONFIG_NOT_FOUND',
      `cannot read config file ${abs}: ${(cause as Error).message}`,
      { cause },
    )
  } finally {
    if (fd !== null) closeSync(fd)
  }
}

/**
 * Loads a config file: read, validated, and resolved (see {@link loadConfigText}).
 * @param env - where `store.url_env` is looked up; the process's environment by default.
 */
export function loadConfigFile(
  file: string,
  env: Record<string, string | undefined> = process.env,
): LoadedConfig {
  const abs = path.resolve(file)
  return loadConfigText(readConfigFile(abs), abs, env)
}

function sizeProblem(bytes: number): ConfigProblem {
  return {
    path: '(file)',
    message: `expected at most ${MAX_CONFIG_BYTES} bytes (${MAX_CONFIG_BYTES / 1024 / 1024} MiB), got ${bytes} bytes`,
  }
}

/**
 * A config from its text: validated against the schema, then resolved (each pool's settings, the
 * store). `store.url_env` is read from `env` here, so that a variable that is unset or holds no
 * postgres:// URL is refused at load, with the field and its line, like any other problem.
 * @throws ShepherdError SHEPHERD_CONFIG_INVALID listing every problem.
 */
export function loadConfigText(
  text: string,
  file: string,
  env: Record<string, string | undefined> = process.env,
): LoadedConfig {
  const { config, problems } = validateConfigText(text)
  if (!config) {
    throw new ShepherdError('SHEPHERD_CONFIG_INVALID', formatProblems(file, problems), { details: problems })
  }
  const store = storeTarget(config.store, path.dirname(file), env)
  if ('problem' in store) {
    const at = ['store', 'url_env']
    const problem = { path: at.join('.'), line: lineOfField(text, at), message: store.problem }
    throw new ShepherdError('SHEPHERD_CONFIG_INVALID', formatProblems(file, [problem]), {
      details: [problem],
    })
  }
  const node = nodeIdentity(config.node, env)
  if ('problem' in node) {
    const problem = { path: 'node.name', line: lineOfField(text, ['node', 'name']), message: node.problem }
    throw new ShepherdError('SHEPHERD_CONFIG_INVALID', formatProblems(file, [problem]), {
      details: [problem],
    })
  }
  return resolveConfig(config, file, store, node)
}

/** Validates without throwing: either a config, or every problem found. */
export function validateConfigText(text: string): { config?: Config; problems: ConfigProblem[] } {
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > MAX_CONFIG_BYTES) return { problems: [sizeProblem(bytes)] }
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    // An error at the end of the file (an unclosed bracket) is at its last line, not the empty one after.
    const end = Math.max(0, text.trimEnd().length - 1)
    return {
      problems: doc.errors.map((e) => ({
        path: '(yaml)',
        line: lines.linePos(Math.min(e.pos[0], end)).line,
        message: e.message.split('\n')[0]!,
      })),
    }
  }
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {}
  } catch (cause) {
    // The only failure of toJS on a document that parsed: an alias bomb.
    return { problems: [aliasProblem(doc, lines, cause)] }
  }
  keepEnvText(doc, data)
  const result = parseWith(ConfigSchema, data, {
    dialect: 'yaml',
    // A number as the file writes it (1e300, 1e400), not as JavaScript prints it (1e+300, Infinity).
    sourceText: (at) => {
      const node = nodeAt(doc.contents, at.map(String))
      return isScalar(node) && typeof node.value === 'number' ? node.source : undefined
    },
  })
  if (result.success) return { config: result.data, problems: [] }
  const problems = result.issues.map((issue): ConfigProblem => ({
    path: issue.path,
    line: lineOf(doc.contents, issue.at.map(String), lines, issue.code === 'unrecognized_keys'),
    message: issue.message,
  }))
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || a.path.localeCompare(b.path))
  return { problems }
}

/** The line of the field at `at` (`['workers', 'email', 'command']`) in a config text that parses. */
export function lineOfField(text: string, at: readonly string[]): number | undefined {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false })
  return lineOf(doc.contents, [...at], lines, false)
}

function aliasProblem(doc: Document, lines: LineCounter, cause: unknown): ConfigProblem {
  let first: number | undefined
  visit(doc, {
    Alias(_, node) {
      first = node.range?.[0]
      return visit.BREAK
    },
  })
  const excessive = /alias count/i.test((cause as Error).message)
  return {
    path: '(yaml)',
    line: first === undefined ? undefined : lines.linePos(first).line,
    message: excessive
      ? `too many aliases: expanding them makes more than ${MAX_ALIAS_COUNT} copies (an alias bomb); write the values out, or use fewer aliases`
      : (cause as Error).message,
  }
}

/**
 * A worker gets its env values as the file writes them. YAML reads `01234` as the number 1234,
 * `1.10` as 1.1, `0x1F` as 31, and 12345678901234567890 with its last digits lost; the variable
 * would get the number's text, not the file's. So a non-string scalar under `workers.<name>.env`
 * keeps its source text (a value written through an alias, that of its anchor). Null stays null,
 * which the schema refuses: write "" for an empty value.
 */
function keepEnvText(doc: Document, data: unknown): void {
  const workers = childOf(doc.contents, 'workers')
  if (!isMap(workers)) return
  for (const pool of workers.items) {
    if (!isScalar(pool.key)) continue
    const env = childOf(pool.value, 'env')
    const target = getIn(data, ['workers', String(pool.key.value), 'env'])
    if (!isMap(env) || target === null || typeof target !== 'object') continue
    for (const pair of env.items) {
      const node = isAlias(pair.value) ? pair.value.resolve(doc) : pair.value
      if (!isScalar(pair.key) || !isScalar(node)) continue
      if (node.value === null || typeof node.value === 'string' || node.source === undefined) continue
      ;(target as Record<string, unknown>)[String(pair.key.value)] = node.source
    }
  }
}

function childOf(node: unknown, key: string): unknown {
  if (!isMap(node)) return undefined
  const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key)
  return pair?.value
}

export function formatProblems(file: string, problems: ConfigProblem[]): string {
  const head = `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`
  return [head, ...problems.map(formatProblem)].join('\n')
}

export function formatProblem(p: ConfigProblem): string {
  return `  ${p.path || '(root)'}${p.line ? ` (line ${p.line})` : ''}: ${p.message}`
}

function resolveConfig(config: Config, file: string, store: StoreTarget, node: NodeIdentity): LoadedConfig {
  const dir = path.dirname(file)
  const pools = Object.entries(config.workers).map(([name, pool]): ResolvedPool => {
    const thresholds = { ...config.thresholds, ...pool.thresholds }
    return {
      ...pool,
      name,
      cwd: path.resolve(dir, pool.cwd ?? '.'),
      recovery: { ...config.recovery, ...pool.recovery },
      thresholds: { ...thresholds, memory_limit_mb: thresholds.memory_limit_mb ?? thresholds.memory_mb },
      strategies: { ...config.strategies, ...pool.strategies },
    }
  })
  return {
    file,
    dir,
    config,
    pools: pools.filter((p) => placedOn(p.nodes, node)),
    allPools: pools,
    node,
    store,
    storePath: store.kind === 'sqlite' ? store.path : store.name,
    logDir: path.resolve(dir, config.logs.dir),
  }
}

function getIn(data: unknown, at: string[]): unknown {
  let cur = data
  for (const key of at) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[key]
  }
  return cur
}

/** The node at `at`, when the file has it. */
function nodeAt(root: unknown, at: string[]): unknown {
  let node = root
  for (const key of at) {
    if (isMap(node)) node = childOf(node, key)
    else if (isSeq(node)) node = node.items[Number(key)]
    else return undefined
  }
  return node
}

/** The line of the node at `at`, or of its nearest ancestor that exists in the file. */
function lineOf(root: unknown, at: string[], lines: LineCounter, wantKey: boolean): number | undefined {
  let node = root as Node | null | undefined
  let best: number | undefined = offsetOf(node)
  for (let i = 0; i < at.length; i++) {
    const key = at[i]!
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key)
      if (!pair) break
      const isLast = i === at.length - 1
      const value = pair.value as Node | null
      // Collections are reported at their key's line ("email:"), scalars at the value's.
      const atKey = (isLast && wantKey) || value === null || isMap(value) || isSeq(value)
      best = offsetOf(atKey ? (pair.key as Node) : value) ?? best
      node = pair.value as Node
    } else if (isSeq(node)) {
      const item = node.items[Number(key)] as Node | undefined
      if (!item) break
      best = offsetOf(item) ?? best
      node = item
    } else {
      break
    }
  }
  return best === undefined ? undefined : lines.linePos(best).line
}

function offsetOf(node: Node | null | undefined): number | undefined {
  return node && 'range' in node && node.range ? node.range[0] : undefined
}
