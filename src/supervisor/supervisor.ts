/**
 * The supervisor: runs the pools of a config, watches every worker, and recovers sick ones by the
 * flow the pure core decides. It is composed of parts, each given what it uses:
 * - Slots (slots.ts): drives each slot's machine (src/core/slot.ts): its state, what an exit or an
 *   anomaly leads to, revive attempts;
 * - Processes (processes.ts): spawning, output routing, warm spares, and the exit pipeline (the
 *   jobs go back, then the slot is told);
 * - HealthMonitor (health-monitor.ts): periodic checks, the hang watchdog, probes;
 * - Recovery (recovery.ts): incidents, from detection to recovered or escalated;
 * - Dispatcher (src/queue/dispatcher.ts): jobs to workers; it listens to their messages itself.
 * They share the supervisor's clock (never running backwards), its timers (all cancelled at
 * shutdown) and its event emitter. This class wires them, owns the lifecycle and answers the
 * control API.
 * @module
 */
import { jobPolicy, queueSettings } from '../config/load.js'
import { noteAvailability, startAvailability } from '../core/availability.js'
import type { ExitReport } from '../core/exit-report.js'
import { poolOfProcessKey, poolOfWorkerId } from '../core/ids.js'
import { canScaleIn } from '../core/slot-model.js'
import type { Strategy } from '../core/strategy.js'
import { ShepherdError } from '../errors.js'
import type { Logger } from '../logger.js'
import { type Clock, steadyClock } from '../ports/clock.js'
import { Dispatcher } from '../queue/dispatcher.js'
import { type Emit, eventEmitter, type SupervisorDeps, timeOrderedId } from './deps.js'
import { HealthMonitor } from './health-monitor.js'
import { stopOrphans } from './orphans.js'
import {
  createPool,
  createSlot,
  hasLiveProcess,
  liveProcesses,
  type PoolRuntime,
  servingCount,
  type Slot,
  slotOf,
} from './pool-runtime.js'
import { Processes } from './processes.js'
import { Recovery } from './recovery.js'
import { Slots } from './slots.js'
import { TimerSet } from './timer-set.js'
import type {
  FleetHistory,
  PoolView,
  RestartRequest,
  SignalRequest,
  SupervisorControl,
  SupervisorInfo,
  WorkerView,
} from './view.js'
import { viewSlot, viewSpare } from './views.js'
import type { WorkerProcess } from './worker-process.js'

export type { SupervisorDeps } from './deps.js'

/** Orphans of a dead supervisor get SIGTERM, then SIGKILL after at most this long. */
const ORPHAN_GRACE_MS = 5_000

export class Supervisor implements SupervisorControl, AsyncDisposable {
  private readonly pools = new Map<string, PoolRuntime>()
  private readonly clock: Clock
  private readonly timers: TimerSet
  private readonly emit: Emit
  private readonly logger: Logger
  private readonly slots: Slots
  private readonly processes: Processes
  private readonly monitor: HealthMonitor
  private readonly recovery: Recovery
  private readonly dispatcher: Dispatcher<WorkerProcess>
  private startedAt = 0
  private starting: Promise<void> | null = null
  private stopping: Promise<void> | null = null
  apiUrl: string

