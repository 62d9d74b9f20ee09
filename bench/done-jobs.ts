/**
 * `npm run bench:done-jobs`: what keeping a done job costs PostgreSQL at its ack, and what moving
 * done jobs to a table of their own would save.
 *
 * With `keep_done` (24 h by default) an ack is an UPDATE: the job's row is written again, with an
 * entry in each index that holds a done job (the primary key, the id, jobs_done_finished_at: a state
 * change is never a HOT update). With `keep_done: 0` it is a DELETE, which writes no index entry.
 * The cheaper design we had in mind moves a done job to a table of its own (a delete, then an insert
 * with fewer indexes). Measured here side by side, one connection, acks in batches of 100:
 *
 * - kept: the store's own ack (`ackMany`), done jobs kept in `jobs`;
 * - deleted: the store's own `keep_done: 0` ack (`ackDropMany`);
 * - moved: delete from `jobs`, insert into `jobs_done` (LIKE jobs) keyed by id alone, which getJob
 *   and duplicate ids need (not built: a design measured);
 * - moved, finished_at indexed: the same with jobs_done (finished_at, queue), which pruning, counts
 *   and the last minute's throughput need, as they read jobs_done_finished_at now.
 * - HOT: an ack PostgreSQL may make a HOT update (no new index entry), because it changes no column
 *   an index reads: the state stays `active`, done-ness is `finished_at` alone, jobs_done_finished_at
 *   is dropped, and the table leaves 30% of each page free (fillfactor 70) for the new version
 *   (PostgreSQL 15 counts partial-index predicates against HOT, so `state` cannot change).
 * - HOT, leases apart: the same, with active jobs tracked in a table of their own (job_leases, one
 *   row per claimed job, as the active-state index would have to be replaced), which the ack
 *   deletes from.
 *
 * Each variant is a schema of one fresh database with every migration of sql/postgres/; a round
 * puts BENCH_DONE_JOBS (20,000) active jobs in each (as a claim leaves them), then times their acks;
 * the variants take turns to go first, BENCH_DONE_ROUNDS (8) rounds, and the table gives the
 * median and range of microseconds per job (wall time of the statements, so the server's work and
 * one round trip per 100 jobs). `synchronous_commit` is off for the connection: the figure is the
 * server's work, not the disk's flush, which is the same for each variant (one commit per batch).
 * Writes the section "Keeping done jobs in PostgreSQL" of docs/benchmarks.md (BENCH_DRY=1: print).
 */
import { performance } from 'node:perf_hooks'

import { JOB_STATEMENTS } from '../src/adapters/postgres/job-queries.js'
import { loadPostgresMigrations } from '../src/adapters/postgres/migrate.js'
import { COLUMNS } from '../src/adapters/sql/job-sql.js'
import { describeServer, freshDatabase } from './fleet/pg.js'
import { machine, summarize, writeSection } from './lib.js'

const JOBS = Number(process.env.BENCH_DONE_JOBS ?? 20_000)
const ROUNDS = Number(process.env.BENCH_DONE_ROUNDS ?? 8)
const BATCH = 100

/** The hypothetical ack: the job leaves jobs and lands in jobs_done, done, in one statement. */
const MOVE = `WITH gone AS (DELETE FROM jobs USING unnest($1::text[], $2::bigint[], $3::text[]) AS v(id, delivery, result)
    WHERE jobs.id = v.id AND jobs.state = 'active' AND jobs.delivery = v.delivery
    RETURNING jobs.*, v.result AS done_result)
  INSERT INTO jobs_done (${COLUMNS})
  SELECT seq, id, queue, 'done', priority, run_at, created_at, $4, $4, attempts, max_attempts, crashes,
    timeout_ms, idempotency_key, delivery, NULL, NULL, last_error, last_stack, payload, checkpoint, progress,
    done_result, NULL, NULL
  FROM gone RETURNING id`

/** The hypothetical HOT ack: only columns no index reads. */
const HOT = `UPDATE jobs SET result = v.result, finished_at = $4, updated_at = $4
    FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(id, delivery, result)
    WHERE jobs.id = v.id AND jobs.state = 'active' AND jobs.finished_at IS NULL AND jobs.delivery = v.delivery
    RETURNING jobs.id`
const HOT_DDL = 'DROP INDEX jobs_done_finished_at; ALTER TABLE jobs SET (fillfactor = 70)'
/** …and its lease row deleted in the same statement. */
const HOT_LEASES = `WITH acked AS (${HOT.replace('RETURNING jobs.id', 'RETURNING jobs.id, jobs.seq')}),
    freed AS (DELETE FROM job_leases USING acked WHERE job_leases.seq = acked.seq RETURNING 1)
  SELECT id FROM acked, (SELECT count(*) FROM freed) f`
const LEASES_TABLE =
  'CREATE TABLE job_leases (seq BIGINT PRIMARY KEY, node TEXT NOT NULL, epoch BIGINT NOT NULL, worker TEXT NOT NULL)'

const DONE_TABLE =
  'CREATE TABLE jobs_done (LIKE jobs INCLUDING DEFAULTS); ALTER TABLE jobs_done ADD PRIMARY KEY (id)'

interface Variant {
  key: string
  label: string
  /** DDL after the migrations. */
  ddl: string
  /** The ack ($1 ids, $2 deliveries, $3 results, $4 now). */
  sql: string
  values: (ids: string[], now: number) => unknown[]
}

