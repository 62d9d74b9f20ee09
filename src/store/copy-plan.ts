/**
 * `shepherd store copy`, apart from any database: which tables are copied and under which key
 * (their column lists are the adapters' own, ../adapters/sql/), what becomes of a job that was in
 * flight in the source, how a row already in the target is told apart from a conflicting one, and
 * the summary the command prints. The SQLite reader (adapters/sqlite/copy-source.ts) and the
 * PostgreSQL writer (adapters/postgres/copy-target.ts) move the rows; store-copy.ts runs them.
 * @module
 */
import { COLUMNS as JOB_COLUMNS } from '../adapters/sql/job-sql.js'
import { EVENT_COLUMNS, INCIDENT_COLUMNS, WORKER_STATE_COLUMNS } from '../adapters/sql/store-sql.js'

/** A row as the drivers give it: column name to value (numbers, strings, null). */
export type CopyRow = Record<string, unknown>

/** One table the copy carries. */
export interface CopyTable {
  name: 'jobs' | 'incidents' | 'events' | 'worker_state'
  /** The column that names a row in both stores: the same key means the same row. */
  key: string
  /** Whether the key is a number (read and compared as one). */
  numericKey: boolean
  /** The columns copied and compared, in the adapters' order. */
  columns: readonly string[]
  /**
   * The column the source is read in order of, when it is not the key (jobs: seq, the enqueue
   * order, which the target's identity gives again in that order; the target's own seq may differ).
   */
  orderBy: string
}

function split(list: string): string[] {
  return list.split(',').map((c) => c.trim())
}

/**
 * Every table copied, in the order copied. Not copied: `worker_processes` (the pids of processes
 * on the source host, which only a supervisor there can stop) and the supervisor lease (the
 * source's owner is not the fleet's).
 */
export const COPY_TABLES: readonly CopyTable[] = [
  {
    name: 'jobs',
    key: 'id',
    numericKey: false,
    // seq is the target's own (its identity); the enqueue order is kept by inserting in source order.
    columns: split(JOB_COLUMNS).filter((c) => c !== 'seq'),
    orderBy: 'seq',
  },
  { name: 'incidents', key: 'id', numericKey: false, columns: split(INCIDENT_COLUMNS), orderBy: 'id' },
  // An event's seq is its name (readers follow the stream by it): kept as it is.
  { name: 'events', key: 'seq', numericKey: true, columns: split(EVENT_COLUMNS), orderBy: 'seq' },
  {
    name: 'worker_state',
    key: 'worker_id',
    numericKey: false,
    columns: split(WORKER_STATE_COLUMNS),
    orderBy: 'worker_id',
  },
]

/** Rows per statement, both read and written: 1000 rows of jobs is one INSERT of ~1 MB at most. */
export const COPY_BATCH = 1000

/**
 * A job that was in flight in the source (its supervisor was killed mid-job) arrives as a crash of
 * that attempt would leave it (src/core/job.ts decideCrash): back to waiting, due at once, with its
 * crash counted, or quarantined when that crash reaches the queue's poison threshold. Made from the
 * row alone (the time of its claim stands for now), so a second copy makes the same row and finds
 * it already there.
 */
export function inFlightAsCrashed(job: CopyRow, poisonThreshold: number): CopyRow {
  const crashes = Number(job.crashes) + 1
  const quarantined = crashes >= poisonThreshold
  return {
    ...job,
    state: quarantined ? 'quarantined' : 'waiting',
    crashes,
    run_at: job.updated_at,
    finished_at: quarantined ? job.updated_at : null,
    lease_worker: null,
    lease_expires: null,
    owner_node: null,
    owner_epoch: null,
  }
}

/** Whether two rows hold the same values in `columns` (the target's BIGINTs read as numbers). */
export function sameRow(a: CopyRow, b: CopyRow, columns: readonly string[]): boolean {
  return columns.every((c) => (a[c] ?? null) === (b[c] ?? null))
}

/** What the copy did (or, dry, would do) with one table. */
export interface TableSummary {
  table: CopyTable['name']
  /** Rows in the source. */
  read: number
  /** Rows written to the target (a dry run: that would be). */
  copied: number
  /** Rows the target had already, equal: skipped. */
  alreadyThere: number
  /** Rows the target has under the same key with other values: left as the target has them. */
  conflicts: number
  /** The first conflicting keys, for the message. */
  conflictKeys: string[]
}

/** What the whole copy did. */
export interface CopySummary {
  from: string
  to: string
  dryRun: boolean
  /** The copy was committed (false for a dry run). */
  committed: boolean
  tables: TableSummary[]
  /** Jobs per state as they arrive in the target (after in-flight jobs were put back). */
  jobStates: Record<string, number>
  /** Jobs that were active in the source: put back to waiting, or quarantined by that crash. */
  inFlight: { requeued: number; quarantined: number }
  /** Rows of the source not copied, by table, and why. */
  notCopied: { table: string; rows: number; why: string }[]
  /** Wall time of the copy, ms. */
  ms: number
}

/** Conflicting keys a summary lists before it says how many more there are. */
export const LISTED_CONFLICTS = 10

/** An empty summary of one table. */
export function tableSummary(table: CopyTable['name']): TableSummary {
  return { table, read: 0, copied: 0, alreadyThere: 0, conflicts: 0, conflictKeys: [] }
}

/** The summary as the command prints it. */
export function formatCopySummary(s: CopySummary): string {
  const verb = s.dryRun ? 'would copy' : 'copied'
  const lines = [
    `${s.dryRun ? 'Dry run: nothing was written. ' : ''}${s.from} → ${s.to}`,
    '',
    `${'table'.padEnd(14)}${'read'.padStart(10)}${verb.padStart(12)}${'skipped'.padStart(10)}${'conflicts'.padStart(11)}`,
  ]
  for (const t of s.tables) {
    lines.push(
      `${t.table.padEnd(14)}${String(t.read).padStart(10)}${String(t.copied).padStart(12)}${String(t.alreadyThere).padStart(10)}${String(t.conflicts).padStart(11)}`,
    )
  }
  const states = Object.entries(s.jobStates)
    .map(([state, n]) => `${state} ${n}`)
    .join(', ')
  lines.push('', `the source's jobs by state, as they arrive: ${states || 'none'}`)
  if (s.inFlight.requeued + s.inFlight.quarantined > 0) {
    lines.push(
      `jobs in flight in the source (its supervisor stopped mid-job): ${s.inFlight.requeued} back to waiting, ` +
        `${s.inFlight.quarantined} quarantined (their crash reached the poison threshold), as a crash of that attempt would leave them`,
    )
  }
  const skipped = s.tables.reduce((n, t) => n + t.alreadyThere, 0)
  if (skipped > 0) lines.push(`skipped ${skipped} rows the target already holds, equal (an earlier copy)`)
  for (const t of s.tables) {
    if (t.conflicts === 0) continue
    const more =
      t.conflicts > t.conflictKeys.length ? `, and ${t.conflicts - t.conflictKeys.length} more` : ''
    lines.push(
      `${t.table}: ${t.conflicts} rows differ in the target under the same ${t.table === 'events' ? 'seq' : 'id'} (kept as the target has them): ${t.conflictKeys.join(', ')}${more}`,
    )
  }
  for (const n of s.notCopied) lines.push(`not copied: ${n.table} (${n.rows} rows): ${n.why}`)
  lines.push(`${s.committed ? 'committed' : 'not committed'} in ${(s.ms / 1000).toFixed(2)} s`)
  return lines.join('\n')
}
