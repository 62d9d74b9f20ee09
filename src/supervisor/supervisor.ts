/**
 * The supervisor: runs the pools of a config, watches every worker, and carries out the recovery
 * flow that the pure core (src/core/incident.ts) decides. It owns the timers and the processes;
 * every decision (health verdicts, strategy, backoff, restart budget, escalation) is the core's.
 *
 * Detection paths:
 * - exit: the process's exit event, at once;
 * - hang: a watchdog every few hundred ms reads heartbeat ages (SDK workers) and /proc states;
 * - everything else: a full check of each pool every check_interval (one /proc scan per pool);
 * - probes: on their own intervals; a probe past its failure threshold triggers a recovery.
 * @module
 */
import { randomBytes } from 'node:crypto'

import type { LoadedConfig, ResolvedPool } from '../config/load.js'
import type { Clock } from '../core/clock.js'
import type { AnyEvent, EventDataMap, EventSeverity, EventType } from '../core/events.js'
import { describeExit, type ExitReport } from '../core/exit-report.js'
import {
  assessHealth,
  deadReport,
  detectHang,
  FRESH_MEMORY,
  type HealthSample,
  hungReport,
} from '../core/health.js'
import {
  advance,
  type Incident,
  type IncidentContext,
  type IncidentEffect,
  type IncidentInput,
  type IncidentPolicy,
  isFinal,
  openIncident,
  type Transition,
} from '../core/incident.js'
import {
  type AnomalyCause,
  backoffDelay,
  effectiveHistory,
  EMPTY_HISTORY,
  pruneRestartTimes,
} from '../core/restart-policy.js'
import type { Strategy } from '../core/strategy.js'
import { canMove, isServing, type WorkerState } from '../core/worker-state.js'
import { ShepherdError } from '../errors.js'
import type { Logger } from '../logger.js'
import { PoolLogWriter } from '../process/log-files.js'
import type { runProbe as RunProbe } from '../process/probes.js'
import { CpuMeter, type TreeSample } from '../process/proc.js'
import type { ProcessSpawner } from '../process/types.js'
import type { RestoredState } from '../protocol/messages.js'
import type { SavedWorkerState, Store } from '../store/store.js'
import type { WriteBehind } from '../store/write-behind.js'
import {
  createPool,
  freePortOffset,
  liveProcesses,
  type PoolRuntime,
  type Slot,
  type Spare,
  workerEnv,
} from './pool-runtime.js'
import type { RestartRequest, SupervisorControl, SupervisorInfo, WorkerView } from './view.js'
import { type ReadyHow, WorkerProcess } from './worker-process.js'

/** What the supervisor needs from /proc. */
export interface ProcPort {
  sampleTrees(roots: readonly number[]): Map<number, TreeSample>
  readProcState(pid: number): string | null
}

export interface SupervisorDeps {
  loaded: LoadedConfig
  spawner: ProcessSpawner
  store: Store
  /** Where incidents and saved states are written (batched off the recovery path). */
  writer: WriteBehind
  clock: Clock
  proc: ProcPort
  runProbe: typeof RunProbe
  /** Receives every event: the daemon logs, persists and notifies. Must not throw. */
  emit: (event: AnyEvent) => void
  logger: Logger
  /** Environment every worker inherits (default: process.env). */
  baseEnv?: Record<string, string | undefined>
  random?: () => number
  newId?: () => string
  version?: string
  apiUrl?: string
}

type Timer = ReturnType<typeof setTimeout>

/** Output lines that arrive after a process exited still reach its log for this long. */
const OUTPUT_ROUTE_LINGER_MS = 10_000

export class Supervisor implements SupervisorControl, AsyncDisposable {
  private readonly pools = new Map<string, PoolRuntime>()
  private readonly byKey = new Map<string, WorkerProcess>()
  private readonly logWriters = new Map<string, PoolLogWriter>()
  private readonly timers = new Set<Timer>()
  private readonly intervals = new Set<ReturnType<typeof setInterval>>()
  private readonly cpu = new CpuMeter()
  private readonly random: () => number
  private readonly newId: () => string
  private processSeq = 0
  private startedAt = 0
  private starting: Promise<void> | null = null
  private stopping: Promise<void> | null = null
  apiUrl: string

