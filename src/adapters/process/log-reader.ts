/**
 * The readers behind `shepherd logs`: the last lines of the worker logs (tail) and the lines
 * appended to them (follow), by pool or by worker, in the format of log-format.ts.
 * @module
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'

import { poolOfWorkerId } from '../../core/ids.js'
import { logFileOf, sortByTime, workerIdOf } from './log-format.js'

/** Which files a selector reads and which of their lines it keeps. */
interface LogTarget {
  pools: string[]
  match: (line: string) => boolean
}

/**
 * Resolves a `shepherd logs` selector: none (every pool), a pool name, or a worker id such as
 * `email#2` (its pool's file, that worker's lines). Null when the pool is unknown.
 */
function resolveSelector(selector: string | undefined, pools: readonly string[]): LogTarget | null {
  if (selector === undefined) return { pools: [...pools], match: () => true }
  const pool = poolOfWorkerId(selector)
  if (pool === null) return pools.includes(selector) ? { pools: [selector], match: () => true } : null
  if (!pools.includes(pool)) return null
  return { pools: [pool], match: (line) => workerIdOf(line) === selector }
}

/** Options of {@link readLogTail}. */
export interface ReadLogTailOptions {
  dir: string
  /** undefined: every pool, merged by time; `email`: that pool; `email#2`: that worker. */
  selector?: string
  /** How many lines at most. */
  lines: number
  /** The pools of the config; a selector naming another pool matches nothing. */
  pools: string[]
}

/**
 * The last `lines` log lines matching a selector, oldest first. Files are read backwards in
 * chunks, the current one first and then as many rotated ones as needed, so a tail of a large
 * log costs a few reads. An unknown pool or worker gives an empty list.
 *
 * @example
 * ```ts
 * for (const line of await readLogTail({ dir: 'logs', selector: 'email#2', lines: 100, pools: ['email'] })) console.log(line)
 * ```
 */
export async function readLogTail(o: ReadLogTailOptions): Promise<string[]> {
  const target = resolveSelector(o.selector, o.pools)
  if (!target || o.lines <= 0) return []
  const perPool = await Promise.all(target.pools.map((pool) => tailPool(o.dir, pool, o.lines, target.match)))
  if (perPool.length === 1) return perPool[0]!
  return sortByTime(perPool.flat()).slice(-o.lines)
}

async function tailPool(
  dir: string,
  pool: string,
  count: number,
  match: (line: string) => boolean,
): Promise<string[]> {
  const newestFirst: string[] = []
  const base = logFileOf(dir, pool)
  for (let k = 0; newestFirst.length < count; k++) {
    const found = await readLinesBackward(k === 0 ? base : `${base}.${k}`, (line) => {
      if (match(line)) newestFirst.push(line)
      return newestFirst.length >= count
    })
    // The current file may be missing for a moment during a rotation; a gap in the numbered
    // files is where the rotated history ends.
    if (!found && k > 0) break
  }
  return newestFirst.reverse()
}

/** Chunk size of backward reads: a few hundred typical lines per read. */
const TAIL_CHUNK_BYTES = 64 * 1024

/**
 * Calls `visit` with each complete line of a file, last line first, until it returns true. A
 * trailing fragment without its newline is skipped. Returns false when the file does not exist.
 * Splits on the 0x0A byte, which never occurs inside a multi-byte UTF-8 character.
 */
async function readLinesBackward(file: string, visit: (line: string) => boolean): Promise<boolean> {
  let handle
  try {
    handle = await open(file, 'r')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw e
  }
  try {
    let pos = (await handle.stat()).size
    let rest = Buffer.alloc(0)
    let seenNewline = false
    while (pos > 0) {
      const len = Math.min(TAIL_CHUNK_BYTES, pos)
      pos -= len
      const chunk = Buffer.alloc(len)
      await handle.read(chunk, 0, len, pos)
      const data = rest.length > 0 ? Buffer.concat([chunk, rest]) : chunk
      let end = data.length
      let nl = lastNewline(data, end)
      if (!seenNewline) {
        if (nl < 0) {
          rest = data
          continue
        }
        seenNewline = true
        end = nl
        nl = lastNewline(data, end)
      }
      for (; nl >= 0; end = nl, nl = lastNewline(data, end)) {
        if (end > nl + 1 && visit(data.toString('utf8', nl + 1, end))) return true
      }
      rest = data.subarray(0, end)
    }
    if (seenNewline && rest.length > 0) visit(rest.toString('utf8'))
    return true
  } finally {
    await handle.close()
  }
}

/** Index of the last newline before `end`, or -1 (Buffer#lastIndexOf treats -1 as "from the end"). */
function lastNewline(data: Buffer, end: number): number {
  return end <= 0 ? -1 : data.lastIndexOf(0x0a, end - 1)
}

