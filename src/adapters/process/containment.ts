/**
 * Containment: what holds everything a worker starts, so that none of it outlives the worker or
 * the supervisor. Two mechanisms, chosen once at start:
 *
 * - **cgroup** (cgroup v2 writable): each worker process is born in its own cgroup leaf, which
 *   holds all its descendants whatever they do with process groups and sessions. When the worker
 *   exits or is stopped, the leaf is killed (`cgroup.kill`) and removed.
 * - **process groups** (anything else): each worker leads its own process group; when it exits or
 *   is stopped the group is SIGKILLed, with any descendant that left the group and was seen at the
 *   last /proc sample. A descendant that leaves the group between two samples escapes.
 *
 * Either way a guardian process ({@link startGuardian}) stops the workers if the supervisor dies
 * without stopping them (SIGKILL): the whole cgroup, or every process group it was told about.
 * Signals for a graceful stop (SIGTERM, SIGCONT) and `signal()` still go to the process group.
 * @module
 */
import type { ChildProcess } from 'node:child_process'

import { type CgroupTree, openCgroupTree } from './cgroup.js'
import { type Guardian, startGuardian } from './guardian.js'

/** `auto`: cgroups where the system allows them, else process groups. */
export type ContainmentMode = 'auto' | 'process_groups'

/** Where one worker process and its descendants are held. */
export interface Cell {
  /** SIGKILL to everything in the cell: the cgroup, or the process group and `extraPids`. */
  kill(extraPids?: Iterable<number>): void
  /** The worker has exited (or never started): kills what is left and gives the cell up. Idempotent. */
  release(extraPids?: Iterable<number>): void
}

export interface Containment {
  readonly mechanism: 'cgroup' | 'process groups'
  /** For the log at start: `cgroup /sys/fs/cgroup/…/shepherd/…` or `process groups`. */
  readonly description: string
  /** Why cgroups are not used, when they were wanted; null otherwise. */
  readonly fallbackReason: string | null
  /** The guardian's pid, null without one. */
  readonly guardianPid: number | null
  /**
   * Calls `spawn` (once) so that the child is born in a new cell, named for `pool`. A `spawn`
   * that throws, or a cell that cannot be made, throws; the cell is released then.
   */
  enclose(pool: string, spawn: () => ChildProcess): { child: ChildProcess; cell: Cell }
  /** SIGKILL to every cell, synchronously: safe in `process.on('exit')`. */
  killAllSync(): void
  /** Kills what is left, removes the cgroups, and lets the guardian go. */
  close(): Promise<void>
}

/**
 * Sends a signal; false instead of an exception for ESRCH (the target is gone, which is what a
 * kill wants) and EPERM (a member that changed credentials, e.g. a setuid helper: nothing to do).
 */
export function killQuietly(target: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(target, signal)
    return true
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ESRCH' || code === 'EPERM') return false
    throw e
  }
}

/**
 * Opens the containment the daemon uses: a cgroup tree when `mode` is `auto` and the system
 * allows it, else process groups; with a guardian either way.
 *
 * @example
 * ```ts
 * const containment = openContainment({ mode: config.containment, warn: (m) => logger.warn(m) })
 * logger.info(`containment: ${containment.description}`)
 * ```
 */
export function openContainment(o: { mode: ContainmentMode; warn: (message: string) => void }): Containment {
  let fallbackReason: string | null = null
  if (o.mode === 'auto') {
    const tree = openCgroupTree()
    if ('dir' in tree) return new CgroupContainment(tree, startGuardian({ cgroup: tree.dir }, o.warn))
    fallbackReason = tree.unavailable
  }
  return new ProcessGroupContainment(startGuardian({ groups: true }, o.warn), fallbackReason)
}

/**
 * Process groups without a guardian: what a spawner gets when it is given no containment (tests
 * and library use, where the caller's own process owns the workers' lives).
 */
export function processGroupContainment(): Containment {
  return new ProcessGroupContainment(null, null)
}

class CgroupContainment implements Containment {
  readonly mechanism = 'cgroup'
  readonly fallbackReason = null

  constructor(
    private readonly tree: CgroupTree,
    private readonly guardian: Guardian,
  ) {}

  get description(): string {
    return `cgroup ${this.tree.dir}`
  }

  get guardianPid(): number | null {
    return this.guardian.pid
  }

  enclose(pool: string, spawn: () => ChildProcess): { child: ChildProcess; cell: Cell } {
    const leaf = this.tree.leaf(pool)
    try {
      const child = leaf.bear(spawn)
      // The cgroup holds every descendant: pids sampled earlier add nothing but the risk of
      // hitting a reused pid, so extraPids are not needed here.
      return { child, cell: { kill: () => leaf.kill(), release: () => leaf.release() } }
    } catch (e) {
      leaf.release()
      throw e
    }
  }

  killAllSync(): void {
    this.tree.killAllSync()
  }

  async close(): Promise<void> {
    await this.tree.close()
    this.guardian.close()
  }
}

class ProcessGroupContainment implements Containment {
  readonly mechanism = 'process groups'
  readonly description = 'process groups'
  /** Leaders of the groups not released yet. */
  private readonly groups = new Set<number>()

  constructor(
    private readonly guardian: Guardian | null,
    readonly fallbackReason: string | null,
  ) {}

  get guardianPid(): number | null {
    return this.guardian?.pid ?? null
  }

  enclose(_pool: string, spawn: () => ChildProcess): { child: ChildProcess; cell: Cell } {
    const child = spawn()
    // The child leads its own group (detached), so its pid is the group's id; no pid, no child.
    const pgid = child.pid ?? 0
    if (pgid > 0) {
      this.groups.add(pgid)
      this.guardian?.watchGroup(pgid)
    }
    let released = false
    const kill = (extraPids: Iterable<number> = []): void => {
      if (pgid > 0 && !released) killQuietly(-pgid, 'SIGKILL')
      for (const pid of extraPids) if (pid > 0) killQuietly(pid, 'SIGKILL')
    }
    const release = (extraPids: Iterable<number> = []): void => {
      kill(extraPids)
      if (released || pgid === 0) return
      released = true
      this.groups.delete(pgid)
      this.guardian?.forgetGroup(pgid)
    }
    return { child, cell: { kill, release } }
  }

  killAllSync(): void {
    for (const pgid of this.groups) killQuietly(-pgid, 'SIGKILL')
  }

  async close(): Promise<void> {
    this.killAllSync()
    this.guardian?.close()
  }
}
