/**
 * Scheduled reports: a timer that runs at the times schedule.ts computes, and the daemon's glue
 * that makes each report from the store and the running supervisor and sends it (deliver.ts).
 * The timer is the only one; it is injected, so tests drive the schedule with fake time.
 * @module
 */
import { backgroundTimers } from '../adapters/timers.js'
import type { LoadedConfig } from '../config/load.js'
import type { AnyEvent } from '../core/events.js'
import { coerceError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { TimerPort } from '../ports/clock.js'
import { type LongTimeout, setLongTimeout } from '../ports/clock.js'
import type { Store } from '../ports/store.js'
import { generateReport } from './collect.js'
import { deliverReport, type DeliveryOutcome } from './deliver.js'
import { nextRunAt, type ScheduleRule } from './schedule.js'
import type { PoolStrength, Report } from './types.js'

/** Options of {@link ReportScheduler}. */
export interface ReportSchedulerOptions {
  rule: ScheduleRule
  /** The clock of the schedule (epoch ms). */
  now: () => number
  /** Makes and sends one report; `dueAt` is the time it was due. */
  run: (dueAt: number) => Promise<void>
  /** A run that failed (the next one is still scheduled). */
  onError: (error: Error, dueAt: number) => void
  /** A run skipped because the one before was still going. */
  onSkip?: (dueAt: number) => void
  /** @defaultValue `backgroundTimers`: a pending report never keeps a process alive. */
  timers?: TimerPort
}

/**
 * Runs `run` at each time of the schedule, one run at a time: a run still going when the next is
 * due makes that one skip (and be reported), rather than pile up.
 * @example
 * ```ts
 * const s = new ReportScheduler({ rule: { every: 86_400_000, at: '09:00' }, now: clock.now, run, onError })
 * s.start()
 * // at shutdown
 * s.stop()
 * ```
 */
export class ReportScheduler {
  readonly #o: ReportSchedulerOptions
  readonly #timers: TimerPort
  #handle: LongTimeout | null = null
  #nextAt: number | null = null
  #running: Promise<void> | null = null
  #stopped = false

  constructor(o: ReportSchedulerOptions) {
    this.#o = o
    this.#timers = o.timers ?? backgroundTimers
  }

  /** When the next run is due, or null when stopped. */
  get nextAt(): number | null {
    return this.#nextAt
  }

  /** Arms the first run. Idempotent. */
  start(): void {
    if (this.#stopped || this.#nextAt !== null) return
    this.#arm(nextRunAt(this.#o.now(), this.#o.rule, null))
  }

  /** Cancels the next run; resolves once a run under way has finished. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#handle?.clear()
    this.#handle = null
    this.#nextAt = null
    await this.#running
  }

  #arm(at: number): void {
    this.#nextAt = at
    // A weekly or monthly report is further off than one timer takes: setLongTimeout re-arms.
    this.#handle = setLongTimeout(() => this.#fire(), at - this.#o.now(), this.#timers)
  }

  #fire(): void {
    this.#handle = null
    const due = this.#nextAt
    if (this.#stopped || due === null) return
    const now = this.#o.now()
    // Early (the clock moved differently from the timers): wait the rest.
    if (now < due) return this.#arm(due)
    if (this.#running) this.#o.onSkip?.(due)
    else {
      const run: Promise<void> = this.#o
        .run(due)
        .then(
          () => undefined,
          (e: unknown) => this.#o.onError(coerceError(e), due),
        )
        .finally(() => {
          if (this.#running === run) this.#running = null
        })
      this.#running = run
    }
    this.#arm(nextRunAt(now, this.#o.rule, due))
  }
}

/** What the daemon gives {@link startReportSchedule}. */
export interface ReportScheduleDeps {
  loaded: LoadedConfig
  store: Store
  /** Writes the events and incidents still buffered, so the report sees everything up to now. */
  flush: () => Promise<void>
  /** The pools' strength now (the supervisor's `listPools()`). */
  current: () => ReadonlyMap<string, PoolStrength>
  now: () => number
  logger: Logger
  /** Records an event (the daemon's `record`): a destination given up becomes `notifier:failed`. */
  record: (event: AnyEvent) => void
  /**
   * Claims the run due at `dueAt` for this agent; false when another agent of the fleet made one
   * less than `spacingMs` (half the period) before (the store's `claimChoreRun`), and then this
   * agent makes no report: every agent keeps the schedule, one of them makes each period's report.
   */
  claimRun: (dueAt: number, spacingMs: number) => Promise<boolean>
  /** @defaultValue the global fetch */
  fetch?: typeof fetch
  /**
   * Timers of the schedule and of the deliveries' time limits and retry waits.
   * @defaultValue `backgroundTimers` for the schedule, `nodeTimers` for deliveries under way
   */
  timers?: TimerPort
  /** Called with every report made and what became of its deliveries (tests watch this). */
  onReport?: (report: Report, outcomes: DeliveryOutcome[]) => void
}

/** A running schedule. */
export interface ReportSchedule {
  /** When the next report is due. */
  readonly nextAt: number | null
  /** Stops the schedule and cancels deliveries under way. */
  stop(): Promise<void>
}

/**
 * Starts `reports.schedule` of the config, or returns null when it has none. Each run flushes the
 * store's buffer, makes the report of `since` (default `every`) ending now, and sends it to the
 * destinations the schedule names, in the background.
 * @example
 * ```ts
 * const reports = startReportSchedule({ loaded, store, flush: () => writer.flush(), current, now, logger, record })
 * // at shutdown
 * await reports?.stop()
 * ```
 */
export function startReportSchedule(d: ReportScheduleDeps): ReportSchedule | null {
  const { config } = d.loaded
  const schedule = config.reports.schedule
  if (!schedule) return null
  const delivery = {
    format: schedule.format,
    locale: schedule.locale ?? config.notifications.locale,
    slack: schedule.slack,
    webhooks: schedule.webhooks,
  }
  const destinations =
    (delivery.slack && config.notifications.slack ? 1 : 0) +
    (delivery.webhooks ? config.notifications.webhooks.length : 0)
  if (destinations === 0) {
    d.logger.warn(
      'reports.schedule has no destination (notifications.slack or notifications.webhooks, enabled by reports.schedule.slack / .webhooks): reports are made and logged only',
    )
  }
  const abort = new AbortController()
  const deliveries = new Set<Promise<unknown>>()
  const scheduler = new ReportScheduler({
    rule: { every: schedule.every, at: schedule.at },
    now: d.now,
    timers: d.timers,
    run: async (dueAt) => {
      if (!(await d.claimRun(dueAt, schedule.every / 2))) {
        d.logger.debug({ dueAt }, 'report made by another agent of the fleet')
        return
      }
      await d.flush()
      const report = await generateReport({
        store: d.store,
        config,
        now: d.now(),
        sinceMs: schedule.since ?? schedule.every,
        current: d.current(),
      })
      d.logger.info(
        {
          dueAt,
          from: report.period.from,
          to: report.period.to,
          incidents: report.summary.incidents,
          availability: report.summary.availability,
        },
        'report made',
      )
      // Delivery goes on in the background: a slow or failing destination never holds anything up.
      const delivering = deliverReport({
        report,
        delivery,
        notifications: config.notifications,
        configFile: d.loaded.file,
        signal: abort.signal,
        fetch: d.fetch,
        timers: d.timers,
        now: d.now,
        onFailure: (f) =>
          d.record({
            type: 'notifier:failed',
            at: d.now(),
            severity: 'warning',
            message: `report to ${f.notifier} failed after ${f.attempts} attempts: ${f.error}`,
            pool: null,
            workerId: null,
            incidentId: null,
            data: f,
          }),
      }).then((outcomes) => {
        const sent = outcomes.filter((x) => x.ok).map((x) => x.destination)
        if (sent.length > 0) d.logger.info({ destinations: sent }, 'report sent')
        d.onReport?.(report, outcomes)
      })
      deliveries.add(delivering)
      void delivering.finally(() => deliveries.delete(delivering))
    },
    onError: (err, dueAt) => d.logger.error({ err, dueAt }, 'could not make the scheduled report'),
    onSkip: (dueAt) =>
      d.logger.warn({ dueAt }, 'scheduled report skipped: the previous one is still being made'),
  })
  scheduler.start()
  d.logger.info({ nextAt: scheduler.nextAt }, 'reports scheduled')
  return {
    get nextAt() {
      return scheduler.nextAt
    },
    async stop() {
      await scheduler.stop()
      abort.abort()
      await Promise.allSettled([...deliveries])
    },
  }
}
