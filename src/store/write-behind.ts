/**
 * Write-behind for the recovery path. The supervisor records incidents, saved worker states and
 * events as they happen; this collects them and writes them in one transaction per turn of the
 * event loop, so that no fsync sits between a crash and the start of its replacement. Reads of a
 * worker's state see what is still queued (read-your-writes), and `flush()` drains everything at
 * shutdown.
 *
 * A batch the store does not take (a full disk, a read-only store) is kept and tried again with
 * a backoff, merged with what came since (a later version of an incident or state supersedes the
 * kept one); recovery never waits for it. What is kept is bounded, so that an outage of any length
 * (PostgreSQL down for an hour) costs a few MiB: at most {@link MAX_KEPT_EVENTS} events and
 * {@link MAX_KEPT_INCIDENTS} incidents (past that the oldest are dropped and counted in
 * {@link WriteBehind.dropped}); one state per worker slot; and of the worker processes started and
 * ended meanwhile only the ones that still matter (a start and its end cancel out).
 * @module
 */
import { backgroundTimers } from '../adapters/timers.js'
import type { AnyEvent } from '../core/events.js'
import type { Incident } from '../core/incident.js'
import type { Scheduler } from '../ports/clock.js'
import type { SavedWorkerState, Store, StoreBatch, WorkerProcessRecord } from '../ports/store.js'

/**
 * Events kept while the store takes no writes. A busy fleet records a few events a second; this
 * is hours of them in a few MiB, and bounds the supervisor's memory whatever the outage lasts.
 */
export const MAX_KEPT_EVENTS = 10_000

/**
 * Incidents kept while the store takes no writes (the latest version of each). A crash loop that
 * the restart budget lets through opens a few incidents a minute per slot; a thousand covers
 * hours of one and bounds the memory whatever the outage lasts.
 */
export const MAX_KEPT_INCIDENTS = 1_000

/** Records dropped so far because the store took no writes for too long. */
export interface DroppedRecords {
  events: number
  incidents: number
}

