/**
 * Opening the SQLite connection of a store: its directory and file (private), the refusal to
 * replace a deleted store that a running supervisor still holds, and the pragmas every store runs
 * with (busy timeout, WAL, synchronous=FULL, foreign keys), read back by {@link readSettings}.
 * @module
 */
import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import Database from 'better-sqlite3'

import { coerceError, ShepherdError } from '../../errors.js'
import { PRIVATE_DIR_MODE } from '../file-modes.js'
import { sqliteCode } from './migrate.js'
import { createPrivate, isStoreLocked, lockFileOf } from './store-lock.js'

/**
 * How long a statement waits for another connection's write lock before failing with SQLITE_BUSY.
 * The supervisor and a CLI process (or a second supervisor starting on the same config) may use the
 * file at once; in WAL mode only writers wait for each other, and every write of ours is one short
 * transaction, so a real wait is milliseconds. 5 s covers a slow disk under load; longer would only
 * hide a stuck process, and better-sqlite3 waits synchronously, blocking the supervisor's event loop.
 * @defaultValue 5000
 */
export const BUSY_TIMEOUT_MS = 5_000

/** The pragmas in effect on a store's connection, as SQLite reports them. */
export interface SqliteSettings {
  /** `wal` on every store this module opens. */
  journalMode: string
  /** `full` on every store this module opens. */
  synchronous: 'off' | 'normal' | 'full' | 'extra'
  /** {@link BUSY_TIMEOUT_MS} on every store this module opens. */
  busyTimeoutMs: number
  /** true on every store this module opens. */
  foreignKeys: boolean
}

const SYNCHRONOUS_NAMES = ['off', 'normal', 'full', 'extra'] as const

/** The pragmas in effect on a connection, read back from SQLite. */
export function readSettings(db: Database.Database): SqliteSettings {
  const sync = Number(db.pragma('synchronous', { simple: true }))
  return {
    journalMode: String(db.pragma('journal_mode', { simple: true })),
    synchronous: synchronousName(sync),
    busyTimeoutMs: Number(db.pragma('busy_timeout', { simple: true })),
    foreignKeys: Number(db.pragma('foreign_keys', { simple: true })) === 1,
  }
}

function synchronousName(n: number): SqliteSettings['synchronous'] {
  const name = SYNCHRONOUS_NAMES[n]
  if (name === undefined) throw new RangeError(`PRAGMA synchronous gave ${n}, expected 0 to 3`)
  return name
}

/**
 * Opens the connection of the store at `file`, creating the file (0600) and its directory if
 * missing, and configures it.
 * @throws ShepherdError SHEPHERD_STORE_OPEN_FAILED (what to do included), SHEPHERD_STORE_GONE.
 */
export async function openConnection(file: string): Promise<Database.Database> {
  const dir = path.dirname(path.resolve(file))
  try {
    // Folders made on the way are the supervisor user's alone; existing ones keep their mode.
    fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  } catch (e) {
    throw new ShepherdError(
      'SHEPHERD_STORE_OPEN_FAILED',
      `Could not open the store ${file}: its directory ${dir} cannot be created (${coerceError(e).message}). ` +
        'Create it, or point store.path in the config at a writable place.',
      { cause: e },
    )
  }
  refuseToReplace(file)
  let db: Database.Database | undefined
  try {
    // 0600 before SQLite opens it: SQLite gives its -wal and -shm files the mode of the database.
    createPrivate(file)
    db = new Database(file)
    await configure(db, file)
    return db
  } catch (e) {
    db?.close()
    throw openFailed(file, e)
  }
}

/**
 * A store file that does not exist while a supervisor holds its lock was deleted under that
 * supervisor: creating a new, empty one there would take jobs that no supervisor ever reads.
 */
function refuseToReplace(file: string): void {
  if (fs.existsSync(file) || !isStoreLocked(file)) return
  throw new ShepherdError(
    'SHEPHERD_STORE_GONE',
    `The store ${file} does not exist, but a running supervisor holds its lock (${lockFileOf(file)}): ` +
      'the file was deleted while that supervisor runs, and a new, empty store here would hold jobs it never reads. ' +
      'Nothing was created. Restart the supervisor (it then starts on a new store), or restore the file from a backup first.',
  )
}