const kept = (ids: string[], now: number) => [ids, ids.map(() => 1), ids.map(() => '{"ok":true}'), now]
const VARIANTS: Variant[] = [
  {
    key: 'kept',
    label: 'kept in jobs (the default)',
    ddl: '',
    sql: JOB_STATEMENTS.ackMany.text,
    values: kept,
  },
  {
    key: 'deleted',
    label: 'deleted (`keep_done: 0`)',
    ddl: '',
    sql: JOB_STATEMENTS.ackDropMany.text,
    values: (ids) => [ids, ids.map(() => 1)],
  },
  { key: 'moved', label: 'moved to jobs_done (id)', ddl: DONE_TABLE, sql: MOVE, values: kept },
  {
    key: 'moved_fin',
    label: 'moved to jobs_done (id; finished_at, queue)',
    ddl: `${DONE_TABLE}; CREATE INDEX jobs_done_by_finished_at ON jobs_done (finished_at, queue)`,
    sql: MOVE,
    values: kept,
  },
  { key: 'hot', label: 'kept, by a HOT-able ack (fillfactor 70)', ddl: HOT_DDL, sql: HOT, values: kept },
  {
    key: 'hot_leases',
    label: 'kept, by a HOT-able ack, leases in a table of their own',
    ddl: `${HOT_DDL}; ${LEASES_TABLE}`,
    sql: HOT_LEASES,
    values: kept,
  },
]

const db = await freshDatabase('done_jobs')
const c = db.client
const started = new Date()
try {
  await c.query('SET synchronous_commit = off')
  const migrations = loadPostgresMigrations()
  for (const v of VARIANTS) {
    await c.query(`CREATE SCHEMA ${v.key}; SET search_path = ${v.key}`)
    for (const m of migrations) await c.query(m.sql)
    if (v.ddl) await c.query(v.ddl)
  }
  const times = new Map<string, number[]>(VARIANTS.map((v) => [v.key, []]))
  for (let round = 0; round < ROUNDS; round++) {
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!)
    for (const v of order) {
      await c.query(`SET search_path = ${v.key}`)
      const ids = Array.from({ length: JOBS }, () => crypto.randomUUID())
      const now = Date.now()
      await c.query(
        `INSERT INTO jobs (id, queue, state, priority, run_at, created_at, updated_at, attempts, max_attempts,
           crashes, delivery, payload, lease_worker, owner_node, owner_epoch)
         SELECT id, 'q', 'active', 0, $2, $2, $2, 0, 3, 0, 1, '{"i":' || n || '}', 'w1', 'agent-1', 1
         FROM unnest($1::text[]) WITH ORDINALITY AS v(id, n)`,
        [ids, now],
      )
      if (v.key === 'hot_leases')
        await c.query(`INSERT INTO job_leases SELECT seq, owner_node, owner_epoch, lease_worker FROM jobs
          WHERE state = 'active' AND finished_at IS NULL`)
      await c.query('VACUUM ANALYZE jobs')
      const t0 = performance.now()
      for (let i = 0; i < JOBS; i += BATCH) {
        const part = ids.slice(i, i + BATCH)
        const r = await c.query({ name: `ack_${v.key}`, text: v.sql, values: v.values(part, Date.now()) })
        if (r.rowCount !== part.length) throw new Error(`${v.key}: ${r.rowCount} of ${part.length} acked`)
      }
      times.get(v.key)!.push(((performance.now() - t0) * 1000) / JOBS)
      console.log(`round ${round + 1} ${v.key}: ${times.get(v.key)!.at(-1)!.toFixed(2)} µs/job`)
    }
  }
  // This connection's own counts reach pg_stat_user_tables once flushed.
  await c.query('SELECT pg_stat_force_next_flush()')
  await c.query('SELECT 1')
  const stats = await c.query<{ upd: string; hot: string }>(
    `SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE schemaname = 'hot' AND relname = 'jobs'`,
  )
  const hotShare = `${((Number(stats.rows[0]!.hot) / Number(stats.rows[0]!.upd)) * 100).toFixed(0)}%`
  const median = (key: string) => summarize(times.get(key)!).p50
  const gap = median('kept') - median('deleted')
  const rows = VARIANTS.map((v) => {
    const s = times.get(v.key)!
    const saved = v.key === 'kept' ? '' : `${(((median('kept') - median(v.key)) / gap) * 100).toFixed(0)}%`
    return `| ${v.label} | ${median(v.key).toFixed(1)} | ${Math.min(...s).toFixed(1)}–${Math.max(...s).toFixed(1)} | ${saved} |`
  })
  const body = `## Keeping done jobs in PostgreSQL (\`npm run bench:done-jobs\`)

Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}; ${await describeServer()}, one connection with \`synchronous_commit\` off (the server's work, not the disk's flush).
Command: \`npm run bench:done-jobs\`.

What an ack costs the server, by where the done job goes: ${JOBS.toLocaleString('en-US')} active jobs acked in
batches of ${BATCH}, each variant in a schema of its own built by every migration, ${ROUNDS} rounds with the
variants taking turns to go first. Microseconds per job (median and range of the rounds); "of the
gap": how much of the difference between keeping and deleting the variant saves (negative: it
costs more than keeping).

| a done job is | µs per job | range | of the gap |
| --- | --- | --- | --- |
${rows.join('\n')}

The moved and HOT variants are designs measured, not built: the job's row written again is most of
what keeping it costs. A table of its own still writes the row and the index entries that getJob,
duplicate ids, pruning and counts need. An ack that may skip every index entry (${hotShare} of its updates
were HOT) still writes the row, was no cheaper, and gives up the index that pruning and counts read.`
  if (process.env.BENCH_DRY !== '1') writeSection('done-jobs', body)
  console.log(body)
} finally {
  await db.drop()
}
