/**
 * Worker log capture: one size-rotated file per pool, an in-memory tail per worker, and the
 * readers behind `shepherd logs` (tail and follow).
 *
 * A line on disk reads `<ISO-8601 time> <workerId> <out|err>| <text>`, e.g.
 * `2025-01-31T09:15:02.120Z email#2 err| connection lost`.
 * @module
 */
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { open } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../adapters/file-modes.js'
import { poolOfWorkerId } from '../core/ids.js'
import { coerceError } from '../errors.js'

/** Options of a {@link PoolLogWriter}. */
export interface PoolLogWriterOptions {
  /** Directory of the log files; created when missing (0700, like the files' 0600). */
  dir: string
  pool: string
  /** A file is rotated before a write would take it past this many bytes. */
  maxSize: number
  /** Rotated files kept (`<pool>.log.1` … `<pool>.log.<maxFiles>`); older ones are deleted. */
  maxFiles: number
  now: () => number
  /** Told about write failures (disk full, permissions), at most once a minute per error code. */
  onError?: (e: Error) => void
}

/** The same error code is reported at most this often, so a full disk does not flood the daemon's log. */
const ERROR_REPORT_INTERVAL_MS = 60_000

/**
 * Appends a pool's worker output to `<dir>/<pool>.log`, rotating by size. Writes are synchronous on
 * a kept-open descriptor, one write(2) per batch of lines: nothing is buffered in memory, so a
 * chatty worker costs disk bandwidth, never supervisor heap. Disk use stays near
 * maxSize × (maxFiles + 1); only a single batch larger than maxSize can exceed it. Failures
 * never throw: the lines are dropped and `onError` is told. A file deleted from outside keeps
 * receiving lines (unlinked) until the next rotation reopens the path: checking the path on
 * every write would cost a stat(2) per batch.
 */
export class PoolLogWriter {
  /** Path of the current log file, `<dir>/<pool>.log`. */
  readonly file: string
  private fd: number | null = null
  private size = 0
  private closed = false
  private readonly lastReported = new Map<string, number>()

  constructor(private readonly o: PoolLogWriterOptions) {
    this.file = path.join(o.dir, `${o.pool}.log`)
  }

  /** Appends lines of one worker's stream, all stamped with the current time. */
  write(workerId: string, stream: 'out' | 'err', lines: string[]): void {
    if (this.closed || lines.length === 0) return
    const data = Buffer.from(
      formatLines(new Date(this.o.now()).toISOString(), workerId, stream, lines),
      'utf8',
    )
    try {
      let fd = this.openIfNeeded()
      if (this.size > 0 && this.size + data.length > this.o.maxSize) fd = this.rotate()
      this.writeFully(fd, data)
    } catch (e) {
      this.fail(e)
    }
  }

  /** Closes the file; later writes are ignored. */
  close(): void {
    this.closed = true
    this.closeFd()
  }

  private openIfNeeded(): number {
    if (this.fd !== null) return this.fd
    // Worker output may carry secrets: the folder (when created here) and the files are private.
    // Rotation renames files, so every rotated file keeps the mode it was created with.
    mkdirSync(this.o.dir, { recursive: true, mode: PRIVATE_DIR_MODE })
    const fd = openSync(this.file, 'a', PRIVATE_FILE_MODE)
    this.fd = fd
    this.size = fstatSync(fd).size
    return fd
  }

  private writeFully(fd: number, data: Buffer): void {
    // Regular files take the whole buffer in one write(2) unless the disk fills up mid-way.
    let offset = 0
    while (offset < data.length) offset += writeSync(fd, data, offset)
    this.size += data.length
  }

  /** Shifts the numbered files up by one, moves the current file to `.1`, and opens a fresh one. */
  private rotate(): number {
    this.closeFd()
    const { maxFiles } = this.o
    for (let k = maxFiles - 1; k >= 1; k--) renameIfExists(`${this.file}.${k}`, `${this.file}.${k + 1}`)
    if (maxFiles >= 1) renameIfExists(this.file, `${this.file}.1`)
    else unlinkIfExists(this.file)
    const fd = this.openIfNeeded()
    this.deleteBeyond(maxFiles)
    return fd
  }