/** A failed batch is tried again after this, doubling up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 100
const RETRY_MAX_MS = 2_000

export class WriteBehind {
  private incidents = new Map<string, Incident>()
  private states = new Map<string, SavedWorkerState>()
  private events: AnyEvent[] = []
  private started: WorkerProcessRecord[] = []
  private ended: Pick<WorkerProcessRecord, 'pid' | 'startTicks'>[] = []
  private scheduled = false
  private chain: Promise<void> = Promise.resolve()
  private failures = 0
  /** The handle of the pending retry's timer. */
  private retry: unknown = null
  private closed = false
  private dropping = false
  readonly #dropped: DroppedRecords = { events: 0, incidents: 0 }

  /**
   * @param onError - told the first failure of a run of failed batches (what is kept and retried),
   *   and every drop of kept events past {@link MAX_KEPT_EVENTS}.
   * @param timers - of the turn's batch and the retries; a pending retry keeps no process alive.
   */
  constructor(
    private readonly store: Store,
    private readonly onError: (error: unknown, detail: string) => void,
    private readonly timers: Scheduler = backgroundTimers,
  ) {}

  /** Queues the incident's latest version (earlier queued versions of it are superseded). */
  saveIncident(incident: Incident): void {
    this.incidents.set(incident.id, incident)
    this.schedule()
  }

  saveWorkerState(state: SavedWorkerState): void {
    this.states.set(state.workerId, state)
    this.schedule()
  }

  appendEvent(event: AnyEvent): void {
    this.events.push(event)
    this.schedule()
  }

  /** A worker process started (so that, were the supervisor to die, the next one finds it). */
  processStarted(record: WorkerProcessRecord): void {
    this.started.push(record)
    this.schedule()
  }

  processEnded(pid: number, startTicks: number): void {
    this.ended.push({ pid, startTicks })
    this.schedule()
  }

  /** Events and incidents dropped since the start, past the bounds, because the store took no writes. */
  get dropped(): DroppedRecords {
    return { ...this.#dropped }
  }

  /** The worker's state: the queued one if any, else the stored one. */
  async loadWorkerState(workerId: string): Promise<SavedWorkerState | undefined> {
    return this.states.get(workerId) ?? this.store.loadWorkerState(workerId)
  }

  /**
   * Writes everything queued so far; resolves once it is stored, or kept for a retry when the
   * store did not take it.
   */
  flush(): Promise<void> {
    this.scheduled = false
    if (this.retry !== null) {
      this.timers.clear(this.retry)
      this.retry = null
    }
    const batch = {
      incidents: [...this.incidents.values()],
      workerStates: [...this.states.values()],
      events: this.events,
      processesStarted: this.started,
      processesEnded: this.ended,
    }
    this.incidents = new Map()
    this.states = new Map()
    this.events = []
    this.started = []
    this.ended = []
    const n =
      batch.incidents.length +
      batch.workerStates.length +
      batch.events.length +
      batch.processesStarted.length +
      batch.processesEnded.length
    if (n === 0) return this.chain
    this.chain = this.chain.then(() =>
      this.store.writeBatch(batch).then(
        () => {
          this.failures = 0
          this.dropping = false
        },
        (error: unknown) => this.keep(batch, error),
      ),
    )
    return this.chain
  }

  /**
   * The last flush, at shutdown: whatever the store does not take now is reported and left (the
   * store closes next); no retry follows.
   */
  async close(): Promise<void> {
    this.closed = true
    await this.flush()
    if (this.retry !== null) this.timers.clear(this.retry)
    this.retry = null
  }

  /** Puts a batch the store did not take back in front of what came since, and retries later. */
  private keep(batch: Required<StoreBatch>, error: unknown): void {
    // What was queued since is newer: it wins over the kept versions.
    this.incidents = new Map([...batch.incidents.map((i) => [i.id, i] as const), ...this.incidents])
    this.states = new Map([...batch.workerStates.map((w) => [w.workerId, w] as const), ...this.states])
    this.events = [...batch.events, ...this.events]
    this.keepProcesses([...batch.processesStarted, ...this.started], [...batch.processesEnded, ...this.ended])
    const dropped = Math.max(0, this.events.length - MAX_KEPT_EVENTS)
    if (dropped > 0) this.events = this.events.slice(dropped)
    this.#dropped.events += dropped
    const droppedIncidents = Math.max(0, this.incidents.size - MAX_KEPT_INCIDENTS)
    if (droppedIncidents > 0) {
      // The oldest first: a map keeps its insertion order, and the kept versions came first.
      this.incidents = new Map([...this.incidents].slice(droppedIncidents))
      this.#dropped.incidents += droppedIncidents
    }
    this.failures++
    // Told once when the failures begin and once when dropping begins, not at every retry.
    const dropping = dropped > 0 || droppedIncidents > 0
    const firstDrop = dropping && !this.dropping
    this.dropping ||= dropping
    if (this.failures === 1 || firstDrop) {
      this.onError(
        error,
        `kept ${this.incidents.size} incidents, ${this.states.size} worker states and ${this.events.length} events, retrying` +
          (firstDrop
            ? `; dropping the oldest from now on (at most ${MAX_KEPT_EVENTS} events and ${MAX_KEPT_INCIDENTS} incidents are kept)`
            : ''),
      )
    }
    if (this.closed) {
      if (this.failures > 1)
        this.onError(error, `not written at shutdown: ${this.events.length} events and the latest incidents`)
      return
    }
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.failures - 1, 16))
    this.retry = this.timers.set(() => {
      this.retry = null
      void this.flush()
    }, delay)
  }

  /**
   * Keeps the process records still to write: a process that started and ended while the store
   * took none needs neither record (the store would add its row, then delete it).
   */
  private keepProcesses(
    started: WorkerProcessRecord[],
    ended: Pick<WorkerProcessRecord, 'pid' | 'startTicks'>[],
  ): void {
    const key = (p: Pick<WorkerProcessRecord, 'pid' | 'startTicks'>): string => `${p.pid}:${p.startTicks}`
    const startedKeys = new Set(started.map(key))
    const endedKeys = new Set(ended.map(key))
    this.started = started.filter((p) => !endedKeys.has(key(p)))
    this.ended = ended.filter((p) => !startedKeys.has(key(p)))
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    // While a retry is pending, new records wait for it rather than meet the same failure.
    if (this.retry !== null) return
    this.timers.defer(() => {
      // After close the store is closed too: whatever comes now stays unwritten (close reported it).
      if (!this.closed) void this.flush()
    })
  }
}
