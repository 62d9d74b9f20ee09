/**
 * How the PostgreSQL adapter names and runs its SQL: the portable statements (written with `?`, as
 * SQLite takes them) numbered into PostgreSQL's `$1, $2…`, and every fixed statement given a name,
 * so that node-postgres prepares it once per connection and only binds values after that.
 * @module
 */
import type pg from 'pg'

/** A fixed statement: prepared once per connection under its name. */
export interface Statement {
  readonly name: string
  readonly text: string
}

/** Something that runs SQL: the pool, or one connection inside a transaction. */
export type Queryable = Pick<pg.ClientBase, 'query'>

/**
 * Numbers the `?` placeholders of a statement written for SQLite: `a = ? AND b = ?` becomes
 * `a = $1 AND b = $2`. A `?` inside a quoted string or identifier is left alone.
 */
export function numbered(sql: string): string {
  let n = 0
  let quote: string | null = null
  let out = ''
  for (const ch of sql) {
    if (quote !== null) {
      if (ch === quote) quote = null
      out += ch
    } else if (ch === "'" || ch === '"') {
      quote = ch
      out += ch
    } else if (ch === '?') {
      out += `$${++n}`
    } else {
      out += ch
    }
  }
  return out
}

/**
 * Names each statement of a map `<prefix>_<key>` (names are per connection, so they must be unique
 * across every map one pool runs).
 * @param portable - true when the statements are written with `?` (they are numbered first).
 */
export function named<K extends string>(
  prefix: string,
  sql: Record<K, string>,
  portable: boolean,
): Record<K, Statement> {
  const out = {} as Record<K, Statement>
  for (const key of Object.keys(sql) as K[]) {
    out[key] = { name: `shepherd_${prefix}_${key}`, text: portable ? numbered(sql[key]) : sql[key] }
  }
  return out
}

/** Runs a named statement and returns its rows. */
export async function rows<R extends pg.QueryResultRow>(
  q: Queryable,
  s: Statement,
  values: readonly unknown[] = [],
): Promise<R[]> {
  return (await q.query<R>({ name: s.name, text: s.text, values: values as unknown[] })).rows
}

/** Runs a named statement and returns its first row, or undefined. */
export async function row<R extends pg.QueryResultRow>(
  q: Queryable,
  s: Statement,
  values: readonly unknown[] = [],
): Promise<R | undefined> {
  return (await rows<R>(q, s, values))[0]
}

/** Runs a named statement and returns how many rows it changed. */
export async function changes(q: Queryable, s: Statement, values: readonly unknown[] = []): Promise<number> {
  return (await q.query({ name: s.name, text: s.text, values: values as unknown[] })).rowCount ?? 0
}
