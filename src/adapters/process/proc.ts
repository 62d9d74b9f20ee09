/**
 * Process sampling from Linux /proc: state, CPU time and resident memory of worker process trees.
 * @module
 */
import { closeSync, openSync, readdirSync, readSync } from 'node:fs'

import { CLK_TCK } from '../../core/cpu-meter.js'
import type { TreeSample } from '../../ports/process.js'

export { CLK_TCK }

/** Used when the page size cannot be read; right for x86-64 and most arm64 kernels. */
const FALLBACK_PAGE_SIZE = 4096

/** One /proc/<pid>/stat line, the fields Shepherd uses. */
export interface ProcStat {
  pid: number
  /** The command name (at most 15 characters for user processes; may contain spaces and parentheses). */
  comm: string
  /** R running, S sleeping, D disk sleep, T stopped, t traced, Z zombie, X dead, I idle. */
  state: string
  ppid: number
  pgrp: number
  utimeTicks: number
  stimeTicks: number
  /** Start time in ticks after boot. With the pid, it identifies a process across pid reuse. */
  startTimeTicks: number
  rssPages: number
}

let pageSizeCache: number | undefined

/**
 * The kernel's page size, read once on first use from the `KernelPageSize` line of the first
 * mapping in /proc/self/smaps: a plain file read, where `getconf PAGESIZE` would need a subprocess
 * and a binary that minimal images lack. Falls back to 4096. Arm64 kernels built with 16 KiB or
 * 64 KiB pages exist, which is why it is read rather than assumed.
 */
export function pageSize(): number {
  pageSizeCache ??= readPageSize()
  return pageSizeCache
}

function readPageSize(): number {
  try {
    const head = readHead('/proc/self/smaps', 4096)
    const m = /^KernelPageSize:\s+(\d+)\s+kB$/m.exec(head)
    const bytes = m ? Number(m[1]) * 1024 : NaN
    return Number.isInteger(bytes) && bytes > 0 ? bytes : FALLBACK_PAGE_SIZE
  } catch {
    return FALLBACK_PAGE_SIZE
  }
}

/**
 * Reused for every small /proc read: sampling runs every check interval for every process on the
 * host, so allocation per file is avoided. A stat line is about 300 bytes; 4 KiB leaves room for
 * long kernel thread names.
 */
const readBuffer = Buffer.alloc(4096)

/** Reads at most `max` bytes from the start of a file with one read(2). */
function readHead(path: string, max: number): string {
  const fd = openSync(path, 'r')
  try {
    const n = readSync(fd, readBuffer, 0, Math.min(max, readBuffer.length), 0)
    return readBuffer.toString('utf8', 0, n)
  } finally {
    closeSync(fd)
  }
}

/** Reads /proc/<pid>/stat, or null when the process is gone (or was never there). */
export function readProcStat(pid: number): ProcStat | null {
  let text: string
  try {
    text = readHead(`/proc/${pid}/stat`, readBuffer.length)
  } catch {
    return null
  }
  return parseProcStat(text)
}

/**
 * Parses one /proc/<pid>/stat line. comm is in parentheses and may itself contain spaces and
 * parentheses, so the fields are split after the LAST ')'.
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 0 || close < open) return null
  // Fields after comm, numbered as in proc(5) minus 3: [0] state (3), [1] ppid (4), [2] pgrp (5),
  // [11] utime (14), [12] stime (15), [19] starttime (22), [21] rss (24).
  const f = text.slice(close + 2).split(' ')
  if (f.length < 22) return null
  return {
    pid: Number(text.slice(0, open - 1)),
    comm: text.slice(open + 1, close),
    state: f[0]!,
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    utimeTicks: Number(f[11]),
    stimeTicks: Number(f[12]),
    startTimeTicks: Number(f[19]),
    rssPages: Number(f[21]),
  }
}

/**
 * The state letter of a process (see {@link ProcStat.state}), or null when it is gone. One small
 * read and no full parse: the watchdog calls this often to tell a stopped (T) worker from a busy one.
 */
export function readProcState(pid: number): string | null {
  let head: string
  try {
    head = readHead(`/proc/${pid}/stat`, 512)
  } catch {
    return null
  }
  const close = head.lastIndexOf(')')
  return close >= 0 && close + 2 < head.length ? head[close + 2]! : null
}

