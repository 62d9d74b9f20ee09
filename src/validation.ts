/**
 * Validation in English: the one way Shepherd turns zod issues into sentences, for the config file,
 * the API's requests, the lines and flags of `shepherd enqueue` and `Queue.add`. Every problem
 * reads "expected …, got …" with its path (`workers.email.replicas.min`, `body.jobs[3].delay`), so
 * a person can fix it without reading the schema.
 *
 * The config file is YAML and speaks of mappings and lists; everything else is JSON and speaks of
 * objects and arrays ({@link Dialect}). That is the only difference.
 * @module
 */
import type { z } from 'zod'

/** How values and types are named: `yaml` for the config file, `json` for requests and code. */
export type Dialect = 'json' | 'yaml'

/** One validation problem. */
export interface Issue {
  /** Where, for people: `body.jobs[3].delay`, `workers.email.command`; '' for the value itself. */
  path: string
  /** The path as keys and indexes, relative to the value parsed; an unknown key's ends with the key. */
  at: readonly PropertyKey[]
  /** zod's code for the problem (`invalid_type`, `unrecognized_keys`, …). */
  code: z.core.$ZodIssue['code']
  message: string
}

/** How {@link parseWith} names things. */
export interface DescribeOptions {
  /** The first segment of every path (`body`, `query`); none when empty. @defaultValue '' */
  root?: string
  /** What an unknown key is called. @defaultValue 'key' */
  noun?: 'key' | 'parameter'
  /** @defaultValue 'json' */
  dialect?: Dialect
  /**
   * The text the source wrote for the value at `at`, when it is not what JSON would print (YAML's
   * `1e300`, which JavaScript prints `1e+300`).
   * @defaultValue none
   */
  sourceText?: (at: readonly PropertyKey[]) => string | undefined
}

export type ParseResult<T> = { success: true; data: T } | { success: false; issues: Issue[] }

/**
 * Parses `data` with `schema`; on failure, every problem in English with its path. A message a
 * schema sets itself (`.min(1, 'expected a pool name')`) is kept; a custom message that does not
 * say what it got is followed by `, got <value>`.
 * @example
 * ```ts
 * const r = parseWith(RestartBodySchema, { hard: 'yes' }, { root: 'body' })
 * // { success: false, issues: [{ path: 'body.hard', message: 'expected a boolean, got "yes" (string)', … }] }
 * ```
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  data: unknown,
  options: DescribeOptions = {},
): ParseResult<z.output<S>> {
  // jitless: zod would otherwise compile a fast path (new Function) for every object schema at its
  // first parse. That pays for a schema parsed in a hot loop, not for a config parsed once per start
  // or a request body now and then, where the compiling costs more than it saves.
  const parsed = schema.safeParse(data, { error: errorMap(data, options), jitless: true })
  if (parsed.success) return { success: true, data: parsed.data }
  return { success: false, issues: parsed.error.issues.flatMap((i) => finish(i, schema, data, options)) }
}

/** The issues as one line: `body.hard: expected a boolean, got "yes" (string); body.x: …`. */
export function joinIssues(issues: readonly Issue[]): string {
  return issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ')
}

/**
 * A value as messages quote it: `"yes" (string)`, `1.5 (number)`, `null`, `an array` (`a list` in
 * YAML), `an object` (`a mapping`), `nothing` for a missing one. `text` is a number as the source
 * wrote it.
 */
export function describeValue(v: unknown, dialect: Dialect = 'json', text?: string): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (Array.isArray(v)) return dialect === 'yaml' ? 'a list' : 'an array'
  if (typeof v === 'object') return dialect === 'yaml' ? 'a mapping' : 'an object'
  if (typeof v === 'number') return `${text ?? (Number.isFinite(v) ? JSON.stringify(v) : String(v))} (number)`
  if (typeof v === 'bigint') return `${String(v)} (bigint)`
  if (typeof v === 'function' || typeof v === 'symbol') return `a ${typeof v}`
  return `${JSON.stringify(v)} (${typeof v})`
}

