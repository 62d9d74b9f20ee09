/**
 * Health: turns one sample of a worker into a report (each indicator's value and verdict), an
 * explained score 0-100, and the anomaly that makes it a recovery target, if any.
 *
 * The score is 100 minus the penalty of every indicator that is not healthy:
 *
 * | indicator    | warning | unhealthy |
 * |--------------|---------|-----------|
 * | alive        |     –   |    100    |
 * | responsive   |    30   |    100    |
 * | zombies      |    20   |     60    |
 * | cpu          |    20   |      –    |
 * | memory       |    20   |     60    |
 * | memory_trend |    15   |     40    |
 * | error_rate   |    20   |     60    |
 * | probe        |    20   |     60    |
 * | backlog      |    15   |      –    |
 * | throughput   |    15   |      –    |
 * | external     |    20   |     60    |
 * | restarts     |    15   |     40    |
 *
 * floored at 0. A dead or hung worker scores 0, a healthy one 100, and the indicator with the
 * largest penalty is the worst one. docs/health.md prints this table.
 * @module
 */
import { judgeMemoryTrend, type MemoryHistory, NO_MEMORY_HISTORY, recordRss } from './memory-trend.js'
import type { AnomalyCause } from './restart-policy.js'

export const INDICATORS = [
  'alive',
  'responsive',
  'zombies',
  'cpu',
  'memory',
  'memory_trend',
  'error_rate',
  'probe',
  'backlog',
  'throughput',
  'external',
  'restarts',
] as const
export type IndicatorName = (typeof INDICATORS)[number]

export type Verdict = 'healthy' | 'warning' | 'unhealthy'
export type IndicatorVerdict = Verdict | 'n/a'

export const PENALTIES: { [I in IndicatorName]: { warning: number; unhealthy: number } } = {
  alive: { warning: 0, unhealthy: 100 },
  responsive: { warning: 30, unhealthy: 100 },
  zombies: { warning: 20, unhealthy: 60 },
  cpu: { warning: 20, unhealthy: 20 },
  memory: { warning: 20, unhealthy: 60 },
  memory_trend: { warning: 15, unhealthy: 40 },
  error_rate: { warning: 20, unhealthy: 60 },
  probe: { warning: 20, unhealthy: 60 },
  backlog: { warning: 15, unhealthy: 15 },
  throughput: { warning: 15, unhealthy: 15 },
  external: { warning: 20, unhealthy: 60 },
  restarts: { warning: 15, unhealthy: 40 },
}

/**
 * Restarts this recent lower a worker's score: a worker that restarted a moment ago, or keeps
 * restarting, is not "all healthy" however well its new process looks. Ten minutes: long enough to
 * see a flapping worker whatever its backoff, short enough that one crash fades the same shift.
 */
export const RECENT_RESTARTS_WINDOW_MS = 600_000
/** Restarts within {@link RECENT_RESTARTS_WINDOW_MS} from which the indicator is unhealthy (a flapping worker). */
export const FLAPPING_RESTARTS = 3

/** The restart times (oldest first) still within {@link RECENT_RESTARTS_WINDOW_MS} of `now`. */
export function recentRestartTimes(times: readonly number[], now: number): number[] {
  return times.filter((t) => now - t < RECENT_RESTARTS_WINDOW_MS && t <= now)
}

export interface Indicator {
  name: IndicatorName
  value: number | string | null
  verdict: IndicatorVerdict
  detail: string
  penalty: number
}

export interface HealthReport {
  at: number
  verdict: Verdict
  score: number
  /** The indicator with the largest penalty, or null when healthy. */
  worst: IndicatorName | null
  indicators: Indicator[]
}

export interface ProbeState {
  name: string
  /** Consecutive failures so far. */
  failures: number
  threshold: number
  lastDetail: string
}

export interface HealthSample {
  at: number
  /** Names the process sampled, unique and never reused: the memory trend keeps one history per process. */
  process: string
  alive: boolean
  /** /proc state letter of the main process (R, S, D, T, t, Z), null when unknown. */
  procState: string | null
  /** How long the process has been in a stopped (T/t) or uninterruptible (D) state, ms. */
  stuckForMs: number
  /** Age of the last SDK heartbeat; null when the worker does not use the SDK. */
  heartbeatAgeMs: number | null
  zombies: number
  /** Percent of one core used by the process tree since the previous sample; null on the first. */
  cpuPercent: number | null
  /** Resident memory of the process tree, MiB. */
  rssMb: number | null
  /** Outcomes reported through the SDK within the error window. */
  outcomes: { total: number; failed: number }
  probes: ProbeState[]
  /** Waiting jobs of the pool's queue; null until the pool has a queue. */
  backlog: number | null
  /** Jobs per minute against the recent baseline; null until the pool has a queue. */
  throughput: { perMinute: number; baseline: number } | null
  /** A verdict from an outside monitor (the signals API), or null. */
  external: { status: 'degraded' | 'unhealthy'; reason: string; source: string } | null
  /** Restarts of the worker within {@link RECENT_RESTARTS_WINDOW_MS}. */
  recentRestarts: number
}

