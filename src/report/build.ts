/**
 * Builds a report from what the store and the supervisor say: a pure function of its input, so
 * every figure is unit-tested with fake incidents and events. collect.ts gathers the input.
 *
 * Definitions (docs/reports.md says the same for readers):
 * - An incident belongs to the period it was **detected** in (as `shepherd incidents` and the
 *   store's `since` filter count them); its outcome is whatever it is when the report is made.
 * - **Time to recover** (MTTR) is recoveredAt − detectedAt of the recovered incidents, the same
 *   span `shepherd_recovery_duration_seconds` observes. Percentiles are by nearest rank.
 * - **Restarts** are the processes recoveries started: `worker:spawned` events that carry an
 *   incident id (a warm spare taking over included), exactly what `shepherd_restarts_total`
 *   counts. An attempt that escalated before starting anything (restart budget) is not a restart.
 * - **Availability**: see availability.ts.
 * @module
 */
import type { Incident } from '../core/incident.js'
import type { Job } from '../core/job.js'
import { type AvailabilityEvent, type AvailabilityPool, replayAvailability } from './availability.js'
import {
  type CauseReport,
  type Changes,
  type JobReport,
  type MttrFigures,
  type Period,
  type PeriodFigures,
  type PoolReport,
  type PoolStrength,
  QUARANTINE_LISTED,
  type QuarantinedJob,
  type Report,
  TOP_JOBS,
  TOP_WORKERS,
  type WorkerReport,
} from './types.js'

/** An event as the report reads it: the store's events, any type (unknown types are ignored). */
export interface ReportEvent extends AvailabilityEvent {
  incidentId: string | null
}

/** A pool of the report: its name and replicas.min, and its strength now when a supervisor runs. */
export interface ReportPool extends AvailabilityPool {
  now: PoolStrength | null
}

/** Everything a report is made of. */
export interface ReportInput {
  generatedAt: number
  period: Period
  previousPeriod: Period
  supervisorRunning: boolean
  pools: readonly ReportPool[]
  /** Incidents detected in either period (others are ignored). */
  incidents: readonly Incident[]
  /**
   * Events oldest first, from the start of the supervisor run the previous period begins in (so
   * that the replay knows every worker's state at its start) to now.
   */
  events: readonly ReportEvent[]
  /** The cause of an incident by id, for restarts of incidents detected before either period. */
  causeOf?: ReadonlyMap<string, string>
  /** Jobs quarantined now: the total, and the newest jobs of each queue. */
  quarantined: { total: number; jobs: readonly Job[] }
}

/**
 * Computes the report.
 * @example
 * ```ts
 * const report = buildReport(await collectReportInput(sources))
 * report.summary.mttr.p50Ms // 1200
 * ```
 */
