/**
 * Write-behind for the recovery path. The supervisor records incidents, saved worker states and
 * events as they happen; this collects them and writes them in one transaction per turn of the
 * event loop, so that no fsync sits between a crash and the start of its replacement. Reads of a
 * worker's state see what is still queued (read-your-writes), and `flush()` drains everything at
 * shutdown. A failed batch is reported, with what it held, never dropped silently.
 * @module
 */
import type { AnyEvent } from '../core/events.js'
import type { Incident } from '../core/incident.js'
import type { SavedWorkerState, Store, WorkerProcessRecord } from './store.js'

export class WriteBehind {
  private incidents = new Map<string, Incident>()
  private states = new Map<string, SavedWorkerState>()
  private events: AnyEvent[] = []
  private started: WorkerProcessRecord[] = []
  private ended: Pick<WorkerProcessRecord, 'pid' | 'startTicks'>[] = []
  private scheduled = false
  private chain: Promise<void> = Promise.resolve()

  constructor(
    private readonly store: Store,
    private readonly onError: (error: unknown, lost: string) => void,
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

  /** The worker's state: the queued one if any, else the stored one. */
  async loadWorkerState(workerId: string): Promise<SavedWorkerState | undefined> {
    return this.states.get(workerId) ?? this.store.loadWorkerState(workerId)
  }

  /** Writes everything queued so far; resolves once it is stored (or reported as failed). */
  flush(): Promise<void> {
    this.scheduled = false
    const incidents = [...this.incidents.values()]
    const workerStates = [...this.states.values()]
    const events = this.events
    const processesStarted = this.started
    const processesEnded = this.ended
    this.incidents = new Map()
    this.states = new Map()
    this.events = []
    this.started = []
    this.ended = []
    const n =
      incidents.length + workerStates.length + events.length + processesStarted.length + processesEnded.length
    if (n === 0) return this.chain
    this.chain = this.chain.then(() =>
      this.store.writeBatch({ incidents, workerStates, events, processesStarted, processesEnded }).then(
        () => undefined,
        (error: unknown) =>
          this.onError(
            error,
            `${incidents.length} incidents, ${workerStates.length} worker states, ${events.length} events`,
          ),
      ),
    )
    return this.chain
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => void this.flush())
  }
}