async function configure(db: Database.Database, file: string): Promise<void> {
  // First, so that every statement below already waits for a process holding the file.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
  // WAL: readers (the CLI, the dashboard, a backup) never block the supervisor's writes nor it
  // theirs, and a commit appends to one file instead of rewriting pages. Persistent in the file.
  const mode = await switchToWal(db)
  if (mode !== 'wal') {
    throw new ShepherdError(
      'SHEPHERD_STORE_OPEN_FAILED',
      `Could not open the store ${file}: SQLite could not put it in WAL mode (journal_mode is "${String(mode)}"). ` +
        'WAL needs a local filesystem with shared memory (not NFS or SMB) and a file on disk: point store.path at a local disk.',
    )
  }
  // FULL syncs the WAL at every commit: an incident or event the supervisor reported survives a
  // power cut, not only a crash of the process (NORMAL may lose the last commits on power loss).
  // Set after the WAL switch and on every open: it is per connection, and better-sqlite3 builds
  // SQLite with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1, which would otherwise give NORMAL.
  db.pragma('synchronous = FULL')
  // Enforce foreign keys as PostgreSQL always does, whatever the build's default, so a later
  // migration that adds one behaves the same on both adapters.
  db.pragma('foreign_keys = ON')
}

/**
 * Sets journal_mode=WAL, retrying while the file is busy. Switching a file that is not yet in WAL
 * mode (a new store) needs an exclusive lock, and when another connection holds the write lock
 * SQLite answers SQLITE_BUSY at once, without calling the busy handler: it holds a shared lock
 * itself and waiting could deadlock. Two processes opening a new store together hit exactly that,
 * so the wait is done here: backing off from 2 ms to 100 ms, asynchronously (the event loop keeps
 * running), up to the same BUSY_TIMEOUT_MS. A file already in WAL mode needs no lock and no retry.
 */
async function switchToWal(db: Database.Database): Promise<unknown> {
  const deadline = performance.now() + BUSY_TIMEOUT_MS
  for (let pause = 2; ; pause = Math.min(pause * 2, 100)) {
    try {
      return db.pragma('journal_mode = WAL', { simple: true })
    } catch (e) {
      if (!sqliteCode(e)?.startsWith('SQLITE_BUSY') || performance.now() + pause > deadline) throw e
    }
    await sleep(pause)
  }
}

/** Errors that say the file itself is unusable (rather than a statement being wrong). */
export function isAboutTheFile(e: unknown): boolean {
  const code = sqliteCode(e)
  return code !== null && /^SQLITE_(NOTADB|CORRUPT|CANTOPEN|READONLY|PERM|AUTH|BUSY|LOCKED)/.test(code)
}

/** SHEPHERD_STORE_OPEN_FAILED for an error met while opening `file`, with what to do about it. */
export function openFailed(file: string, e: unknown): ShepherdError {
  if (e instanceof ShepherdError) return e
  const code = sqliteCode(e)
  const err = coerceError(e)
  return new ShepherdError(
    'SHEPHERD_STORE_OPEN_FAILED',
    `Could not open the store ${file}: ${code ?? err.name} (${err.message}). ${openAdvice(code, file)}`,
    { cause: e },
  )
}

/** How to set a broken store file aside and start on a new one. */
export function moveAside(file: string): string {
  return (
    `Stop Shepherd, move the file aside with its -wal and -shm files (mv ${file} ${file}.broken), and start ` +
    'again: Shepherd creates a new, empty store. Keep the old file; `sqlite3 old.db .recover` may get its incidents back.'
  )
}

function openAdvice(code: string | null, file: string): string {
  if (code === null) return 'See docs/store.md.'
  if (/^SQLITE_(NOTADB|CORRUPT)/.test(code))
    return `It is not a SQLite database, or it is corrupt. ${moveAside(file)}`
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return 'SQLite cannot open or create it: check that its directory exists and is writable by the user running Shepherd, or point store.path in the config elsewhere.'
  }
  if (/^SQLITE_(READONLY|PERM|AUTH)/.test(code)) {
    return 'The file or its directory is read-only (WAL mode also creates -wal and -shm files beside it): make both writable by the user running Shepherd.'
  }
  if (/^SQLITE_(BUSY|LOCKED)/.test(code)) {
    return `Another process kept it locked for more than ${BUSY_TIMEOUT_MS} ms: look for a stuck shepherd or sqlite3 process using it.`
  }
  if (code.startsWith('SQLITE_IOERR'))
    return 'The disk reported an I/O error: check the disk and the kernel log.'
  if (code.startsWith('SQLITE_FULL')) return 'The disk is full: free some space.'
  return 'See docs/store.md.'
}
