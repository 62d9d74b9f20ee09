/**
 * The Store port: everything Shepherd keeps across restarts of the supervisor. The embedded
 * adapter is SQLite (sqlite/); a later one is PostgreSQL behind the same contract, so the contract
 * is semantic, takes `now` from the caller, and its SQL stays portable.
 * @module
 */
import type { AnyEvent, EventType } from '../core/events.js'
import type { ExitReport } from '../core/exit-report.js'
import type { FleetNode, ForgetOutcome, NodeWorkload } from '../core/fleet-node.js'
import type { FleetNotificationClaim, FleetNotificationDecision } from '../core/fleet-notification.js'
import type { HealthReport } from '../core/health.js'
import type { Incident } from '../core/incident.js'
import type { LeaderCandidate, Leadership, LeadershipDecision } from '../core/leadership.js'
import type { StoreWriteOutcome } from '../core/store-health.js'
import type { LeaseClaim, LeaseDecision, Renewal, SupervisorLease } from '../core/supervisor-lease.js'
import type { JobStore } from './job-store.js'

export type { FleetNode, ForgetOutcome, NodeWorker, NodeWorkload } from '../core/fleet-node.js'
export type { FleetNotificationClaim, FleetNotificationDecision } from '../core/fleet-notification.js'
export type { LeaderCandidate, Leadership, LeadershipDecision } from '../core/leadership.js'
export type { LeaseClaim, LeaseDecision, Renewal, SupervisorLease } from '../core/supervisor-lease.js'

/** The outcome of one write, as {@link Store.onWrite} tells it. */
export type StoreWrite = StoreWriteOutcome

/**
 * Whether the process with this pid and start time runs on this host: true, false, or null when
 * it cannot be told (no start time recorded, no /proc).
 */
export type ProcessRunning = (pid: number, startTicks: number | null) => boolean | null

/** What the recovery flow saves about a worker before stopping it and hands to its replacement. */
export interface SavedWorkerState {
  workerId: string
  pool: string
  savedAt: number
  incidentId: string | null
  /** Last lines of output, oldest first, each prefixed `out| ` or `err| `. */
  logTail: string[]
  lastReport: HealthReport | null
  exit: ExitReport | null
  /** The worker's last checkpoint (worker SDK); null until a worker saves one. */
  checkpoint: unknown
}

/** A worker process a supervisor started: enough to find it again after the supervisor died. */
export interface WorkerProcessRecord {
  pid: number
  /** Start time in clock ticks after boot (/proc/<pid>/stat): with the pid, it names one process. */
  startTicks: number
  pool: string
  workerId: string
  spawnedAt: number
}

export interface StoreBatch {
  incidents?: readonly Incident[]
  workerStates?: readonly SavedWorkerState[]
  events?: readonly AnyEvent[]
  /** Processes started, and processes seen to exit (by pid and start ticks). */
  processesStarted?: readonly WorkerProcessRecord[]
  processesEnded?: readonly Pick<WorkerProcessRecord, 'pid' | 'startTicks'>[]
}

export interface IncidentQuery {
  /** Newest first; default 50. An integer ≥ 0; anything else is refused (SHEPHERD_BAD_REQUEST). */
  limit?: number
  workerId?: string
  pool?: string
  /** Only incidents of this node (the agent that recorded them, {@link Incident.node}). */
  node?: string
  /** Only incidents detected at or after this epoch ms. */
  since?: number
}

export interface EventQuery {
  /** Events with seq greater than this. */
  afterSeq?: number
  /** Only events of these types; absent or empty means any type. */
  types?: EventType[]
  workerId?: string
  /** Only events of this node (the agent that recorded them, `ShepherdEvent.node`). */
  node?: string
  /** Oldest first; default 100. An integer ≥ 0; anything else is refused (SHEPHERD_BAD_REQUEST). */
  limit?: number
}