  constructor(private readonly deps: SupervisorDeps) {
    const clock = steadyClock(deps.clock)
    const timers = new TimerSet(deps.timers)
    const logger = deps.logger
    const emit = eventEmitter(deps.emit, clock, logger)
    const random = deps.random ?? Math.random
    const { config } = deps.loaded
    this.clock = clock
    this.timers = timers
    this.emit = emit
    this.logger = logger
    this.apiUrl = deps.apiUrl ?? ''
    for (const cfg of deps.loaded.pools) this.pools.set(cfg.name, createPool(cfg, clock.now()))
    this.dispatcher = new Dispatcher<WorkerProcess>({
      jobs: deps.store.jobs,
      now: () => clock.now(),
      timers: deps.timers,
      random,
      policy: (queue) => jobPolicy(queueSettings(config, queue), config.recovery.jitter),
      emit,
      logger,
      onStaleWorker: (worker, detail) => this.onStale(worker, detail),
      eligible: (worker) => this.servesJobs(worker),
      mayClaim: deps.mayClaimJobs,
      onJobs: deps.onJobs,
    })
    this.processes = new Processes({
      spawner: deps.spawner,
      proc: deps.proc,
      writer: deps.writer,
      openLog: deps.openLog,
      tailLines: config.logs.tail_lines,
      baseEnv: deps.baseEnv ?? process.env,
      clock,
      timers,
      random,
      emit,
      logger,
      onSpawn: (pool, wp) => {
        this.monitor.watch(pool, wp)
        this.dispatcher.watch(wp, {
          pool: pool.cfg.name,
          queue: pool.cfg.queue,
          concurrency: pool.cfg.concurrency,
        })
      },
      returnJobs: (wp, why) => this.dispatcher.workerGone(wp, why),
      onExit: (pool, wp, exit) => this.onExit(pool, wp, exit),
    })
    this.slots = new Slots({
      clock,
      timers,
      emit,
      logger,
      spawn: (slot) => this.processes.spawn(slot.pool, slot.id, slot.index),
      openIncident: (slot, a, exit) =>
        this.recovery.open(slot, a.cause, a.detail, { exit, silentMs: a.silentMs }),
    })
    const dispatch = (slot: Slot, e: Parameters<Slots['dispatch']>[1]): boolean =>
      this.slots.dispatch(slot, e)
    this.recovery = new Recovery({
      clock,
      timers,
      random,
      newId: deps.newId ?? (() => timeOrderedId(clock.now())),
      emit,
      logger,
      node: deps.loaded.node.name,
      writer: deps.writer,
      store: deps.store,
      takeover: deps.takeover,
      processes: this.processes,
      jobs: this.dispatcher,
      dispatch,
    })
    this.monitor = new HealthMonitor({
      pools: this.pools,
      clock,
      timers,
      emit,
      logger,
      proc: deps.proc,
      counts: (now, queue) => deps.store.jobs.counts(now, queue),
      runProbe: deps.runProbe,
      onSlot: dispatch,
      retireSpare: (pool, spare, why) => this.processes.retireSpare(pool, spare, why),
      onScale: (pool, action, reason) =>
        action === 'out' ? this.scaleOut(pool, reason) : this.scaleIn(pool, reason),
    })
  }

  /** Starts every pool. Idempotent: concurrent callers share one start. */
  start(): Promise<void> {
    this.starting ??= this.doStart()
    return this.starting
  }

  private async doStart(): Promise<void> {
    this.startedAt = this.clock.now()
    // Availability counts from the start of supervision, not from the construction of the pools.
    for (const pool of this.pools.values()) pool.availability = startAvailability(this.startedAt, false)
    await this.recovery.closeLeftovers()
    await this.stopOrphans()
    // The previous supervisor's deliveries died with its workers: back to the queue, counting nothing.
    const released = await this.deps.store.jobs.releaseAllActive(this.startedAt)
    if (released > 0)
      this.logger.warn(
        { jobs: released },
        'jobs in flight when the last supervisor stopped are back in their queues',
      )
    for (const pool of this.pools.values()) {
      this.processes.open(pool)
      for (const slot of pool.slots) this.slots.launch(slot)
      for (let i = 0; i < pool.cfg.spares; i++) this.processes.launchSpare(pool)
    }
    this.monitor.start()
    const workers = [...this.pools.values()].reduce((n, p) => n + p.slots.length, 0)
    this.emit(
      'supervisor:started',
      'info',
      {},
      `supervising ${workers} workers in ${this.pools.size} pools`,
      {
        pools: [...this.pools.keys()],
        workers,
        apiUrl: this.apiUrl,
      },
    )
  }

  /**
   * Stops every worker gracefully (SIGTERM, SIGKILL after each pool's stop_timeout) and closes open
   * incidents as interrupted. `force` kills at once (a second SIGINT). Idempotent.
   */
  stop(reason = 'stop requested', force = false): Promise<void> {
    if (force)
      for (const pool of this.pools.values()) for (const p of liveProcesses(pool)) p.mp.signal('SIGKILL')
    this.stopping ??= this.doStop(reason)
    return this.stopping
  }

