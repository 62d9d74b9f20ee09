/**
 * Runs a short command to its end: an exec probe, a command hook. Without a shell, in its own
 * process group, with a time limit and a cancel signal that kill the whole group, and with a
 * bounded part of its stderr kept for the message that explains a failure. Whatever the command
 * left running in its group is killed when it exits, so nothing piles up one per run.
 *
 * Worker processes are not run this way: they are long-lived and contained by the spawner
 * (spawner.ts, containment.ts), which shares the group kill and {@link describeSpawnFailure}.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process'

import { coerceError } from '../../errors.js'
import type { TimerPort } from '../../ports/clock.js'
import { nodeTimers } from '../timers.js'
import { killQuietly } from './containment.js'

/**
 * After the command exits, how long to wait for the end of its stderr. A process it started
 * outside its group may hold the pipe open forever; what explains a failure is almost always there
 * already.
 */
export const STDERR_GRACE_MS = 100

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  /** Executable, found on PATH or relative to `cwd`. Never run through a shell. */
  command: string
  args: readonly string[]
  cwd: string
  /** @defaultValue process.env */
  env?: Record<string, string | undefined>
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  input?: string
  /** Time limit, ms: then the group is killed and the result is `stopped`. @defaultValue none */
  timeoutMs?: number
  /** Aborting it kills the group, and the result is `stopped`. */
  signal?: AbortSignal
  /**
   * Which part of stderr is kept, and how much (characters): the start (`head`: a probe's first
   * line) or the end (`tail`: the last thing a failing program prints).
   */
  stderr: { keep: 'head' | 'tail'; chars: number }
  /** @defaultValue `nodeTimers` */
  timers?: TimerPort
}

/** How a command ended. */
export type CommandResult =
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null; stderr: string }
  /** Killed at the time limit or by the caller's signal. */
  | { kind: 'stopped'; stderr: string }
  /** It never ran: not found, not executable, invalid arguments. */
  | { kind: 'not-started'; error: NodeJS.ErrnoException }

/**
 * Runs the command and resolves with how it ended; never rejects.
 * @example
 * ```ts
 * const r = await runCommand({ command: 'pg_isready', args: [], cwd, timeoutMs: 2000, stderr: { keep: 'head', chars: 4096 } })
 * if (r.kind === 'exited' && r.code === 0) console.log('ready')
 * ```
 */
export function runCommand(o: RunCommandOptions): Promise<CommandResult> {
  if (o.signal?.aborted) return Promise.resolve({ kind: 'stopped', stderr: '' })
  const timers = o.timers ?? nodeTimers
  return new Promise((resolve) => {
    let child: ChildProcess
    try {
      child = spawn(o.command, [...o.args], {
        cwd: o.cwd,
        env: o.env ?? process.env,
        shell: false,
        // Its own process group (pgid == pid), so that a kill reaches whatever it started too.
        detached: true,
        stdio: [o.input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'],
      })
    } catch (e) {
      // Invalid arguments (a NUL byte) throw synchronously.
      resolve({ kind: 'not-started', error: coerceError(e) })
      return
    }
    let stderr = ''
    let stopped = false
    let settled = false
    let timer: unknown = null
    let grace: unknown = null
    const killGroup = (): void => {
      if (child.pid !== undefined) killQuietly(-child.pid, 'SIGKILL')
    }
    const finish = (result: CommandResult): void => {
      if (settled) return
      settled = true
      if (timer !== null) timers.clear(timer)
      if (grace !== null) timers.clear(grace)
      o.signal?.removeEventListener('abort', stop)
      child.stderr?.destroy()
      resolve(result)
    }
    const stop = (): void => {
      stopped = true
      killGroup()
    }
    o.signal?.addEventListener('abort', stop, { once: true })
    if (o.timeoutMs !== undefined) timer = timers.set(stop, o.timeoutMs)

    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      stderr = keep(stderr, chunk, o.stderr)
    })
    child.stderr?.on('error', () => undefined)
    child.on('error', (err: NodeJS.ErrnoException) => {
      // A failed kill or write of a running child also lands here; its 'exit' follows.
      if (child.pid === undefined) finish({ kind: 'not-started', error: err })
    })
    child.once('exit', (code, signal) => {
      // The group may hold processes the command left behind; they are not ours to keep.
      killGroup()
      // Exited: the time limit and the signal have nothing left to stop.
      if (timer !== null) timers.clear(timer)
      o.signal?.removeEventListener('abort', stop)
      const report = (): void =>
        finish(stopped ? { kind: 'stopped', stderr } : { kind: 'exited', code, signal, stderr })
      grace = timers.set(report, STDERR_GRACE_MS)
      child.once('close', report)
    })
    // A command that exits without reading stdin closes the pipe; that is its right, not an error.
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(o.input)
  })
}

/** `text` with `chunk` added, cut to the part `how` keeps. */
function keep(text: string, chunk: string, how: RunCommandOptions['stderr']): string {
  if (how.keep === 'tail') return (text + chunk).slice(-how.chars)
  return text.length < how.chars ? text + chunk.slice(0, how.chars - text.length) : text
}

/**
 * Why a program could not be started, for people: `command not found (ENOENT)`, `permission
 * denied, the file is not executable (EACCES)`, or the system's message.
 */
export function describeSpawnFailure(err: Error): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'command not found (ENOENT)'
    case 'EACCES':
      return 'permission denied, the file is not executable (EACCES)'
    default:
      return err.message
  }
}
