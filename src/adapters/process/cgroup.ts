/**
 * cgroup v2 containment: one cgroup per supervisor, one leaf per worker process, each worker born
 * inside its leaf. A leaf holds everything the worker ever starts, whatever it does with process
 * groups and sessions (setsid, double forks), and one write to `cgroup.kill` ends all of it.
 *
 * The tree, under the supervisor's own cgroup (so that under systemd it stays inside the unit):
 * ```
 * <own cgroup>/shepherd/<supervisor pid>-<token>/<pool>-<n>
 * ```
 * @module
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

/** One cgroup v2 mount, from /proc/self/mountinfo. */
export interface Cgroup2Mount {
  /** Where it is mounted in this mount namespace. */
  mountPoint: string
  /** Which cgroup of the hierarchy appears at the mount point ("/" unless bind-mounted). */
  root: string
  readOnly: boolean
}

/** Where the supervisor's own cgroup directory is, or why there is none it can use. */
export type CgroupPlacement = { dir: string } | { unavailable: string }

/** The cgroup v2 mounts listed in a /proc/<pid>/mountinfo text, in order. */
export function parseCgroup2Mounts(mountinfo: string): Cgroup2Mount[] {
  const mounts: Cgroup2Mount[] = []
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mount-point options [optional fields…] - fstype source super-options
    const dash = line.indexOf(' - ')
    if (dash < 0) continue
    const [fstype] = line.slice(dash + 3).split(' ')
    if (fstype !== 'cgroup2') continue
    const fields = line.slice(0, dash).split(' ')
    if (fields.length < 6) continue
    mounts.push({
      root: unescapeMountField(fields[3]!),
      mountPoint: unescapeMountField(fields[4]!),
      readOnly: fields[5]!.split(',').includes('ro'),
    })
  }
  return mounts
}

/** mountinfo writes space, tab, newline and backslash in paths as octal escapes (\040 …). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
}

/** The cgroup v2 path of a process from its /proc/<pid>/cgroup text (the `0::` line), or null. */
export function parseOwnCgroup(procCgroup: string): string | null {
  for (const line of procCgroup.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3).trim() || null
  }
  return null
}

/**
 * The directory of the supervisor's own cgroup: the first writable cgroup v2 mount whose root
 * contains it. A hybrid layout (v1 controllers, v2 at /sys/fs/cgroup/unified) works as well as a
 * pure v2 one; v1 alone (no `0::` line, no cgroup2 mount) and a read-only mount (a container's
 * default) do not.
 */
export function locateOwnCgroup(mountinfo: string, procCgroup: string): CgroupPlacement {
  const own = parseOwnCgroup(procCgroup)
  if (own === null) return { unavailable: 'this process is in no cgroup v2 hierarchy' }
  const mounts = parseCgroup2Mounts(mountinfo)
  if (mounts.length === 0) return { unavailable: 'cgroup v2 is not mounted' }
  let readOnly: Cgroup2Mount | null = null
  for (const m of mounts) {
    const rel = relativeCgroup(m.root, own)
    if (rel === null) continue
    if (m.readOnly) {
      readOnly ??= m
      continue
    }
    return { dir: rel === '' ? m.mountPoint : path.join(m.mountPoint, rel) }
  }
  if (readOnly) return { unavailable: `cgroup v2 is mounted read-only at ${readOnly.mountPoint}` }
  return { unavailable: `no cgroup v2 mount shows this process's cgroup ${own}` }
}

/** `own` relative to a mount's root ('' when equal), or null when it lies outside it. */
function relativeCgroup(root: string, own: string): string | null {
  if (root === '/') return own.replace(/^\/+/, '')
  if (own === root) return ''
  return own.startsWith(`${root}/`) ? own.slice(root.length + 1) : null
}

/** Longest label part of a leaf's name: far below NAME_MAX, and enough to recognise a pool. */
const MAX_LEAF_LABEL = 64

/**
 * The leaf of one worker process: its label (the pool's name) with anything but letters, digits,
 * `_` and `-` turned into `_` (no `.`, so a name can never look like an interface file such as
 * `cgroup.procs`), then `-<n>`, a number the tree never gives twice.
 */
export function leafName(label: string, n: number): string {
  const id = label.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, MAX_LEAF_LABEL)
  return `${id || 'worker'}-${n}`
}

/** The cgroup of one supervisor: its pid, to find it, and a token, so that a reused pid never collides. */
export function supervisorCgroupName(pid: number, token: string): string {
  return `${pid}-${token}`
}