  private async doStop(reason: string): Promise<void> {
    await this.starting?.catch(() => undefined)
    // No new checks, recoveries, revive attempts or spares from here on, and no timer fires.
    this.monitor.stop()
    this.recovery.stop()
    this.processes.stop()
    this.timers.close()
    this.emit('supervisor:stopping', 'info', {}, `stopping: ${reason}`, { reason })
    const stops: Promise<unknown>[] = []
    for (const pool of this.pools.values()) {
      for (const p of liveProcesses(pool)) this.dispatcher.drain(p)
      for (const slot of pool.slots) {
        this.slots.dispatch(slot, { type: 'shutdown', reason, live: hasLiveProcess(slot) })
        this.recovery.interrupt(slot, reason)
      }
      for (const p of liveProcesses(pool))
        stops.push(p.stop({ mode: 'graceful', timeoutMs: pool.cfg.stop_timeout }, reason, this.clock.now()))
    }
    await Promise.all(stops)
    await this.dispatcher.stop()
    for (const pool of this.pools.values())
      for (const slot of pool.slots) this.slots.dispatch(slot, { type: 'shut', reason })
    this.processes.closeLogs()
    this.emit('supervisor:stopped', 'info', {}, `stopped: ${reason}`, { reason })
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop('disposed')
  }

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
    const now = this.clock.now()
    const out: WorkerView[] = []
    for (const pool of this.pools.values()) {
      for (const slot of pool.slots) out.push(viewSlot(slot, now))
      for (const spare of pool.spares) out.push(viewSpare(pool, spare, now))
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
    const current = slot.status.incident
    if (current) {
      throw new ShepherdError(
        'SHEPHERD_RECOVERY_IN_PROGRESS',
        `${id} is already being recovered (incident ${current.id}, ${current.phase})`,
      )
    }
    const strategy: Strategy = request.hard ? 'hard_restart' : 'soft_restart'
    const incident = this.recovery.open(slot, 'manual', `restart requested through the API (${strategy})`, {
      strategy,
      manual: true,
    })
    return { incidentId: incident.id }
  }

  listPools(): PoolView[] {
    const now = this.clock.now()
    return [...this.pools.values()].map((p) => {
      const a = noteAvailability(p.availability, now, p.availability.full)
      return {
        name: p.cfg.name,
        queue: p.cfg.queue ?? null,
        replicas: p.cfg.replicas,
        workers: p.slots.length,
        serving: servingCount(p),
        spares: p.spares.length,
        availability: a.observedMs === 0 ? 1 : a.fullMs / a.observedMs,
        observedMs: a.observedMs,
        fullMs: a.fullMs,
        restartsByCause: { ...p.restartsByCause },
      }
    })
  }

  history(): FleetHistory {
    const workers: FleetHistory['workers'] = {}
    const queues: FleetHistory['queues'] = {}
    for (const p of this.pools.values()) {
      for (const s of p.slots) workers[s.id] = [...s.samples]
      if (p.cfg.queue !== undefined) queues[p.cfg.queue] = [...p.queueHistory]
    }
    return { workers, queues }
  }

  async signal(id: string, request: SignalRequest): Promise<{ incidentId: string | null }> {
    if (this.stopping)
      throw new ShepherdError('SHEPHERD_SUPERVISOR_STOPPING', 'the supervisor is shutting down')
    const slot = this.findSlot(id)
    if (!slot) throw new ShepherdError('SHEPHERD_WORKER_NOT_FOUND', `no worker has the id ${id}`)
    const now = this.clock.now()
    const detail = `${request.source}: ${request.reason}`
    this.emit(
      'worker:signal',
      request.status === 'healthy' ? 'info' : 'warning',
      { pool: slot.pool.cfg.name, workerId: id },
      `${id} reported ${request.status} by ${detail}`,
      {
        status: request.status,
        reason: request.reason,
        source: request.source,
      },
    )
    if (request.status === 'healthy') {
      slot.external = null
      this.slots.dispatch(slot, {
        type: 'signal',
        status: 'healthy',
        detail: `${request.source} withdrew its signal`,
        external: slot.report?.worst === 'external',
      })
      return { incidentId: null }
    }
    if (request.status === 'degraded') {
      slot.external = { status: 'degraded', reason: request.reason, source: request.source, at: now }
      this.slots.dispatch(slot, {
        type: 'signal',
        status: 'degraded',
        detail: `reported degraded by ${detail}`,
        external: true,
      })
      return { incidentId: null }
    }
    const current = slot.status.incident
    if (current) {
      throw new ShepherdError(
        'SHEPHERD_RECOVERY_IN_PROGRESS',
        `${id} is already being recovered (incident ${current.id})`,
      )
    }
    // The signal applies to this process; its replacement starts with a clean slate.
    slot.external = null
    const incident = this.recovery.open(slot, 'external', `reported unhealthy by ${detail}`)
    return { incidentId: incident.id }
  }

  /** Runs a full health check of every pool now (timers call it every check_interval). */
  checkNow(): Promise<void> {
    return this.monitor.checkNow()
  }

  /** Routes output lines from the spawner to the pool's log file and the process's tail. */
  handleOutput(key: string, stream: 'out' | 'err', lines: string[]): void {
    this.processes.handleOutput(key, stream, lines)
  }

