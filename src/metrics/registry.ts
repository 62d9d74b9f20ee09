/**
 * Shepherd's Prometheus metrics, on a prom-client registry of their own (never the global one, so
 * two daemons in one process, as in tests, keep apart).
 *
 * - Gauges (workers, health, CPU, memory, queues, availability) and the counters the supervisor
 *   already keeps (restarts) are set at scrape time by prom-client `collect()` hooks, from one
 *   {@link FleetSnapshot} per scrape (fleet-gauges.ts).
 * - Counters and histograms of things that happen (incidents, detection latency, time to recover,
 *   jobs, quarantines, notifier failures) are fed as they happen: {@link ShepherdMetrics.observeEvent}
 *   with every event, {@link ShepherdMetrics.observeJobs} with the jobs of every worker's message.
 *
 * Labels are bounded: pools, queues, causes, states and notifiers come from the config or from
 * closed lists, and worker ids (per-worker gauges only) from replicas.max + spares per pool; every
 * series carries the agent's `node` (one value per agent). No job id or incident id is ever a
 * label. docs/metrics.md lists every metric.
 * @module
 */
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'

import type { AnyEvent } from '../core/events.js'
import type { Incident } from '../core/incident.js'
import { ANOMALY_CAUSES, type AnomalyCause } from '../core/restart-policy.js'
import { registerFleetGauges } from './fleet-gauges.js'
import type { FleetSnapshot, SnapshotSource } from './snapshot.js'

/**
 * Every metric of Shepherd's own starts with this. prom-client's default process metrics keep
 * their standard names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`), which stock
 * dashboards and alerts for Node.js processes expect.
 */
export const METRIC_PREFIX = 'shepherd_'

/**
 * Buckets of the detection latency, seconds: a crash is seen from the exit event, within a
 * millisecond or two on an idle host and tens of ms on a loaded one; the upper buckets catch a
 * supervisor whose event loop was blocked.
 */
export const DETECTION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Buckets of the time to recover, seconds, from 5 ms (a warm spare taking a crashed worker's place)
 * to 5 min (retries with backoff up to max_retry_delay, or a long stop_timeout): roughly ×2.5 per
 * step so that p50 and p95 can be read to within a bucket anywhere in that range.
 */
export const RECOVERY_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 180, 300,
]

/** Buckets of job run time, seconds: from 1 ms handlers to 10-minute batch jobs. */
export const JOB_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600]

const CAUSES = Object.keys(ANOMALY_CAUSES) as AnomalyCause[]

/** What the HTTP route needs: the text and its content type. */
export interface MetricsEndpoint {
  /** The Prometheus text exposition content type (version 0.0.4). */
  readonly contentType: string
  /** Collects the scrape-time gauges and renders every metric. */
  render(): Promise<string>
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** The fleet at scrape time (the daemon passes {@link takeFleetSnapshot} over its supervisor and store). */
  snapshot: SnapshotSource
  /** Shepherd's version, the label of `shepherd_supervisor_info`. */
  version: string
  /**
   * The agent's node name (`node.name`, `SHEPHERD_NODE` or the host name): a `node` label on every
   * series, prom-client's default metrics included, so that the agents of a fleet scraped into one
   * Prometheus keep apart even when its targets carry no label of their own.
   * @defaultValue none: no `node` label (the daemon always gives one)
   */
  node?: string
  /**
   * prom-client's default process metrics (CPU, memory, event loop lag, GC, handles), under their
   * standard names (`process_*`, `nodejs_*`).
   * @defaultValue true. Tests of the exact text turn them off: their values change on every scrape.
   */
  defaultMetrics?: boolean
  /**
   * Pools and their queues, so that the job counters show a zero from the first scrape (a series
   * that appears only with its first job hides that first increase from `rate()`).
   * @defaultValue none: job counters appear with their first job
   */
  pools?: readonly { name: string; queue: string | null }[]
  /**
   * Every queue of the config, so that the quarantine and dead-letter counters show a zero from
   * the first scrape.
   * @defaultValue the pools' queues
   */
  queues?: readonly string[]
  /**
   * Every notification destination (the notifiers' names), so that
   * `shepherd_notifier_failures_total` shows a zero for each from the first scrape.
   * @defaultValue none: a destination's series appears with its first failure
   */
  notifiers?: readonly string[]
}

/**
 * Shepherd's metrics and the registry that renders them. Build it with {@link createMetrics}.
 */
export class ShepherdMetrics implements MetricsEndpoint {
  /** The registry: every metric of this instance, nothing else. */
  readonly registry = new Registry()
  readonly #snapshot: SnapshotSource
  /** The snapshot of the scrape under way: every collect hook of one scrape shares it. */
  #pending: Promise<FleetSnapshot> | null = null