/** The shared parent of every supervisor's cgroup, in the supervisor's own cgroup. */
export const CGROUP_PARENT = 'shepherd'

/**
 * SIGKILL to every process in a cgroup and its descendants: one write to `cgroup.kill` (Linux
 * 5.14+), else {@link freezeAndKill}. Never throws: false when the cgroup could not be written
 * (it is gone, which is what a kill wants, or the permission went away).
 */
export function killCgroup(dir: string): boolean {
  try {
    writeFileSync(path.join(dir, 'cgroup.kill'), '1')
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !existsSync(dir)) return false
  }
  return freezeAndKill(dir)
}

/** Rounds of SIGKILL in {@link freezeAndKill}: a task forked while the freeze was landing is seen by the next. */
const FREEZE_KILL_ROUNDS = 10

/**
 * What `cgroup.kill` does, for kernels without it (5.2 to 5.13): freeze the cgroup so that
 * nothing in it can fork any more, SIGKILL every pid listed in it and its descendants (a frozen
 * task still dies of SIGKILL), and thaw it.
 */
export function freezeAndKill(dir: string): boolean {
  try {
    writeFileSync(path.join(dir, 'cgroup.freeze'), '1')
  } catch {
    return false
  }
  try {
    const killed = new Set<number>()
    for (let round = 0; round < FREEZE_KILL_ROUNDS; round++) {
      const fresh = cgroupPids(dir).filter((pid) => !killed.has(pid))
      if (fresh.length === 0) break
      for (const pid of fresh) {
        killed.add(pid)
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // gone already
        }
      }
    }
  } finally {
    try {
      writeFileSync(path.join(dir, 'cgroup.freeze'), '0')
    } catch {
      // removed meanwhile: nothing left to thaw
    }
  }
  return true
}

/** Every pid in a cgroup and its descendant cgroups. */
export function cgroupPids(dir: string): number[] {
  const pids: number[] = []
  const visit = (d: string): void => {
    let text: string
    try {
      text = readFileSync(path.join(d, 'cgroup.procs'), 'utf8')
    } catch {
      return
    }
    for (const line of text.split('\n')) if (line) pids.push(Number(line))
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory()) visit(path.join(d, entry.name))
    }
  }
  visit(dir)
  return pids
}

/** True while a process is left in the cgroup or below it (`populated` of cgroup.events). */
export function isPopulated(dir: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(path.join(dir, 'cgroup.events'), 'utf8'))
  } catch {
    return false
  }
}

/** The supervisor's cgroup subtree. */
export interface CgroupTree {
  /** The supervisor's cgroup, parent of every leaf. */
  readonly dir: string
  /** A new, empty leaf for one worker process, named for `label` (its pool). */
  leaf(label: string): CgroupLeaf
  /** SIGKILL to every process of every leaf, synchronously (safe in `process.on('exit')`). */
  killAllSync(): void
  /** Kills what is left, waits (bounded) for the leaves to empty, and removes them and the tree. */
  close(): Promise<void>
}

/** The cgroup of one worker process. */
export interface CgroupLeaf {
  readonly dir: string
  /**
   * Runs `spawn` with the supervisor moved into this leaf, and moves it back before returning:
   * `child_process.spawn` forks inside the call, so the child is born in the leaf, before it can
   * start anything, with no shell or helper in front of it (spawn errors stay the real ones).
   */
  bear<T>(spawn: () => T): T
  /** SIGKILL to everything in the leaf. */
  kill(): void
  /** Kills what is left and removes the leaf once it is empty. Idempotent. */
  release(): void
}

/** Delays between attempts to remove a leaf whose processes are still dying. */
const REMOVE_RETRY_MS = [5, 10, 20, 50, 100, 200, 500, 1000]
/** close() waits this long at most for the leaves to empty. */
const CLOSE_WAIT_MS = 5_000

/**
 * Creates this supervisor's cgroup under its own one and proves it can be used: a probe leaf is
 * created, the supervisor moves into it and back, and the leaf is removed. Returns why not when
 * any of it fails (no cgroup v2, a read-only or foreign mount, no permission, a kernel without
 * `cgroup.freeze`).
 */