  constructor(private readonly deps: SupervisorDeps) {
    this.random = deps.random ?? Math.random
    this.newId = deps.newId ?? defaultId
    this.apiUrl = deps.apiUrl ?? ''
    for (const cfg of deps.loaded.pools) this.pools.set(cfg.name, createPool(cfg))
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  /** Starts every pool. Idempotent: concurrent callers share one start. */
  start(): Promise<void> {
    this.starting ??= this.doStart()
    return this.starting
  }

  private async doStart(): Promise<void> {
    const now = this.now()
    this.startedAt = now
    await this.closeLeftoverIncidents(now)
    const { logs } = this.deps.loaded.config
    for (const pool of this.pools.values()) {
      this.logWriters.set(
        pool.cfg.name,
        new PoolLogWriter({
          dir: this.deps.loaded.logDir,
          pool: pool.cfg.name,
          maxSize: logs.max_size,
          maxFiles: logs.max_files,
          now: () => Date.now(),
          onError: (e) =>
            this.deps.logger.warn({ pool: pool.cfg.name, err: e.message }, 'worker log write failed'),
        }),
      )
      for (const slot of pool.slots) this.launchInto(slot)
      for (let i = 0; i < pool.cfg.spares; i++) this.launchSpare(pool)
      this.every(pool.cfg.recovery.check_interval, () => this.checkPool(pool))
    }
    this.every(this.watchdogPeriod(), () => this.watchdog())
    const workers = [...this.pools.values()].reduce((n, p) => n + p.slots.length, 0)
    this.emit(
      'supervisor:started',
      'info',
      null,
      null,
      null,
      `supervising ${workers} workers in ${this.pools.size} pools`,
      {
        pools: [...this.pools.keys()],
        workers,
        apiUrl: this.apiUrl,
      },
    )
  }

  /** Incidents a previous supervisor left open can't go on: its processes are gone. */
  private async closeLeftoverIncidents(now: number): Promise<void> {
    for (const inc of await this.deps.store.listOpenIncidents()) {
      const t = advance(
        inc,
        { type: 'interrupt', reason: 'the supervisor restarted during the recovery' },
        this.ctxFor(inc, now),
      )
      await this.deps.store.saveIncident(t.incident)
    }
  }

  /**
   * Stops every worker gracefully (SIGTERM, SIGKILL after each pool's stop_timeout) and closes open
   * incidents as interrupted. `force` kills at once (a second SIGINT). Idempotent.
   */
  stop(reason = 'stop requested', force = false): Promise<void> {
    if (force) {
      for (const pool of this.pools.values()) for (const p of liveProcesses(pool)) p.mp.signal('SIGKILL')
    }
    this.stopping ??= this.doStop(reason)
    return this.stopping
  }

  private async doStop(reason: string): Promise<void> {
    await this.starting?.catch(() => undefined)
    for (const t of this.timers) clearTimeout(t)
    for (const t of this.intervals) clearInterval(t)
    this.timers.clear()
    this.intervals.clear()
    const now = this.now()
    this.emit('supervisor:stopping', 'info', null, null, null, `stopping: ${reason}`, { reason })
    for (const pool of this.pools.values()) {
      for (const slot of pool.slots) {
        if (slot.incident)
          this.commit(
            slot,
            advance(slot.incident, { type: 'interrupt', reason }, this.ctx(slot, now)).incident,
          )
      }
    }
    const stops: Promise<unknown>[] = []
    for (const pool of this.pools.values()) {
      for (const slot of pool.slots)
        if (slot.proc?.alive || slot.surge?.alive) this.setState(slot, 'stopping', reason)
      for (const p of liveProcesses(pool))
        stops.push(p.stop({ mode: 'graceful', timeoutMs: pool.cfg.stop_timeout }, reason, this.now()))
    }
    await Promise.all(stops)
    for (const pool of this.pools.values())
      for (const slot of pool.slots) this.setState(slot, 'exited', reason)
    for (const w of this.logWriters.values()) w.close()
    this.emit('supervisor:stopped', 'info', null, null, null, `stopped: ${reason}`, { reason })
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop('disposed')
  }

  // ───────────────────────────── control API ─────────────────────────────

  info(): SupervisorInfo {
    return {
      pid: process.pid,
      version: this.deps.version ?? '0.0.0',
      startedAt: this.startedAt,
      configFile: this.deps.loaded.file,
      pools: [...this.pools.keys()],
      apiUrl: this.apiUrl,
    }
  }

  listWorkers(): WorkerView[] {
    const now = this.now()
    const out: WorkerView[] = []
    for (const pool of this.pools.values()) {
      for (const slot of pool.slots) out.push(this.viewSlot(slot, now))
      for (const spare of pool.spares) out.push(this.viewSpare(pool, spare, now))
    }
    return out
  }

  getWorker(id: string): WorkerView | undefined {
    return this.listWorkers().find((w) => w.id === id)
  }

  async restartWorker(id: string, request: RestartRequest): Promise<{ incidentId: string }> {
    if (this.stopping)
      throw new ShepherdError('SHEPHERD_SUPERVISOR_STOPPING', 'the supervisor is shutting down')
    const slot = this.findSlot(id)
    if (!slot) {
      const spare = [...this.pools.values()].some((p) => p.spares.some((s) => s.id === id))
      throw new ShepherdError(
        'SHEPHERD_WORKER_NOT_FOUND',
        spare
          ? `${id} is a warm spare; restart the worker it would replace instead`
          : `no worker has the id ${id}`,
      )
    }
    if (slot.incident) {
      throw new ShepherdError(
        'SHEPHERD_RECOVERY_IN_PROGRESS',
        `${id} is already being recovered (incident ${slot.incident.id}, ${slot.incident.phase})`,
      )
    }
    const strategy: Strategy = request.hard ? 'hard_restart' : 'soft_restart'
    const incident = this.openFor(slot, 'manual', `restart requested through the API (${strategy})`, {
      strategy,
      manual: true,
    })
    return { incidentId: incident.id }
  }

  /** Runs a full health check of every pool now (tests and the API use it; timers call it too). */
  checkNow(): void {
    for (const pool of this.pools.values()) this.checkPool(pool)
  }

  /** Routes output lines from the spawner to the pool's log file and the process's tail. */
  handleOutput(key: string, stream: 'out' | 'err', lines: string[]): void {
    const wp = this.byKey.get(key)
    if (!wp) return
    const pool = key.slice(0, key.lastIndexOf(':'))
    this.logWriters.get(pool)?.write(wp.currentId, stream, lines)
    wp.tail.push(lines.map((l) => `${stream}| ${l}`))
  }

  // ───────────────────────────── processes ─────────────────────────────

  private spawn(pool: PoolRuntime, id: string, index: number): WorkerProcess {
    const cfg = pool.cfg
    const key = `${cfg.name}:${++this.processSeq}`
    const portOffset = freePortOffset(pool)
    const mp = this.deps.spawner.spawn({
      workerId: key,
      pool: cfg.name,
      command: cfg.command,
      args: cfg.args,
      cwd: cfg.cwd,
      env: workerEnv(cfg, this.deps.baseEnv ?? process.env, id, index, portOffset),
    })
    const wp = new WorkerProcess(mp, {
      key,
      id,
      index,
      portOffset,
      tailLines: this.deps.loaded.config.logs.tail_lines,
      probeNames: cfg.probes.map((p, i) => ({ name: `${p.type}#${i + 1}`, threshold: p.failure_threshold })),
    })
    this.byKey.set(key, wp)
    mp.onMessage((m) => wp.receive(m, this.now()))
    void mp.exited.then((exit) => this.onExit(pool, wp, exit))
    if (cfg.probes.length === 0) {
      // Without SDK or probes, staying alive for min_uptime is the only sign of readiness there is.
      this.later(cfg.recovery.min_uptime, () => {
        if (wp.alive && !wp.sdk) wp.markReady(this.now(), 'uptime')
      })
    } else {
      this.startProbes(pool, wp)
    }
    return wp
  }

  /** Starts a process for a slot outside any incident (first start, revive). */
  private launchInto(slot: Slot): WorkerProcess {
    const wp = this.spawn(slot.pool, slot.id, slot.index)
    slot.proc = wp
    this.setState(slot, 'starting', `spawned pid ${wp.pid}`)
    this.emit(
      'worker:spawned',
      'info',
      slot.pool.cfg.name,
      slot.id,
      null,
      `${slot.id} spawned (pid ${wp.pid})`,
      {
        pid: wp.pid,
        spare: false,
      },
    )
    wp.onReady((how) => {
      if (slot.proc === wp && !slot.incident && !slot.reviving && slot.state === 'starting') {
        this.setState(slot, 'ready', `ready (${how})`)
      }
    })
    // A first start is held to the same verify_timeout as a restart: never ready is a failure too.
    const timeout = slot.pool.cfg.recovery.verify_timeout
    this.later(timeout, () => {
      if (slot.proc === wp && wp.alive && wp.readyAt === null && !slot.incident && !slot.reviving) {
        this.openFor(slot, 'start-timeout', `not ready within ${timeout} ms of its start (verify_timeout)`)
      }
    })
    return wp
  }

  private launchSpare(pool: PoolRuntime): void {
    if (this.stopping) return
    const id = `${pool.cfg.name}#s${++pool.spareSeq}`
    const wp = this.spawn(pool, id, pool.cfg.replicas.max + pool.spareSeq)
    pool.spares.push({ id, proc: wp, report: null, memory: FRESH_MEMORY })
    this.emit('worker:spawned', 'info', pool.cfg.name, id, null, `warm spare ${id} spawned (pid ${wp.pid})`, {
      pid: wp.pid,
      spare: true,
    })
    wp.onReady(() => {
      pool.spareFailures = 0
    })
  }

  /** A ready spare, taken out of the spare list, or null. */
  private takeSpare(pool: PoolRuntime): Spare | null {
    const i = pool.spares.findIndex((s) => s.proc.alive && s.proc.readyAt !== null && !s.proc.stopping)
    if (i < 0) return null
    const [spare] = pool.spares.splice(i, 1)
    // Replace it in the background: the pool keeps its spares.
    queueMicrotask(() => this.launchSpare(pool))
    return spare!
  }

  private onExit(pool: PoolRuntime, wp: WorkerProcess, exit: ExitReport): void {
    this.cpu.forget(wp.key)
    const t = setTimeout(() => this.byKey.delete(wp.key), OUTPUT_ROUTE_LINGER_MS)
    t.unref()
    const severity: EventSeverity = exit.killedByUs ? 'info' : 'warning'
    this.emit(
      'worker:exit',
      severity,
      pool.cfg.name,
      wp.currentId,
      null,
      `${wp.currentId} (pid ${wp.pid}) ${describeExit(exit)}`,
      {
        pid: exit.pid,
        exitCode: exit.exitCode,
        signal: exit.signal,
        killedByUs: exit.killedByUs,
        forced: exit.forced,
        durationMs: exit.durationMs,
      },
    )

    const spareIndex = pool.spares.findIndex((s) => s.proc === wp)
    if (spareIndex >= 0) {
      pool.spares.splice(spareIndex, 1)
      if (this.stopping || wp.stopping) return
      if (wp.readyAt === null) pool.spareFailures++
      const delay = backoffDelay(pool.spareFailures, pool.cfg.recovery, this.random)
      this.later(delay, () => this.launchSpare(pool))
      return
    }

    const slot = pool.slots.find((s) => s.proc === wp || s.surge === wp)
    if (!slot) return
    if (slot.surge === wp) return // its verify or the incident's next stop handles it
    slot.lastExit = exit
    if (this.stopping || wp.stopping || slot.incident || slot.reviving) return
    this.setState(slot, 'exited', describeExit(exit))
    this.openFor(slot, exit.spawnFailed ? 'spawn-failed' : 'crash', describeExit(exit), { exit })
  }

  // ───────────────────────────── health ─────────────────────────────

  private checkPool(pool: PoolRuntime): void {
    if (this.stopping) return
    const procs = liveProcesses(pool)
    if (procs.length === 0) {
      for (const slot of pool.slots) if (!slot.proc?.alive) slot.report = deadReport(this.now(), slot.state)
      return
    }
    const trees = this.deps.proc.sampleTrees(procs.map((p) => p.pid))
    const now = this.now()
    const t = pool.cfg.thresholds
    for (const slot of pool.slots) {
      const wp = slot.proc
      if (!wp?.alive) {
        slot.report = deadReport(now, slot.lastExit ? describeExit(slot.lastExit) : slot.state)
        continue
      }
      const a = assessHealth(
        this.sample(wp, trees.get(wp.pid), now, pool.cfg),
        slot.memory,
        t,
        pool.cfg.hang_timeout,
      )
      const before = slot.report?.verdict ?? 'healthy'
      slot.report = a.report
      slot.memory = a.memory
      if (before !== a.report.verdict) {
        this.emit(
          'health:changed',
          a.report.verdict === 'healthy' ? 'info' : 'warning',
          pool.cfg.name,
          slot.id,
          null,
          `${slot.id} health ${before} → ${a.report.verdict} (score ${a.report.score})`,
          {
            from: before,
            to: a.report.verdict,
            score: a.report.score,
            worst: a.report.worst,
            detail: a.report.indicators.find((i) => i.name === a.report.worst)?.detail ?? '',
          },
        )
      }
      if (slot.incident || slot.reviving) continue
      if (a.anomaly && isServing(slot.state)) {
        this.openFor(slot, a.anomaly.cause, a.anomaly.detail)
      } else if (slot.state === 'ready' && a.report.verdict === 'warning') {
        this.setState(
          slot,
          'degraded',
          a.report.indicators.find((i) => i.name === a.report.worst)?.detail ?? 'warning',
        )
      } else if (slot.state === 'degraded' && a.report.verdict === 'healthy') {
        this.setState(slot, 'ready', 'healthy again')
      }
    }
    for (const spare of pool.spares) {
      if (!spare.proc.alive) continue
      const a = assessHealth(
        this.sample(spare.proc, trees.get(spare.proc.pid), now, pool.cfg),
        spare.memory,
        t,
        pool.cfg.hang_timeout,
      )
      spare.report = a.report
      spare.memory = a.memory
      if (a.anomaly) this.retireSpare(pool, spare, a.anomaly.detail)
    }
  }

  private sample(
    wp: WorkerProcess,
    tree: TreeSample | undefined,
    now: number,
    cfg: ResolvedPool,
  ): HealthSample {
    if (tree) {
      wp.descendants = tree.descendants
      this.noteProcState(wp, tree.rootState, now)
    }
    return {
      at: now,
      alive: wp.alive,
      procState: wp.lastProcState,
      stuckForMs: wp.stuckSince === null ? 0 : now - wp.stuckSince,
      heartbeatAgeMs: wp.heartbeatAge(now),
      zombies: tree?.zombies ?? 0,
      cpuPercent: tree ? this.cpu.sample(wp.key, tree.cpuTicks, now) : null,
      rssMb: tree ? tree.rssBytes / (1024 * 1024) : null,
      outcomes: wp.outcomeWindow(now, cfg.thresholds.error_window),
      probes: wp.probes,
      backlog: null,
      throughput: null,
    }
  }

  private noteProcState(wp: WorkerProcess, state: string | null, now: number): void {
    wp.lastProcState = state
    const stuck = state === 'T' || state === 't' || state === 'D'
    if (!stuck) wp.stuckSince = null
    else wp.stuckSince ??= now
  }

  /**
   * Hang detection between full checks. SDK workers with fresh heartbeats cost nothing; the others
   * cost one small /proc read each.
   */
  watchdog(): void {
    if (this.stopping) return
    const now = this.now()
    for (const pool of this.pools.values()) {
      const hb = pool.cfg.hang_timeout
      for (const slot of pool.slots) {
        const wp = slot.proc
        if (!wp?.alive || slot.incident || slot.reviving || !isServing(slot.state)) continue
        const age = wp.heartbeatAge(now)
        if (age === null || age > this.watchdogPeriod() * 2)
          this.noteProcState(wp, this.deps.proc.readProcState(wp.pid), now)
        const hang = detectHang(
          {
            heartbeatAgeMs: age,
            procState: wp.lastProcState,
            stuckForMs: wp.stuckSince === null ? 0 : now - wp.stuckSince,
          },
          hb,
        )
        if (hang) {
          slot.report = hungReport(now, age ?? wp.lastProcState, hang.detail)
          this.openFor(slot, hang.cause, hang.detail)
        }
      }
      for (const spare of pool.spares) {
        const wp = spare.proc
        if (!wp.alive || wp.stopping || wp.readyAt === null) continue
        const age = wp.heartbeatAge(now)
        if (age === null) this.noteProcState(wp, this.deps.proc.readProcState(wp.pid), now)
        const hang = detectHang(
          {
            heartbeatAgeMs: age,
            procState: wp.lastProcState,
            stuckForMs: wp.stuckSince === null ? 0 : now - wp.stuckSince,
          },
          hb,
        )
        if (hang) this.retireSpare(pool, spare, hang.detail)
      }
    }
  }

  /** The watchdog runs ten times per shortest hang timeout, between every 50 ms and every 500 ms. */
  private watchdogPeriod(): number {
    let min = Infinity
    for (const pool of this.pools.values()) min = Math.min(min, pool.cfg.hang_timeout)
    return Math.min(500, Math.max(50, Math.floor(min / 10)))
  }

  private retireSpare(pool: PoolRuntime, spare: Spare, why: string): void {
    this.deps.logger.warn({ pool: pool.cfg.name, worker: spare.id, why }, 'replacing an unhealthy warm spare')
    void spare.proc.stop({ mode: 'hard', timeoutMs: 0 }, why, this.now()).then(() => this.launchSpare(pool))
    pool.spares = pool.spares.filter((s) => s !== spare)
  }

  private startProbes(pool: PoolRuntime, wp: WorkerProcess): void {
    pool.cfg.probes.forEach((probe, i) => {
      const run = async (): Promise<void> => {
        if (!wp.alive || this.stopping) return
        const r = await this.deps.runProbe(probe, {
          port:
            pool.cfg.port !== undefined && wp.portOffset !== null ? pool.cfg.port + wp.portOffset : undefined,
          index: wp.index,
          pid: wp.pid,
          id: wp.currentId,
        })
        if (!wp.alive || this.stopping) return
        const state = wp.probes[i]!
        state.failures = r.ok ? 0 : state.failures + 1
        state.lastDetail = r.detail
        if (r.ok && !wp.sdk && wp.probes.every((p) => p.failures === 0 && p.lastDetail !== 'not run yet')) {
          wp.markReady(this.now(), 'probe')
        }
        if (!r.ok && state.failures >= state.threshold) this.onProbeFailing(pool, wp, state.name, r.detail)
        this.later(probe.interval, () => void run())
      }
      this.later(probe.initial_delay, () => void run())
    })
  }

  private onProbeFailing(pool: PoolRuntime, wp: WorkerProcess, name: string, detail: string): void {
    const slot = pool.slots.find((s) => s.proc === wp)
    if (slot && !slot.incident && !slot.reviving && (isServing(slot.state) || slot.state === 'starting')) {
      this.openFor(
        slot,
        'probe',
        `${name} failed ${wp.probes.find((p) => p.name === name)?.failures ?? '?'}× (${detail})`,
      )
      return
    }
    const spare = pool.spares.find((s) => s.proc === wp)
    if (spare) this.retireSpare(pool, spare, `${name}: ${detail}`)
  }

  // ───────────────────────────── recovery flow ─────────────────────────────

  private openFor(
    slot: Slot,
    cause: AnomalyCause,
    detail: string,
    o: { exit?: ExitReport; strategy?: Strategy; manual?: boolean } = {},
  ): Incident {
    const now = this.now()
    const pool = slot.pool
    slot.reviving = false
    const uptime =
      slot.proc && slot.proc.readyAt !== null ? (slot.proc.exit?.at ?? now) - slot.proc.startedAt : 0
    slot.history = effectiveHistory(slot.history, uptime, pool.cfg.recovery.stable_after)
    const t = openIncident(
      {
        id: this.newId(),
        workerId: slot.id,
        pool: pool.cfg.name,
        cause,
        detail,
        pid: slot.proc?.pid ?? null,
        exit: o.exit ?? null,
        strategy: o.strategy,
        manual: o.manual,
      },
      this.ctx(slot, now),
    )
    if (!slot.proc?.alive) this.setState(slot, 'restarting', `incident ${t.incident.id}`)
    void this.drive(slot, t)
    return t.incident
  }

  /** Carries out a transition's effects and feeds each outcome back into the machine until it rests. */
  private async drive(slot: Slot, first: Transition): Promise<void> {
    let t = first
    const id = t.incident.id
    try {
      for (;;) {
        if (isFinal(t.incident.phase)) {
          // Act first (the worker is failed or ready), then announce, so that whoever hears
          // "recovered" or "escalated" finds the worker in that state.
          for (const e of t.effects) await this.runEffect(slot, t.incident, e)
          this.commit(slot, t.incident)
          return
        }
        this.commit(slot, t.incident)
        let input: IncidentInput | null = null
        for (const e of t.effects) input = (await this.runEffect(slot, t.incident, e)) ?? input
        if (!input || slot.incident?.id !== id || this.stopping) return
        t = advance(slot.incident, input, this.ctx(slot, this.now()))
      }
    } catch (e) {
      this.deps.logger.error({ err: e, incident: id, worker: slot.id }, 'recovery flow failed')
      if (slot.incident?.id === id && !this.stopping) {
        const reason = `internal error: ${(e as Error).message}`
        this.commit(
          slot,
          advance(slot.incident, { type: 'interrupt', reason }, this.ctx(slot, this.now())).incident,
        )
      }
    }
  }

  private async runEffect(slot: Slot, inc: Incident, e: IncidentEffect): Promise<IncidentInput | null> {
    const cfg = slot.pool.cfg
    switch (e.kind) {
      case 'save-state': {
        const state = this.collectState(slot, inc)
        this.deps.writer.saveWorkerState(state)
        const exit = state.exit ? `, exit: ${describeExit(state.exit)}` : ''
        return {
          type: 'state-saved',
          detail: `${plural(state.logTail.length, 'log line')}, last health report${exit}`,
        }
      }
      case 'wait':
        if (slot.state !== 'failed' && !slot.proc?.alive)
          this.setState(slot, 'restarting', `backoff ${e.ms} ms`)
        await this.sleep(e.ms)
        return { type: 'backoff-elapsed' }
      case 'stop': {
        const exit = await this.stopSlot(slot, e.mode, `${inc.cause}: ${inc.strategy}`)
        this.setState(slot, 'restarting', `stopped for incident ${inc.id}`)
        return { type: 'stopped', exit }
      }
      case 'start': {
        const { wp, fromSpare } = this.startReplacement(slot, e.surge)
        return { type: 'started', pid: wp.pid, spare: fromSpare }
      }
      case 'restore-state': {
        const target = slot.surge ?? slot.proc
        const saved = await this.deps.writer.loadWorkerState(slot.id)
        const state: RestoredState = {
          incidentId: inc.id,
          previousExit: inc.exit ? { exitCode: inc.exit.exitCode, signal: inc.exit.signal } : null,
          checkpoint: saved?.checkpoint ?? null,
        }
        target?.restore({ t: 'restore', state })
        return {
          type: 'restored',
          detail: `handed over the previous exit and ${state.checkpoint === null ? 'no checkpoint' : 'the last checkpoint'}`,
        }
      }
      case 'verify':
        return this.verify(slot, e.timeoutMs)
      case 'retire': {
        const old = slot.proc
        slot.proc = slot.surge
        slot.surge = null
        if (slot.proc) slot.proc.currentId = slot.id
        slot.proc?.mp.send({ t: 'assign', workerId: slot.id })
        const exit = old?.alive
          ? await old.stop(
              { mode: e.mode, timeoutMs: cfg.stop_timeout },
              'retired by scale recovery',
              this.now(),
            )
          : null
        return { type: 'retired', exit }
      }
      case 'escalate': {
        await this.stopSlot(slot, 'hard', `escalated: ${e.reason}`)
        this.setState(slot, 'failed', e.reason)
        slot.report = deadReport(this.now(), `failed: ${e.reason}`)
        this.scheduleRevive(slot)
        return null
      }
      case 'recovered':
        this.setState(slot, 'ready', `recovered (incident ${inc.id})`)
        slot.memory = FRESH_MEMORY
        return null
    }
  }

  /** Stops every process of the slot (the sick one and a failed replacement). */
  private async stopSlot(slot: Slot, mode: 'graceful' | 'hard', reason: string): Promise<ExitReport> {
    const cfg = slot.pool.cfg
    const procs = [slot.proc, slot.surge].filter((p): p is WorkerProcess => p !== null)
    slot.surge = null
    if (procs.some((p) => p.alive)) this.setState(slot, 'stopping', reason)
    const exits = await Promise.all(
      procs.map((p) => p.stop({ mode, timeoutMs: cfg.stop_timeout }, reason, this.now())),
    )
    const exit = exits[0] ?? slot.lastExit ?? syntheticExit(this.now())
    slot.lastExit = exit
    if (slot.state === 'stopping') this.setState(slot, 'exited', describeExit(exit))
    return exit
  }

  private startReplacement(slot: Slot, surge: boolean): { wp: WorkerProcess; fromSpare: boolean } {
    const pool = slot.pool
    const now = this.now()
    pool.restartTimes = pruneRestartTimes([...pool.restartTimes, now], now, pool.cfg.recovery.restart_limit)
    slot.restarts++
    const spare = this.takeSpare(pool)
    let wp: WorkerProcess
    if (spare) {
      wp = spare.proc
      wp.currentId = slot.id
      wp.mp.send({ t: 'assign', workerId: slot.id })
    } else {
      wp = this.spawn(pool, slot.id, slot.index)
    }
    this.emit(
      'worker:spawned',
      'info',
      pool.cfg.name,
      slot.id,
      slot.incident?.id ?? null,
      spare
        ? `warm spare ${spare.id} (pid ${wp.pid}) takes the place of ${slot.id}`
        : `${slot.id} restarted (pid ${wp.pid})`,
      { pid: wp.pid, spare: !!spare },
    )
    if (surge && slot.proc?.alive) {
      slot.surge = wp
    } else {
      slot.proc = wp
      this.setState(slot, 'starting', `pid ${wp.pid}`)
    }
    return { wp, fromSpare: spare !== null }
  }

  private verify(slot: Slot, timeoutMs: number): Promise<IncidentInput> {
    const wp = slot.surge ?? slot.proc
    if (!wp || !wp.alive) {
      const reason = wp?.exit ? `the replacement ${describeExit(wp.exit)}` : 'no replacement process'
      return Promise.resolve({ type: 'verify-failed', reason })
    }
    if (wp.readyHow !== null) return Promise.resolve({ type: 'ready', how: readyText(wp.readyHow, wp) })
    return new Promise((resolve) => {
      let done = false
      const finish = (input: IncidentInput): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        this.timers.delete(timer)
        cancelReady()
        resolve(input)
      }
      const timer = this.later(timeoutMs, () =>
        finish({ type: 'verify-failed', reason: `not ready within ${timeoutMs} ms (verify_timeout)` }),
      )
      const cancelReady = wp.onReady((how: ReadyHow) => finish({ type: 'ready', how: readyText(how, wp) }))
      void wp.mp.exited.then((exit) =>
        finish({
          type: 'verify-failed',
          reason: `the replacement ${describeExit(exit)} before it was ready`,
        }),
      )
    })
  }

