/**
 * The supervisor: runs the pools of a config, watches every worker, and recovers sick ones by the
 * flow the pure core decides. It is composed of:
 * - Processes (processes.ts): spawning, output routing, warm spares;
 * - HealthMonitor (health-monitor.ts): periodic checks, the hang watchdog, probes;
 * - Recovery (recovery.ts): incidents, from detection to recovered or escalated, and revivals;
 * - SupervisorKernel (kernel.ts): what they share (timers, clock, events, slot states).
 * This class owns the lifecycle and answers the control API.
 * @module
 */
import { jobPolicy, queueSettings } from '../config/load.js'
import { noteAvailability, startAvailability } from '../core/availability.js'
import type { ExitReport } from '../core/exit-report.js'
import { describeExit } from '../core/exit-report.js'
import type { Strategy } from '../core/strategy.js'
import { isServing } from '../core/worker-state.js'
import { ShepherdError } from '../errors.js'
import { stopOrphans } from '../process/orphans.js'
import type { WorkerMessage } from '../protocol/messages.js'
import { Dispatcher } from '../queue/dispatcher.js'
import { HealthMonitor } from './health-monitor.js'
import { type SupervisorDeps, SupervisorKernel } from './kernel.js'
import {
  createPool,
  createSlot,
  liveProcesses,
  type PoolRuntime,
  servingCount,
  type Slot,
} from './pool-runtime.js'
import { Processes } from './processes.js'
import { Recovery } from './recovery.js'
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

export type { ProcPort, SupervisorDeps } from './kernel.js'

/** Orphans of a dead supervisor get SIGTERM, then SIGKILL after at most this long. */
const ORPHAN_GRACE_MS = 5_000

export class Supervisor implements SupervisorControl, AsyncDisposable {
  private readonly k: SupervisorKernel
  private readonly pools = new Map<string, PoolRuntime>()
  private readonly processes: Processes
  private readonly monitor: HealthMonitor
  private readonly recovery: Recovery
  private readonly dispatcher: Dispatcher<WorkerProcess>
  private startedAt = 0
  private starting: Promise<void> | null = null
  private stopping: Promise<void> | null = null
  apiUrl: string

  constructor(deps: SupervisorDeps) {
    this.k = new SupervisorKernel(deps)
    this.apiUrl = deps.apiUrl ?? ''
    for (const cfg of deps.loaded.pools) this.pools.set(cfg.name, createPool(cfg, this.k.now()))
    this.processes = new Processes(this.k)
    const { config } = deps.loaded
    this.dispatcher = new Dispatcher<WorkerProcess>({
      jobs: deps.store.jobs,
      now: () => this.k.now(),
      timers: deps.timers,
      random: this.k.random,
      policy: (queue) => jobPolicy(queueSettings(config, queue), config.recovery.jitter),
      emit: (type, severity, origin, message, data) => this.k.emit(type, severity, origin, message, data),
      logger: this.k.logger,
      onStaleWorker: (worker, detail) => this.onStale(worker, detail),
      eligible: (worker) => this.servesJobs(worker),
      onJob: deps.onJob,
    })
    this.recovery = new Recovery(this.k, this.processes, this.dispatcher)
    this.monitor = new HealthMonitor(
      this.k,
      this.pools,
      this.processes,
      (slot, a) => {
        // A revive attempt that turns sick has failed its trial; it does not open an incident.
        if (!this.recovery.failRevive(slot, `${a.cause}: ${a.detail}`))
          this.recovery.open(slot, a.cause, a.detail, { silentMs: a.silentMs })
      },
      (pool, action, reason) => (action === 'out' ? this.scaleOut(pool, reason) : this.scaleIn(pool, reason)),
    )
    this.processes.hooks = {
      onSpawn: (pool, wp) => this.monitor.watch(pool, wp),
      onExit: (pool, wp, exit) => this.onExit(pool, wp, exit),
      onGone: (wp) => {
        this.monitor.forget(wp)
        // Whatever it still held goes back to the queue: a crash counts toward quarantine, a
        // shutdown does not. (A recovery may have given them back already; then this is a no-op.)
        void this.dispatcher.workerGone(wp, this.k.stopping ? 'release' : 'crash')
      },
      onMessage: (pool, wp, m) => this.onMessage(pool, wp, m),
    }
  }

  /** Starts every pool. Idempotent: concurrent callers share one start. */
  start(): Promise<void> {
    this.starting ??= this.doStart()
    return this.starting
  }

