/**
 * The OS lock that makes one supervisor the owner of a SQLite store: an exclusive lock on a file
 * beside it, `<store>.lock`, held for as long as the supervisor's store is open, and let go by
 * the kernel however the process ends (SIGKILL included).
 *
 * Node has no flock(2), so the lock is taken through SQLite itself: the lock file is an empty
 * SQLite database on its own connection, in which this process opens an EXCLUSIVE transaction and
 * never ends it. SQLite holds that with POSIX advisory locks (fcntl) on the lock file: a lock of
 * the kernel, seen by every process that opens the same file (containers sharing the volume
 * included), released when the process dies, and not inherited by the workers the supervisor
 * forks. SQLite also keeps the locks of two connections of one process apart, which plain fcntl
 * does not (closing any descriptor of a file drops every lock the process has on it).
 *
 * The store itself cannot carry this lock: in WAL mode readers (the CLI, the dashboard, a backup)
 * must keep reading and writing beside the supervisor, and an exclusive lock on the store would
 * shut them out. The lock file is never written; only its lock matters.
 * @module
 */
import fs from 'node:fs'

import Database from 'better-sqlite3'

import { PRIVATE_FILE_MODE } from '../file-modes.js'
import { sqliteCode } from './migrate.js'

/** The lock file of a store: beside it, named after it. */
export function lockFileOf(store: string): string {
  return `${store}.lock`
}

/**
 * How long taking the lock waits for a process that holds it for a moment: a CLI probing it
 * ({@link isStoreLocked}) holds a shared lock for microseconds. A supervisor that holds it is
 * not waited for: the second start is refused at once.
 */
const LOCK_WAIT_MS = 250

/** An exclusive lock on a store's lock file, held until {@link StoreLock.release}. */
export class StoreLock {
  readonly #db: Database.Database
  #held = true

  private constructor(
    readonly file: string,
    db: Database.Database,
  ) {
    this.#db = db
  }

  /**
   * Takes the lock of `store` (creating its lock file, 0600, if missing), or returns null when
   * another connection holds it: another supervisor, in this process or another.
   */
  static tryAcquire(store: string): StoreLock | null {
    const file = lockFileOf(store)
    createPrivate(file)
    const db = new Database(file)
    try {
      db.pragma(`busy_timeout = ${LOCK_WAIT_MS}`)
      // Nothing is ever written: no journal file beside the lock file.
      db.pragma('journal_mode = MEMORY')
      db.exec('BEGIN EXCLUSIVE')
      return new StoreLock(file, db)
    } catch (e) {
      db.close()
      if (sqliteCode(e)?.startsWith('SQLITE_BUSY')) return null
      throw e
    }
  }

  get held(): boolean {
    return this.#held
  }

  /** Lets the lock go. Calling it again does nothing. */
  release(): void {
    if (!this.#held) return
    this.#held = false
    // Closing the connection ends the transaction and lets the lock go.
    this.#db.close()
  }
}

/**
 * Whether some process holds the lock of `store` now (a supervisor runs on it). False when there
 * is no lock file. Takes a shared lock for a moment, through SQLite for the reason the module
 * header gives.
 */
export function isStoreLocked(store: string): boolean {
  const file = lockFileOf(store)
  if (!fs.existsSync(file)) return false
  let db: Database.Database
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
  } catch {
    return false
  }
  try {
    db.pragma('busy_timeout = 0')
    db.prepare('SELECT count(*) FROM sqlite_master').get()
    return false
  } catch (e) {
    return sqliteCode(e)?.startsWith('SQLITE_BUSY') === true
  } finally {
    db.close()
  }
}

/** Creates `file` empty and private if it does not exist; an existing one keeps its mode. */
export function createPrivate(file: string): void {
  let fd: number
  try {
    fd = fs.openSync(
      file,
      fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY,
      PRIVATE_FILE_MODE,
    )
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return
    throw e
  }
  // A file made just now: no lock of this process is on it, so closing it releases none.
  fs.closeSync(fd)
}