export function openCgroupTree(
  o: { mountinfo?: string; procCgroup?: string; token?: string } = {},
): CgroupTree | { unavailable: string } {
  let placement: CgroupPlacement
  try {
    placement = locateOwnCgroup(
      o.mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8'),
      o.procCgroup ?? readFileSync('/proc/self/cgroup', 'utf8'),
    )
  } catch (e) {
    return { unavailable: `cannot read /proc: ${(e as Error).message}` }
  }
  if ('unavailable' in placement) return placement
  const home = placement.dir
  const dir = path.join(
    home,
    CGROUP_PARENT,
    supervisorCgroupName(process.pid, o.token ?? randomBytes(4).toString('hex')),
  )
  try {
    mkdirSync(dir, { recursive: true })
  } catch (e) {
    return { unavailable: `cannot create ${dir}: ${(e as Error).message}` }
  }
  const tree = new Tree(home, dir)
  const problem = tree.probe()
  if (problem === null) return tree
  try {
    rmdirSync(dir)
  } catch {
    // left for whoever looks: it is empty
  }
  return { unavailable: problem }
}

class Tree implements CgroupTree {
  private seq = 0
  /** Leaves created and not yet removed. */
  private readonly leaves = new Set<Leaf>()

  constructor(
    readonly home: string,
    readonly dir: string,
  ) {}

  /** null when leaves can be created, entered and left; else what went wrong. */
  probe(): string | null {
    if (!existsSync(path.join(this.dir, 'cgroup.freeze')))
      return `the kernel has no cgroup.freeze in ${this.dir} (Linux 5.2 or later is needed)`
    let leaf: CgroupLeaf
    try {
      leaf = this.leaf('probe')
    } catch (e) {
      return (e as Error).message
    }
    try {
      leaf.bear(() => undefined)
      return null
    } catch (e) {
      return `cannot move a process between ${this.home} and ${leaf.dir}: ${(e as Error).message}`
    } finally {
      leaf.release()
    }
  }

  leaf(label: string): CgroupLeaf {
    const dir = path.join(this.dir, leafName(label, ++this.seq))
    try {
      mkdirSync(dir)
    } catch (e) {
      // No code on purpose: a spawn error's EACCES means "not executable", this one does not.
      throw new Error(`cannot create the cgroup ${dir}: ${(e as Error).message}`, { cause: e })
    }
    const leaf = new Leaf(this, dir)
    this.leaves.add(leaf)
    return leaf
  }

  forget(leaf: Leaf): void {
    this.leaves.delete(leaf)
  }

  killAllSync(): void {
    killCgroup(this.dir)
  }

  async close(): Promise<void> {
    this.killAllSync()
    const deadline = Date.now() + CLOSE_WAIT_MS
    while (isPopulated(this.dir) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    for (const leaf of this.leaves) leaf.removeNow()
    try {
      rmdirSync(this.dir)
    } catch {
      // still populated (a process stuck in uninterruptible sleep) or removed already
    }
  }
}

class Leaf implements CgroupLeaf {
  private released = false
  private removed = false

  constructor(
    private readonly tree: Tree,
    readonly dir: string,
  ) {}

  bear<T>(spawn: () => T): T {
    try {
      writeFileSync(path.join(this.dir, 'cgroup.procs'), String(process.pid))
    } catch (e) {
      throw new Error(`cannot move into the cgroup ${this.dir}: ${(e as Error).message}`, {
        cause: e,
      })
    }
    try {
      return spawn()
    } finally {
      // Cannot fail once the move in succeeded: moving back needs the same permission (write
      // access to cgroup.procs of the common ancestor, the home cgroup), and the home cgroup
      // cannot be removed while this tree is below it.
      writeFileSync(path.join(this.tree.home, 'cgroup.procs'), String(process.pid))
    }
  }

  kill(): void {
    if (!this.removed) killCgroup(this.dir)
  }

  release(): void {
    if (this.released) return
    this.released = true
    this.kill()
    this.removeWhenEmpty(0)
  }

  /** rmdir; true once the leaf is gone. */
  removeNow(): boolean {
    if (this.removed) return true
    try {
      rmdirSync(this.dir)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return false
    }
    this.removed = true
    this.tree.forget(this)
    return true
  }

  private removeWhenEmpty(attempt: number): void {
    if (this.removeNow() || attempt >= REMOVE_RETRY_MS.length) return
    // Killed processes leave the cgroup as they exit, within milliseconds; the tree's close()
    // tries once more for a leaf that took longer.
    setTimeout(() => this.removeWhenEmpty(attempt + 1), REMOVE_RETRY_MS[attempt]).unref()
  }
}
