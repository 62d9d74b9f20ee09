/**
 * Worker processes: spawning them with their environment and port, routing their output to the
 * pool's log file and their in-memory tail, keeping each pool's warm spares, and the one pipeline
 * every exit goes through: what the supervisor knew of the process is put away, the jobs it held
 * go back to the queue, and then (for a process that is not a spare) the slot is told, so that the
 * incident it opens knows which jobs went back.
 * @module
 */
import { describeExit, type ExitReport } from '../core/exit-report.js'
import { FRESH_MEMORY } from '../core/health.js'
import { poolOfProcessKey, processKey, spareId } from '../core/ids.js'
import { backoffDelay } from '../core/restart-policy.js'
import type { Logger } from '../logger.js'
import type { Clock } from '../ports/clock.js'
import type { PoolLog, ProcessSpawner, ProcPort } from '../ports/process.js'
import type { HeldSummary } from '../queue/dispatcher.js'
import type { WriteBehind } from '../store/write-behind.js'
import type { Emit } from './deps.js'
import { freePortOffset, type PoolRuntime, type Spare, workerEnv } from './pool-runtime.js'
import type { TimerSet } from './timer-set.js'
import { WorkerProcess } from './worker-process.js'

/** Output lines that arrive after a process exited still reach its log for this long. */
const OUTPUT_ROUTE_LINGER_MS = 10_000

export interface ProcessesDeps {
  spawner: ProcessSpawner
  proc: Pick<ProcPort, 'readStartTicks'>
  writer: Pick<WriteBehind, 'processStarted' | 'processEnded'>
  openLog: (pool: string) => PoolLog
  /** Lines of output kept in memory per process (logs.tail_lines). */
  tailLines: number
  /** Environment every worker inherits. */
  baseEnv: Record<string, string | undefined>
  clock: Clock
  timers: TimerSet
  random: () => number
  emit: Emit
  logger: Logger
  /** Every new process, spares included (readiness, probes; the dispatcher listens to its messages). */
  onSpawn: (pool: PoolRuntime, wp: WorkerProcess) => void
  /** The exit's first step: the jobs the process held go back to the queue. */
  returnJobs: (wp: WorkerProcess, why: 'crash' | 'release') => Promise<HeldSummary>
  /** The exit's last step, for every process once its jobs are back (a spare's is handled here). */
  onExit: (pool: PoolRuntime, wp: WorkerProcess, exit: ExitReport) => void
}

export class Processes {
  private readonly byKey = new Map<string, WorkerProcess>()
  private readonly logs = new Map<string, PoolLog>()
  private seq = 0
  /** Set at shutdown: no spares are started, and the jobs of processes that exit are released. */
  private stopping = false

  constructor(private readonly d: ProcessesDeps) {}

  /** Opens the pool's log file. */
  open(pool: PoolRuntime): void {
    this.logs.set(pool.cfg.name, this.d.openLog(pool.cfg.name))
  }

  /** Shutdown begins. */
  stop(): void {
    this.stopping = true
  }

  closeLogs(): void {
    for (const w of this.logs.values()) w.close()
  }

  spawn(pool: PoolRuntime, id: string, index: number): WorkerProcess {
    const cfg = pool.cfg
    const key = processKey(cfg.name, ++this.seq)
    const portOffset = freePortOffset(pool)
    const mp = this.d.spawner.spawn({
      workerId: key,
      pool: cfg.name,
      command: cfg.command,
      args: cfg.args,
      shell: cfg.shell,
      cwd: cfg.cwd,
      env: workerEnv(cfg, this.d.baseEnv, id, index, portOffset),
    })
    const wp = new WorkerProcess(mp, {
      key,
      id,
      index,
      startedAt: this.d.clock.now(),
      portOffset,
      tailLines: this.d.tailLines,
      probeNames: cfg.probes.map((p, i) => ({ name: `${p.type}#${i + 1}`, threshold: p.failure_threshold })),
    })
    this.byKey.set(key, wp)
    const startTicks = mp.pid > 0 ? this.d.proc.readStartTicks(mp.pid) : null
    if (startTicks !== null) {
      wp.startTicks = startTicks
      this.d.writer.processStarted({
        pid: mp.pid,
        startTicks,
        pool: cfg.name,
        workerId: id,
        spawnedAt: this.d.clock.now(),
      })
    }
    mp.onMessage((raw) => wp.receive(raw, this.d.clock.now()))
    void mp.exited.then((exit) => this.exited(pool, wp, exit))
    this.d.onSpawn(pool, wp)
    return wp
  }