export interface HealthThresholds {
  cpu_percent: number
  memory_mb: number
  memory_limit_mb: number
  /** ms; 0 or null: the memory trend is off. */
  memory_trend_horizon: number | null
  error_rate: number
  error_min_samples: number
  queue_size: number
  zombies: number
  consecutive_checks: number
}

/** What the assessor remembers between checks of one worker. */
export interface HealthMemory {
  cpuOver: number
  memoryOver: number
  zombieChecks: number
  /** Recent resident memory of the process, for the memory trend. */
  rss: MemoryHistory
}

export const FRESH_MEMORY: HealthMemory = {
  cpuOver: 0,
  memoryOver: 0,
  zombieChecks: 0,
  rss: NO_MEMORY_HISTORY,
}

export interface Anomaly {
  cause: AnomalyCause
  detail: string
  /**
   * How long the worker had shown no sign of health when this was detected, where that is known:
   * for a hang, the age of its last heartbeat; for a process stopped or in uninterruptible sleep,
   * the time since the last look that saw it running. The fault came within that span, so it bounds
   * the time from the fault to its detection from above.
   */
  silentMs?: number
}

export interface Assessment {
  report: HealthReport
  memory: HealthMemory
  /** Set when the worker is a recovery target. */
  anomaly: Anomaly | null
}