  /** After an escalation, try the worker again at the slow revive interval; bring it back once it runs. */
  private scheduleRevive(slot: Slot): void {
    const cfg = slot.pool.cfg
    this.later(cfg.recovery.revive_interval, () => {
      if (this.stopping || slot.state !== 'failed' || slot.incident) return
      slot.reviving = true
      const failedSince = slot.report?.at ?? this.now()
      const wp = this.launchReviveAttempt(slot)
      const timer = this.later(cfg.recovery.verify_timeout, () => giveUp('not ready within verify_timeout'))
      const giveUp = (why: string): void => {
        if (!slot.reviving || slot.proc !== wp) return
        clearTimeout(timer)
        slot.reviving = false
        void wp.stop({ mode: 'hard', timeoutMs: 0 }, `revive attempt failed: ${why}`, this.now())
        this.setState(slot, 'failed', `revive attempt failed: ${why}`)
        this.scheduleRevive(slot)
      }
      wp.onReady(() => {
        if (!slot.reviving || slot.proc !== wp) return
        clearTimeout(timer)
        slot.reviving = false
        slot.history = EMPTY_HISTORY
        this.setState(slot, 'ready', 'revived')
        const afterMs = this.now() - failedSince
        this.emit(
          'worker:revived',
          'warning',
          cfg.name,
          slot.id,
          null,
          `${slot.id} runs again after being failed for ${Math.round(afterMs / 1000)} s`,
          {
            afterMs,
            incidentId: null,
          },
        )
      })
      void wp.mp.exited.then((exit) => giveUp(describeExit(exit)))
    })
  }