/** Options of {@link followLogs}. */
export interface FollowLogsOptions {
  dir: string
  /** As for {@link readLogTail}. */
  selector?: string
  pools: string[]
  /** Receives each batch of new matching lines, oldest first. */
  onLines: (lines: string[]) => void
  /** Following stops when this aborts. */
  signal: AbortSignal
  /** How often files are checked for new lines. @defaultValue 250 */
  pollMs?: number
}

/**
 * Follows the logs like `tail -F`: every line appended after the call that matches the selector
 * is passed to `onLines`. Survives rotation (the old file is read to its end, then the new one from
 * its start) and truncation. Resolves when `signal` aborts, or at once for an unknown selector.
 * Polling rather than fs.watch: it behaves the same on every filesystem, and a quarter second
 * is quick enough for people. If a file rotates twice between two polls, the middle file's
 * lines are not shown.
 */
export async function followLogs(o: FollowLogsOptions): Promise<void> {
  const target = resolveSelector(o.selector, o.pools)
  if (!target) return
  const followers = target.pools.map((pool) => new FileFollower(logFileOf(o.dir, pool)))
  try {
    for (const f of followers) f.startAtEnd()
    while (!o.signal.aborted) {
      try {
        await sleep(o.pollMs ?? 250, undefined, { signal: o.signal })
      } catch {
        return
      }
      const batch = followers.flatMap((f) => f.poll()).filter(target.match)
      if (batch.length === 0) continue
      try {
        o.onLines(followers.length > 1 ? sortByTime(batch) : batch)
      } catch {
        // The consumer's problem (a closed stdout); keep following until aborted.
      }
    }
  } finally {
    for (const f of followers) f.close()
  }
}

/** Bytes read from a followed file per read(2). */
const FOLLOW_CHUNK_BYTES = 64 * 1024
/** A fragment without a newline longer than this is passed on as a line, to bound memory. */
const MAX_PARTIAL_BYTES = 1024 * 1024

/** Reads the lines appended to one path, across replacement and truncation of the file. */
class FileFollower {
  private fd: number | null = null
  private ino = -1
  private dev = -1
  private pos = 0
  private partial = Buffer.alloc(0)
  private readonly chunk = Buffer.alloc(FOLLOW_CHUNK_BYTES)

  constructor(private readonly file: string) {}

  /** Starts after what the file holds now (a file created later is read from its start). */
  startAtEnd(): void {
    this.openCurrent(true)
  }

  /** The complete lines appended since the last poll. */
  poll(): string[] {
    const lines: string[] = []
    const st = statOrNull(this.file)
    if (this.fd !== null && (!st || st.ino !== this.ino || st.dev !== this.dev)) {
      // Rotated away or deleted: finish the old file through the descriptor we hold.
      this.readAppended(lines)
      this.flushPartial(lines)
      this.close()
    }
    if (this.fd === null && st) this.openCurrent(false)
    if (this.fd !== null) {
      if ((sizeOf(this.fd) ?? this.pos) < this.pos) {
        // Truncated in place (copytruncate): start over.
        this.pos = 0
        this.partial = Buffer.alloc(0)
      }
      this.readAppended(lines)
    }
    return lines
  }

  close(): void {
    if (this.fd === null) return
    try {
      closeSync(this.fd)
    } catch {
      // Nothing to do: it is gone either way.
    }
    this.fd = null
  }

  private openCurrent(atEnd: boolean): void {
    try {
      const fd = openSync(this.file, 'r')
      const st = fstatSync(fd)
      this.fd = fd
      this.ino = st.ino
      this.dev = st.dev
      this.pos = atEnd ? st.size : 0
      this.partial = Buffer.alloc(0)
    } catch {
      this.fd = null
    }
  }

  private readAppended(lines: string[]): void {
    if (this.fd === null) return
    for (;;) {
      let n: number
      try {
        n = readSync(this.fd, this.chunk, 0, this.chunk.length, this.pos)
      } catch {
        return
      }
      if (n === 0) return
      this.pos += n
      this.splitInto(Buffer.concat([this.partial, this.chunk.subarray(0, n)]), lines)
    }
  }

  private splitInto(data: Buffer, lines: string[]): void {
    let start = 0
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
      if (nl > start) lines.push(data.toString('utf8', start, nl))
      start = nl + 1
    }
    this.partial = Buffer.from(data.subarray(start))
    if (this.partial.length > MAX_PARTIAL_BYTES) this.flushPartial(lines)
  }

  private flushPartial(lines: string[]): void {
    if (this.partial.length > 0) lines.push(this.partial.toString('utf8'))
    this.partial = Buffer.alloc(0)
  }
}

function sizeOf(fd: number): number | null {
  try {
    return fstatSync(fd).size
  } catch {
    return null
  }
}

function statOrNull(file: string): { ino: number; dev: number } | null {
  try {
    return statSync(file)
  } catch {
    return null
  }
}
