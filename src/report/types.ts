/**
 * The report's JSON shape (`shepherd report --format json`, the `report` of a scheduled webhook).
 * Times are epoch milliseconds and durations milliseconds, as everywhere in the API; ratios are
 * 0..1. docs/reports.md documents every field; its `version` changes only with a breaking change.
 * @module
 */

/**
 * A span of time, epoch ms. The report's period includes both ends (it ends when the report is
 * made); the previous period ends where the report's begins, so `to` itself belongs to the later one.
 */
export interface Period {
  from: number
  to: number
}

/** Time to recover (detection to the replacement verified healthy) of recovered incidents. */
export interface MttrFigures {
  /** Recovered incidents measured. */
  count: number
  /** Median, by nearest rank; null without any recovered incident. */
  p50Ms: number | null
  /** 95th percentile, by nearest rank; null without any recovered incident. */
  p95Ms: number | null
  maxMs: number | null
  /** Sum of every time to recover: with count, the mean (and `shepherd_recovery_duration_seconds_sum`). */
  sumMs: number
}

/** The headline figures of one period. */
export interface PeriodFigures {
  /** Incidents detected in the period. */
  incidents: number
  /** Of those, how many ended recovered, escalated, interrupted (the supervisor stopped, or its agent died), or are still open. */
  recovered: number
  escalated: number
  interrupted: number
  open: number
  mttr: MttrFigures
  /** Processes started by recoveries in the period (warm spares taking over included). */
  restarts: number
  /** Mean availability of the pools (each pool weighs the same); null when nothing was observed. */
  availability: number | null
}

/** Differences this period minus the previous one; null where either side has no figure. */
export interface Changes {
  incidents: number
  recovered: number
  escalated: number
  restarts: number
  mttrP50Ms: number | null
  availability: number | null
}

/** Current strength of a pool, from a running supervisor. */
export interface PoolStrength {
  /** Worker slots now. */
  workers: number
  /** Slots ready or degraded with a live process. */
  serving: number
  spares: number
}

/** One pool over the period. */
export interface PoolReport {
  name: string
  minReplicas: number
  /** fullMs / observedMs; null when the supervisor ran at no time of the period. */
  availability: number | null
  /** Time the supervisor ran during the period. */
  observedMs: number
  /** Of it, time with at least minReplicas workers ready or degraded. */
  fullMs: number
  previousAvailability: number | null
  /** availability − previousAvailability (a ratio: 0.01 is one percentage point). */
  availabilityChange: number | null
  incidents: number
  recovered: number
  escalated: number
  restarts: number
  /** Null when no supervisor answered: the pool list then comes from the config file. */
  now: PoolStrength | null
}

/** The incidents of one cause over the period. */
export interface CauseReport {
  cause: string
  incidents: number
  recovered: number
  escalated: number
  interrupted: number
  open: number
  /** Median time to recover of this cause's recovered incidents. */
  mttrP50Ms: number | null
  restarts: number
}

/** A worker with incidents in the period, the most first. */
export interface WorkerReport {
  workerId: string
  pool: string
  incidents: number
  recovered: number
  escalated: number
  /** Its incidents by cause. */
  causes: Record<string, number>
}

/** A job that was quarantined or dead-lettered during the period (from `job:*` events). */
export interface JobReport {
  jobId: string
  queue: string
  /** Times it was quarantined in the period (more than once if it was put back and did it again). */
  quarantined: number
  deadLettered: number
  /** When it last happened. */
  lastAt: number
  lastError: string | null
}

/** A job in quarantine when the report was made. */
export interface QuarantinedJob {
  id: string
  queue: string
  /** Worker crashes it was in flight in. */
  crashes: number
  attempts: number
  /** When it was quarantined (its last update). */
  since: number
  lastError: string | null
}

/** A Shepherd report: what happened over one period, and how it compares with the one before. */
export interface Report {
  kind: 'shepherd.report'
  version: 1
  generatedAt: number
  period: Period
  /** The period of the same length just before, for the changes. */
  previousPeriod: Period
  /** Whether a supervisor answered when the report was made (its pools' `now` is then filled in). */
  supervisorRunning: boolean
  summary: PeriodFigures
  previous: PeriodFigures
  changes: Changes
  pools: PoolReport[]
  /** Causes with incidents in the period, the most first. */
  causes: CauseReport[]
  /** At most {@link TOP_WORKERS}. */
  topWorkers: WorkerReport[]
  /** At most {@link TOP_JOBS}. */
  topJobs: JobReport[]
  quarantinedNow: {
    /** Every quarantined job of every queue. */
    total: number
    /** The newest, at most {@link QUARANTINE_LISTED} per queue. */
    jobs: QuarantinedJob[]
  }
}

/** Workers listed in {@link Report.topWorkers}: enough to see a pattern, short enough for Slack. */
export const TOP_WORKERS = 10
/** Jobs listed in {@link Report.topJobs}. */
export const TOP_JOBS = 10
/** Quarantined jobs listed per queue in {@link Report.quarantinedNow}; the total counts them all. */
export const QUARANTINE_LISTED = 20
