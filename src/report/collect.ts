/**
 * Gathers what a report is made of from the store (incidents, events, quarantined jobs), which
 * works with the supervisor down, and from whoever knows the pools' strength now (the running
 * supervisor, through the daemon or the API). `generateReport` is the one entry point the CLI and
 * the daemon's schedule share.
 * @module
 */
import type { Config } from '../config/schema.js'
import type { EventType } from '../core/events.js'
import type { Job } from '../core/job.js'
import type { Store } from '../ports/store.js'
import type { WorkerView } from '../supervisor/view.js'
import { AVAILABILITY_EVENT_TYPES } from './availability.js'
import { buildReport, type ReportEvent, type ReportInput } from './build.js'
import { type PoolStrength, QUARANTINE_LISTED, type Report } from './types.js'

/**
 * Incidents read per report. Incidents are kept forever and a report reads two periods of them;
 * even a restart loop recovered every second for two days stays below this, and the bound keeps
 * one report from reading an unbounded history into memory.
 */
export const MAX_REPORT_INCIDENTS = 1_000_000

/** Events read per store query while paging through a period (one query per page). */
const EVENT_PAGE = 5_000

/** The event types a report reads; every other type stays in the store. */
export const REPORT_EVENT_TYPES: readonly EventType[] = [
  ...AVAILABILITY_EVENT_TYPES,
  'worker:spawned',
  'job:quarantined',
  'job:dead-lettered',
]

/** Where a report comes from. */
export interface ReportSources {
  store: Store
  /** The config: its pools (names, replicas.min) and queues. */
  config: Config
  /** The report is made at this time (epoch ms, the supervisor's clock), covering `sinceMs` before it. */
  now: number
  /** Length of the period, ms (> 0). */
  sinceMs: number
  /**
   * The pools' strength now, by pool name, when a supervisor runs; null when none answers (the
   * availability replay then ends the last run at its last event).
   */
  current: ReadonlyMap<string, PoolStrength> | null
}

/**
 * Reads the store and builds the report for the period of `sinceMs` that ends `now`, with the
 * period of the same length before it for the changes.
 * @example
 * ```ts
 * const report = await generateReport({ store, config, now: clock.now(), sinceMs: 86_400_000, current: null })
 * ```
 */
export async function generateReport(s: ReportSources): Promise<Report> {
  return buildReport(await collectReportInput(s))
}

/** The input of {@link buildReport}, read from the store. */
export async function collectReportInput(s: ReportSources): Promise<ReportInput> {
  const period = { from: s.now - s.sinceMs, to: s.now }
  const previousPeriod = { from: period.from - s.sinceMs, to: period.from }
  const incidents = await s.store.listIncidents({ since: previousPeriod.from, limit: MAX_REPORT_INCIDENTS })
  const events = await readEvents(s.store, previousPeriod.from)

  const known = new Set(incidents.map((i) => i.id))
  const causeOf = new Map<string, string>()
  for (const e of events) {
    if (e.type !== 'worker:spawned' || e.incidentId === null || known.has(e.incidentId)) continue
    if (e.at < previousPeriod.from || causeOf.has(e.incidentId)) continue
    const inc = await s.store.getIncident(e.incidentId)
    causeOf.set(e.incidentId, inc?.cause ?? 'unknown')
  }

  const quarantined = await readQuarantined(s.store, s.now)
  const pools = Object.entries(s.config.workers).map(([name, p]) => ({
    name,
    minReplicas: p.replicas.min,
    now: s.current?.get(name) ?? (s.current ? { workers: 0, serving: 0, spares: 0 } : null),
  }))
  return {
    generatedAt: s.now,
    period,
    previousPeriod,
    supervisorRunning: s.current !== null,
    pools,
    incidents,
    events,
    causeOf,
    quarantined,
  }
}

/**
 * The pools' strength from the API's worker list (`GET /api/workers`): slots, those serving
 * (ready or degraded with a process), and warm spares.
 */
export function strengthFromWorkers(workers: readonly WorkerView[]): Map<string, PoolStrength> {
  const out = new Map<string, PoolStrength>()
  for (const w of workers) {
    let s = out.get(w.pool)
    if (!s) out.set(w.pool, (s = { workers: 0, serving: 0, spares: 0 }))
    if (w.role === 'spare') s.spares++
    else {
      s.workers++
      if ((w.state === 'ready' || w.state === 'degraded') && w.pid !== null) s.serving++
    }
  }
  return out
}

/**
 * The report's events, oldest first: from the last `supervisor:started` at or before `from` (so
 * that the replay sees every worker's state at `from`), or from the oldest event kept, to now.
 */
async function readEvents(store: Store, from: number): Promise<ReportEvent[]> {
  let startSeq = 0
  for (let after = 0; ;) {
    const page = await store.listEvents({ types: ['supervisor:started'], afterSeq: after, limit: EVENT_PAGE })
    for (const e of page) if (e.at <= from && e.seq !== undefined) startSeq = e.seq - 1
    if (page.length < EVENT_PAGE) break
    after = page[page.length - 1]!.seq ?? after
  }
  const out: ReportEvent[] = []
  for (let after = startSeq; ;) {
    const page = await store.listEvents({
      types: [...REPORT_EVENT_TYPES],
      afterSeq: after,
      limit: EVENT_PAGE,
    })
    for (const e of page) {
      out.push({
        type: e.type,
        at: e.at,
        pool: e.pool,
        workerId: e.workerId,
        incidentId: e.incidentId,
        data: e.data,
      })
    }
    if (page.length < EVENT_PAGE) break
    const next = page[page.length - 1]!.seq
    if (next === undefined || next <= after) break
    after = next
  }
  return out
}

/** Every quarantined job counted, and the newest {@link QUARANTINE_LISTED} of each queue listed. */
async function readQuarantined(store: Store, now: number): Promise<{ total: number; jobs: Job[] }> {
  const counts = await store.jobs.counts(now)
  let total = 0
  const jobs: Job[] = []
  for (const c of counts) {
    if (c.quarantined === 0) continue
    total += c.quarantined
    jobs.push(
      ...(await store.jobs.listJobs(c.queue, { state: 'quarantined', limit: QUARANTINE_LISTED }, now)),
    )
  }
  return { total, jobs }
}