  readonly #opened: Counter<'pool' | 'cause'>
  readonly #recovered: Counter<'pool' | 'cause'>
  readonly #escalated: Counter<'pool' | 'cause'>
  readonly #detection: Histogram<'cause'>
  readonly #recovery: Histogram<'pool' | 'cause'>
  readonly #processed: Counter<'pool' | 'queue'>
  readonly #failed: Counter<'pool' | 'queue'>
  readonly #jobDuration: Histogram<'queue'>
  readonly #quarantined: Counter<'queue'>
  readonly #deadLettered: Counter<'queue'>
  readonly #notifierFailures: Counter<'notifier'>
  readonly #storeDropped: Counter<'kind'>

  constructor(o: MetricsOptions) {
    this.#snapshot = o.snapshot
    // The registry's default labels come last on every series it renders, the default metrics too.
    if (o.node !== undefined) this.registry.setDefaultLabels({ node: o.node })
    const registers = [this.registry]
    const snap = () => this.#current()
    const name = (n: string) => `${METRIC_PREFIX}${n}`

    registerFleetGauges(registers, snap, o.version, name)

    this.#opened = new Counter({
      name: name('incidents_opened_total'),
      help: 'Incidents opened (recoveries started), by pool and cause.',
      labelNames: ['pool', 'cause'] as const,
      registers,
    })
    this.#recovered = new Counter({
      name: name('incidents_recovered_total'),
      help: 'Incidents that ended with the worker recovered, by pool and cause.',
      labelNames: ['pool', 'cause'] as const,
      registers,
    })
    this.#escalated = new Counter({
      name: name('incidents_escalated_total'),
      help: 'Incidents that ended escalated (retries or restart budget exhausted; the worker is failed), by pool and cause.',
      labelNames: ['pool', 'cause'] as const,
      registers,
    })
    this.#detection = new Histogram({
      name: name('detection_latency_seconds'),
      help: 'Time from a fault to its detection, in seconds, where it is known: for a crash, from the process exit as the kernel reported it; for a hang, a stopped or a D-state worker, from its last sign of health (an upper bound).',
      labelNames: ['cause'] as const,
      buckets: DETECTION_BUCKETS,
      registers,
    })
    this.#recovery = new Histogram({
      name: name('recovery_duration_seconds'),
      help: 'Time to recover (MTTR): from detection to the replacement verified healthy, in seconds, for recovered incidents.',
      labelNames: ['pool', 'cause'] as const,
      buckets: RECOVERY_BUCKETS,
      registers,
    })
    this.#processed = new Counter({
      name: name('jobs_processed_total'),
      help: 'Jobs a worker finished, successfully or not (failed ones are also in shepherd_jobs_failed_total).',
      labelNames: ['pool', 'queue'] as const,
      registers,
    })
    this.#failed = new Counter({
      name: name('jobs_failed_total'),
      help: "Jobs whose handler failed (threw or ran past the queue's timeout).",
      labelNames: ['pool', 'queue'] as const,
      registers,
    })
    this.#jobDuration = new Histogram({
      name: name('job_duration_seconds'),
      help: "How long job handlers ran, in seconds (the worker's own measure, else delivery to answer).",
      labelNames: ['queue'] as const,
      buckets: JOB_BUCKETS,
      registers,
    })
    this.#quarantined = new Counter({
      name: name('jobs_quarantined_total'),
      help: 'Jobs quarantined after being in flight in poison_threshold worker crashes or hangs.',
      labelNames: ['queue'] as const,
      registers,
    })
    this.#deadLettered = new Counter({
      name: name('jobs_dead_lettered_total'),
      help: 'Jobs dead-lettered after their handler failed max_attempts times.',
      labelNames: ['queue'] as const,
      registers,
    })
    this.#notifierFailures = new Counter({
      name: name('notifier_failures_total'),
      help: 'Notifications (and scheduled reports) given up after their retries, by destination.',
      labelNames: ['notifier'] as const,
      registers,
    })

    // Every series a configured pool, queue or destination can have exists from the start at 0: a
    // series that appears with its first increment hides that increment from increase() and
    // rate(), and an alert on the first escalation would never fire.
    for (const p of o.pools ?? []) {
      for (const cause of CAUSES) {
        for (const c of [this.#opened, this.#recovered, this.#escalated]) c.inc({ pool: p.name, cause }, 0)
      }
      if (p.queue === null) continue
      this.#processed.inc({ pool: p.name, queue: p.queue }, 0)
      this.#failed.inc({ pool: p.name, queue: p.queue }, 0)
    }
    const queues = o.queues ?? (o.pools ?? []).flatMap((p) => (p.queue === null ? [] : [p.queue]))
    for (const queue of new Set(queues)) {
      this.#quarantined.inc({ queue }, 0)
      this.#deadLettered.inc({ queue }, 0)
    }
    this.#storeDropped = new Counter({
      name: name('store_dropped_total'),
      help: 'Events and incidents dropped because the store took no writes for longer than their bound in memory, counted at store:recovered.',
      labelNames: ['kind'] as const,
      registers,
    })
    for (const kind of ['event', 'incident']) this.#storeDropped.inc({ kind }, 0)
    for (const notifier of new Set(o.notifiers ?? [])) this.#notifierFailures.inc({ notifier }, 0)
    if (o.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry })
  }

  /** The Prometheus text exposition content type. */
  get contentType(): string {
    return this.registry.contentType
  }

  /** Every metric as Prometheus text; the scrape-time gauges read one fresh snapshot. */
  render(): Promise<string> {
    return this.registry.metrics()
  }

  /**
   * Feeds the event counters and histograms. Give it every event (the daemon does, in `record()`);
   * events it does not count are ignored. Never throws.
   */
  observeEvent(e: AnyEvent): void {
    try {
      switch (e.type) {
        case 'incident:opened': {
          const inc = e.data.incident
          this.#opened.inc({ pool: inc.pool, cause: inc.cause })
          // Only an exit dates the fault; a hang, a stop or a D state is bounded by how long the
          // worker had been silent; a memory reading or a probe is known only when detected.
          const latency = detectionLatencyMs(inc)
          if (latency !== null) this.#detection.observe({ cause: inc.cause }, seconds(latency))
          break
        }
        case 'incident:recovered': {
          const inc = e.data.incident
          this.#recovered.inc({ pool: inc.pool, cause: inc.cause })
          if (inc.recoveredAt !== null) {
            this.#recovery.observe(
              { pool: inc.pool, cause: inc.cause },
              seconds(inc.recoveredAt - inc.detectedAt),
            )
          }
          break
        }
        case 'incident:escalated':
          this.#escalated.inc({ pool: e.data.incident.pool, cause: e.data.incident.cause })
          break
        case 'store:recovered':
          this.#storeDropped.inc({ kind: 'event' }, e.data.dropped.events)
          this.#storeDropped.inc({ kind: 'incident' }, e.data.dropped.incidents)
          break
        case 'job:quarantined':
          this.#quarantined.inc({ queue: e.data.queue })
          break
        case 'job:dead-lettered':
          this.#deadLettered.inc({ queue: e.data.queue })
          break
        case 'notifier:failed':
          this.#notifierFailures.inc({ notifier: e.data.notifier })
          break
        default:
          break
      }
    } catch {
      // A malformed event (a label prom-client refuses) must not reach the daemon's record().
    }
  }

  /**
   * Counts the jobs of a pool's worker that finished (`ok`) or failed, and observes the run times
   * known (`ms`, one per job whose run time is known). The daemon passes it as the supervisor's
   * `onJobs` hook, once per message of a worker's: a counter moves once for hundreds of jobs.
   */
  observeJobs(pool: string, queue: string, ok: number, failed: number, ms: readonly number[]): void {
    const labels = { pool, queue }
    this.#processed.inc(labels, ok + failed)
    if (failed > 0) this.#failed.inc(labels, failed)
    const byQueue = { queue }
    for (const m of ms) if (Number.isFinite(m)) this.#jobDuration.observe(byQueue, seconds(m))
  }

  /**
   * The snapshot of this scrape. prom-client starts every metric's collect hook in one synchronous
   * loop, so they all get the promise the first one created; it is dropped once settled, and the
   * next scrape takes a fresh one.
   */
  #current(): Promise<FleetSnapshot> {
    if (this.#pending) return this.#pending
    const p = this.#snapshot()
    this.#pending = p
    const clear = () => {
      if (this.#pending === p) this.#pending = null
    }
    p.then(clear, clear)
    return p
  }
}

/**
 * Builds Shepherd's metrics.
 * @example
 * ```ts
 * const metrics = createMetrics({
 *   snapshot: () => takeFleetSnapshot(supervisor, store.jobs, clock.now(), configuredQueues(config)),
 *   version: '0.1.0',
 * })
 * onEvent((e) => metrics.observeEvent(e))
 * const text = await metrics.render()
 * ```
 */
export function createMetrics(o: MetricsOptions): ShepherdMetrics {
  return new ShepherdMetrics(o)
}

/**
 * The detection latency of an incident, ms, where a bound of the fault's time is known: the exit of
 * a crashed process, the silence of a hung one; null otherwise.
 */
export function detectionLatencyMs(inc: Incident): number | null {
  if (inc.exit !== null) return inc.detectedAt - inc.exit.at
  if (inc.silentMs !== undefined && inc.silentMs !== null) return inc.silentMs
  return null
}

/** Milliseconds to seconds; a negative span (a clock that stepped) counts as 0. */
function seconds(ms: number): number {
  return Math.max(0, ms) / 1000
}