  /** The exit pipeline's last step (the jobs are back): the slot whose process it was decides. */
  private onExit(pool: PoolRuntime, wp: WorkerProcess, exit: ExitReport): void {
    this.monitor.forget(wp)
    const slot = pool.slots.find((s) => s.status.proc === wp)
    if (!slot) return // a spare, a replacement beside the sick worker, or a slot scaled in
    slot.lastExit = exit
    this.slots.dispatch(slot, { type: 'exit', proc: wp, exit })
  }

  /**
   * Workers a supervisor killed with SIGKILL left behind: SDK workers leave by themselves when the
   * IPC channel closes; anything else still running is stopped here, before new workers start.
   */
  private async stopOrphans(): Promise<void> {
    const { store, proc } = this.deps
    const records = await store.listWorkerProcesses()
    if (records.length === 0) return
    const grace = Math.max(...this.deps.loaded.pools.map((p) => p.stop_timeout), 0)
    const stopped = await stopOrphans(records, proc, Math.min(grace, ORPHAN_GRACE_MS), {
      now: () => this.clock.now(),
      sleep: (ms) => this.timers.sleep(ms),
    })
    await store.clearWorkerProcesses()
    if (stopped.length > 0) {
      this.logger.warn(
        { orphans: stopped.map((o) => ({ pid: o.pid, worker: o.workerId })) },
        `stopped ${stopped.length} worker process(es) left running by a supervisor that died`,
      )
    }
  }

  /** One more worker for a pool whose backlog grew. */
  private scaleOut(pool: PoolRuntime, reason: string): void {
    const from = pool.slots.length
    const index = Math.max(0, ...pool.slots.map((s) => s.index)) + 1
    const slot = createSlot(pool, index)
    pool.slots.push(slot)
    this.emit(
      'pool:scaled',
      'info',
      { pool: pool.cfg.name, workerId: slot.id },
      `${pool.cfg.name} scaled out to ${from + 1} workers: ${reason}`,
      {
        from,
        to: from + 1,
        reason,
      },
    )
    this.slots.launch(slot)
  }

  /**
   * One worker fewer, once the backlog has stayed low: the newest slot that is serving and not
   * being recovered stops taking jobs, finishes the ones it has, stops gracefully and goes away.
   */
  private scaleIn(pool: PoolRuntime, reason: string): void {
    const slot = [...pool.slots]
      .sort((a, b) => b.index - a.index)
      .find((s) => canScaleIn(s.status) && s.status.proc?.alive)
    if (!slot || pool.slots.length <= pool.cfg.replicas.min) return
    const from = pool.slots.length
    pool.slots.splice(pool.slots.indexOf(slot), 1)
    this.emit(
      'pool:scaled',
      'info',
      { pool: pool.cfg.name, workerId: slot.id },
      `${pool.cfg.name} scaled in to ${from - 1} workers: ${reason}`,
      {
        from,
        to: from - 1,
        reason,
      },
    )
    const wp = slot.status.proc!
    this.dispatcher.drain(wp)
    this.slots.dispatch(slot, { type: 'scale-in', reason })
    void wp.stop({ mode: 'graceful', timeoutMs: pool.cfg.stop_timeout }, 'scaled in', this.clock.now())
  }

  /** Slot processes (and scale-recovery replacements) work on jobs; warm spares wait to be promoted. */
  private servesJobs(wp: WorkerProcess): boolean {
    const pool = this.poolOf(wp)
    return pool !== undefined && slotOf(pool, wp) !== undefined
  }

  /** A worker answered for a job that was given away: it woke up from a hang, or lost track. Stop it. */
  private onStale(wp: WorkerProcess, detail: string): void {
    const pool = this.poolOf(wp)
    const slot = pool && slotOf(pool, wp)
    const what = `${wp.currentId} ${detail}`
    if (slot) this.slots.dispatch(slot, { type: 'stale', proc: wp, detail: what })
    else if (wp.alive && !wp.stopping) void wp.stop({ mode: 'hard', timeoutMs: 0 }, detail, this.clock.now())
  }

  /** The tokens of every job delivery this supervisor's workers hold, outcomes not yet written included. */
  heldDeliveries(): string[] {
    return this.dispatcher.heldTokens()
  }

  /** Deliveries the agent may have lost by itself (a lapsed lease): their workers are not stopped for them. */
  excuseDeliveries(tokens: readonly string[]): void {
    this.dispatcher.excuse(tokens)
  }

  private poolOf(wp: WorkerProcess): PoolRuntime | undefined {
    return this.pools.get(poolOfProcessKey(wp.key) ?? '')
  }

  private findSlot(id: string): Slot | undefined {
    return this.pools.get(poolOfWorkerId(id) ?? '')?.slots.find((s) => s.id === id)
  }
}
