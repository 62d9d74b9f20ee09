/**
 * How every operation of a SQLite store runs: refused at once when the store is closed or fenced
 * off (its file deleted or replaced, its lease taken by another supervisor); otherwise run, a
 * failure turned into a SHEPHERD_STORE_* error that names the operation, the file, SQLite's code
 * and what to do (a full disk and a read-only filesystem named as such), and the outcome of every
 * write told to the store's listeners (the store monitor). The job store runs through the same
 * guard, so a refused job write reads exactly like a refused incident write.
 * @module
 */
import fs from 'node:fs'

import { coerceError, type ErrorCode, ShepherdError } from '../../errors.js'
import type { StoreWrite } from '../../ports/store.js'
import { type Fence, StoreGate } from '../store-gate.js'
import { GONE_ADVICE, readAdvice, writeAdvice, writeProblem } from './failures.js'
import { sqliteCode } from './migrate.js'

export type { Fence } from '../store-gate.js'

/**
 * How the job store runs its statements: the owning store's error mapping, so that a refused job
 * write reads exactly like a refused incident write (SHEPHERD_STORE_WRITE_FAILED with the
 * operation, the file, the SQLite code and what to do) and a closed store is refused the same way.
 */
export interface SqliteGuard {
  /** Runs a write; any failure becomes SHEPHERD_STORE_WRITE_FAILED naming `operation`. */
  write<T>(operation: string, run: () => T): T
  /** Runs a read; any failure becomes SHEPHERD_INTERNAL naming `operation`. */
  read<T>(operation: string, run: () => T): T
}

/** The file a store opened, by device and inode: a file at its path with others is another file. */
interface FileIdentity {
  dev: number
  ino: number
}

/** The guard of one store file. */
export class StoreGuard implements SqliteGuard {
  readonly #file: string
  readonly #gate: StoreGate
  /** The file opened, to tell it from another file at the same path later. */
  #identity: FileIdentity | null = null

  /** @param file - the database file, for messages. */
  constructor(file: string) {
    this.#file = file
    this.#gate = new StoreGate(file)
  }

  /** True once the store is closed: every operation is refused. */
  get closed(): boolean {
    return this.#gate.closed
  }

  /** True once the store is fenced off: every write is refused. */
  get fenced(): boolean {
    return this.#gate.fenced
  }

  /** Refuses every operation from now on. */
  close(): void {
    this.#gate.close()
  }

  /**
   * Remembers which file was opened (device and inode), so that {@link StoreGuard.check} and every
   * write can tell when the path names another file, or none. `openSqliteStore` calls it.
   */
  identify(): void {
    const st = fs.statSync(this.#file)
    this.#identity = { dev: st.dev, ino: st.ino }
  }

  /** Tells `listener` the outcome of every write from now on; returns the function that stops it. */
  onWrite(listener: (w: StoreWrite) => void): () => void {
    return this.#gate.onWrite(listener)
  }

  /**
   * Checks that the file at the store's path is still the one opened (same device and inode). A
   * file deleted or replaced since fences the store off: every later write is refused with
   * SHEPHERD_STORE_GONE, as SQLite would otherwise go on writing into a file nobody reads again.
   */
  check(): void {
    if (this.#gate.fenced || this.#gate.closed || this.#identity === null) return
    let st: fs.Stats
    try {
      st = fs.statSync(this.#file)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return
      this.fence({ problem: 'gone', what: 'was deleted while the supervisor runs', advice: GONE_ADVICE })
      return
    }
    if (st.ino === this.#identity.ino && st.dev === this.#identity.dev) return
    this.fence({
      problem: 'gone',
      what: 'was replaced by another file while the supervisor runs',
      advice: GONE_ADVICE,
    })
  }

  /** Fences the store off (the first fence stays), and tells the listeners. */
  fence(fence: Fence): Fence {
    return this.#gate.fence(fence)
  }

  /**
   * Every write goes through here: refused at once when the store is fenced off (deleted,
   * replaced, taken over) or closed, and otherwise run and its outcome told to the listeners of
   * {@link StoreGuard.onWrite}, a full disk or a read-only filesystem named as such.
   */
  write<T>(operation: string, run: () => T): T {
    // A file deleted or replaced since the last look fences the store off before this write.
    this.check()
    const refused = this.#gate.refusal(operation)
    if (refused !== null) throw refused
    try {
      const result = this.#run('SHEPHERD_STORE_WRITE_FAILED', operation, 'in', run)
      this.#gate.tell({ ok: true })
      return result
    } catch (e) {
      if (e instanceof ShepherdError && e.code !== 'SHEPHERD_STORE_WRITE_FAILED') throw e
      const problem = e instanceof ShepherdError ? writeProblem(e.cause, this.#file) : null
      if (problem === null) throw e
      const why = problem === 'full' ? 'the disk is full' : `its file, folder or filesystem is read-only`
      const cause = (e as ShepherdError).cause
      throw this.#gate.outage(
        problem,
        `Could not ${operation} in the store ${this.#file}: ${why} (${sqliteCode(cause) ?? 'I/O error'}). ` +
          `Nothing was written. ${problem === 'full' ? 'Free some space' : 'Make it writable again'}: writes resume by themselves, and the supervisor keeps what workers reported until then.`,
        cause,
      )
    }
  }

  /** Runs a read; any failure becomes SHEPHERD_INTERNAL naming `operation`. */
  read<T>(operation: string, run: () => T): T {
    return this.#run('SHEPHERD_INTERNAL', operation, 'from', run)
  }

  #run<T>(code: ErrorCode, operation: string, preposition: string, run: () => T): T {
    if (this.#gate.closed) throw this.#gate.closedError(code, operation, preposition)
    try {
      return run()
    } catch (e) {
      if (e instanceof ShepherdError) throw e
      const sqlite = sqliteCode(e)
      const err = coerceError(e)
      const what = sqlite ? `${sqlite} (${err.message})` : `${err.name}: ${err.message}`
      const advice =
        code === 'SHEPHERD_STORE_WRITE_FAILED'
          ? writeAdvice(sqlite, this.#file)
          : readAdvice(sqlite, this.#file)
      throw new ShepherdError(
        code,
        `Could not ${operation} ${preposition} the store ${this.#file}: ${what}. ${advice}`,
        { cause: e },
      )
    }
  }
}