/** The fields of one process a tree sample needs. */
interface ProcEntry {
  pid: number
  state: string
  ppid: number
  pgrp: number
  cpuTicks: number
  rssPages: number
}

/** Reads /proc/<pid>/stat of every process once; processes that vanish mid-scan are skipped. */
function scanProcesses(): ProcEntry[] {
  const entries: ProcEntry[] = []
  for (const name of readdirSync('/proc')) {
    const first = name.charCodeAt(0)
    if (first < 48 || first > 57) continue
    let stat: ProcStat | null
    try {
      stat = parseProcStat(readHead(`/proc/${name}/stat`, readBuffer.length))
    } catch {
      continue
    }
    if (!stat) continue
    entries.push({
      pid: stat.pid,
      state: stat.state,
      ppid: stat.ppid,
      pgrp: stat.pgrp,
      cpuTicks: stat.utimeTicks + stat.stimeTicks,
      rssPages: stat.rssPages,
    })
  }
  return entries
}

/**
 * Samples the process trees of many workers with ONE scan of /proc, so the cost grows with the
 * number of processes on the host, not with roots × processes. The tree of a root is the root,
 * its descendants by ppid, and the members of its process group (pgrp == root pid: the spawner
 * makes every worker a group leader), without duplicates. A root that is gone still gets an entry
 * (rootState null) listing any group members it left behind.
 *
 * @example
 * ```ts
 * const samples = sampleTrees(workers.map((w) => w.pid))
 * const cpu = meter.sample(pid, samples.get(pid)!.cpuTicks, now)
 * ```
 */
export function sampleTrees(roots: readonly number[]): Map<number, TreeSample> {
  const result = new Map<number, TreeSample>()
  if (roots.length === 0) return result
  const entries = scanProcesses()
  const byPid = new Map<number, ProcEntry>()
  const childrenOf = new Map<number, ProcEntry[]>()
  const groupOf = new Map<number, ProcEntry[]>()
  for (const e of entries) {
    byPid.set(e.pid, e)
    pushTo(childrenOf, e.ppid, e)
    pushTo(groupOf, e.pgrp, e)
  }
  const size = pageSize()
  for (const root of roots) {
    const members = collectTree(root, byPid, childrenOf, groupOf)
    result.set(root, summarise(root, members, size))
  }
  return result
}

function pushTo(map: Map<number, ProcEntry[]>, key: number, e: ProcEntry): void {
  const list = map.get(key)
  if (list) list.push(e)
  else map.set(key, [e])
}

function collectTree(
  root: number,
  byPid: Map<number, ProcEntry>,
  childrenOf: Map<number, ProcEntry[]>,
  groupOf: Map<number, ProcEntry[]>,
): Map<number, ProcEntry> {
  const members = new Map<number, ProcEntry>()
  const queue: ProcEntry[] = []
  const add = (e: ProcEntry): void => {
    if (members.has(e.pid)) return
    members.set(e.pid, e)
    queue.push(e)
  }
  const rootEntry = byPid.get(root)
  if (rootEntry) add(rootEntry)
  for (const e of groupOf.get(root) ?? []) add(e)
  // Breadth-first over ppid links, starting from the root and from every group member, so a
  // descendant that left the group (setsid, a detached spawn) is still counted.
  for (let i = 0; i < queue.length; i++) {
    for (const child of childrenOf.get(queue[i]!.pid) ?? []) add(child)
  }
  return members
}

function summarise(root: number, members: Map<number, ProcEntry>, pageBytes: number): TreeSample {
  const sample: TreeSample = {
    rootState: null,
    pids: [],
    descendants: [],
    zombies: 0,
    cpuTicks: 0,
    rssBytes: 0,
  }
  for (const e of members.values()) {
    sample.pids.push(e.pid)
    sample.cpuTicks += e.cpuTicks
    if (e.state !== 'Z') sample.rssBytes += e.rssPages * pageBytes
    if (e.pid === root) {
      sample.rootState = e.state
      continue
    }
    sample.descendants.push(e.pid)
    if (e.state === 'Z') sample.zombies++
  }
  return sample
}
