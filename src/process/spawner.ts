/**
 * The real {@link ProcessSpawner}: one child process per worker, in its own process group, with
 * an IPC channel for the worker SDK and its stdout/stderr split into lines.
 * @module
 */
import { type ChildProcess, type Serializable, spawn } from 'node:child_process'
import { statSync } from 'node:fs'
import type { Readable } from 'node:stream'

import type { ExitReport } from '../core/exit-report.js'
import { coerceError } from '../errors.js'
import type { ManagedProcess, OutputListener, ProcessSpawner, StopOptions, WorkerSpec } from './types.js'

/**
 * Longest line passed on, in UTF-16 code units (≈ bytes for ASCII). A worker that prints a
 * multi-megabyte JSON blob without a newline must not make the supervisor buffer all of it: the
 * rest of such a line is dropped and a marker says how much.
 */
export const MAX_LINE_LENGTH = 16 * 1024

/** The real spawner plus two things only the daemon needs. */
export interface NodeProcessSpawner extends ProcessSpawner {
  /** SIGKILLs every live worker's process group (and groups a crashed worker left behind)
   *  synchronously: safe to call from `process.on('exit')`. */
  killAllSync(): void
  /** Number of children that have not exited yet. */
  live(): number
}

interface SpawnerContext {
  now: () => number
  onOutput: OutputListener
  /** Children still running, by pid. */
  running: Map<number, ChildProcess>
  /** Groups whose leader exited while other members lived on and no stop() has cleaned them. */
  leftoverGroups: Set<number>
}

/**
 * Creates the spawner the daemon uses. `now` stamps `startedAt` and exit reports (the daemon's
 * monotonic clock); `onOutput` receives complete lines of every worker's stdout and stderr.
 *
 * @example
 * ```ts
 * const spawner = createProcessSpawner({ now: clock.now, onOutput: (id, stream, lines) => logs.write(id, stream, lines) })
 * process.on('exit', () => spawner.killAllSync())
 * ```
 */
export function createProcessSpawner(opts: {
  now: () => number
  onOutput: OutputListener
}): NodeProcessSpawner {
  const ctx: SpawnerContext = {
    now: opts.now,
    onOutput: opts.onOutput,
    running: new Map(),
    leftoverGroups: new Set(),
  }
  return {
    spawn: (spec) => spawnManaged(ctx, spec),
    killAllSync() {
      for (const pid of ctx.running.keys()) killQuietly(-pid, 'SIGKILL')
      for (const pgid of ctx.leftoverGroups) killQuietly(-pgid, 'SIGKILL')
      ctx.leftoverGroups.clear()
    },
    live: () => ctx.running.size,
  }
}

/**
 * Sends a signal; false instead of an exception for ESRCH (the target is gone, which is what a
 * kill wants) and EPERM (a member that changed credentials, e.g. a setuid helper: nothing to do).
 */
function killQuietly(target: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(target, signal)
    return true
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ESRCH' || code === 'EPERM') return false
    throw e
  }
}

function spawnManaged(ctx: SpawnerContext, spec: WorkerSpec): ManagedProcess {
  const startedAt = ctx.now()
  let child: ChildProcess | undefined
  let spawnError: Error | undefined
  const [file, args] = commandLine(spec)
  try {
    child = spawn(file, args, {
      cwd: spec.cwd,
      env: spec.env,
      // Own process group (pgid == pid), so a stop reaches every process the worker started.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
      // Never Node's own shell mode, which joins args into the script unquoted; see commandLine.
      shell: false,
    })
  } catch (e) {
    // Invalid arguments (a NUL byte in an arg, a non-string env value) throw synchronously.
    spawnError = coerceError(e)
  }
  return new ManagedChild(ctx, spec, startedAt, child, spawnError)
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

  constructor(
    private readonly ctx: SpawnerContext,
    private readonly spec: WorkerSpec,
    startedAt: number,
    private readonly child: ChildProcess | undefined,
    syncError: Error | undefined,
  ) {
    this.startedAt = startedAt
    this.pid = child?.pid ?? 0
    this.exited = new Promise((resolve) => (this.resolveExited = resolve))
    if (!child) {
      process.nextTick(() => this.failSpawn(syncError ?? new Error('spawn returned no child')))
      return
    }
    this.attach(child)
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
    // Members of the group that outlive their leader are remembered for killAllSync until a
    // stop() cleans them; kill(-pgid, 0) is one cheap syscall and ESRCH means none are left.
    if (!this.stopRequested && killQuietly(-this.pid, 0)) this.ctx.leftoverGroups.add(this.pid)
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
      if (options.mode === 'hard') killQuietly(-this.pid, 'SIGKILL')
      else await this.stopGracefully(options.timeoutMs)
    }
    const report = await this.exited
    this.killLeftovers()
    return report
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
      killQuietly(-this.pid, 'SIGKILL')
    }
  }

  /** Once the leader is gone, SIGKILL whatever is left of its group and the descendants that left it. */
  private killLeftovers(): void {
    killQuietly(-this.pid, 'SIGKILL')
    this.ctx.leftoverGroups.delete(this.pid)
    for (const pid of this.extraPids) killQuietly(pid, 'SIGKILL')
  }

  private pipeLines(stream: Readable | null, kind: 'out' | 'err'): void {
    if (!stream) return
    const splitter = new LineSplitter((lines) => this.emitLines(kind, lines))
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => splitter.push(chunk))
    stream.on('end', () => splitter.flush())
    // A pipe error (EIO when the child dies mid-write) ends the stream; nothing else to do.
    stream.on('error', () => splitter.flush())
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
  const code = (err as NodeJS.ErrnoException).code
  const where = `cannot start "${spec.command}" in ${spec.cwd}`
  if (!isDirectory(spec.cwd)) return `${where}: the working directory does not exist or is not a directory`
  switch (code) {
    case 'ENOENT':
      return `${where}: command not found (ENOENT)`
    case 'EACCES':
      return `${where}: permission denied, the file is not executable (EACCES)`
    default:
      return `${where}: ${err.message}`
  }
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
