/**
 * Reads a YAML config file, validates it against the schema, and resolves each pool's effective
 * settings (the top-level recovery / thresholds / strategies blocks with the pool's overrides on
 * top). A broken file is refused with one SHEPHERD_CONFIG_INVALID error that lists every problem
 * with its path, its line, and what was expected.
 * @module
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'

import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml'
import type { z } from 'zod'

import type { JobPolicy } from '../core/job.js'
import { ShepherdError } from '../errors.js'
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
  /** Absolute path of the SQLite store. */
  storePath: string
  /** Absolute path of the log directory. */
  logDir: string
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
  }
}

export function loadConfigFile(file: string): LoadedConfig {
  const abs = path.resolve(file)
  let text: string
  try {
    text = readFileSync(abs, 'utf8')
  } catch (cause) {
    throw new ShepherdError(
      'SHEPHERD_CONFIG_NOT_FOUND',
      `Cannot read config file ${abs}: ${(cause as Error).message}`,
      {
        cause,
      },
    )
  }
  return loadConfigText(text, abs)
}

export function loadConfigText(text: string, file: string): LoadedConfig {
  const { config, problems } = validateConfigText(text)
  if (!config) {
    throw new ShepherdError('SHEPHERD_CONFIG_INVALID', formatProblems(file, problems), { details: problems })
  }
  return resolveConfig(config, file)
}

/** Validates without throwing: either a config, or every problem found. */
export function validateConfigText(text: string): { config?: Config; problems: ConfigProblem[] } {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => ({
        path: '(yaml)',
        line: e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line,
        message: e.message.split('\n')[0]!,
      })),
    }
  }
  const data: unknown = doc.toJS() ?? {}
  const result = ConfigSchema.safeParse(data)
  if (result.success) return { config: result.data, problems: [] }
  const problems = result.error.issues.flatMap((issue) => describeIssue(issue, doc.contents, data, lines))
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || a.path.localeCompare(b.path))
  return { problems }
}

export function formatProblems(file: string, problems: ConfigProblem[]): string {
  const head = `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`
  return [head, ...problems.map(formatProblem)].join('\n')
}

export function formatProblem(p: ConfigProblem): string {
  return `  ${p.path || '(root)'}${p.line ? ` (line ${p.line})` : ''}: ${p.message}`
}

function resolveConfig(config: Config, file: string): LoadedConfig {
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
    pools,
    storePath: path.resolve(dir, config.store.path),
    logDir: path.resolve(dir, config.logs.dir),
  }
}

type Issue = z.core.$ZodIssue

function describeIssue(issue: Issue, root: unknown, data: unknown, lines: LineCounter): ConfigProblem[] {
  const at = issue.path.map(String)
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const keyPath = [...at, key]
      const known = knownKeysAt(at)
      return {
        path: keyPath.join('.'),
        line: lineOf(root, keyPath, lines, true),
        message: `unknown key "${key}"${suggest(key, known)}`,
      }
    })
  }
  const value = getIn(data, at)
  return [{ path: at.join('.'), line: lineOf(root, at, lines, false), message: messageFor(issue, value) }]
}

function messageFor(issue: Issue, value: unknown): string {
  const got = value === undefined ? 'nothing' : `${JSON.stringify(value)} (${describeType(value)})`
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return `required: expected ${article(issue.expected)}`
      return `expected ${article(issue.expected)}, got ${got}`
    case 'too_small':
      if (issue.origin === 'array' || issue.origin === 'string')
        return `expected at least ${String(issue.minimum)} ${issue.origin === 'array' ? 'item(s)' : 'character(s)'}, got ${got}`
      return `expected a number ${issue.inclusive ? '≥' : '>'} ${String(issue.minimum)}, got ${got}`
    case 'too_big':
      return `expected a number ${issue.inclusive ? '≤' : '<'} ${String(issue.maximum)}, got ${got}`
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${got}`
    case 'invalid_union': {
      if (value === undefined) return 'required'
      const note = (issue as { note?: string }).note
      if (note === 'No matching discriminator')
        return `expected "type" to be one of "http", "tcp", "exec", got ${got}`
      return `${issue.message.replace(/^Invalid input/, 'unexpected value')}, got ${got}`
    }
    case 'invalid_format':
      return `expected ${issue.format === 'url' ? 'an http(s) URL' : issue.format}, got ${got}`
    case 'custom':
      return value === undefined || issue.message.includes(', got ')
        ? issue.message
        : `${issue.message}, got ${got}`
    default:
      return `${issue.message}, got ${got}`
  }
}

function article(expected: string): string {
  const names: Record<string, string> = {
    number: 'a number',
    string: 'a string',
    array: 'a list',
    object: 'a mapping',
    boolean: 'true or false',
    record: 'a mapping',
  }
  return names[expected] ?? expected
}

function describeType(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'list'
  if (typeof v === 'object') return 'mapping'
  return typeof v
}

function getIn(data: unknown, at: string[]): unknown {
  let cur = data
  for (const key of at) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[key]
  }
  return cur
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

function knownKeysAt(at: string[]): string[] {
  let schema: unknown = ConfigSchema
  for (const key of at) {
    schema = unwrap(schema)
    const shape = shapeOf(schema)
    if (shape) {
      schema = shape[key]
      continue
    }
    const def = (schema as { def?: { type?: string; valueType?: unknown; element?: unknown } }).def
    if (def?.type === 'record') schema = def.valueType
    else if (def?.type === 'array') schema = def.element
    else return []
  }
  const shape = shapeOf(unwrap(schema))
  return shape ? Object.keys(shape) : []
}

function unwrap(schema: unknown): unknown {
  let s = schema as
    { def?: { type?: string; innerType?: unknown; in?: unknown; options?: unknown[] } } | undefined
  for (let i = 0; i < 10 && s?.def; i++) {
    const t = s.def.type
    if (t === 'optional' || t === 'default' || t === 'prefault' || t === 'nullable')
      s = s.def.innerType as typeof s
    else if (t === 'pipe') s = s.def.in as typeof s
    else if (t === 'union') s = (s.def.options ?? []).find((o) => shapeOf(unwrap(o))) as typeof s
    else break
  }
  return s
}

function shapeOf(schema: unknown): Record<string, unknown> | undefined {
  const def = (schema as { def?: { type?: string; shape?: Record<string, unknown> } } | undefined)?.def
  return def?.type === 'object' ? def.shape : undefined
}

function suggest(key: string, known: string[]): string {
  if (known.length === 0) return ''
  const close = known
    .map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(x.k.length / 3)))
    .sort((a, b) => a.d - b.d)[0]
  if (close) return `; did you mean "${close.k}"?`
  return `; expected one of: ${known.join(', ')}`
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!
    dp[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return dp[b.length]!
}
