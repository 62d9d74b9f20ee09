/**
 * Watches every live process of the pools and reports anomalies; the core (src/core/health.ts)
 * judges each sample. Three cadences:
 * - a full check of each pool every check_interval: one /proc scan for CPU, memory and zombies of
 *   every process tree, plus the error rate the SDK reports;
 * - a watchdog ten times per shortest hang_timeout: heartbeat ages (free) and, for workers without
 *   the SDK, one small /proc read each, so a hang is seen within the hang timeout whatever
 *   check_interval is;
 * - probes, each on its own interval.
 * @module
 */
import type { ResolvedPool } from '../config/load.js'
import { CpuMeter } from '../core/cpu-meter.js'
import { describeExit } from '../core/exit-report.js'
import {
  type Anomaly,
  assessHealth,
  deadReport,
  detectHang,
  type HealthSample,
  hungReport,
  recentRestartTimes,
  worstOfProcess,
} from '../core/health.js'
import { decideScale, throughputBaseline } from '../core/scaling.js'
import { isWatched, type SlotEvent } from '../core/slot-model.js'
import type { Logger } from '../logger.js'
import type { Clock } from '../ports/clock.js'
import type { JobStore } from '../ports/job-store.js'
import type { ProbeRunner, ProcPort, TreeSample } from '../ports/process.js'
import type { Emit } from './deps.js'
import { liveProcesses, type PoolRuntime, pushSample, type Slot, type Spare } from './pool-runtime.js'
import type { TimerSet } from './timer-set.js'
import type { WorkerProcess } from './worker-process.js'

interface QueueReading {
  backlog: number
  throughput: { perMinute: number; baseline: number }
}

export interface HealthMonitorDeps {
  pools: ReadonlyMap<string, PoolRuntime>
  clock: Clock
  timers: TimerSet
  emit: Emit
  logger: Logger
  proc: Pick<ProcPort, 'sampleTrees' | 'readProcState'>
  /** The queue's counts (backlog, throughput), for pools with a queue. */
  counts: JobStore['counts']
  runProbe: ProbeRunner
  /** What a check, the watchdog or a probe found about a slot's process: the slot machine decides. */
  onSlot: (slot: Slot, event: SlotEvent<WorkerProcess>) => void
  /** A warm spare is unhealthy: it is replaced. */
  retireSpare: (pool: PoolRuntime, spare: Spare, why: string) => void
  /** The pool's backlog asks for one worker more or one fewer. */
  onScale: (pool: PoolRuntime, action: 'out' | 'in', reason: string) => void
}

export class HealthMonitor {
  private readonly cpu = new CpuMeter()
  private readonly pools: ReadonlyMap<string, PoolRuntime>
  /** Set at shutdown: no check, watchdog round or probe from then on. */
  private stopping = false

  constructor(private readonly d: HealthMonitorDeps) {
    this.pools = d.pools
  }

  /** Starts the periodic checks and the watchdog. */
  start(): void {
    for (const pool of this.pools.values())
      this.d.timers.every(pool.cfg.recovery.check_interval, () => void this.checkPool(pool))
    this.d.timers.every(this.watchdogPeriod(), () => this.watchdog())
  }

  /** Shutdown begins. */
  stop(): void {
    this.stopping = true
  }

  /** Readiness by uptime, or probes, for a new process. */
  watch(pool: PoolRuntime, wp: WorkerProcess): void {
    if (pool.cfg.probes.length > 0) {
      this.startProbes(pool, wp)
      return
    }
    // Without the SDK or probes, staying alive for min_uptime is the only sign of readiness there is.
    this.d.timers.later(pool.cfg.recovery.min_uptime, () => {
      if (wp.alive && !wp.sdk) wp.markReady(this.d.clock.now(), 'uptime')
    })
  }

  forget(wp: WorkerProcess): void {
    this.cpu.forget(wp.key)
  }