  private launchReviveAttempt(slot: Slot): WorkerProcess {
    const wp = this.spawn(slot.pool, slot.id, slot.index)
    slot.proc = wp
    this.setState(slot, 'starting', `revive attempt, pid ${wp.pid}`)
    return wp
  }

  private collectState(slot: Slot, inc: Incident): SavedWorkerState {
    const wp = slot.proc
    return {
      workerId: slot.id,
      pool: slot.pool.cfg.name,
      savedAt: this.now(),
      incidentId: inc.id,
      logTail: wp ? wp.tail.lines() : [],
      lastReport: slot.report,
      exit: inc.exit ?? slot.lastExit,
      checkpoint: null,
    }
  }

  /** Stores the incident, emits events for its new steps, and clears it from the slot once final. */
  private commit(slot: Slot, next: Incident): void {
    const prev = slot.incident?.id === next.id ? slot.incident : null
    slot.incident = isFinal(next.phase) ? null : next
    this.deps.writer.saveIncident(next)
    const { pool, workerId, id } = next
    if (!prev) {
      this.emit(
        'incident:opened',
        'warning',
        pool,
        workerId,
        id,
        `${workerId}: ${next.cause}, ${next.detail}; recovering with ${next.strategy}`,
        {
          incident: next,
        },
      )
    }
    // The first step ("detected") is the opening itself.
    for (const step of next.timeline.slice(prev ? prev.timeline.length : 1)) {
      this.emit('incident:step', 'info', pool, workerId, id, `${workerId} ${step.step}: ${step.detail}`, {
        incident: next,
        step: step.step,
        detail: step.detail,
      })
    }
    if (!isFinal(next.phase)) return
    const took = (next.endedAt ?? this.now()) - next.detectedAt
    const attempts = `${next.attempt} attempt${next.attempt === 1 ? '' : 's'}`
    switch (next.phase) {
      case 'recovered':
        this.emit(
          'incident:recovered',
          'info',
          pool,
          workerId,
          id,
          `${workerId} recovered in ${took} ms (${next.cause}, ${next.strategy}, ${attempts})`,
          {
            incident: next,
          },
        )
        break
      case 'escalated':
        this.emit(
          'incident:escalated',
          'critical',
          pool,
          workerId,
          id,
          `${workerId} escalated after ${attempts}: ${next.escalationReason ?? ''}`,
          {
            incident: next,
            reason: next.escalationReason ?? '',
          },
        )
        break
      case 'interrupted':
        this.emit('incident:interrupted', 'info', pool, workerId, id, `${workerId} recovery interrupted`, {
          incident: next,
        })
        return
    }
    slot.history = {
      consecutive: slot.history.consecutive + Math.max(1, next.attempt),
      lastRestartAt: this.now(),
    }
  }

