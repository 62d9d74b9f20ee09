/**
 * Worker processes: spawning them with their environment and port, routing their output to the
 * pool's log file and their in-memory tail, and keeping each pool's warm spares.
 * @module
 */
import { describeExit, type ExitReport } from '../core/exit-report.js'
import { FRESH_MEMORY } from '../core/health.js'
import { backoffDelay } from '../core/restart-policy.js'
import type { WorkerMessage } from '../protocol/messages.js'
import type { PoolLog, SupervisorKernel } from './kernel.js'
import { freePortOffset, type PoolRuntime, type Spare, workerEnv } from './pool-runtime.js'
import { WorkerProcess } from './worker-process.js'

/** Output lines that arrive after a process exited still reach its log for this long. */
const OUTPUT_ROUTE_LINGER_MS = 10_000

export interface ProcessHooks {
  /** Called for every new process (readiness timers, probes). */
  onSpawn(pool: PoolRuntime, wp: WorkerProcess): void
  /** Called once when a process that is not a spare exits. */
  onExit(pool: PoolRuntime, wp: WorkerProcess, exit: ExitReport): void
  /** Called when a process is gone for good, to drop what was kept about it. */
  onGone(wp: WorkerProcess): void
  /** Called with every protocol message after the process has taken note of it. */
  onMessage(pool: PoolRuntime, wp: WorkerProcess, message: WorkerMessage): void
}

export class Processes {
  private readonly byKey = new Map<string, WorkerProcess>()
  private readonly logWriters = new Map<string, PoolLog>()
  private seq = 0
  hooks: ProcessHooks | null = null

  constructor(private readonly k: SupervisorKernel) {}

  /** Opens the pool's log file. */
  open(pool: PoolRuntime): void {
    this.logWriters.set(pool.cfg.name, this.k.deps.openLog(pool.cfg.name))
  }

  closeLogs(): void {
    for (const w of this.logWriters.values()) w.close()
  }

  spawn(pool: PoolRuntime, id: string, index: number): WorkerProcess {
    const cfg = pool.cfg
    const key = `${cfg.name}:${++this.seq}`
    const portOffset = freePortOffset(pool)
    const mp = this.k.deps.spawner.spawn({
      workerId: key,
      pool: cfg.name,
      command: cfg.command,
      args: cfg.args,
      shell: cfg.shell,
      cwd: cfg.cwd,
      env: workerEnv(cfg, this.k.deps.baseEnv ?? process.env, id, index, portOffset),
    })
    const wp = new WorkerProcess(mp, {
      key,
      id,
      index,
      startedAt: this.k.now(),
      portOffset,
      tailLines: this.k.deps.loaded.config.logs.tail_lines,
      probeNames: cfg.probes.map((p, i) => ({ name: `${p.type}#${i + 1}`, threshold: p.failure_threshold })),
    })
    this.byKey.set(key, wp)
    const startTicks = mp.pid > 0 ? this.k.deps.proc.readStartTicks(mp.pid) : null
    if (startTicks !== null) {
      wp.startTicks = startTicks
      this.k.deps.writer.processStarted({
        pid: mp.pid,
        startTicks,
        pool: cfg.name,
        workerId: id,
        spawnedAt: this.k.now(),
      })
    }
    mp.onMessage((raw) => {
      const m = wp.receive(raw, this.k.now())
      if (m) this.hooks?.onMessage(pool, wp, m)
    })
    void mp.exited.then((exit) => this.exited(pool, wp, exit))
    this.hooks?.onSpawn(pool, wp)
    return wp
  }

  /** Routes output lines from the spawner to the pool's log file and the process's tail. */
  handleOutput(key: string, stream: 'out' | 'err', lines: string[]): void {
    const wp = this.byKey.get(key)
    if (!wp) return
    this.logWriters.get(key.slice(0, key.lastIndexOf(':')))?.write(wp.currentId, stream, lines)
    wp.tail.push(lines.map((l) => `${stream}| ${l}`))
  }

  launchSpare(pool: PoolRuntime): void {
    if (this.k.stopping) return
    // The lowest number no spare holds now: spare ids (and so per-worker metric series) stay
    // bounded by `spares`, however many spares have come and gone.
    let n = 1
    while (pool.spares.some((s) => s.id === `${pool.cfg.name}#s${n}`)) n++
    const id = `${pool.cfg.name}#s${n}`
    const wp = this.spawn(pool, id, pool.cfg.replicas.max + n)
    pool.spares.push({ id, proc: wp, cpuSeconds: 0, report: null, memory: FRESH_MEMORY })
    this.k.emit(
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
    this.k.logger.warn({ pool: pool.cfg.name, worker: spare.id, why }, 'replacing an unhealthy warm spare')
    pool.spares = pool.spares.filter((s) => s !== spare)
    void spare.proc.stop({ mode: 'hard', timeoutMs: 0 }, why, this.k.now()).then(() => this.launchSpare(pool))
  }

  private exited(pool: PoolRuntime, wp: WorkerProcess, exit: ExitReport): void {
    wp.exitedAt = this.k.now()
    if (wp.startTicks !== null) this.k.deps.writer.processEnded(wp.pid, wp.startTicks)
    // Without a cgroup, descendants that left the process group die with it only if named: those
    // the last check saw. (The spawner killed the group, or the cgroup, at the exit.)
    if (wp.descendants.length > 0) void wp.mp.stop({ mode: 'hard', timeoutMs: 0 }, wp.descendants)
    this.hooks?.onGone(wp)
    this.k.later(OUTPUT_ROUTE_LINGER_MS, () => this.byKey.delete(wp.key))
    this.k.emit(
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
    const spareIndex = pool.spares.findIndex((s) => s.proc === wp)
    if (spareIndex < 0) {
      this.hooks?.onExit(pool, wp, exit)
      return
    }
    pool.spares.splice(spareIndex, 1)
    if (this.k.stopping || wp.stopping) return
    // A spare that keeps dying before it is ready is replaced with growing delays, not in a loop.
    if (wp.readyAt === null) pool.spareFailures++
    this.k.later(backoffDelay(pool.spareFailures, pool.cfg.recovery, this.k.random), () =>
      this.launchSpare(pool),
    )
  }
}