  async checkNow(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => this.checkPool(pool)))
  }

  private async checkPool(pool: PoolRuntime): Promise<void> {
    if (this.stopping || pool.checking) return
    pool.checking = true
    try {
      const queue = await this.queueReading(pool)
      this.assessPool(pool, queue)
      if (queue) this.scale(pool, queue.backlog)
    } catch (e) {
      this.d.logger.error({ err: e, pool: pool.cfg.name }, 'health check failed')
    } finally {
      pool.checking = false
    }
  }

  /** The pool's queue: backlog, and throughput against its recent baseline. */
  private async queueReading(pool: PoolRuntime): Promise<QueueReading | null> {
    const queue = pool.cfg.queue
    if (queue === undefined) return null
    const [counts] = await this.d.counts(this.d.clock.now(), queue)
    const perMinute = counts?.throughputPerMinute ?? 0
    const { baseline, history } = throughputBaseline(pool.throughputHistory, perMinute)
    pool.throughputHistory = history
    const now = this.d.clock.now()
    pushSample(pool.queueHistory, {
      at: now,
      waiting: counts?.waiting ?? 0,
      inFlight: counts?.inFlight ?? 0,
      perMinute,
    })
    return { backlog: counts?.waiting ?? 0, throughput: { perMinute, baseline } }
  }

  private scale(pool: PoolRuntime, backlog: number): void {
    const { replicas, thresholds, recovery } = pool.cfg
    if (replicas.max === replicas.min) return
    const d = decideScale(
      pool.scale,
      {
        backlog,
        queueSize: thresholds.queue_size,
        replicas,
        current: pool.slots.length,
        cooldownMs: recovery.scale_in_after,
      },
      this.d.clock.now(),
    )
    pool.scale = d.state
    if (d.action !== 'none') this.d.onScale(pool, d.action, d.reason)
  }

  private assessPool(pool: PoolRuntime, queue: QueueReading | null): void {
    if (this.stopping) return
    const procs = liveProcesses(pool)
    const trees = procs.length > 0 ? this.d.proc.sampleTrees(procs.map((p) => p.pid)) : new Map()
    const now = this.d.clock.now()
    const t = pool.cfg.thresholds
    for (const slot of pool.slots) {
      const wp = slot.status.proc
      if (!wp?.alive) {
        slot.report = deadReport(now, slot.lastExit ? describeExit(slot.lastExit) : slot.status.state)
        continue
      }
      const [measured, cpuSeconds] = this.sample(wp, trees.get(wp.pid), now, pool.cfg, queue)
      slot.cpuSeconds += cpuSeconds
      slot.recentRestarts = recentRestartTimes(slot.recentRestarts, now)
      const sample = { ...measured, external: slot.external, recentRestarts: slot.recentRestarts.length }
      const a = assessHealth(sample, slot.memory, t, pool.cfg.hang_timeout)
      pushSample(slot.samples, {
        at: now,
        cpuPercent: sample.cpuPercent,
        rssMb: sample.rssMb,
        healthScore: a.report.score,
      })
      const before = slot.report?.verdict ?? 'healthy'
      const worstDetail = a.report.indicators.find((i) => i.name === a.report.worst)?.detail ?? ''
      slot.report = a.report
      slot.memory = a.memory
      if (before !== a.report.verdict) {
        this.d.emit(
          'health:changed',
          a.report.verdict === 'healthy' ? 'info' : 'warning',
          { pool: pool.cfg.name, workerId: slot.id },
          `${slot.id} health ${before} → ${a.report.verdict} (score ${a.report.score})`,
          {
            from: before,
            to: a.report.verdict,
            score: a.report.score,
            worst: a.report.worst,
            detail: worstDetail,
          },
        )
      }
      if (a.anomaly) {
        this.d.onSlot(slot, { type: 'anomaly', proc: wp, anomaly: withSilence(a.anomaly, wp, now) })
      } else {
        // Degraded is about the process running now; its slot's recent restarts lower the score
        // but do not make a healthy process degraded.
        const ailing = worstOfProcess(a.report)
        this.d.onSlot(slot, { type: 'health', proc: wp, ailing: ailing?.detail ?? null })
      }
    }
    for (const spare of pool.spares) {
      if (!spare.proc.alive) continue
      const [sample, cpuSeconds] = this.sample(spare.proc, trees.get(spare.proc.pid), now, pool.cfg, queue)
      spare.cpuSeconds += cpuSeconds
      const a = assessHealth(sample, spare.memory, t, pool.cfg.hang_timeout)
      spare.report = a.report
      spare.memory = a.memory
      if (a.anomaly) this.d.retireSpare(pool, spare, a.anomaly.detail)
    }
  }

  private sample(
    wp: WorkerProcess,
    tree: TreeSample | undefined,
    now: number,
    cfg: ResolvedPool,
    queue: QueueReading | null,
  ): [HealthSample, cpuSeconds: number] {
    if (tree) {
      wp.descendants = tree.descendants
      noteProcState(wp, tree.rootState, now)
    }
    const cpu = tree ? this.cpu.measure(wp.key, tree.cpuTicks, now) : { percent: null, seconds: 0 }
    const sample: HealthSample = {
      at: now,
      process: wp.key,
      alive: wp.alive,
      procState: wp.lastProcState,
      stuckForMs: wp.stuckSince === null ? 0 : now - wp.stuckSince,
      heartbeatAgeMs: wp.heartbeatAge(now),
      zombies: tree?.zombies ?? 0,
      cpuPercent: cpu.percent,
      rssMb: tree ? tree.rssBytes / (1024 * 1024) : null,
      outcomes: wp.outcomeWindow(now, cfg.thresholds.error_window),
      probes: wp.probes,
      backlog: queue?.backlog ?? null,
      throughput: queue?.throughput ?? null,
      external: null,
      recentRestarts: 0,
    }
    return [sample, cpu.seconds]
  }

  /**
   * Hang detection between full checks. SDK workers with fresh heartbeats cost nothing; the others
   * cost one small /proc read each.
   */
  watchdog(): void {
    if (this.stopping) return
    const now = this.d.clock.now()
    const period = this.watchdogPeriod()
    for (const pool of this.pools.values()) {
      for (const slot of pool.slots) {
        const wp = slot.status.proc
        if (!wp?.alive || !isWatched(slot.status)) continue
        const hang = this.hangOf(wp, now, period, pool.cfg.hang_timeout)
        if (!hang) continue
        slot.report = hungReport(now, wp.heartbeatAge(now) ?? wp.lastProcState, hang.detail)
        this.d.onSlot(slot, { type: 'anomaly', proc: wp, anomaly: hang })
      }
      for (const spare of pool.spares) {
        const wp = spare.proc
        if (!wp.alive || wp.stopping || wp.readyAt === null) continue
        const hang = this.hangOf(wp, now, period, pool.cfg.hang_timeout)
        if (hang) this.d.retireSpare(pool, spare, hang.detail)
      }
    }
  }

  private hangOf(wp: WorkerProcess, now: number, period: number, hangTimeout: number): Anomaly | null {
    const age = wp.heartbeatAge(now)
    // A fresh heartbeat proves the process runs; only a silent one (or no SDK) needs /proc.
    if (age === null || age > period * 2) noteProcState(wp, this.d.proc.readProcState(wp.pid), now)
    const stuckForMs = wp.stuckSince === null ? 0 : now - wp.stuckSince
    const hang = detectHang({ heartbeatAgeMs: age, procState: wp.lastProcState, stuckForMs }, hangTimeout)
    return hang && withSilence(hang, wp, now)
  }

  /** The watchdog runs ten times per shortest hang timeout, between every 50 ms and every 500 ms. */
  private watchdogPeriod(): number {
    let min = Infinity
    for (const pool of this.pools.values()) min = Math.min(min, pool.cfg.hang_timeout)
    return Math.min(500, Math.max(50, Math.floor(min / 10)))
  }

  private startProbes(pool: PoolRuntime, wp: WorkerProcess): void {
    pool.cfg.probes.forEach((probe, i) => {
      const run = async (): Promise<void> => {
        if (!wp.alive || this.stopping) return
        const port =
          pool.cfg.port !== undefined && wp.portOffset !== null ? pool.cfg.port + wp.portOffset : undefined
        const r = await this.d.runProbe(probe, { port, index: wp.index, pid: wp.pid, id: wp.currentId })
        if (!wp.alive || this.stopping) return
        const state = wp.probes[i]!
        state.failures = r.ok ? 0 : state.failures + 1
        state.lastDetail = r.detail
        if (r.ok && !wp.sdk && wp.probes.every((p) => p.failures === 0 && p.lastDetail !== 'not run yet')) {
          wp.markReady(this.d.clock.now(), 'probe')
        }
        if (!r.ok && state.failures >= state.threshold)
          this.probeFailing(pool, wp, `${state.name} failed ${state.failures}× (${r.detail})`)
        this.d.timers.later(probe.interval, () => void run())
      }
      this.d.timers.later(probe.initial_delay, () => void run())
    })
  }

  private probeFailing(pool: PoolRuntime, wp: WorkerProcess, detail: string): void {
    const slot = pool.slots.find((s) => s.status.proc === wp)
    if (slot) {
      // Liveness probes count from the start, as in Kubernetes (the slot machine says so).
      this.d.onSlot(slot, { type: 'anomaly', proc: wp, anomaly: { cause: 'probe', detail } })
      return
    }
    const spare = pool.spares.find((s) => s.proc === wp)
    if (spare) this.d.retireSpare(pool, spare, detail)
  }
}

function noteProcState(wp: WorkerProcess, state: string | null, now: number): void {
  wp.lastProcState = state
  const stuck = state === 'T' || state === 't' || state === 'D'
  if (!stuck) {
    wp.stuckSince = null
    wp.lastRunningAt = now
  } else wp.stuckSince ??= now
}

/** Adds how long the worker had been silent to a hang, stop or D-state anomaly (Anomaly.silentMs). */
function withSilence(anomaly: Anomaly, wp: WorkerProcess, now: number): Anomaly {
  switch (anomaly.cause) {
    case 'hang':
      return { ...anomaly, silentMs: wp.heartbeatAge(now) ?? undefined }
    case 'stopped':
    case 'uninterruptible':
      return { ...anomaly, silentMs: now - (wp.lastRunningAt ?? wp.startedAt) }
    default:
      return anomaly
  }
}