  private async doStart(): Promise<void> {
    this.startedAt = this.k.now()
    // Availability counts from the start of supervision, not from the construction of the pools.
    for (const pool of this.pools.values()) pool.availability = startAvailability(this.startedAt, false)
    await this.recovery.closeLeftovers(this.k.deps.loaded.pools)
    await this.stopOrphans()
    // The previous supervisor's deliveries died with its workers: back to the queue, counting nothing.
    const released = await this.k.deps.store.jobs.releaseAllActive(this.startedAt)
    if (released > 0)
      this.k.logger.warn(
        { jobs: released },
        'jobs in flight when the last supervisor stopped are back in their queues',
      )
    for (const pool of this.pools.values()) {
      this.processes.open(pool)
      for (const slot of pool.slots) this.launch(slot)
      for (let i = 0; i < pool.cfg.spares; i++) this.processes.launchSpare(pool)
    }
    this.monitor.start()
    const workers = [...this.pools.values()].reduce((n, p) => n + p.slots.length, 0)
    this.k.emit(
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
    this.k.stopping = true
    this.k.cancelAll()
    this.k.emit('supervisor:stopping', 'info', {}, `stopping: ${reason}`, { reason })
    const stops: Promise<unknown>[] = []
    for (const pool of this.pools.values()) {
      for (const p of liveProcesses(pool)) this.dispatcher.drain(p)
      for (const slot of pool.slots) {
        this.recovery.interrupt(slot, reason)
        if (slot.proc?.alive || slot.surge?.alive) this.k.setState(slot, 'stopping', reason)
      }
      for (const p of liveProcesses(pool))
        stops.push(p.stop({ mode: 'graceful', timeoutMs: pool.cfg.stop_timeout }, reason, this.k.now()))
    }
    await Promise.all(stops)
    await this.dispatcher.stop()
    for (const pool of this.pools.values())
      for (const slot of pool.slots) this.k.setState(slot, 'exited', reason)
    this.processes.closeLogs()
    this.k.emit('supervisor:stopped', 'info', {}, `stopped: ${reason}`, { reason })
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop('disposed')
  }

  info(): SupervisorInfo {
    return {
      pid: process.pid,
      version: this.k.deps.version ?? '0.0.0',
      startedAt: this.startedAt,
      configFile: this.k.deps.loaded.file,
      pools: [...this.pools.keys()],
      apiUrl: this.apiUrl,
    }
  }

  listWorkers(): WorkerView[] {
    const now = this.k.now()
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
    if (slot.incident) {
      throw new ShepherdError(
        'SHEPHERD_RECOVERY_IN_PROGRESS',
        `${id} is already being recovered (incident ${slot.incident.id}, ${slot.incident.phase})`,
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
    const now = this.k.now()
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
    const now = this.k.now()
    const detail = `${request.source}: ${request.reason}`
    this.k.emit(
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
      if (slot.state === 'degraded' && slot.report?.worst === 'external')
        this.k.setState(slot, 'ready', `${request.source} withdrew its signal`)
      return { incidentId: null }
    }
    if (request.status === 'degraded') {
      slot.external = { status: 'degraded', reason: request.reason, source: request.source, at: now }
      if (slot.state === 'ready') this.k.setState(slot, 'degraded', `reported degraded by ${detail}`)
      return { incidentId: null }
    }
    if (slot.incident) {
      throw new ShepherdError(
        'SHEPHERD_RECOVERY_IN_PROGRESS',
        `${id} is already being recovered (incident ${slot.incident.id})`,
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

  /** Starts a slot's first process. */
  private launch(slot: Slot): void {
    const wp = this.processes.spawn(slot.pool, slot.id, slot.index)
    slot.proc = wp
    this.k.setState(slot, 'starting', `spawned pid ${wp.pid}`)
    this.k.emit(
      'worker:spawned',
      'info',
      { pool: slot.pool.cfg.name, workerId: slot.id },
      `${slot.id} spawned (pid ${wp.pid})`,
      {
        pid: wp.pid,
        spare: false,
      },
    )
    wp.onReady((how) => {
      if (slot.proc === wp && !slot.incident && slot.state === 'starting')
        this.k.setState(slot, 'ready', `ready (${how})`)
    })
    // A first start is held to the same verify_timeout as a restart: never ready is a failure too.
    const timeout = slot.pool.cfg.recovery.verify_timeout
    this.k.later(timeout, () => {
      if (slot.proc === wp && wp.alive && wp.readyAt === null && !slot.incident && !slot.reviving) {
        this.recovery.open(
          slot,
          'start-timeout',
          `not ready within ${timeout} ms of its start (verify_timeout)`,
        )
      }
    })
  }

  /** A crash: the exit event is the detection. Exits that a stop or an incident expects are left to them. */
  private onExit(pool: PoolRuntime, wp: WorkerProcess, exit: ExitReport): void {
    const slot = pool.slots.find((s) => s.proc === wp)
    if (!slot) return // a surge replacement: its verify or the incident's next stop handles it
    slot.lastExit = exit
    if (this.k.stopping || wp.stopping || slot.incident || slot.reviving) return
    this.k.setState(slot, 'exited', describeExit(exit))
    this.recovery.open(slot, exit.spawnFailed ? 'spawn-failed' : 'crash', describeExit(exit), { exit })
  }

  /**
   * Workers a supervisor killed with SIGKILL left behind: SDK workers leave by themselves when the
   * IPC channel closes; anything else still running is stopped here, before new workers start.
   */
  private async stopOrphans(): Promise<void> {
    const { store, proc } = this.k.deps
    const records = await store.listWorkerProcesses()
    if (records.length === 0) return
    const grace = Math.max(...this.k.deps.loaded.pools.map((p) => p.stop_timeout), 0)
    const stopped = await stopOrphans(records, proc, Math.min(grace, ORPHAN_GRACE_MS), {
      now: () => this.k.now(),
      sleep: (ms) => this.k.sleep(ms),
    })
    await store.clearWorkerProcesses()
    if (stopped.length > 0) {
      this.k.logger.warn(
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
    this.k.emit(
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
    this.launch(slot)
  }

  /**
   * One worker fewer, once the backlog has stayed low: the newest slot that is serving and not
   * being recovered stops taking jobs, finishes the ones it has, stops gracefully and goes away.
   */
  private scaleIn(pool: PoolRuntime, reason: string): void {
    const slot = [...pool.slots]
      .sort((a, b) => b.index - a.index)
      .find((s) => !s.incident && !s.reviving && isServing(s.state) && s.proc?.alive)
    if (!slot || pool.slots.length <= pool.cfg.replicas.min) return
    const from = pool.slots.length
    pool.slots.splice(pool.slots.indexOf(slot), 1)
    this.k.emit(
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
    const wp = slot.proc!
    this.dispatcher.drain(wp)
    this.k.setState(slot, 'stopping', `scaled in: ${reason}`)
    void wp.stop({ mode: 'graceful', timeoutMs: pool.cfg.stop_timeout }, 'scaled in', this.k.now())
  }

  /** Jobs and checkpoints from workers. */
  private onMessage(pool: PoolRuntime, wp: WorkerProcess, m: WorkerMessage): void {
    if (m.t === 'work') {
      if (pool.cfg.queue === undefined) {
        this.k.logger.warn(
          { pool: pool.cfg.name, worker: wp.currentId },
          'a worker asked for jobs, but its pool has no queue',
        )
        return
      }
      this.dispatcher.subscribe(
        wp,
        pool.cfg.name,
        pool.cfg.queue,
        Math.min(m.concurrency, pool.cfg.concurrency),
      )
    } else if (m.t === 'settle') {
      this.dispatcher.receive(wp, m.items)
    }
  }

  /** Slot processes (and scale-recovery replacements) work on jobs; warm spares wait to be promoted. */
  private servesJobs(wp: WorkerProcess): boolean {
    const pool = this.pools.get(wp.key.slice(0, wp.key.lastIndexOf(':')))
    return pool?.slots.some((s) => s.proc === wp || s.surge === wp) ?? false
  }

  /** A worker answered for a job that was given away: it woke up from a hang, or lost track. Stop it. */
  private onStale(wp: WorkerProcess, detail: string): void {
    const pool = this.pools.get(wp.key.slice(0, wp.key.lastIndexOf(':')))
    const slot = pool?.slots.find((s) => s.proc === wp)
    if (slot && !slot.incident && !this.k.stopping) {
      this.recovery.open(slot, 'stale-delivery', `${wp.currentId} ${detail}`)
      return
    }
    if (wp.alive && !wp.stopping) void wp.stop({ mode: 'hard', timeoutMs: 0 }, detail, this.k.now())
  }

  /** Enqueued through the API: deliver without waiting for the next poll. */
  jobsAdded(): void {
    this.dispatcher.kick()
  }

  private findSlot(id: string): Slot | undefined {
    return this.pools.get(id.slice(0, id.lastIndexOf('#')))?.slots.find((s) => s.id === id)
  }
}
