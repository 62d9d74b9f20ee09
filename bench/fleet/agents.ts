/**
 * Agents of the fleet benchmark as OS processes of their own: a competitor's worker script (forked,
 * talking over IPC) or `shepherd start` (the built CLI).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
export const benchDir = path.join(here, '..')
export const workerScript = (name: string) => path.join(benchDir, 'workers', name)
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Waits for `cond`, polling every `pollMs`, until `deadline` (performance.now() ms): false if it passed. */
export async function waitFor(
  cond: () => Promise<boolean>,
  deadline: number,
  pollMs: number,
): Promise<boolean> {
  for (;;) {
    if (await cond()) return true
    if (performance.now() >= deadline) return false
    await sleep(pollMs)
  }
}

export interface Agent {
  child: ChildProcess
  /** Resolves once the agent said it was ready (competitors only: Shepherd says nothing). */
  ready: Promise<void>
  /** When it started its first job (epoch ms), if it says (competitors only). */
  firstJobAt(): number | null
  /** When its last job ended (epoch ms), as it says once stopped (competitors only). */
  lastJobAt(): number | null
  /** How it ended, if it exited before it was asked to stop (e.g. "exit code 1"); else null. */
  exitedEarly(): string | null
  /** Stops the agent and resolves once it exited, with the jobs it said it ran (competitors). */
  stop(): Promise<number | null>
}

/**
 * Watches for an exit before `stop()`: what `Agent.exitedEarly` says, with the last line the agent
 * wrote to stderr (passed on to the benchmark's own stderr as it comes).
 */
function earlyExit(child: ChildProcess): { stopping(): void; early(): string | null } {
  let stopping = false
  let early: string | null = null
  let lastLine = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk)
    const lines = chunk.toString().trim().split('\n')
    lastLine = lines.at(-1) || lastLine
  })
  child.once('exit', (code, signal) => {
    if (stopping) return
    early = `${signal ? `killed by ${signal}` : `exit code ${code}`}${lastLine ? `: ${lastLine}` : ''}`
  })
  return { stopping: () => void (stopping = true), early: () => early }
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })

/** SIGKILL if it has not exited `ms` after being asked to stop. */
async function exitWithin(child: ChildProcess, ms: number): Promise<void> {
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  await exited(child)
  clearTimeout(timer)
}

/**
 * A competitor's agent: `bench/workers/<script>` forked with `env`. It sends 'ready', `{ first }`
 * when it starts its first job, and, when BENCH_STAMP=1, `{ i, startedAt }` for each job it starts
 * (handed to `onStamp`); on 'stop' it stops and answers `{ ran }`.
 */
export function forkAgent(
  script: string,
  env: Record<string, string>,
  onStamp?: (i: number, startedAt: number) => void,
): Agent {
  const child = fork(workerScript(script), [], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  let ran: number | null = null
  let first: number | null = null
  let last: number | null = null
  const exit = earlyExit(child)
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with code ${code} before it was ready`)))
    child.on('message', (m: unknown) => {
      if (m === 'ready') resolve()
      else if (typeof m === 'object' && m !== null && 'ran' in m) {
        ran = Number(m.ran)
        last = 'last' in m && m.last !== null ? Number(m.last) : null
      } else if (typeof m === 'object' && m !== null && 'first' in m) first = Number(m.first)
      else if (typeof m === 'object' && m !== null && 'startedAt' in m && 'i' in m)
        onStamp?.(Number(m.i), Number(m.startedAt))
    })
  })
  ready.catch(() => undefined)
  return {
    child,
    ready,
    firstJobAt: () => first,
    lastJobAt: () => last,
    exitedEarly: exit.early,
    stop: async () => {
      exit.stopping()
      if (child.connected) child.send('stop')
      await exitWithin(child, 15_000)
      return ran
    },
  }
}

/**
 * Each Shepherd agent as a host of its own (BENCH_SHEPHERD_HOSTS=uts): `shepherd start` in a UTS
 * namespace whose host name is the node's, for a store that tells agents apart by host name alone.
 * Needs root and util-linux `unshare`.
 */
export const SEPARATE_HOSTS = process.env.BENCH_SHEPHERD_HOSTS === 'uts'

/**
 * `shepherd start -c <config>` as node `node` (SHEPHERD_NODE, and the host name too with
 * {@link SEPARATE_HOSTS}), its stderr passed on to the benchmark's.
 */
export function shepherdAgent(config: string, node: string): Agent {
  const start = [process.execPath, path.join(benchDir, '..', 'bin', 'shepherd.js'), 'start', '-c', config]
  const [command, ...args] = SEPARATE_HOSTS
    ? ['unshare', '--uts', 'sh', '-c', `hostname "$0" && exec "$@"`, node, ...start]
    : start
  const child = spawn(command!, args, {
    env: { ...process.env, SHEPHERD_NODE: node },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const exit = earlyExit(child)
  return {
    child,
    ready: Promise.resolve(),
    firstJobAt: () => null,
    lastJobAt: () => null,
    exitedEarly: exit.early,
    stop: async () => {
      exit.stopping()
      child.kill('SIGTERM')
      await exitWithin(child, 30_000)
      return null
    },
  }
}

export async function stopAll(agents: Agent[]): Promise<void> {
  await Promise.all(agents.map((a) => a.stop()))
}