  private ctx(slot: Slot, now: number): IncidentContext {
    return {
      now,
      policy: policyOf(slot.pool.cfg),
      random: this.random,
      poolRestartTimes: slot.pool.restartTimes,
      consecutiveRestarts: slot.history.consecutive,
    }
  }

  private ctxFor(inc: Incident, now: number): IncidentContext {
    const pool = this.pools.get(inc.pool)
    const cfg = pool?.cfg ?? this.deps.loaded.pools[0]!
    return { now, policy: policyOf(cfg), random: this.random, poolRestartTimes: [], consecutiveRestarts: 0 }
  }

  // ───────────────────────────── helpers ─────────────────────────────

  private setState(slot: Slot, to: WorkerState, reason: string): void {
    const from = slot.state
    if (from === to) return
    if (!canMove(from, to))
      this.deps.logger.debug({ worker: slot.id, from, to, reason }, 'unusual worker state move')
    slot.state = to
    this.emit(
      'worker:state',
      'info',
      slot.pool.cfg.name,
      slot.id,
      slot.incident?.id ?? null,
      `${slot.id} ${from} → ${to}: ${reason}`,
      {
        from,
        to,
        reason,
        pid: slot.proc?.alive ? slot.proc.pid : null,
      },
    )
  }

  private emit<T extends EventType>(
    type: T,
    severity: EventSeverity,
    pool: string | null,
    workerId: string | null,
    incidentId: string | null,
    message: string,
    data: EventDataMap[T],
  ): void {
    try {
      this.deps.emit({
        type,
        at: this.now(),
        severity,
        message,
        pool,
        workerId,
        incidentId,
        data,
      } as AnyEvent)
    } catch (e) {
      this.deps.logger.error({ err: e, type }, 'event listener failed')
    }
  }

