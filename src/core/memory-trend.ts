/**
 * Memory trend: whether a worker's resident memory grows steadily toward its limit, and when it
 * would get there. A leak is restarted (gracefully) before it reaches the limit; memory that rises
 * and falls with the work, noise around a level, and slow drifts are not.
 *
 * From the last {@link TREND_POINTS} samples of one process:
 * 1. **the run**: the longest recent stretch of at least {@link TREND_MIN_POINTS} samples that
 *    climbs steadily: Kendall's τ ≥ {@link STEADY_TAU} (nearly every later sample above every
 *    earlier one) and a straight-line fit with R² ≥ {@link STRAIGHT_R2} (so a flat stretch before
 *    a leak does not water its rate down);
 * 2. **its rate**: the Theil–Sen slope of the run (the median of its pairwise slopes: one odd
 *    sample does not move it);
 * 3. **not work**: memory that has been higher earlier in the process's life (by more than a
 *    quarter of the run's rise) and came back down rises and falls with its work;
 * 4. **enough**: the run rose at least {@link MIN_RISE_MB} MiB and 2% of the limit (less is noise);
 * 5. **when**: the limit is reached, at this rate, from the last sample, in `limit in`. A run is
 *    acted on (unhealthy, a recovery) once `limit in` is within the horizon and the run has come
 *    at least {@link ACT_AT_SHARE} of the way from where it started to the limit: a rise that
 *    stops short of that is not believed yet. Otherwise it is a warning while the limit is within
 *    {@link WARN_HORIZONS} horizons, and healthy beyond.
 *
 * Pure: times are the samples' own.
 * @module
 */

/** One sample of a process's resident memory. */
export interface MemoryPoint {
  at: number
  rssMb: number
}

/** What the trend remembers of one process between checks; bounded. */
export interface MemoryHistory {
  /** The process the points belong to (HealthSample.process); another process starts afresh. */
  process: string | null
  /** Its last samples, oldest first, at strictly increasing times; at most {@link TREND_POINTS}. */
  points: readonly MemoryPoint[]
  /** The highest sample of this process that has left `points`, or null. */
  earlierHighMb: number | null
}

export const NO_MEMORY_HISTORY: MemoryHistory = { process: null, points: [], earlierHighMb: null }

/**
 * Samples the trend is fitted on. A run is acted on once it has come 40% of the way to the limit,
 * so the longest run (the window) bounds how far ahead a leak can be restarted: 1.5× the window.
 * Twenty: at the default check_interval (30 s) a window of 9.5 minutes, so the default horizon
 * (5 min) is what binds; at 1 s, a leak is restarted up to about 28 s before the limit. The cost
 * is twenty pairs of numbers per worker and a few thousand comparisons per check.
 */
export const TREND_POINTS = 20
/** Fewest samples in a run: three intervals of growth in a row. */
export const TREND_MIN_POINTS = 4
/** Kendall's τ of a run (ties aside): at 0.8, nine of ten pairs of samples rise. */
export const STEADY_TAU = 0.8
/** R² of a straight line through a run: a leak climbs straight; a flat stretch then a climb does not. */
export const STRAIGHT_R2 = 0.9
/** How much worse than the best-fitting run a longer run may fit and still be taken. */
export const NEAR_BEST_R2 = 0.02
/** A run must rise at least this much (and 2% of the limit) to be judged: RSS wobbles by a few MiB. */
export const MIN_RISE_MB = 8
/**
 * Share of the way from the run's start to the limit that it must have come before it is acted
 * on. At 40% the remaining time is at most 1.5× the time watched: far enough not to restart a
 * unit of work whose memory climbs a third of the way and comes back, early enough to restart a
 * fast leak seconds before the limit.
 */
export const ACT_AT_SHARE = 0.4
/** Growth that would reach the limit within this many horizons is a warning. */
export const WARN_HORIZONS = 10

export interface MemoryTrend {
  verdict: 'n/a' | 'healthy' | 'warning' | 'unhealthy'
  /** MiB per second of a steady climb, else null. */
  rate: number | null
  detail: string
}

/**
 * Adds a sample to a process's history. Another process, or a clock that did not move forward
 * (it stepped back, or stands still), starts the history again from this sample: a rate across a
 * clock step would be nonsense.
 */
export function recordRss(h: MemoryHistory, process: string, at: number, rssMb: number): MemoryHistory {
  const last = h.points.at(-1)
  if (h.process !== process || (last !== undefined && at <= last.at))
    return { process, points: [{ at, rssMb }], earlierHighMb: null }
  const points = [...h.points, { at, rssMb }]
  let earlierHighMb = h.earlierHighMb
  while (points.length > TREND_POINTS) {
    const gone = points.shift()!
    earlierHighMb = Math.max(earlierHighMb ?? gone.rssMb, gone.rssMb)
  }
  return { process, points, earlierHighMb }
}

