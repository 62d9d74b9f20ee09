/**
 * The process port: what the supervisor needs from the operating system to run a worker.
 * @module
 */
import type { ProbeConfig } from '../config/schema.js'
import type { ExitReport } from '../core/exit-report.js'

export interface WorkerSpec {
  /** Slot id, e.g. `email#2` (spares: `email#s1`). Used for log prefixes. */
  workerId: string
  pool: string
  command: string
  args: string[]
  /** Absolute working directory. */
  cwd: string
  /** Full environment of the child (the caller merges process.env, pool env and SHEPHERD_* vars). */
  env: Record<string, string>
  /**
   * Run `command` as a script of `/bin/sh -c`, `args` as its `$1`, `$2`, … (the pool's `shell`).
   * @defaultValue false: `command` is executed directly and nothing is interpreted
   */
  shell?: boolean
}

export interface StopOptions {
  /** graceful: SIGTERM (then SIGCONT, so a stopped process can act on it) to the process group,
   *  SIGKILL to the group and its cgroup after timeoutMs. hard: SIGKILL to both at once. */
  mode: 'graceful' | 'hard'
  timeoutMs: number
}

export interface ManagedProcess {
  readonly pid: number
  /** Epoch ms (monotonic clock) when spawned. */
  readonly startedAt: number
  /** Resolves once, when the process has exited (or failed to spawn). Never rejects. */
  readonly exited: Promise<ExitReport>
  /** The exit report once exited, else null. */
  readonly exit: ExitReport | null
  /** Subscribes to IPC messages from the worker (the worker SDK). */
  onMessage(listener: (message: unknown) => void): void
  /** Sends an IPC message; false when the channel is closed. */
  send(message: unknown): boolean
  /** Stops the whole process group; idempotent, concurrent callers share one stop. Once the
   *  process has exited, its cgroup (or, without one, its group and any descendant pid in
   *  `extraPids` that left the group) is SIGKILLed. Resolves with the exit report. */
  stop(options: StopOptions, extraPids?: readonly number[]): Promise<ExitReport>
  /** Sends a signal to the whole process group (no-op after exit). */
  signal(signal: NodeJS.Signals): void
}

export interface ProcessSpawner {
  spawn(spec: WorkerSpec): ManagedProcess
}

/** Called with complete lines of a worker's output, as they arrive. */
export type OutputListener = (workerId: string, stream: 'out' | 'err', lines: string[]) => void

/** A worker's process tree at one instant. */
export interface TreeSample {
  /** State letter of the root, null when the root is gone. */
  rootState: string | null
  /** Every member, the root included (when alive). */
  pids: number[]
  /** Members except the root: descendants by ppid and members of the root's process group. */
  descendants: number[]
  /** Members in state Z, the root excluded (a zombie root is the supervisor's own to reap). */
  zombies: number
  /** utime + stime of all members, in {@link CLK_TCK} ticks. */
  cpuTicks: number
  /** Resident memory of the live (non-zombie) members. */
  rssBytes: number
}

/** What the supervisor needs from /proc. */
export interface ProcPort {
  sampleTrees(roots: readonly number[]): Map<number, TreeSample>
  readProcState(pid: number): string | null
  /** Start ticks of the process with this pid (it names the process), or null when there is none. */
  readStartTicks(pid: number): number | null
  /** Sends a signal to the process group `pgid` (a worker's group has its pid); nothing when there is none. */
  signalGroup(pgid: number, signal: NodeJS.Signals): void
}

/** Where a pool's worker output goes (its log file; the daemon opens a PoolLogWriter, src/adapters/process/log-writer.ts). */
export interface PoolLog {
  write(workerId: string, stream: 'out' | 'err', lines: string[]): void
  close(): void
}

/** What a probe can refer to through `{port}`, `{index}`, `{pid}` and `{id}`. */
export interface ProbeVars {
  /** The worker's PORT, when its pool gives it one. */
  port?: number
  /** The worker's index in its pool. */
  index: number
  pid: number
  /** The worker id, e.g. `email#2`. */
  id: string
}

/** The outcome of one probe. */
export interface ProbeResult {
  ok: boolean
  /** What happened, for people: `HTTP 503`, `connection refused (ECONNREFUSED)`, `exit code 1: …`. */
  detail: string
  durationMs: number
}

/** Runs one liveness probe of a worker (the real one: src/adapters/process/probes.ts). */
export type ProbeRunner = (probe: ProbeConfig, vars: ProbeVars) => Promise<ProbeResult>