/**
 * `body` + `['jobs', 3, 'delay']` → `body.jobs[3].delay`; in YAML, as config keys are written,
 * `hooks.0.url`.
 */
export function formatPath(root: string, at: readonly PropertyKey[], dialect: Dialect = 'json'): string {
  let out = root
  for (const segment of at) {
    if (typeof segment === 'number' && dialect === 'json') out += `[${segment}]`
    else out += out === '' ? String(segment) : `.${String(segment)}`
  }
  return out
}

/** The keys an object of `schema` at `at` accepts (for "unknown key" messages); none when it is not an object. */
export function knownKeysAt(schema: unknown, at: readonly PropertyKey[]): string[] {
  let s: unknown = schema
  for (const key of at) {
    s = unwrap(s)
    const shape = shapeOf(s)
    if (shape) {
      s = shape[String(key)]
      continue
    }
    const def = defOf(s)
    if (def?.type === 'record') s = def.valueType
    else if (def?.type === 'array') s = def.element
    else return []
  }
  const shape = shapeOf(unwrap(s))
  return shape ? Object.keys(shape) : []
}

/** Type names as messages say them, in each dialect. */
const TYPE_NAMES: Record<Dialect, Record<string, string>> = {
  json: { object: 'a JSON object', record: 'a JSON object', array: 'a list', int: 'an integer' },
  yaml: {
    object: 'a mapping',
    record: 'a mapping',
    array: 'a list',
    int: 'an integer',
    boolean: 'true or false',
  },
}

function typeName(expected: string, dialect: Dialect): string {
  return TYPE_NAMES[dialect][expected] ?? `a ${expected}`
}

/**
 * The error map of a parse: zod calls it with each issue's full path once the parse ends, and a
 * message the schema set itself outranks it.
 */
