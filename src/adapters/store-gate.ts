/**
 * Whether a store still takes writes, apart from any database: closed (every operation refused),
 * fenced off (every write refused until a restart: its file deleted or replaced, its lease taken by
 * another supervisor), and the outcome of every write told to the store's listeners (the store
 * monitor), a passing outage (a full disk, a read-only store, a database that cannot be reached)
 * named as such. Each adapter's guard (sqlite/store-guard.ts, postgres/pg-guard.ts) runs its
 * statements through one of these and maps its own errors to the problems here.
 * @module
 */
import type { StoreProblem } from '../core/store-health.js'
import { type ErrorCode, ShepherdError } from '../errors.js'
import type { StoreWrite } from '../ports/store.js'

/** Why a store refuses every write from now on: its file is gone, or another supervisor owns it. */
export interface Fence {
  problem: Extract<StoreProblem, 'gone' | 'taken'>
  /** What happened, to follow "the store <name>": "was deleted while the supervisor runs". */
  what: string
  advice: string
}

/** A problem that passes by itself: writes resume once it is fixed. */
export type Outage = Extract<StoreProblem, 'full' | 'read-only' | 'unreachable'>

const OUTAGE_CODES: Record<Outage, ErrorCode> = {
  full: 'SHEPHERD_STORE_FULL',
  'read-only': 'SHEPHERD_STORE_READ_ONLY',
  unreachable: 'SHEPHERD_STORE_UNREACHABLE',
}

/** The gate of one store. */
export class StoreGate {
  readonly #listeners = new Set<(w: StoreWrite) => void>()
  #closed = false
  #fence: Fence | null = null

  /** @param name - the store as messages name it: its file, or its URL without the password. */
  constructor(readonly name: string) {}

  /** True once the store is closed: every operation is refused. */
  get closed(): boolean {
    return this.#closed
  }

  /** True once the store is fenced off: every write is refused. */
  get fenced(): boolean {
    return this.#fence !== null
  }

  /** Refuses every operation from now on. */
  close(): void {
    this.#closed = true
  }

  /** Tells `listener` the outcome of every write from now on; returns the function that stops it. */
  onWrite(listener: (w: StoreWrite) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Fences the store off (the first fence stays), and tells the listeners. */
  fence(fence: Fence): Fence {
    if (this.#fence !== null) return this.#fence
    this.#fence = fence
    this.tell({
      ok: false,
      problem: fence.problem,
      message: `The store ${this.name} ${fence.what}. ${fence.advice}`,
    })
    return fence
  }

  /**
   * The refusal of a write while the store is fenced off, told to the listeners; null when it is not
   * fenced, or closed (the operation then meets {@link StoreGate.closedError}).
   */
  refusal(operation: string): ShepherdError | null {
    const fence = this.#fence
    if (this.#closed || fence === null) return null
    const code = fence.problem === 'gone' ? 'SHEPHERD_STORE_GONE' : 'SHEPHERD_STORE_LOCKED'
    const message = `Could not ${operation} in the store ${this.name}: it ${fence.what}. ${fence.advice}`
    this.tell({ ok: false, problem: fence.problem, message })
    return new ShepherdError(code, message)
  }

  /** The error of an operation on a closed store. */
  closedError(code: ErrorCode, operation: string, preposition: string): ShepherdError {
    return new ShepherdError(
      code,
      `Could not ${operation} ${preposition} the store ${this.name}: it is closed.`,
    )
  }

  /**
   * A write refused for a passing problem, told to the listeners.
   * @param message - the whole message: the operation, the store, why, and what to do.
   */
  outage(problem: Outage, message: string, cause: unknown): ShepherdError {
    this.tell({ ok: false, problem, message })
    return new ShepherdError(OUTAGE_CODES[problem], message, { cause })
  }

  /** Tells every listener; a listener's failure is its own, the write's outcome stands. */
  tell(w: StoreWrite): void {
    for (const l of this.#listeners) {
      try {
        l(w)
      } catch {
        // A listener's failure is its own; the write's outcome stands.
      }
    }
  }
}
