/**
 * `npm run bench:copy`: `shepherd store copy` (the built command) of a SQLite store holding 100,000
 * waiting jobs (4 queues, each with an idempotency key) into an empty schema of this machine's
 * PostgreSQL, then the same copy again (every row found there already, nothing written).
 * Prints the wall times of the command; docs/store.md quotes them.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

import pg from 'pg'

import { openSqliteStore } from '../src/adapters/sqlite/sqlite-store.js'

const JOBS = 100_000
const BASE = process.env.SHEPHERD_BENCH_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const bin = fileURLToPath(new URL('../bin/shepherd.js', import.meta.url))
const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-copy-bench-'))
const file = path.join(dir, 'shepherd.db')
const schema = `shepherd_copy_bench_${process.pid}`
const url = new URL(BASE)
url.searchParams.set('schema', schema)

const admin = new pg.Client({ connectionString: BASE })
await admin.connect()
try {
  const store = await openSqliteStore(file)
  const now = Date.now()
  for (let i = 0; i < JOBS; i += 1000) {
    await store.jobs.add(
      Array.from({ length: 1000 }, (_, k) => ({
        queue: `q${k % 4}`,
        payload: { n: i + k, to: 'someone@example.com' },
        idempotencyKey: `key-${i + k}`,
      })),
      now,
      () => ({ maxAttempts: 3, timeoutMs: null }),
    )
  }
  await store.close()
  for (const run of ['first copy (empty target)', 'second copy (all skipped)']) {
    const t0 = performance.now()
    const r = spawnSync(
      process.execPath,
      [bin, 'store', 'copy', '--from', file, '--to', url.toString(), '--json'],
      {
        encoding: 'utf8',
      },
    )
    const ms = performance.now() - t0
    if (r.status !== 0) throw new Error(`copy failed: ${r.stderr}`)
    const s = JSON.parse(r.stdout) as {
      ms: number
      tables: { table: string; copied: number; alreadyThere: number }[]
    }
    const jobs = s.tables.find((t) => t.table === 'jobs')!
    console.log(
      `${run}: ${JOBS} jobs, copied ${jobs.copied}, skipped ${jobs.alreadyThere}: command ${(ms / 1000).toFixed(2)} s, copy ${(s.ms / 1000).toFixed(2)} s`,
    )
  }
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await admin.end()
  rmSync(dir, { recursive: true, force: true })
}
