/**
 * The health of the store as the writes to it go: whether it takes writes, and if not, why. The
 * daemon feeds it the outcome of every write and turns its changes into events: one
 * `store:failed` (critical, notified) when writes start failing, one `store:recovered` when they
 * have worked again for a while. Pure: time comes in as `now`.
 *
 * ```
 * ok ─write fails (full | read-only | unreachable)─> failed ─a write works, none failed for quietMs─> ok
 * ok | failed ─the file is gone, or another supervisor took the store─> fenced (until a restart)
 * ```
 *
 * While failed, more failures (of any kind but a fence) are the same outage: counted, not told
 * again. A write that works right after one that failed is not yet a recovery: on a nearly full
 * disk small commits fit where larger ones do not, and an outage that flaps must still be one
 * notification, not one per flap.
 * @module
 */

/** Why the store takes no writes; the first three pass by themselves, the last two need a restart. */
export const STORE_PROBLEMS = {
  full: 'the disk is full',
  'read-only': 'the store is read-only',
  /** A database server (PostgreSQL) that cannot be reached or does not answer: down, restarting, cut off. */
  unreachable: 'the database cannot be reached',
  gone: 'the store file was deleted or replaced',
  taken: 'another supervisor owns the store',
} as const

export type StoreProblem = keyof typeof STORE_PROBLEMS

/** Problems that end only with a restart of the supervisor: the store refuses every write. */
export function isFence(problem: StoreProblem): boolean {
  return problem === 'gone' || problem === 'taken'
}

/** The outcome of one write. */
export type StoreWriteOutcome = { ok: true } | { ok: false; problem: StoreProblem; message: string }

export interface StoreHealth {
  /** null: writes work. */
  problem: StoreProblem | null
  /** The message of the first failure of the outage. */
  message: string | null
  /** When the outage began. */
  since: number | null
  lastFailureAt: number | null
  /** Writes refused during the outage. */
  refused: number
}

export const HEALTHY_STORE: StoreHealth = {
  problem: null,
  message: null,
  since: null,
  lastFailureAt: null,
  refused: 0,
}

/** The store's health as the API shows it (`GET /api/health`, `store`). */
export interface StoreHealthView {
  /** Whether the store takes writes now (as far as the last writes and checks tell). */
  writable: boolean
  /** Why it does not; null while it does. */
  problem: StoreProblem | null
  /** The message of the first failure of the outage: the store, why, and what to do. */
  message: string | null
  /** When the outage began; null while the store takes writes. */
  since: number | null
  /** Writes refused so far during the outage. */
  refused: number
}

/** The API's view of a store health. */
export function viewStoreHealth(h: StoreHealth): StoreHealthView {
  return {
    writable: h.problem === null,
    problem: h.problem,
    message: h.message,
    since: h.since,
    refused: h.refused,
  }
}

export type StoreHealthChange =
  | { kind: 'failed'; problem: StoreProblem; message: string }
  | { kind: 'recovered'; problem: StoreProblem; downMs: number; refused: number }

/**
 * The health after one write, and the change to announce, if any.
 * @param quietMs - how long writes must have stopped failing before a working one is a recovery.
 */
export function noteStoreWrite(
  health: StoreHealth,
  write: StoreWriteOutcome,
  now: number,
  quietMs: number,
): { health: StoreHealth; change: StoreHealthChange | null } {
  if (write.ok) {
    if (health.problem === null || isFence(health.problem)) return { health, change: null }
    if (health.lastFailureAt !== null && now - health.lastFailureAt < quietMs) return { health, change: null }
    return {
      health: HEALTHY_STORE,
      change: {
        kind: 'recovered',
        problem: health.problem,
        downMs: Math.max(0, now - (health.since ?? now)),
        refused: health.refused,
      },
    }
  }
  const worse = health.problem === null || (isFence(write.problem) && !isFence(health.problem))
  if (worse) {
    return {
      health: {
        problem: write.problem,
        message: write.message,
        since: health.since ?? now,
        lastFailureAt: now,
        refused: health.refused + 1,
      },
      change: { kind: 'failed', problem: write.problem, message: write.message },
    }
  }
  return { health: { ...health, lastFailureAt: now, refused: health.refused + 1 }, change: null }
}