  private findSlot(id: string): Slot | undefined {
    const pool = this.pools.get(id.slice(0, id.lastIndexOf('#')))
    return pool?.slots.find((s) => s.id === id)
  }

  private viewSlot(slot: Slot, now: number): WorkerView {
    const wp = slot.proc?.alive ? slot.proc : null
    const report = slot.report
    return {
      id: slot.id,
      pool: slot.pool.cfg.name,
      pid: wp?.pid ?? null,
      state: slot.state,
      role: 'worker',
      healthScore: wp ? (report?.score ?? 100) : 0,
      verdict: wp ? (report?.verdict ?? 'healthy') : 'unhealthy',
      worst: wp ? (report?.worst ?? null) : 'alive',
      worstDetail: wp
        ? (report?.indicators.find((i) => i.name === report.worst)?.detail ?? null)
        : slot.lastExit
          ? describeExit(slot.lastExit)
          : 'no process',
      restarts: slot.restarts,
      startedAt: wp?.startedAt ?? null,
      uptimeMs: wp ? now - wp.startedAt : null,
      incidentId: slot.incident?.id ?? null,
      lastExit: slot.lastExit
        ? { exitCode: slot.lastExit.exitCode, signal: slot.lastExit.signal, at: slot.lastExit.at }
        : null,
      sdk: wp?.sdk ?? false,
      report: wp ? report : deadReport(now, slot.state),
    }
  }

