/**
 * What a failed write or read of the store means and what to do about it: the advice each
 * SHEPHERD_STORE_* error ends with, and whether a failed write met a full disk or a read-only
 * filesystem (the store then says so, and writes resume by themselves once it is fixed).
 * @module
 */
import fs from 'node:fs'
import path from 'node:path'

import type { StoreProblem } from '../../core/store-health.js'
import { BUSY_TIMEOUT_MS, moveAside } from './connection.js'
import { sqliteCode } from './migrate.js'

/** What to do once the store's file was deleted or replaced under a running supervisor. */
export const GONE_ADVICE =
  'Writes are refused, so that nothing is acknowledged into a file no one will read again; the workers keep running. ' +
  'Restore the file from a backup and restart the supervisor, or restart it to start on a new, empty store.'

/**
 * Whether a failed write met a full disk or a read-only store, or something else (null). SQLite
 * says SQLITE_FULL and SQLITE_READONLY itself; a filesystem that turned read-only under an open
 * file (the kernel does that after a disk error) only shows as SQLITE_IOERR, so then the folder
 * is asked: a file that cannot be created there says EROFS (read-only) or ENOSPC (full).
 */
export function writeProblem(
  cause: unknown,
  file: string,
): Extract<StoreProblem, 'full' | 'read-only'> | null {
  const code = sqliteCode(cause)
  if (code === null) return null
  if (code.startsWith('SQLITE_FULL')) return 'full'
  if (code.startsWith('SQLITE_READONLY')) return 'read-only'
  if (!code.startsWith('SQLITE_IOERR') && !code.startsWith('SQLITE_CANTOPEN')) return null
  const probe = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.probe-${process.pid}`)
  try {
    fs.closeSync(fs.openSync(probe, 'w'))
    fs.unlinkSync(probe)
    return null
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code
    if (errno === 'ENOSPC' || errno === 'EDQUOT') return 'full'
    if (errno === 'EROFS' || errno === 'EACCES' || errno === 'EPERM') return 'read-only'
    return null
  }
}

/** What to do after a write failed with SQLite's `code`. */
export function writeAdvice(code: string | null, file: string): string {
  if (code === null) return 'Nothing was written.'
  if (code.startsWith('SQLITE_FULL'))
    return 'The disk is full (or the store reached its size limit): nothing was written; free some space.'
  if (/^SQLITE_(READONLY|PERM|AUTH)/.test(code)) {
    return 'The file, its directory or its filesystem is read-only: nothing was written; make them writable by the user running Shepherd.'
  }
  if (/^SQLITE_(NOTADB|CORRUPT)/.test(code))
    return `The file is corrupt: nothing was written. ${moveAside(file)}`
  if (code.startsWith('SQLITE_IOERR'))
    return 'The disk reported an I/O error: nothing was written; check the disk and the kernel log.'
  if (/^SQLITE_(BUSY|LOCKED)/.test(code)) {
    return `Another process held the write lock for more than ${BUSY_TIMEOUT_MS} ms: nothing was written.`
  }
  return 'Nothing was written.'
}

/** What to do after a read failed with SQLite's `code`. */
export function readAdvice(code: string | null, file: string): string {
  if (code !== null && /^SQLITE_(NOTADB|CORRUPT)/.test(code)) return `The file is corrupt. ${moveAside(file)}`
  if (code !== null && code.startsWith('SQLITE_IOERR'))
    return 'The disk reported an I/O error: check the disk and the kernel log.'
  return 'See docs/store.md.'
}
