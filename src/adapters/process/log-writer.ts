/**
 * Worker log capture: one size-rotated file per pool, in the format of log-format.ts.
 * @module
 */
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import path from 'node:path'

import { coerceError } from '../../errors.js'
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../file-modes.js'
import { formatLogLines, logFileOf } from './log-format.js'

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
    this.file = logFileOf(o.dir, o.pool)
  }

  /** Appends lines of one worker's stream, all stamped with the current time. */
  write(workerId: string, stream: 'out' | 'err', lines: string[]): void {
    if (this.closed || lines.length === 0) return
    const data = Buffer.from(
      formatLogLines(new Date(this.o.now()).toISOString(), workerId, stream, lines),
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