  /** Deletes rotated files numbered above maxFiles (left by an earlier config with a larger limit). */
  private deleteBeyond(maxFiles: number): void {
    const prefix = `${this.o.pool}.log.`
    for (const name of readdirSync(this.o.dir)) {
      if (!name.startsWith(prefix)) continue
      const k = Number(name.slice(prefix.length))
      if (Number.isInteger(k) && k > maxFiles) unlinkIfExists(path.join(this.o.dir, name))
    }
  }

  private fail(thrown: unknown): void {
    // Reopen on the next write: the file or its directory may have been removed, and the size
    // after a partial write is only known again from fstat.
    this.closeFd()
    const err = coerceError(thrown)
    const code = (err as NodeJS.ErrnoException).code ?? err.message
    const now = this.o.now()
    const last = this.lastReported.get(code)
    if (last !== undefined && now - last < ERROR_REPORT_INTERVAL_MS) return
    this.lastReported.set(code, now)
    try {
      this.o.onError?.(
        new Error(`cannot write worker log ${this.file}, lines dropped: ${err.message}`, { cause: err }),
      )
    } catch {
      // The error sink failing is no reason to stop capturing output.
    }
  }

  private closeFd(): void {
    if (this.fd === null) return
    try {
      closeSync(this.fd)
    } catch {
      // Already closed or invalid; either way it is no longer ours.
    }
    this.fd = null
  }
}

function formatLines(time: string, workerId: string, stream: 'out' | 'err', lines: string[]): string {
  let text = ''
  // A stray newline inside a line would forge a log entry; it is escaped instead.
  for (const line of lines) text += `${time} ${workerId} ${stream}| ${line.replace(/\r?\n|\r/g, '\\n')}\n`
  return text
}

function renameIfExists(from: string, to: string): void {
  try {
    renameSync(from, to)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
}

function unlinkIfExists(file: string): void {
  try {
    unlinkSync(file)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
}

/**
 * The last `capacity` lines of something (a worker's output), oldest first. A ring buffer: push is
 * O(lines pushed) and memory is fixed, whatever the worker prints.
 */
export class LineTail {
  private readonly buf: string[] = []
  private start = 0

  constructor(readonly capacity: number) {}

  /** Adds lines at the new end, dropping the oldest beyond the capacity. */
  push(lines: string[]): void {
    if (this.capacity <= 0) return
    for (const line of lines) {
      if (this.buf.length < this.capacity) {
        this.buf.push(line)
      } else {
        this.buf[this.start] = line
        this.start = (this.start + 1) % this.capacity
      }
    }
  }

  /** The kept lines, oldest first. */
  lines(): string[] {
    return [...this.buf.slice(this.start), ...this.buf.slice(0, this.start)]
  }

  clear(): void {
    this.buf.length = 0
    this.start = 0
  }
}

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

/** The worker id field of a log line, or null when the line is not in the log format. */
export function workerIdOf(line: string): string | null {
  const first = line.indexOf(' ')
  const second = first < 0 ? -1 : line.indexOf(' ', first + 1)
  return second < 0 ? null : line.slice(first + 1, second)
}

/** The timestamp of a log line; ISO-8601 UTC stamps of equal width sort as strings. */
function timeOf(line: string): string {
  const space = line.indexOf(' ')
  return space < 0 ? line : line.slice(0, space)
}

function sortByTime(lines: string[]): string[] {
  // Array.prototype.sort is stable, so lines of one pool keep their file order on equal stamps.
  return lines.sort((a, b) => {
    const ta = timeOf(a)
    const tb = timeOf(b)
    return ta < tb ? -1 : ta > tb ? 1 : 0
  })
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
  const base = path.join(dir, `${pool}.log`)
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
  const followers = target.pools.map((pool) => new FileFollower(path.join(o.dir, `${pool}.log`)))
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