export function buildReport(input: ReportInput): Report {
  const { period, previousPeriod: prev } = input
  const inPeriod = (at: number, p: Period) => at >= p.from && at < p.to
  // The report is made at period.to: what happened at that very millisecond belongs to it.
  const inCurrent = (at: number) => at >= period.from && at <= period.to
  const incidents = input.incidents.filter((i) => inCurrent(i.detectedAt))
  const previousIncidents = input.incidents.filter((i) => inPeriod(i.detectedAt, prev))

  const causeOf = new Map(input.causeOf ?? [])
  for (const i of input.incidents) causeOf.set(i.id, i.cause)
  const restarts = restartEvents(input.events, inCurrent)
  const previousRestarts = restartEvents(input.events, (at) => inPeriod(at, prev))

  const availability = replayAvailability(input.events, input.pools, period, input.supervisorRunning)
  const previousAvailability = replayAvailability(input.events, input.pools, prev, true)

  const pools = input.pools.map((p): PoolReport => {
    const a = availability.get(p.name)!
    const before = previousAvailability.get(p.name)!.ratio
    const own = incidents.filter((i) => i.pool === p.name)
    return {
      name: p.name,
      minReplicas: p.minReplicas,
      availability: a.ratio,
      observedMs: a.observedMs,
      fullMs: a.fullMs,
      previousAvailability: before,
      availabilityChange: difference(a.ratio, before),
      incidents: own.length,
      recovered: own.filter((i) => i.outcome === 'recovered').length,
      escalated: own.filter((i) => i.outcome === 'escalated').length,
      restarts: restarts.filter((e) => e.pool === p.name).length,
      now: p.now,
    }
  })

  const summary = figures(
    incidents,
    restarts.length,
    meanRatio([...availability.values()].map((a) => a.ratio)),
  )
  const previous = figures(
    previousIncidents,
    previousRestarts.length,
    meanRatio([...previousAvailability.values()].map((a) => a.ratio)),
  )

  return {
    kind: 'shepherd.report',
    version: 1,
    generatedAt: input.generatedAt,
    period,
    previousPeriod: prev,
    supervisorRunning: input.supervisorRunning,
    summary,
    previous,
    changes: changes(summary, previous),
    pools,
    causes: byCause(incidents, restarts, causeOf),
    topWorkers: topWorkers(incidents),
    topJobs: topJobs(input.events, inCurrent),
    quarantinedNow: {
      total: input.quarantined.total,
      jobs: quarantinedJobs(input.quarantined.jobs),
    },
  }
}

/**
 * The nearest-rank percentile of sorted values: the smallest value with at least p% of the values
 * at or below it. Null for no values.
 * @example
 * ```ts
 * percentile([10, 20, 30, 40], 50) // 20
 * percentile([10, 20, 30, 40], 95) // 40
 * ```
 */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[Math.min(rank, sorted.length) - 1]!
}

/** Time to recover of the recovered incidents among `incidents`. */
export function mttrOf(incidents: readonly Incident[]): MttrFigures {
  const spans = incidents
    .filter((i) => i.outcome === 'recovered' && i.recoveredAt !== null)
    .map((i) => Math.max(0, i.recoveredAt! - i.detectedAt))
    .sort((a, b) => a - b)
  return {
    count: spans.length,
    p50Ms: percentile(spans, 50),
    p95Ms: percentile(spans, 95),
    maxMs: spans.length === 0 ? null : spans[spans.length - 1]!,
    sumMs: spans.reduce((a, b) => a + b, 0),
  }
}

function figures(
  incidents: readonly Incident[],
  restarts: number,
  availability: number | null,
): PeriodFigures {
  const outcome = (o: Incident['outcome']) => incidents.filter((i) => i.outcome === o).length
  return {
    incidents: incidents.length,
    recovered: outcome('recovered'),
    escalated: outcome('escalated'),
    interrupted: outcome('interrupted'),
    open: outcome(null),
    mttr: mttrOf(incidents),
    restarts,
    availability,
  }
}

function changes(now: PeriodFigures, before: PeriodFigures): Changes {
  return {
    incidents: now.incidents - before.incidents,
    recovered: now.recovered - before.recovered,
    escalated: now.escalated - before.escalated,
    restarts: now.restarts - before.restarts,
    mttrP50Ms: difference(now.mttr.p50Ms, before.mttr.p50Ms),
    availability: difference(now.availability, before.availability),
  }
}

function difference(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : a - b
}

function meanRatio(ratios: readonly (number | null)[]): number | null {
  const known = ratios.filter((r): r is number => r !== null)
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0) / known.length
}

/** `worker:spawned` events of recoveries (they carry the incident's id) in the period. */
function restartEvents(events: readonly ReportEvent[], within: (at: number) => boolean): ReportEvent[] {
  return events.filter((e) => e.type === 'worker:spawned' && e.incidentId !== null && within(e.at))
}