  private viewSpare(pool: PoolRuntime, spare: Spare, now: number): WorkerView {
    const wp = spare.proc
    return {
      id: spare.id,
      pool: pool.cfg.name,
      pid: wp.pid,
      state: wp.readyAt === null ? 'starting' : 'ready',
      role: 'spare',
      healthScore: spare.report?.score ?? 100,
      verdict: spare.report?.verdict ?? 'healthy',
      worst: spare.report?.worst ?? null,
      worstDetail: spare.report?.indicators.find((i) => i.name === spare.report?.worst)?.detail ?? null,
      restarts: 0,
      startedAt: wp.startedAt,
      uptimeMs: now - wp.startedAt,
      incidentId: null,
      lastExit: null,
      sdk: wp.sdk,
      report: spare.report,
    }
  }

  private now(): number {
    return this.deps.clock.now()
  }

  private later(ms: number, fn: () => void): Timer {
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    this.timers.add(t)
    return t
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve))
  }

  private every(ms: number, fn: () => void): void {
    this.intervals.add(setInterval(fn, ms))
  }
}

function policyOf(cfg: ResolvedPool): IncidentPolicy {
  const r = cfg.recovery
  return {
    strategies: cfg.strategies,
    max_retries: r.max_retries,
    backoff: { retry_delay: r.retry_delay, max_retry_delay: r.max_retry_delay, jitter: r.jitter },
    restart_limit: r.restart_limit,
    verify_timeout: r.verify_timeout,
  }
}

function readyText(how: ReadyHow, wp: WorkerProcess): string {
  switch (how) {
    case 'sdk':
      return `pid ${wp.pid} said ready (SDK)`
    case 'probe':
      return `pid ${wp.pid} passed its probes`
    case 'uptime':
      return `pid ${wp.pid} stayed up for min_uptime`
    case 'spare':
      return `warm spare pid ${wp.pid} was ready`
  }
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function syntheticExit(at: number): ExitReport {
  return {
    pid: 0,
    exitCode: null,
    signal: null,
    killedByUs: false,
    forced: false,
    spawnFailed: false,
    at,
    durationMs: 0,
  }
}

/** Time-ordered, short, unique enough to type: `mhx3k2a-4f1c`. */
function defaultId(): string {
  return `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`
}