  /** Routes output lines from the spawner to the pool's log file and the process's tail. */
  handleOutput(key: string, stream: 'out' | 'err', lines: string[]): void {
    const wp = this.byKey.get(key)
    if (!wp) return
    this.logs.get(poolOfProcessKey(key) ?? '')?.write(wp.currentId, stream, lines)
    wp.tail.push(lines.map((l) => `${stream}| ${l}`))
  }

  launchSpare(pool: PoolRuntime): void {
    if (this.stopping) return
    // The lowest number no spare holds now: spare ids (and so per-worker metric series) stay
    // bounded by `spares`, however many spares have come and gone.
    let n = 1
    while (pool.spares.some((s) => s.id === spareId(pool.cfg.name, n))) n++
    const id = spareId(pool.cfg.name, n)
    const wp = this.spawn(pool, id, pool.cfg.replicas.max + n)
    pool.spares.push({ id, proc: wp, cpuSeconds: 0, report: null, memory: FRESH_MEMORY })
    this.d.emit(
      'worker:spawned',
      'info',
      { pool: pool.cfg.name, workerId: id },
      `warm spare ${id} spawned (pid ${wp.pid})`,
      { pid: wp.pid, spare: true },
    )
    wp.onReady(() => {
      pool.spareFailures = 0
    })
  }

  /** A ready spare, taken out of the pool's spares (a new one starts in the background), or null. */
  takeSpare(pool: PoolRuntime): Spare | null {
    const i = pool.spares.findIndex((s) => s.proc.alive && s.proc.readyAt !== null && !s.proc.stopping)
    if (i < 0) return null
    const [spare] = pool.spares.splice(i, 1)
    queueMicrotask(() => this.launchSpare(pool))
    return spare!
  }

  /** Replaces a spare that is unhealthy. */
  retireSpare(pool: PoolRuntime, spare: Spare, why: string): void {
    this.d.logger.warn({ pool: pool.cfg.name, worker: spare.id, why }, 'replacing an unhealthy warm spare')
    pool.spares = pool.spares.filter((s) => s !== spare)
    void spare.proc
      .stop({ mode: 'hard', timeoutMs: 0 }, why, this.d.clock.now())
      .then(() => this.launchSpare(pool))
  }

  /** The exit pipeline: put away, jobs back, then the slot (or, for a spare, its replacement). */
  private async exited(pool: PoolRuntime, wp: WorkerProcess, exit: ExitReport): Promise<void> {
    wp.exitedAt = this.d.clock.now()
    if (wp.startTicks !== null) this.d.writer.processEnded(wp.pid, wp.startTicks)
    // Without a cgroup, descendants that left the process group die with it only if named: those
    // the last check saw. (The spawner killed the group, or the cgroup, at the exit.)
    if (wp.descendants.length > 0) void wp.mp.stop({ mode: 'hard', timeoutMs: 0 }, wp.descendants)
    this.d.timers.later(OUTPUT_ROUTE_LINGER_MS, () => this.byKey.delete(wp.key))
    this.d.emit(
      'worker:exit',
      exit.killedByUs ? 'info' : 'warning',
      { pool: pool.cfg.name, workerId: wp.currentId },
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
    // A crash counts toward quarantine; a shutdown does not.
    wp.jobsReturned = await this.d.returnJobs(wp, this.stopping ? 'release' : 'crash').catch((e: unknown) => {
      this.d.logger.error(
        { err: e, worker: wp.currentId },
        'could not give back the jobs of a worker that exited',
      )
      return { jobs: 0, checkpointed: 0 }
    })
    const spareIndex = pool.spares.findIndex((s) => s.proc === wp)
    if (spareIndex >= 0) this.spareExited(pool, spareIndex, wp)
    this.d.onExit(pool, wp, exit)
  }

  private spareExited(pool: PoolRuntime, index: number, wp: WorkerProcess): void {
    pool.spares.splice(index, 1)
    if (this.stopping || wp.stopping) return
    // A spare that keeps dying before it is ready is replaced with growing delays, not in a loop.
    if (wp.readyAt === null) pool.spareFailures++
    this.d.timers.later(backoffDelay(pool.spareFailures, pool.cfg.recovery, this.d.random), () =>
      this.launchSpare(pool),
    )
  }
}
