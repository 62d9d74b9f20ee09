/**
 * The states a worker slot shows (the API's `state`). The slot (`email#2`) keeps its id across
 * restarts; its process changes.
 *
 * - starting:   a process was spawned; it is not ready yet. Exit: ready (SDK ready message,
 *               passing probes, or min_uptime alive), exited, stopping, restarting, failed.
 * - ready:      running and healthy. Exit: degraded (a warning), stopping, exited, restarting,
 *               failed (a revive attempt that failed).
 * - degraded:   running with a warning (CPU, memory, zombies, backlog). Exit: as ready.
 * - stopping:   SIGTERM or SIGKILL was sent. Exit: exited.
 * - exited:     no process. Exit: restarting (a recovery will start one), failed, starting.
 * - restarting: a recovery is under way (backoff, or about to start a process). Exit: starting,
 *               stopping, exited, failed.
 * - failed:     escalated; Shepherd retries it only at the slow revive interval. Exit: starting
 *               (a revive attempt), restarting (a manual restart), exited (shutdown).
 *
 * The slot machine (slot.ts) makes every move, and refuses one this table does not allow.
 * @module
 */
export const WORKER_STATES = {
  starting: 'spawned, not ready yet',
  ready: 'running and healthy',
  degraded: 'running with a warning',
  stopping: 'asked to stop',
  exited: 'no process',
  restarting: 'being recovered',
  failed: 'escalated; retried at the revive interval',
} as const

export type WorkerState = keyof typeof WORKER_STATES

const ALLOWED: { [S in WorkerState]: readonly WorkerState[] } = {
  starting: ['ready', 'exited', 'stopping', 'restarting', 'failed'],
  ready: ['degraded', 'stopping', 'exited', 'restarting', 'failed'],
  degraded: ['ready', 'stopping', 'exited', 'restarting', 'failed'],
  stopping: ['exited'],
  exited: ['restarting', 'failed', 'starting'],
  restarting: ['starting', 'stopping', 'exited', 'failed'],
  failed: ['starting', 'restarting', 'exited'],
}

/** Every move the table allows, `from → to`. */
export function allowedMoves(): Array<[WorkerState, WorkerState]> {
  return (Object.keys(ALLOWED) as WorkerState[]).flatMap((from) =>
    ALLOWED[from].map((to): [WorkerState, WorkerState] => [from, to]),
  )
}

export function canMove(from: WorkerState, to: WorkerState): boolean {
  return from === to || ALLOWED[from].includes(to)
}

/** Whether a process in this state is counted as serving its pool. */
export function isServing(state: WorkerState): boolean {
  return state === 'ready' || state === 'degraded'
}

export function isWorkerState(s: string): s is WorkerState {
  return Object.hasOwn(WORKER_STATES, s)
}