/** Judges a process's history against its memory limit (MiB) and the horizon (ms, > 0). */
export function judgeMemoryTrend(h: MemoryHistory, limitMb: number, horizonMs: number): MemoryTrend {
  const pts = h.points
  if (pts.length < TREND_MIN_POINTS)
    return { verdict: 'n/a', rate: null, detail: `${pts.length} of ${TREND_MIN_POINTS} samples` }
  const start = steadyRunStart(pts)
  if (start === null) return { verdict: 'healthy', rate: null, detail: 'no steady growth' }
  const run = pts.slice(start)
  const first = run[0]!
  const last = run.at(-1)!
  const slope = theilSen(run) // MiB per ms
  const rate = roundRate(slope * 1000)
  const watchedMs = last.at - first.at
  const rise = slope * watchedMs
  if (!(slope > 0) || rise < Math.max(MIN_RISE_MB, limitMb * 0.02))
    return {
      verdict: 'healthy',
      rate: null,
      detail: `no steady growth (${round1(Math.max(0, rise))} MiB over ${fmtSpan(watchedMs)})`,
    }
  let before = h.earlierHighMb ?? -Infinity
  for (const p of pts.slice(0, start)) before = Math.max(before, p.rssMb)
  if (before > first.rssMb + rise / 4)
    return {
      verdict: 'healthy',
      rate,
      detail: `rises and falls with its work (was at ${Math.round(before)} MiB before)`,
    }
  const limitInMs = Math.max(0, (limitMb - last.rssMb) / slope)
  const growing = `memory growing ${rate} MiB/s, limit in ~${fmtSpan(limitInMs)}`
  const where = `${Math.round(last.rssMb)} MiB of ${limitMb} MiB`
  const share = rise / (rise + Math.max(0, limitMb - last.rssMb))
  if (limitInMs <= horizonMs && share >= ACT_AT_SHARE)
    return { verdict: 'unhealthy', rate, detail: `${growing} (${where})` }
  if (limitInMs <= horizonMs)
    return {
      verdict: 'warning',
      rate,
      detail: `${growing} (${where}; ${Math.round(share * 100)}% of the way from ${Math.round(first.rssMb)} MiB, acted on from ${ACT_AT_SHARE * 100}%)`,
    }
  return {
    verdict: limitInMs <= horizonMs * WARN_HORIZONS ? 'warning' : 'healthy',
    rate,
    detail: `${growing} (${where}; beyond the ${fmtSpan(horizonMs)} horizon)`,
  }
}

/**
 * Where the run ending at the last sample starts, or null: of the stretches that climb steadily
 * (τ and R² above their floors), the longest whose straight-line fit is nearly the best of them,
 * so a flat stretch before a climb is left out while a long, noisy climb is taken whole.
 */
function steadyRunStart(pts: readonly MemoryPoint[]): number | null {
  const fits: Array<{ from: number; r2: number }> = []
  for (let from = 0; from <= pts.length - TREND_MIN_POINTS; from++) {
    const run = pts.slice(from)
    const r2 = rSquared(run)
    if (r2 >= STRAIGHT_R2 && kendallTau(run) >= STEADY_TAU) fits.push({ from, r2 })
  }
  if (fits.length === 0) return null
  const best = Math.max(...fits.map((f) => f.r2))
  return fits.find((f) => f.r2 >= best - NEAR_BEST_R2)!.from
}

/** Kendall's τ of memory against time, tied pairs left out; 0 when every pair is tied. */
function kendallTau(run: readonly MemoryPoint[]): number {
  let concordant = 0
  let discordant = 0
  for (let i = 0; i < run.length; i++)
    for (let j = i + 1; j < run.length; j++) {
      const d = run[j]!.rssMb - run[i]!.rssMb
      if (d > 0) concordant++
      else if (d < 0) discordant++
    }
  const n = concordant + discordant
  return n === 0 ? 0 : (concordant - discordant) / n
}

/** R² of the least-squares line of memory against time; 0 for a flat run. */
function rSquared(run: readonly MemoryPoint[]): number {
  const n = run.length
  let mt = 0
  let my = 0
  for (const p of run) {
    mt += p.at / n
    my += p.rssMb / n
  }
  let stt = 0
  let sty = 0
  let syy = 0
  for (const p of run) {
    const dt = p.at - mt
    const dy = p.rssMb - my
    stt += dt * dt
    sty += dt * dy
    syy += dy * dy
  }
  return stt === 0 || syy === 0 ? 0 : (sty * sty) / (stt * syy)
}

/** Median of the slopes between every pair of samples (times strictly increase). */
function theilSen(run: readonly MemoryPoint[]): number {
  const slopes: number[] = []
  for (let i = 0; i < run.length; i++)
    for (let j = i + 1; j < run.length; j++)
      slopes.push((run[j]!.rssMb - run[i]!.rssMb) / (run[j]!.at - run[i]!.at))
  slopes.sort((a, b) => a - b)
  const mid = slopes.length >> 1
  return slopes.length % 2 === 1 ? slopes[mid]! : (slopes[mid - 1]! + slopes[mid]!) / 2
}

/** 40, 1.5, 0.21: whole MiB/s from 10, one decimal from 1, two significant digits below. */
function roundRate(mbPerS: number): number {
  if (mbPerS >= 10) return Math.round(mbPerS)
  if (mbPerS >= 1) return Math.round(mbPerS * 10) / 10
  return Number(mbPerS.toPrecision(2))
}

/** 3 s, 7 min, 2.5 h. */
function fmtSpan(ms: number): string {
  const s = ms / 1000
  if (s < 90) return `${Math.round(s)} s`
  if (s < 90 * 60) return `${Math.round(s / 60)} min`
  return `${Math.round(s / 360) / 10} h`
}

function round1(n: number): number {
  return Math.round(n * 10) / 10
}
