/**
 * The real {@link ProcessSpawner}: one child process per worker, in its own process group and its
 * own cell of the {@link Containment} (a cgroup where the system allows it), with an IPC channel
 * for the worker SDK and its stdout/stderr split into lines. What is left of a worker is killed
 * the moment it exits, and its pipes are let go shortly after.
 * @module
 */
import { type ChildProcess, type Serializable, spawn } from 'node:child_process'
import { statSync } from 'node:fs'
import type { Readable } from 'node:stream'

import type { ExitReport } from '../../core/exit-report.js'
import { coerceError } from '../../errors.js'
import type {
  ManagedProcess,
  OutputListener,
  ProcessSpawner,
  StopOptions,
  WorkerSpec,
} from '../../ports/process.js'
import { type Cell, type Containment, killQuietly, processGroupContainment } from './containment.js'
import { describeSpawnFailure } from './run-command.js'

/**
 * Longest line passed on, in UTF-16 code units (≈ bytes for ASCII). A worker that prints a
 * multi-megabyte JSON blob without a newline must not make the supervisor buffer all of it: the
 * rest of such a line is dropped and a marker says how much.
 */
export const MAX_LINE_LENGTH = 16 * 1024

/**
 * After a worker exits, its stdout, stderr and IPC channel stay open this long for what is still
 * buffered in them (its last lines, its last messages), then they are closed. Normally they close
 * by themselves at once; one stays open only if a process that escaped the containment inherited
 * it, and such a pipe must not keep the supervisor alive or pin its memory. Reading what a pipe
 * buffers (64 KiB) takes microseconds; the rest is room for a busy event loop.
 */
export const OUTPUT_DRAIN_MS = 500

/** The real spawner plus what only the daemon needs. */
export interface NodeProcessSpawner extends ProcessSpawner {
  /** SIGKILLs every live worker and all it started, synchronously: safe to call from
   *  `process.on('exit')`. */
  killAllSync(): void
  /** Number of children that have not exited yet. */
  live(): number
  /** Kills what is left and closes the containment (its cgroups, its guardian). */
  close(): Promise<void>
}

interface SpawnerContext {
  now: () => number
  onOutput: OutputListener
  containment: Containment
  /** Children still running, by pid. */
  running: Map<number, ChildProcess>
}

/**
 * Creates a spawner. `now` stamps `startedAt` and exit reports (the daemon's monotonic clock);
 * `onOutput` receives complete lines of every worker's stdout and stderr; `containment` holds
 * each worker and its descendants (default: process groups without a guardian, for tests and
 * library use; the daemon passes {@link openContainment}'s).
 *
 * @example
 * ```ts
 * const spawner = createProcessSpawner({ now: clock.now, onOutput: (id, stream, lines) => logs.write(id, stream, lines), containment })
 * process.on('exit', () => spawner.killAllSync())
 * ```
 */
export function createProcessSpawner(opts: {
  now: () => number
  onOutput: OutputListener
  containment?: Containment
}): NodeProcessSpawner {
  const ctx: SpawnerContext = {
    now: opts.now,
    onOutput: opts.onOutput,
    containment: opts.containment ?? processGroupContainment(),
    running: new Map(),
  }
  return {
    spawn: (spec) => spawnManaged(ctx, spec),
    killAllSync: () => ctx.containment.killAllSync(),
    live: () => ctx.running.size,
    close: () => ctx.containment.close(),
  }
}

function spawnManaged(ctx: SpawnerContext, spec: WorkerSpec): ManagedProcess {
  const startedAt = ctx.now()
  let enclosed: { child: ChildProcess; cell: Cell } | undefined
  let spawnError: Error | undefined
  const [file, args] = commandLine(spec)
  try {
    enclosed = ctx.containment.enclose(spec.pool, () =>
      spawn(file, args, {
        cwd: spec.cwd,
        env: spec.env,
        // Own process group (pgid == pid), so a signal reaches every process the worker started
        // that stayed in it.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        serialization: 'json',
        // Never Node's own shell mode, which joins args into the script unquoted; see commandLine.
        shell: false,
      }),
    )
  } catch (e) {
    // Invalid arguments (a NUL byte in an arg, a non-string env value) throw synchronously, and
    // so does a cgroup that cannot be made or entered.
    spawnError = coerceError(e)
  }
  return new ManagedChild(ctx, spec, startedAt, enclosed, spawnError)
}

/** The shell a pool with `shell: true` runs its command through. */
export const WORKER_SHELL = '/bin/sh'

