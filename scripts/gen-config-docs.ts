/**
 * Writes the configuration reference into docs/config.md between its markers, from the same zod
 * schema that validates config files. `npm run check:generated` fails when the two drift.
 */
import { readFileSync, writeFileSync } from 'node:fs'

import { z } from 'zod'

import { ConfigSchema } from '../src/config/schema.js'

type Json = {
  type?: string | string[]
  description?: string
  default?: unknown
  properties?: Record<string, Json>
  additionalProperties?: Json | boolean
  items?: Json
  anyOf?: Json[]
  oneOf?: Json[]
  enum?: unknown[]
  const?: unknown
  required?: string[]
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  pattern?: string
  format?: string
  /** The largest value of a duration field (src/config/units.ts `duration`), e.g. `24d`. */
  durationMax?: string
}

const DURATION_HINT = 'duration'
const rows: string[] = []

function typeOf(s: Json, path: string): string {
  if (s.durationMax !== undefined) return `${DURATION_HINT} ≤ ${s.durationMax}`
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ')
  if (s.const !== undefined) return `\`${String(s.const)}\``
  const alts = s.anyOf ?? s.oneOf
  const tags = alts?.map((a) => a.properties?.type?.const)
  if (tags && tags.every((t) => t !== undefined))
    return `probe: ${tags.map((t) => `\`${String(t)}\``).join(' \\| ')}`
  if (alts) {
    const types = alts.map((a) => typeOf(a, path))
    if (types.join() === 'number,string') return isSize(path) ? 'size' : DURATION_HINT
    return types.join(' or ')
  }
  if (Array.isArray(s.type)) {
    if (s.type.join() === 'number,string') return isSize(path) ? 'size' : DURATION_HINT
    return s.type.join(' or ')
  }
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items, path) : 'values'}`
  if (s.type === 'object') {
    if (s.properties && Object.keys(s.properties).length <= 2 && !s.description) {
      return `{ ${Object.keys(s.properties).join(', ')} }`
    }
    return 'mapping'
  }
  const bounds: string[] = []
  if (s.minimum !== undefined) bounds.push(`≥ ${s.minimum}`)
  if (s.exclusiveMinimum !== undefined) bounds.push(`> ${s.exclusiveMinimum}`)
  if (s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER) bounds.push(`≤ ${s.maximum}`)
  return [s.type === 'integer' ? 'integer' : (s.type ?? 'any'), ...bounds].join(' ')
}

function isSize(path: string): boolean {
  return path.endsWith('max_size')
}

function fmtDefault(v: unknown): string {
  if (v === undefined) return ''
  if (typeof v === 'object' && v !== null && Object.keys(v).length === 0)
    return Array.isArray(v) ? '`[]`' : ''
  return `\`${JSON.stringify(v)}\``
}

function walk(s: Json, path: string, required: boolean): void {
  const alts = s.anyOf ?? s.oneOf
  const isObject = s.type === 'object' && s.properties
  if (path && !(path.endsWith('<name>') && !s.description)) {
    const desc = (s.description ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ')
    const req = required && s.default === undefined ? ' **required**' : ''
    rows.push(`| \`${path}\` | ${typeOf(s, path)} | ${fmtDefault(s.default)} | ${desc}${req} |`)
  }
  // Per-pool overrides take the same keys as the top-level blocks listed above.
  if (/^workers\.<name>\.(recovery|thresholds|strategies)$/.test(path)) return
  if (isObject) {
    for (const [k, v] of Object.entries(s.properties!))
      walk(v, path ? `${path}.${k}` : k, s.required?.includes(k) ?? false)
  } else if (s.type === 'object' && typeof s.additionalProperties === 'object') {
    walk(s.additionalProperties, `${path}.<name>`, false)
  } else if (s.type === 'array' && s.items && (s.items.properties || s.items.anyOf || s.items.oneOf)) {
    walk(s.items, `${path}[]`, false)
  } else if (alts) {
    const objects = alts.filter((a) => a.type === 'object' && a.properties)
    // A key every alternative shares with the same description is listed once, untagged.
    const shared = (k: string, v: Json) =>
      objects.length > 1 && objects.every((a) => a.properties![k]?.description === v.description)
    const seen = new Set<string>()
    for (const a of objects) {
      const tag = a.properties!.type?.const
      for (const [k, v] of Object.entries(a.properties!)) {
        if (k === 'type' && tag !== undefined) continue
        if (shared(k, v)) {
          if (!seen.has(k)) walk(v, `${path}.${k}`, a.required?.includes(k) ?? false)
          seen.add(k)
          continue
        }
        walk(
          v,
          tag !== undefined ? `${path}.${k} (${String(tag)})` : `${path}.${k}`,
          a.required?.includes(k) ?? false,
        )
      }
    }
  }
}

const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as Json
walk(schema, '', true)

const table = [
  'Durations are seconds when written as a number (as in the plan) or a string with a unit: `500ms`, `10s`, `2m`, `1h`, `1d`. Each has an upper bound, in its type: `24d` for what the supervisor waits out with one timer (intervals, timeouts, backoff), `3650d` for retention, queue delays and report periods. Sizes are bytes, or `512KB`, `10MB`, `1GB`. Every object is strict: an unknown key is an error.',
  '',
  '| key | type | default | description |',
  '| --- | --- | --- | --- |',
  ...rows,
].join('\n')

const file = new URL('../docs/config.md', import.meta.url)
const BEGIN = '<!-- BEGIN GENERATED: scripts/gen-config-docs.ts -->'
const END = '<!-- END GENERATED -->'
const doc = readFileSync(file, 'utf8')
const start = doc.indexOf(BEGIN)
const end = doc.indexOf(END)
if (start < 0 || end < start) throw new Error(`docs/config.md lacks the markers ${BEGIN} … ${END}`)
writeFileSync(file, `${doc.slice(0, start + BEGIN.length)}\n${table}\n${doc.slice(end)}`)
console.log(`docs/config.md: ${rows.length} keys`)