export function assessHealth(
  s: HealthSample,
  prev: HealthMemory,
  t: HealthThresholds,
  hangTimeoutMs: number,
): Assessment {
  const indicators: Indicator[] = []
  const anomalies: Anomaly[] = []
  const add = (name: IndicatorName, value: Indicator['value'], verdict: IndicatorVerdict, detail: string) => {
    const penalty = verdict === 'warning' || verdict === 'unhealthy' ? PENALTIES[name][verdict] : 0
    indicators.push({ name, value, verdict, detail, penalty })
  }

  if (!s.alive) {
    add('alive', 'no', 'unhealthy', 'the process is not running')
    return { report: summarise(s.at, indicators), memory: FRESH_MEMORY, anomaly: null }
  }
  add('alive', 'yes', 'healthy', 'running')

  const hang = detectHang(s, hangTimeoutMs)
  if (hang) {
    add('responsive', s.heartbeatAgeMs ?? s.procState, 'unhealthy', hang.detail)
    anomalies.push(hang)
  } else if (s.procState === 'T' || s.procState === 't' || s.procState === 'D') {
    add('responsive', s.procState, 'warning', `${stateName(s.procState)} for ${Math.round(s.stuckForMs)} ms`)
  } else if (s.heartbeatAgeMs !== null && s.heartbeatAgeMs > hangTimeoutMs / 2) {
    add('responsive', s.heartbeatAgeMs, 'warning', `last heartbeat ${Math.round(s.heartbeatAgeMs)} ms ago`)
  } else {
    add(
      'responsive',
      s.heartbeatAgeMs ?? s.procState,
      'healthy',
      s.heartbeatAgeMs === null
        ? `process state ${s.procState ?? '?'}`
        : `heartbeat ${Math.round(s.heartbeatAgeMs)} ms ago`,
    )
  }

  const zombieChecks = s.zombies >= t.zombies ? prev.zombieChecks + 1 : 0
  if (zombieChecks >= 2) {
    const detail = `${s.zombies} zombie processes in the tree on ${zombieChecks} checks in a row`
    add('zombies', s.zombies, 'unhealthy', detail)
    anomalies.push({ cause: 'zombies', detail })
  } else if (s.zombies > 0) {
    add(
      'zombies',
      s.zombies,
      'warning',
      `${s.zombies} zombie process${s.zombies === 1 ? '' : 'es'} in the tree`,
    )
  } else {
    add('zombies', 0, 'healthy', 'none')
  }

  let cpuOver = 0
  if (s.cpuPercent === null) {
    add('cpu', null, 'n/a', 'first sample')
  } else {
    cpuOver = s.cpuPercent > t.cpu_percent ? prev.cpuOver + 1 : 0
    const value = round1(s.cpuPercent)
    if (cpuOver >= t.consecutive_checks)
      add('cpu', value, 'warning', `${value}% > ${t.cpu_percent}% for ${cpuOver} checks`)
    else add('cpu', value, 'healthy', `${value}% of one core`)
  }

  let memoryOver = 0
  const horizon = t.memory_trend_horizon ?? 0
  const rss =
    horizon <= 0
      ? NO_MEMORY_HISTORY
      : s.rssMb === null
        ? prev.rss
        : recordRss(prev.rss, s.process, s.at, s.rssMb)
  if (s.rssMb === null) {
    add('memory', null, 'n/a', 'not sampled')
  } else {
    const value = round1(s.rssMb)
    memoryOver = s.rssMb > t.memory_mb ? prev.memoryOver + 1 : 0
    if (s.rssMb > t.memory_limit_mb) {
      const detail = `${value} MiB > limit ${t.memory_limit_mb} MiB`
      add('memory', value, 'unhealthy', detail)
      anomalies.push({ cause: 'memory', detail })
    } else if (memoryOver >= t.consecutive_checks) {
      add('memory', value, 'warning', `${value} MiB > ${t.memory_mb} MiB for ${memoryOver} checks`)
    } else {
      add('memory', value, 'healthy', `${value} MiB`)
    }
  }

  if (horizon <= 0) add('memory_trend', null, 'n/a', 'off (memory_trend_horizon)')
  else if (s.rssMb === null) add('memory_trend', null, 'n/a', 'not sampled')
  else if (s.rssMb > t.memory_limit_mb) add('memory_trend', null, 'n/a', 'past the limit (see memory)')
  else {
    const trend = judgeMemoryTrend(rss, t.memory_limit_mb, horizon)
    add('memory_trend', trend.rate, trend.verdict, trend.detail)
    if (trend.verdict === 'unhealthy') anomalies.push({ cause: 'memory-trend', detail: trend.detail })
  }

  const { total, failed } = s.outcomes
  if (total < t.error_min_samples) {
    add(
      'error_rate',
      total === 0 ? null : round3(failed / total),
      'n/a',
      `${total} outcomes, fewer than ${t.error_min_samples}`,
    )
  } else {
    const rate = failed / total
    const detail = `${failed} of ${total} failed (${round1(rate * 100)}%)`
    if (rate > t.error_rate) {
      add('error_rate', round3(rate), 'unhealthy', `${detail} > ${round1(t.error_rate * 100)}%`)
      anomalies.push({ cause: 'error-rate', detail: `error rate ${detail} > ${round1(t.error_rate * 100)}%` })
    } else {
      add('error_rate', round3(rate), 'healthy', detail)
    }
  }

  if (s.probes.length === 0) {
    add('probe', null, 'n/a', 'no probes')
  } else {
    const failing = s.probes.filter((p) => p.failures >= p.threshold)
    const flaky = s.probes.filter((p) => p.failures > 0 && p.failures < p.threshold)
    if (failing.length > 0) {
      const detail = failing.map((p) => `${p.name} failed ${p.failures}× (${p.lastDetail})`).join('; ')
      add('probe', failing.length, 'unhealthy', detail)
      anomalies.push({ cause: 'probe', detail })
    } else if (flaky.length > 0) {
      add('probe', flaky.length, 'warning', flaky.map((p) => `${p.name} failed ${p.failures}×`).join('; '))
    } else {
      add('probe', 0, 'healthy', `${s.probes.length} passing`)
    }
  }

  if (s.backlog === null) add('backlog', null, 'n/a', 'no queue')
  else if (s.backlog > t.queue_size)
    add('backlog', s.backlog, 'warning', `${s.backlog} waiting > ${t.queue_size}`)
  else add('backlog', s.backlog, 'healthy', `${s.backlog} waiting`)

  if (s.throughput === null) add('throughput', null, 'n/a', 'no queue')
  else {
    const { perMinute, baseline } = s.throughput
    const dropped = (s.backlog ?? 0) > 0 && baseline > 0 && perMinute < baseline / 2
    add(
      'throughput',
      round1(perMinute),
      dropped ? 'warning' : 'healthy',
      `${round1(perMinute)}/min (baseline ${round1(baseline)}/min)`,
    )
  }

  if (s.external === null) add('external', null, 'n/a', 'no outside signal')
  else {
    const detail = `${s.external.source}: ${s.external.reason}`
    if (s.external.status === 'unhealthy') {
      add('external', s.external.status, 'unhealthy', detail)
      anomalies.push({ cause: 'external', detail: `reported unhealthy by ${detail}` })
    } else {
      add('external', s.external.status, 'warning', detail)
    }
  }

  indicators.push(restartsIndicator(s.recentRestarts))

  // The most severe anomaly wins: a hang is handled before a memory leak.
  const anomaly = anomalies[0] ?? null
  return {
    report: summarise(s.at, indicators),
    memory: { cpuOver, memoryOver, zombieChecks, rss },
    anomaly,
  }
}