/**
 * The program and arguments to execute. Without `shell` (the default) that is the command itself,
 * and no character of it or of its arguments means anything special. With `shell`, the command is
 * the script of `/bin/sh -c` and the arguments become `$1`, `$2`, … after `$0` (the pool's name,
 * which sh puts in its error messages): each stays one word, whatever it contains, unlike Node's
 * `shell: true`, which pastes the arguments into the script.
 */
export function commandLine(
  spec: Pick<WorkerSpec, 'command' | 'args' | 'shell' | 'pool'>,
): [string, string[]] {
  if (!spec.shell) return [spec.command, spec.args]
  return [WORKER_SHELL, ['-c', spec.command, spec.pool, ...spec.args]]
}

class ManagedChild implements ManagedProcess {
  readonly pid: number
  readonly startedAt: number
  readonly exited: Promise<ExitReport>
  private report: ExitReport | null = null

  private resolveExited!: (report: ExitReport) => void
  private stopRequested = false
  private forced = false
  private stopping: Promise<ExitReport> | null = null
  private readonly extraPids = new Set<number>()
  private readonly messageListeners: Array<(message: unknown) => void> = []
  private readonly child: ChildProcess | undefined
  private readonly cell: Cell | undefined

  constructor(
    private readonly ctx: SpawnerContext,
    private readonly spec: WorkerSpec,
    startedAt: number,
    enclosed: { child: ChildProcess; cell: Cell } | undefined,
    syncError: Error | undefined,
  ) {
    this.startedAt = startedAt
    this.child = enclosed?.child
    this.cell = enclosed?.cell
    this.pid = this.child?.pid ?? 0
    this.exited = new Promise((resolve) => (this.resolveExited = resolve))
    if (!this.child) {
      process.nextTick(() => this.failSpawn(syncError ?? new Error('spawn returned no child')))
      return
    }
    this.attach(this.child)
  }

