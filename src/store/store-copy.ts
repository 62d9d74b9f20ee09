/**
 * `shepherd store copy`: an embedded SQLite store's jobs (every state), incidents, events and saved
 * worker states into a PostgreSQL store, in one transaction of the target. Rows keep their ids, so
 * a job's id and idempotency key mean the same afterwards. A row the target already holds, equal,
 * is skipped (a second copy writes nothing); one it holds with other values is a conflict: reported
 * and never overwritten, and the copy refused as a whole unless told to skip conflicts.
 * @module
 */
import { openCopySource } from '../adapters/sqlite/copy-source.js'
import { ShepherdError } from '../errors.js'
import {
  COPY_BATCH,
  COPY_TABLES,
  type CopyRow,
  type CopySummary,
  inFlightAsCrashed,
  LISTED_CONFLICTS,
  sameRow,
  tableSummary,
} from './copy-plan.js'

export interface CopyOptions {
  /** The SQLite file. */
  from: string
  /** The PostgreSQL URL (password included: never printed). */
  to: string
  /** Do it all, then roll back: the summary says what a copy would do. */
  dryRun: boolean
  /** Copy the rest when some rows conflict, leaving those as the target has them. */
  skipConflicts: boolean
  /** A queue's poison threshold, for jobs that were in flight in the source. */
  poisonThreshold(queue: string): number
  /** The wall clock (epoch ms) and a monotonic one for the time taken. */
  now(): number
  elapsed(): number
}

/**
 * Copies the store.
 * @throws ShepherdError `SHEPHERD_STORE_LOCKED` (a supervisor runs on the source),
 *   `SHEPHERD_STORE_OPEN_FAILED`, `SHEPHERD_STORE_MIGRATION_FAILED`, `SHEPHERD_STORE_COPY_CONFLICT`
 *   (rows differ in the target; nothing written), `SHEPHERD_STORE_COPY_FAILED` (rolled back).
 */
export async function copyStore(o: CopyOptions): Promise<CopySummary> {
  const started = o.elapsed()
  const source = openCopySource(o.from, o.now())
  try {
    const { openCopyTarget } = await import('../adapters/postgres/copy-target.js')
    const target = await openCopyTarget(o.to)
    try {
      const summary: CopySummary = {
        from: o.from,
        to: target.name,
        dryRun: o.dryRun,
        committed: false,
        tables: [],
        jobStates: {},
        inFlight: { requeued: 0, quarantined: 0 },
        notCopied: [],
        ms: 0,
      }
      for (const table of COPY_TABLES) {
        const t = tableSummary(table.name)
        summary.tables.push(t)
        let after: unknown = table.orderBy === 'seq' ? 0 : ''
        const empty = await target.isEmpty(table)
        for (;;) {
          const batch = source.read(table, after, COPY_BATCH)
          if (batch.length === 0) break
          after = batch[batch.length - 1]![table.orderBy]
          const rows = table.name === 'jobs' ? batch.map((r) => arriving(r, o, summary)) : batch
          // An empty table at the start stays without the source's keys but for the rows this copy
          // writes (in key order, each once): a row another writer adds meanwhile under the same key
          // makes the insert fail and the copy roll back, never a duplicate.
          const there = empty
            ? new Map<string, CopyRow>()
            : await target.existing(
                table,
                rows.map((r) => r[table.key]),
              )
          const fresh: CopyRow[] = []
          for (const r of rows) {
            const found = there.get(String(r[table.key]))
            if (found === undefined) fresh.push(r)
            else if (sameRow(r, found, table.columns)) t.alreadyThere++
            else {
              t.conflicts++
              if (t.conflictKeys.length < LISTED_CONFLICTS) t.conflictKeys.push(String(r[table.key]))
            }
          }
          await target.insert(table, fresh)
          t.read += batch.length
          t.copied += fresh.length
        }
      }
      const processes = source.count('worker_processes')
      if (processes > 0) {
        summary.notCopied.push({
          table: 'worker_processes',
          rows: processes,
          why: 'processes of the source host, which only a supervisor there can stop: start it once on the SQLite store (it stops them) before it retires',
        })
      }
      const conflicts = summary.tables.filter((t) => t.conflicts > 0)
      if (conflicts.length > 0 && !o.skipConflicts) {
        await target.finish(false)
        throw conflictError(summary, conflicts)
      }
      await target.finish(!o.dryRun)
      summary.committed = !o.dryRun
      summary.ms = Math.round(o.elapsed() - started)
      return summary
    } finally {
      await target.close()
    }
  } finally {
    source.close()
  }
}

/** A source job as it arrives: one in flight put back as its crash would; counted by state. */
function arriving(job: CopyRow, o: CopyOptions, s: CopySummary): CopyRow {
  let r = job
  if (job.state === 'active') {
    r = inFlightAsCrashed(job, o.poisonThreshold(String(job.queue)))
    if (r.state === 'quarantined') s.inFlight.quarantined++
    else s.inFlight.requeued++
  }
  const state = String(r.state)
  s.jobStates[state] = (s.jobStates[state] ?? 0) + 1
  return r
}

function conflictError(s: CopySummary, tables: CopySummary['tables']): ShepherdError {
  const what = tables
    .map((t) => {
      const more =
        t.conflicts > t.conflictKeys.length ? ` and ${t.conflicts - t.conflictKeys.length} more` : ''
      return `${t.conflicts} ${t.table} (${t.conflictKeys.join(', ')}${more})`
    })
    .join('; ')
  return new ShepherdError(
    'SHEPHERD_STORE_COPY_CONFLICT',
    `Nothing was copied: ${s.to} already holds rows under the same ids with other values: ${what}. ` +
      'Either the fleet has run those jobs since an earlier copy, or the target is another store. Nothing was ' +
      'overwritten. Rerun with --skip-conflicts to copy the rest and keep the target’s rows, or copy into an empty schema.',
    { details: { conflicts: tables } },
  )
}