export interface Store {
  /** The durable job queue, in the same database. */
  readonly jobs: JobStore
  /** Creates or upgrades the schema; safe to call on every start and from two processes at once. */
  migrate(): Promise<void>
  /** Inserts or replaces the incident (the whole record, timeline included). */
  saveIncident(incident: Incident): Promise<void>
  getIncident(id: string): Promise<Incident | undefined>
  listIncidents(query?: IncidentQuery): Promise<Incident[]>
  /**
   * Incidents whose phase is not final (recovered, escalated, interrupted), oldest first: the ones
   * a supervisor that starts closes as interrupted. On a store that agents share (PostgreSQL), only
   * those of the node this store claimed and those of no node: another agent's are under way. A
   * store of one supervisor (SQLite), or one that claimed no node, lists every one.
   */
  listOpenIncidents(): Promise<Incident[]>
  /**
   * The leader's look for a dead agent's leftovers: the open incidents of nodes other than this
   * store's whose lease is not live at `now` (expired, or gone: a node forgotten), oldest first.
   * Nobody carries their recovery on; the leader closes them as interrupted. Those of no node are
   * left to the next agent that starts. SQLite: none (its one supervisor closed every open incident
   * at its start).
   */
  listLapsedIncidents(now: number): Promise<Incident[]>
  /**
   * Appends an event and returns its sequence number (any `seq` on the argument is ignored).
   * Sequence numbers only grow and are never reused, even after pruning.
   */
  /**
   * Writes incidents, worker states and events in one transaction (all or none: one fsync for the
   * lot) and returns the events' sequence numbers in order. The supervisor's write-behind uses it.
   */
  writeBatch(batch: StoreBatch): Promise<number[]>
  appendEvent(event: AnyEvent): Promise<number>
  listEvents(query?: EventQuery): Promise<AnyEvent[]>
  /** Deletes events older than `before` (epoch ms); returns how many. Incidents are kept. */
  pruneEvents(before: number): Promise<number>
  /** Processes recorded as started and not (yet) as ended: a dead supervisor's orphans, at start. */
  listWorkerProcesses(): Promise<WorkerProcessRecord[]>
  /** Forgets every recorded process (after the orphans were dealt with). */
  clearWorkerProcesses(): Promise<void>
  saveWorkerState(state: SavedWorkerState): Promise<void>
  loadWorkerState(workerId: string): Promise<SavedWorkerState | undefined>
  /**
   * Makes the caller the store's one supervisor, atomically: no lease → take; its own → renew
   * (a repeated claim updates the API address); a holder that runs → refuse (nothing changes);
   * one that is gone, or whose lease expired where that cannot be seen → take over. The decision
   * is the core's (`decideLease`); the adapter says whether the holder runs: SQLite by an OS lock
   * on `<store>.lock` kept until release or close, then `running` for a holder on this host.
   */
  claimOwnership(
    claim: LeaseClaim,
    now: number,
    ttlMs: number,
    running: ProcessRunning,
  ): Promise<LeaseDecision>
  /**
   * The owner's heartbeat: moves its lease's expiry to `now + ttlMs` while the lease is live
   * (`renewed`), and records `workload` (what its workers are now; kept as it was when absent).
   * `lapsed`: the lease is the owner's but expired before `now`, or the fleet's leader ended it
   * when it reclaimed the node's jobs, whatever `now` says (a shared store only): nothing is
   * written, and the owner may claim its node again, with a new epoch (a rejoin). `taken`: the
   * lease is no longer `owner`'s; the store then refuses every later write (SHEPHERD_STORE_LOCKED).
   */
  renewOwnership(owner: string, now: number, ttlMs: number, workload?: NodeWorkload): Promise<Renewal>
  /** Deletes `owner`'s lease (a clean stop) and lets any OS lock go; nothing if it is not theirs. */
  releaseOwnership(owner: string): Promise<void>
  /** The supervisor that owns the store, or null. */
  readOwnership(): Promise<SupervisorLease | null>
  /**
   * Every node that holds a lease, by name: live or expired (the caller tells which with
   * `nodeState`), with its version and the workload of its last heartbeat. A lease released at a
   * clean stop is gone, and so is its node. SQLite: the one supervisor's, or none.
   */
  listNodes(): Promise<FleetNode[]>
  /**
   * Takes a dead node off the fleet (`shepherd nodes --forget`), atomically, and only while it is
   * dead at `now` (`nodeState`; on SQLite, also while no supervisor holds the file's lock): its lease
   * row (the listing) and its workers' saved state (PostgreSQL, where it is the node's: nobody else
   * reads it) are deleted. Kept: its incidents and events (history: the leader closed its open
   * incidents as interrupted), its last epoch (an agent that later starts under the name gets a new
   * one) and the records of its worker processes (only an agent of that name on its host can stop
   * any that outlived it). Its active jobs are the leader's to put back, as for any node without a
   * live lease. A live node is left as it is (`alive`); a name no lease holds is `unknown`.
   */
  forgetNode(node: string, now: number): Promise<ForgetOutcome>
  /**
   * Asks to lead the fleet, atomically (the core's `decideLeadership`): a free or expired
   * leadership is taken (its epoch one more than the last), the candidate's own is renewed, a live
   * one of another agent is followed (nothing written). The answer names the leader either way.
   */
  claimLeadership(candidate: LeaderCandidate, now: number, ttlMs: number): Promise<LeadershipDecision>
  /** Ends `owner`'s leadership now (a clean stop), so that another agent takes it at its next claim. */
  resignLeadership(owner: string, now: number): Promise<void>
  /** The fleet's leader as recorded (its lease may have expired), or null when none has led yet. */
  readLeadership(): Promise<Leadership | null>
  /**
   * Claims the run of the chore `name` due at `dueAt` (a scheduled report) for `node`: true when
   * the last run claimed is at least `spacingMs` (> 0) earlier, for exactly one caller however many
   * agents ask at once; false otherwise. Agents whose schedules started a little apart thus make
   * one run per period between them (the scheduler passes half its period).
   */
  claimChoreRun(name: string, dueAt: number, node: string, spacingMs: number): Promise<boolean>
  /**
   * Claims the message of a fleet-wide notification (src/core/fleet-notification.ts) for
   * `claim.node`, atomically, the core's `decideFleetClaim` deciding: the first node to claim the
   * key, the node that sent its last message, or anyone once `claim.windowMs` has passed since
   * that message sends (with the count and nodes of the claims suppressed since); another node
   * within the window does not, and is counted. Exactly one of several agents claiming at once sends.
   */
  claimNotification(claim: FleetNotificationClaim): Promise<FleetNotificationDecision>
  /**
   * The leader's retention of {@link Store.claimNotification}'s rows; returns how many it deleted.
   * A row whose dedup window ended by `now` and that suppressed nothing since its message decides
   * the next claim exactly as no row does, and goes. One that counts suppressed claims carries them
   * to the key's next message, and stays until its window ended before `before` (the leader passes
   * `store.event_retention` ago: a count of messages that old goes with the events of then).
   */
  pruneFleetNotifications(now: number, before: number): Promise<number>
  /**
   * Tells `listener` the outcome of each write from now on: done, or refused for a full disk
   * (SHEPHERD_STORE_FULL), a read-only store (SHEPHERD_STORE_READ_ONLY), a store file deleted or
   * replaced (SHEPHERD_STORE_GONE) or taken by another supervisor (SHEPHERD_STORE_LOCKED). Other
   * failures are not told. Returns the function that stops it.
   */
  onWrite(listener: (w: StoreWrite) => void): () => void
  /**
   * Checks that the store is still there (SQLite: the file at its path is the one it opened). One
   * that is not refuses every write from then on with SHEPHERD_STORE_GONE, and says so once
   * through {@link Store.onWrite}. Writes check it too; this finds it without waiting for one.
   */
  check(): Promise<void>
  /**
   * What the store's server is set to that works against the store, each as a sentence a person
   * can act on; none when all is well. A supervisor reads it once as it starts and logs each as a
   * warning. PostgreSQL: autovacuum off, for the server or for one of the store's tables
   * (src/adapters/postgres/vacuum-advice.ts); SQLite: none.
   */
  advise(): Promise<string[]>
  close(): Promise<void>
}