  private attach(child: ChildProcess): void {
    if (this.pid > 0) this.ctx.running.set(this.pid, child)
    child.on('error', (err) => {
      // 'error' also reports failed kills and IPC sends of a running child; only a child that
      // never got a pid failed to spawn. Its 'exit' may or may not follow, so we settle here.
      if (this.pid === 0 && this.exit === null) this.failSpawn(err)
    })
    // 'exit', not 'close': 'close' waits for stdio pipes that a grandchild may hold open forever,
    // and crash detection latency is a promise of the product.
    child.on('exit', (code, signal) => this.onExit(code, signal))
    child.on('message', (message) => this.dispatchMessage(message))
    this.pipeLines(child.stdout, 'out')
    this.pipeLines(child.stderr, 'err')
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exit !== null || this.pid === 0) return
    this.ctx.running.delete(this.pid)
    // Nothing a worker started outlives it: not until a later stop, not through a restart backoff.
    this.cell?.release(this.extraPids)
    this.letPipesGo()
    const at = this.ctx.now()
    this.settle({
      pid: this.pid,
      exitCode: code,
      signal,
      killedByUs: this.stopRequested,
      forced: this.forced,
      spawnFailed: false,
      at,
      durationMs: at - this.startedAt,
    })
  }

  private failSpawn(err: Error): void {
    if (this.exit !== null) return
    if (this.pid > 0) this.ctx.running.delete(this.pid)
    this.cell?.release()
    const at = this.ctx.now()
    this.settle({
      pid: this.pid,
      exitCode: null,
      signal: null,
      killedByUs: false,
      forced: false,
      spawnFailed: true,
      error: describeSpawnError(this.spec, err),
      at,
      durationMs: at - this.startedAt,
    })
  }

  get exit(): ExitReport | null {
    return this.report
  }

  private settle(report: ExitReport): void {
    this.report = report
    this.resolveExited(report)
  }

  onMessage(listener: (message: unknown) => void): void {
    this.messageListeners.push(listener)
  }

  private dispatchMessage(message: unknown): void {
    for (const listener of this.messageListeners) {
      try {
        listener(message)
      } catch {
        // A listener's bug must not take down the IPC channel of a healthy worker.
      }
    }
  }

  send(message: unknown): boolean {
    const child = this.child
    if (!child?.connected || this.exit !== null) return false
    try {
      // The callback form routes EPIPE / ERR_IPC_CHANNEL_CLOSED there instead of an 'error' event.
      child.send(message as Serializable, () => undefined)
      return true
    } catch {
      // Not serialisable (a cycle, a BigInt) or the channel closed in between.
      return false
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exit !== null || this.pid === 0) return
    killQuietly(-this.pid, signal)
  }

  stop(options: StopOptions, extraPids: readonly number[] = []): Promise<ExitReport> {
    for (const pid of extraPids) if (pid > 0) this.extraPids.add(pid)
    if (this.stopping) return this.stopping
    if (this.exit === null && this.pid > 0) this.stopRequested = true
    this.stopping = this.runStop(options)
    return this.stopping
  }

  private async runStop(options: StopOptions): Promise<ExitReport> {
    if (this.pid === 0) return this.exited
    if (this.exit === null) {
      if (options.mode === 'hard') this.killAll()
      else await this.stopGracefully(options.timeoutMs)
    }
    const report = await this.exited
    // The cell was released at the exit; this kills what the caller named since (descendants
    // that left the process group, for a containment without cgroups).
    this.cell?.release(this.extraPids)
    return report
  }

  /** SIGKILL to the process group and the whole cell. */
  private killAll(): void {
    killQuietly(-this.pid, 'SIGKILL')
    this.cell?.kill(this.extraPids)
  }

  private async stopGracefully(timeoutMs: number): Promise<void> {
    killQuietly(-this.pid, 'SIGTERM')
    // A SIGSTOPped process keeps SIGTERM pending until it runs again (systemd sends SIGCONT too).
    killQuietly(-this.pid, 'SIGCONT')
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<true>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)))
    const outcome = await Promise.race([this.exited.then(() => false as const), timedOut])
    clearTimeout(timer)
    if (outcome && this.exit === null) {
      this.forced = true
      this.killAll()
    }
  }

  /**
   * Closes stdout, stderr and the IPC channel {@link OUTPUT_DRAIN_MS} after the exit, if they
   * are still open then: only a process outside the containment can hold them by then.
   */
  private letPipesGo(): void {
    const child = this.child
    if (!child) return
    const timer = setTimeout(() => {
      child.stdout?.destroy()
      child.stderr?.destroy()
      if (child.connected) child.disconnect()
    }, OUTPUT_DRAIN_MS)
    timer.unref()
    // 'close' comes once every pipe and the channel are closed.
    child.once('close', () => clearTimeout(timer))
  }

  private pipeLines(stream: Readable | null, kind: 'out' | 'err'): void {
    if (!stream) return
    const splitter = new LineSplitter((lines) => this.emitLines(kind, lines))
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => splitter.push(chunk))
    // 'close' follows the end of the stream, an error (EIO when the child dies mid-write) and a
    // destroy() after the exit alike; flush() emits a last line without newline once.
    stream.on('close', () => splitter.flush())
    stream.on('error', () => undefined)
  }

  private emitLines(kind: 'out' | 'err', lines: string[]): void {
    try {
      this.ctx.onOutput(this.spec.workerId, kind, lines)
    } catch {
      // A failing log sink must not break output capture or crash the daemon.
    }
  }
}

function describeSpawnError(spec: WorkerSpec, err: Error): string {
  const where = `cannot start "${spec.command}" in ${spec.cwd}`
  if (!isDirectory(spec.cwd)) return `${where}: the working directory does not exist or is not a directory`
  return `${where}: ${describeSpawnFailure(err)}`
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

/**
 * Splits a character stream into complete lines. A partial line waits for its newline (or the end
 * of the stream); a line longer than {@link MAX_LINE_LENGTH} is cut there and its rest dropped,
 * so memory per stream stays bounded whatever the worker prints.
 */
export class LineSplitter {
  private partial = ''
  private dropped = 0

  constructor(private readonly emit: (lines: string[]) => void) {}

  push(chunk: string): void {
    const lines: string[] = []
    let start = 0
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      this.append(chunk.slice(start, nl))
      lines.push(this.take())
      start = nl + 1
    }
    this.append(chunk.slice(start))
    if (lines.length > 0) this.emit(lines)
  }

  /** Emits the unterminated remainder, if any (at the end of the stream). */
  flush(): void {
    if (this.partial.length > 0 || this.dropped > 0) this.emit([this.take()])
  }

  private append(text: string): void {
    const room = MAX_LINE_LENGTH - this.partial.length
    if (text.length <= room) {
      this.partial += text
      return
    }
    this.partial += text.slice(0, room)
    this.dropped += text.length - room
  }

  private take(): string {
    let line = this.partial.endsWith('\r') ? this.partial.slice(0, -1) : this.partial
    if (this.dropped > 0) line += ` …[line truncated: ${this.dropped} more characters dropped]`
    this.partial = ''
    this.dropped = 0
    return line
  }
}
