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
import { isServing } from '../core/worker-state.js'
import { CpuMeter, type TreeSample } from '../process/proc.js'
import type { SupervisorKernel } from './kernel.js'
import { liveProcesses, type PoolRuntime, pushSample, type Slot } from './pool-runtime.js'
import type { Processes } from './processes.js'
import type { WorkerProcess } from './worker-process.js'

interface QueueReading {
  backlog: number
  throughput: { perMinute: number; baseline: number }
}

export class HealthMonitor {
  private readonly cpu = new CpuMeter()

  constructor(
    private readonly k: SupervisorKernel,
    private readonly pools: ReadonlyMap<string, PoolRuntime>,
    private readonly processes: Processes,
    /** A serving (or starting) worker needs recovering. */
    private readonly onAnomaly: (slot: Slot, anomaly: Anomaly) => void,
    /** The pool's backlog asks for one worker more or one fewer. */
    private readonly onScale: (pool: PoolRuntime, action: 'out' | 'in', reason: string) => void,
  ) {}

  /** Starts the periodic checks and the watchdog. */
  start(): void {
    for (const pool of this.pools.values())
      this.k.every(pool.cfg.recovery.check_interval, () => this.checkPool(pool))
    this.k.every(this.watchdogPeriod(), () => this.watchdog())
  }

  /** Readiness by uptime, or probes, for a new process. */
  watch(pool: PoolRuntime, wp: WorkerProcess): void {
    if (pool.cfg.probes.length > 0) {
      this.startProbes(pool, wp)
      return
    }
    // Without the SDK or probes, staying alive for min_uptime is the only sign of readiness there is.
    this.k.later(pool.cfg.recovery.min_uptime, () => {
      if (wp.alive && !wp.sdk) wp.markReady(this.k.now(), 'uptime')
    })
  }

  forget(wp: WorkerProcess): void {
    this.cpu.forget(wp.key)
  }

  async checkNow(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => this.checkPool(pool)))
  }

  private async checkPool(pool: PoolRuntime): Promise<void> {
    if (this.k.stopping || pool.checking) return
    pool.checking = true
    try {
      const queue = await this.queueReading(pool)
      this.assessPool(pool, queue)
      if (queue) this.scale(pool, queue.backlog)
    } catch (e) {
      this.k.logger.error({ err: e, pool: pool.cfg.name }, 'health check failed')
    } finally {
      pool.checking = false
    }
  }

  /** The pool's queue: backlog, and throughput against its recent baseline. */
  private async queueReading(pool: PoolRuntime): Promise<QueueReading | null> {
    const queue = pool.cfg.queue
    if (queue === undefined) return null
    const [counts] = await this.k.deps.store.jobs.counts(this.k.now(), queue)
    const perMinute = counts?.throughputPerMinute ?? 0
    const { baseline, history } = throughputBaseline(pool.throughputHistory, perMinute)
    pool.throughputHistory = history
    const now = this.k.now()
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
      this.k.now(),
    )
    pool.scale = d.state
    if (d.action !== 'none') this.onScale(pool, d.action, d.reason)
  }

  private assessPool(pool: PoolRuntime, queue: QueueReading | null): void {
    if (this.k.stopping) return
    const procs = liveProcesses(pool)
    const trees = procs.length > 0 ? this.k.deps.proc.sampleTrees(procs.map((p) => p.pid)) : new Map()
    const now = this.k.now()
    const t = pool.cfg.thresholds
    for (const slot of pool.slots) {
      const wp = slot.proc
      if (!wp?.alive) {
        slot.report = deadReport(now, slot.lastExit ? describeExit(slot.lastExit) : slot.state)
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
        this.k.emit(
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
      if (slot.incident) continue
      if (a.anomaly && isServing(slot.state)) this.onAnomaly(slot, withSilence(a.anomaly, wp, now))
      else {
        // Degraded is about the process running now; its slot's recent restarts lower the score
        // but do not make a healthy process degraded.
        const ailing = worstOfProcess(a.report)
        if (slot.state === 'ready' && ailing) this.k.setState(slot, 'degraded', ailing.detail)
        else if (slot.state === 'degraded' && !ailing) this.k.setState(slot, 'ready', 'healthy again')
      }
    }
    for (const spare of pool.spares) {
      if (!spare.proc.alive) continue
      const [sample, cpuSeconds] = this.sample(spare.proc, trees.get(spare.proc.pid), now, pool.cfg, queue)
      spare.cpuSeconds += cpuSeconds
      const a = assessHealth(sample, spare.memory, t, pool.cfg.hang_timeout)
      spare.report = a.report
      spare.memory = a.memory
      if (a.anomaly) this.processes.retireSpare(pool, spare, a.anomaly.detail)
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
    if (this.k.stopping) return
    const now = this.k.now()
    const period = this.watchdogPeriod()
    for (const pool of this.pools.values()) {
      for (const slot of pool.slots) {
        const wp = slot.proc
        if (!wp?.alive || slot.incident || !isServing(slot.state)) continue
        const hang = this.hangOf(wp, now, period, pool.cfg.hang_timeout)
        if (!hang) continue
        slot.report = hungReport(now, wp.heartbeatAge(now) ?? wp.lastProcState, hang.detail)
        this.onAnomaly(slot, hang)
      }
      for (const spare of pool.spares) {
        const wp = spare.proc
        if (!wp.alive || wp.stopping || wp.readyAt === null) continue
        const hang = this.hangOf(wp, now, period, pool.cfg.hang_timeout)
        if (hang) this.processes.retireSpare(pool, spare, hang.detail)
      }
    }
  }

  private hangOf(wp: WorkerProcess, now: number, period: number, hangTimeout: number): Anomaly | null {
    const age = wp.heartbeatAge(now)
    // A fresh heartbeat proves the process runs; only a silent one (or no SDK) needs /proc.
    if (age === null || age > period * 2) noteProcState(wp, this.k.deps.proc.readProcState(wp.pid), now)
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
        if (!wp.alive || this.k.stopping) return
        const port =
          pool.cfg.port !== undefined && wp.portOffset !== null ? pool.cfg.port + wp.portOffset : undefined
        const r = await this.k.deps.runProbe(probe, { port, index: wp.index, pid: wp.pid, id: wp.currentId })
        if (!wp.alive || this.k.stopping) return
        const state = wp.probes[i]!
        state.failures = r.ok ? 0 : state.failures + 1
        state.lastDetail = r.detail
        if (r.ok && !wp.sdk && wp.probes.every((p) => p.failures === 0 && p.lastDetail !== 'not run yet')) {
          wp.markReady(this.k.now(), 'probe')
        }
        if (!r.ok && state.failures >= state.threshold)
          this.probeFailing(pool, wp, `${state.name} failed ${state.failures}× (${r.detail})`)
        this.k.later(probe.interval, () => void run())
      }
      this.k.later(probe.initial_delay, () => void run())
    })
  }

  private probeFailing(pool: PoolRuntime, wp: WorkerProcess, detail: string): void {
    const slot = pool.slots.find((s) => s.proc === wp)
    if (slot) {
      // Liveness probes count from the start, as in Kubernetes: a worker that never passes is recovered.
      if (!slot.incident && (isServing(slot.state) || slot.state === 'starting')) {
        this.onAnomaly(slot, { cause: 'probe', detail })
      }
      return
    }
    const spare = pool.spares.find((s) => s.proc === wp)
    if (spare) this.processes.retireSpare(pool, spare, detail)
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