function errorMap(data: unknown, o: DescribeOptions): z.core.$ZodErrorMap {
  const dialect = o.dialect ?? 'json'
  return (issue) => {
    const at = issue.path ?? []
    // The value at the issue's path, as it was given: a check on an object that names one of its
    // keys (`path: ['headers']`) is about that key's value, not the object.
    const value = issue.path ? valueAt(data, at) : issue.input
    const got = describeValue(value, dialect, o.sourceText?.(at))
    if (typeof value === 'number' && !Number.isFinite(value) && issue.code !== 'custom')
      return `expected a finite number, got ${got}`
    switch (issue.code) {
      case 'invalid_type':
        return value === undefined
          ? `required: expected ${typeName(issue.expected, dialect)}`
          : `expected ${typeName(issue.expected, dialect)}, got ${got}`
      case 'too_small':
      case 'too_big': {
        const [least, bound, sign] =
          issue.code === 'too_small'
            ? ['at least', issue.minimum, issue.inclusive ? '≥' : '>']
            : ['at most', issue.maximum, issue.inclusive ? '≤' : '<']
        if (issue.origin === 'array' || issue.origin === 'set')
          return `expected ${least} ${String(bound)} item(s), got ${Array.isArray(value) ? value.length : got}`
        if (issue.origin === 'string') return `expected ${least} ${String(bound)} character(s), got ${got}`
        return `expected a number ${sign} ${String(bound)}, got ${got}`
      }
      case 'invalid_value': {
        const one = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`
        return value === undefined ? `required: expected ${one}` : `expected ${one}, got ${got}`
      }
      case 'invalid_union': {
        if (issue.note === 'No matching discriminator') {
          const options = ((issue as { options?: unknown[] }).options ?? []).map((v) => JSON.stringify(v))
          return `expected "${String(issue.discriminator)}" to be one of ${options.join(', ')}, got ${got}`
        }
        return value === undefined ? 'required: expected a value' : `unexpected value, got ${got}`
      }
      case 'invalid_format': {
        const what =
          issue.format === 'url'
            ? 'an http(s) URL'
            : issue.format === 'regex' && issue.pattern
              ? `a string matching ${issue.pattern}`
              : `a ${issue.format}`
        return `expected ${what}, got ${got}`
      }
      case 'not_multiple_of':
        return `expected a multiple of ${String(issue.divisor)}, got ${got}`
      case 'custom':
        // A custom issue without a message of its own (those with one never reach the map); what
        // it got is added once the parse ends, as for every custom issue.
        return 'unexpected value'
      case 'unrecognized_keys':
        // Described key by key, with the keys the object takes, once the parse ends.
        return undefined
      default:
        return undefined
    }
  }
}

/**
 * An issue as it leaves: an unrecognized_keys issue becomes one issue per key, with the keys the
 * object takes; a message that does not say what it got is followed by `, got <value>`.
 */
function finish(issue: z.core.$ZodIssue, schema: unknown, data: unknown, o: DescribeOptions): Issue[] {
  const root = o.root ?? ''
  const dialect = o.dialect ?? 'json'
  if (issue.code === 'unrecognized_keys') {
    const noun = o.noun ?? 'key'
    const known = knownKeysAt(schema, issue.path)
    return issue.keys.map((key) => {
      const at = [...issue.path, key]
      const message = `unknown ${noun} "${key}"${suggest(key, known, noun)}`
      return { path: formatPath(root, at, dialect), at, code: issue.code, message }
    })
  }
  let message = issue.message
  // A message a schema set itself (`.regex(…, 'expected a queue name')`) says what was expected.
  if (!message.includes(', got ')) {
    const value = valueAt(data, issue.path)
    if (value !== undefined) message += `, got ${describeValue(value, dialect, o.sourceText?.(issue.path))}`
  }
  return [{ path: formatPath(root, issue.path, dialect), at: issue.path, code: issue.code, message }]
}

function suggest(key: string, known: readonly string[], noun: 'key' | 'parameter'): string {
  if (known.length === 0) return noun === 'parameter' ? ' (this route takes none)' : ''
  // A typo: one or two letters off (a third of a long name), swapped letters counting one.
  const close = known
    .map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) }))
    .filter((x) => x.d < key.length && x.d <= Math.max(1, Math.floor(x.k.length / 3)))
    .sort((a, b) => a.d - b.d)[0]
  if (close) return `; did you mean "${close.k}"?`
  return ` (known: ${known.join(', ')})`
}

/** Edits from `a` to `b`: insertions, deletions, substitutions and swaps of two neighbours. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1)
      d[i]![j] = best
    }
  }
  return d[a.length]![b.length]!
}

function valueAt(data: unknown, at: readonly PropertyKey[]): unknown {
  let cur = data
  for (const key of at) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<PropertyKey, unknown>)[key]
  }
  return cur
}

interface SchemaDef {
  type?: string
  innerType?: unknown
  in?: unknown
  options?: unknown[]
  getter?: () => unknown
  shape?: Record<string, unknown>
  valueType?: unknown
  element?: unknown
}

function defOf(schema: unknown): SchemaDef | undefined {
  return (schema as { def?: SchemaDef } | undefined)?.def
}

/** Through optional, default, nullable, pipes (their input side), lazy and unions of objects. */
function unwrap(schema: unknown): unknown {
  let s = schema
  for (let i = 0; i < 10; i++) {
    const def = defOf(s)
    const t = def?.type
    if (t === 'optional' || t === 'default' || t === 'prefault' || t === 'nullable' || t === 'readonly')
      s = def!.innerType
    else if (t === 'pipe') s = def!.in
    else if (t === 'lazy') s = def!.getter?.()
    else if (t === 'union') s = (def!.options ?? []).find((o) => shapeOf(unwrap(o)))
    else break
  }
  return s
}

function shapeOf(schema: unknown): Record<string, unknown> | undefined {
  const def = defOf(schema)
  return def?.type === 'object' ? def.shape : undefined
}