/**
 * A worker is hung when its SDK heartbeats stop for the hang timeout, or when its process stays
 * stopped (SIGSTOP, state T) or in uninterruptible sleep (D) for that long. The watchdog calls this
 * between full checks, so a hang is seen within the hang timeout whatever check_interval is.
 */
export function detectHang(
  s: Pick<HealthSample, 'heartbeatAgeMs' | 'procState' | 'stuckForMs'>,
  hangTimeoutMs: number,
): Anomaly | null {
  if ((s.procState === 'T' || s.procState === 't') && s.stuckForMs >= hangTimeoutMs) {
    return {
      cause: 'stopped',
      detail: `process stopped (state ${s.procState}) for ${Math.round(s.stuckForMs)} ms`,
    }
  }
  if (s.procState === 'D' && s.stuckForMs >= hangTimeoutMs) {
    return {
      cause: 'uninterruptible',
      detail: `uninterruptible sleep (state D) for ${Math.round(s.stuckForMs)} ms`,
    }
  }
  if (s.heartbeatAgeMs !== null && s.heartbeatAgeMs >= hangTimeoutMs) {
    return {
      cause: 'hang',
      detail: `no heartbeat for ${Math.round(s.heartbeatAgeMs)} ms (hang_timeout ${hangTimeoutMs} ms)`,
    }
  }
  return null
}

/**
 * The worst indicator of the process itself (every one but `restarts`, which is its slot's history)
 * that is not healthy, or null: what makes a running worker degraded.
 */
export function worstOfProcess(report: HealthReport): Indicator | null {
  let worst: Indicator | null = null
  for (const i of report.indicators) {
    if (i.name === 'restarts' || (i.verdict !== 'warning' && i.verdict !== 'unhealthy')) continue
    if (!worst || i.penalty > worst.penalty) worst = i
  }
  return worst
}

function restartsIndicator(n: number): Indicator {
  const verdict: Verdict = n >= FLAPPING_RESTARTS ? 'unhealthy' : n > 0 ? 'warning' : 'healthy'
  return {
    name: 'restarts',
    value: n,
    verdict,
    detail: `${n} restart${n === 1 ? '' : 's'} in the last ${RECENT_RESTARTS_WINDOW_MS / 60_000} min`,
    penalty: verdict === 'healthy' ? 0 : PENALTIES.restarts[verdict],
  }
}

/**
 * The report of a process that has just replaced a sick one, until its first check: it runs, and
 * its slot's recent restarts count against it.
 */
export function restartedReport(at: number, recentRestarts: number): HealthReport {
  return summarise(at, [
    { name: 'alive', value: 'yes', verdict: 'healthy', detail: 'running', penalty: 0 },
    restartsIndicator(recentRestarts),
  ])
}

/** A report for a worker with no process (exited, failed, waiting to restart). */
export function deadReport(at: number, detail: string): HealthReport {
  return summarise(at, [
    { name: 'alive', value: 'no', verdict: 'unhealthy', detail, penalty: PENALTIES.alive.unhealthy },
  ])
}

/** A report for a worker the watchdog found hung: only responsiveness is known, and it is fatal. */
export function hungReport(at: number, value: number | string | null, detail: string): HealthReport {
  return summarise(at, [
    { name: 'alive', value: 'yes', verdict: 'healthy', detail: 'running', penalty: 0 },
    { name: 'responsive', value, verdict: 'unhealthy', detail, penalty: PENALTIES.responsive.unhealthy },
  ])
}

function summarise(at: number, indicators: Indicator[]): HealthReport {
  let penalty = 0
  let worst: Indicator | null = null
  for (const i of indicators) {
    penalty += i.penalty
    if (i.penalty > 0 && (!worst || i.penalty > worst.penalty)) worst = i
  }
  const verdict: Verdict = indicators.some((i) => i.verdict === 'unhealthy')
    ? 'unhealthy'
    : indicators.some((i) => i.verdict === 'warning')
      ? 'warning'
      : 'healthy'
  return { at, verdict, score: Math.max(0, 100 - penalty), worst: worst?.name ?? null, indicators }
}

function stateName(s: string): string {
  return s === 'D' ? 'uninterruptible sleep' : 'stopped'
}

function round1(n: number): number {
  return Math.round(n * 10) / 10
}
function round3(n: number): number {
  return Math.round(n * 1000) / 1000
}