function byCause(
  incidents: readonly Incident[],
  restarts: readonly ReportEvent[],
  causeOf: ReadonlyMap<string, string>,
): CauseReport[] {
  const groups = new Map<string, Incident[]>()
  for (const i of incidents) groups.set(i.cause, [...(groups.get(i.cause) ?? []), i])
  const restartsBy = new Map<string, number>()
  for (const e of restarts) {
    const cause = causeOf.get(e.incidentId!) ?? 'unknown'
    restartsBy.set(cause, (restartsBy.get(cause) ?? 0) + 1)
    if (!groups.has(cause)) groups.set(cause, [])
  }
  return [...groups.entries()]
    .map(([cause, list]): CauseReport => {
      const f = figures(list, restartsBy.get(cause) ?? 0, null)
      return {
        cause,
        incidents: f.incidents,
        recovered: f.recovered,
        escalated: f.escalated,
        interrupted: f.interrupted,
        open: f.open,
        mttrP50Ms: f.mttr.p50Ms,
        restarts: f.restarts,
      }
    })
    .sort((a, b) => b.incidents - a.incidents || b.restarts - a.restarts || a.cause.localeCompare(b.cause))
}

function topWorkers(incidents: readonly Incident[]): WorkerReport[] {
  const byWorker = new Map<string, WorkerReport>()
  for (const i of incidents) {
    let w = byWorker.get(i.workerId)
    if (!w) {
      w = { workerId: i.workerId, pool: i.pool, incidents: 0, recovered: 0, escalated: 0, causes: {} }
      byWorker.set(i.workerId, w)
    }
    w.incidents++
    if (i.outcome === 'recovered') w.recovered++
    if (i.outcome === 'escalated') w.escalated++
    w.causes[i.cause] = (w.causes[i.cause] ?? 0) + 1
  }
  return [...byWorker.values()]
    .sort(
      (a, b) =>
        b.incidents - a.incidents || b.escalated - a.escalated || a.workerId.localeCompare(b.workerId),
    )
    .slice(0, TOP_WORKERS)
}

function topJobs(events: readonly ReportEvent[], within: (at: number) => boolean): JobReport[] {
  const byJob = new Map<string, JobReport>()
  for (const e of events) {
    if ((e.type !== 'job:quarantined' && e.type !== 'job:dead-lettered') || !within(e.at)) continue
    const d = e.data as { jobId?: unknown; queue?: unknown; error?: unknown }
    if (typeof d.jobId !== 'string' || typeof d.queue !== 'string') continue
    let j = byJob.get(d.jobId)
    if (!j) {
      j = { jobId: d.jobId, queue: d.queue, quarantined: 0, deadLettered: 0, lastAt: e.at, lastError: null }
      byJob.set(d.jobId, j)
    }
    if (e.type === 'job:quarantined') j.quarantined++
    else j.deadLettered++
    j.lastAt = Math.max(j.lastAt, e.at)
    if (typeof d.error === 'string') j.lastError = d.error
  }
  return [...byJob.values()]
    .sort(
      (a, b) =>
        b.quarantined + b.deadLettered - (a.quarantined + a.deadLettered) ||
        b.quarantined - a.quarantined ||
        b.lastAt - a.lastAt ||
        a.jobId.localeCompare(b.jobId),
    )
    .slice(0, TOP_JOBS)
}

function quarantinedJobs(jobs: readonly Job[]): QuarantinedJob[] {
  const perQueue = new Map<string, number>()
  const out: QuarantinedJob[] = []
  for (const j of [...jobs].sort((a, b) => b.updatedAt - a.updatedAt || a.id.localeCompare(b.id))) {
    const n = perQueue.get(j.queue) ?? 0
    if (n >= QUARANTINE_LISTED) continue
    perQueue.set(j.queue, n + 1)
    out.push({
      id: j.id,
      queue: j.queue,
      crashes: j.crashes,
      attempts: j.attempts,
      since: j.updatedAt,
      lastError: j.lastError,
    })
  }
  return out
}
