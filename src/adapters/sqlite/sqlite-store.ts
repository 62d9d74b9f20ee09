/**
 * The embedded Store adapter: one SQLite file in WAL mode through better-sqlite3. better-sqlite3 is
 * synchronous; the methods still return promises so this adapter and the later PostgreSQL one share
 * the async Store port. Every statement is prepared once per connection (filter combinations are
 * prepared on first use and cached).
 * @module
 */
import { setImmediate as nextTurn } from 'node:timers/promises'

import type Database from 'better-sqlite3'

import type { AnyEvent } from '../../core/events.js'
import type { FleetNode, ForgetOutcome, NodeWorkload } from '../../core/fleet-node.js'
import type { FleetNotificationClaim, FleetNotificationDecision } from '../../core/fleet-notification.js'
import type { Incident } from '../../core/incident.js'
import type { LeaderCandidate, Leadership, LeadershipDecision } from '../../core/leadership.js'
import {
  type LeaseClaim,
  type LeaseDecision,
  type Renewal,
  type SupervisorLease,
} from '../../core/supervisor-lease.js'
import { ShepherdError } from '../../errors.js'
import type {
  EventQuery,
  IncidentQuery,
  ProcessRunning,
  SavedWorkerState,
  Store,
  StoreBatch,
  StoreWrite,
  WorkerProcessRecord,
} from '../../ports/store.js'
import { checkNumber } from '../../store/checks.js'
import {
  type DataRow,
  describeBatch,
  eventQuery,
  type EventRow,
  FINAL_PHASES,
  incidentQuery,
  type IncidentRow,
  type ProcessRow,
  PRUNE_BATCH,
  SQL,
  storedTime,
  toEvent,
  toIncident,
  toWorkerProcess,
} from '../sql/store-sql.js'
import {
  isAboutTheFile,
  openConnection,
  openFailed,
  readSettings,
  type SqliteSettings,
} from './connection.js'
import { loadMigrations, type Migration, runMigrations } from './migrate.js'
import { SqliteJobStore } from './sqlite-job-store.js'
import { SqliteOwnership } from './sqlite-ownership.js'
import { StoreGuard } from './store-guard.js'

type Statement<R = unknown> = Database.Statement<unknown[], R>

/**
 * Opens (creating it and its directory if missing) the SQLite store at `file`, sets its pragmas and
 * brings its schema up to date, so the store is ready to use.
 * @param file - path of the database file; Shepherd passes `store.path` resolved against the
 *   config file's directory. Its `-wal` and `-shm` files live beside it.
 * @throws ShepherdError `SHEPHERD_STORE_OPEN_FAILED` when the directory cannot be created, the file
 *   cannot be opened or written, is not a database or is corrupt, stays locked by another process,
 *   or cannot use WAL mode; `SHEPHERD_STORE_MIGRATION_FAILED` when the schema cannot be brought up to
 *   date (see {@link runMigrations}).
 * @example
 * ```ts
 * const store = await openSqliteStore('/srv/shepherd/shepherd.db')
 * try {
 *   await store.appendEvent(event)
 * } finally {
 *   await store.close()
 * }
 * ```
 */
export async function openSqliteStore(file: string): Promise<SqliteStore> {
  const migrations = loadMigrations()
  const db = await openConnection(file)
  try {
    runMigrations(db, migrations)
    const store = new SqliteStore(db, file, migrations)
    store.identify()
    return store
  } catch (e) {
    db.close()
    // A migration that failed because of the file itself (read-only, corrupt, locked) is a store
    // that cannot be opened; say so, with what to do about it.
    if (
      e instanceof ShepherdError &&
      e.code === 'SHEPHERD_STORE_MIGRATION_FAILED' &&
      isAboutTheFile(e.cause)
    ) {
      throw openFailed(file, e.cause)
    }
    throw e
  }
}

/**
 * A Store on one SQLite connection. Obtain one with {@link openSqliteStore}; the constructor is for
 * wrapping a connection that is already configured and migrated (tests wrap a read-only connection
 * this way to see how the store reports refused writes).
 */
export class SqliteStore implements Store {
  /** The database file, as given to {@link openSqliteStore}. */
  readonly file: string
  /**
   * The durable job queue ({@link SqliteJobStore}), on this store's connection: same file, same
   * pragmas, and failures reported through this store's error mapping.
   */
  readonly jobs: SqliteJobStore
  readonly #db: Database.Database
  readonly #migrations: readonly Migration[]
  readonly #s: { [K in keyof typeof SQL]: Statement }
  readonly #queries = new Map<string, Statement>()
  readonly #batch: Database.Transaction<(batch: StoreBatch) => number[]>
  readonly #guard: StoreGuard
  readonly #ownership: SqliteOwnership

  /**
   * @param db - an open, configured and migrated connection; the store owns it from now on.
   * @param file - the database file, for messages.
   * @param migrations - what {@link SqliteStore.migrate} applies; the shipped ones by default.
   * @throws ShepherdError `SHEPHERD_STORE_OPEN_FAILED` when the schema is missing or not this one.
   */
  constructor(db: Database.Database, file: string, migrations: readonly Migration[] = loadMigrations()) {
    this.file = file
    this.#db = db
    this.#migrations = migrations
    this.#guard = new StoreGuard(file)
    try {
      this.#s = {
        upsertIncident: db.prepare(SQL.upsertIncident),
        getIncident: db.prepare(SQL.getIncident),
        listOpenIncidents: db.prepare(SQL.listOpenIncidents),
        insertEvent: db.prepare(SQL.insertEvent),
        pruneEvents: db.prepare(SQL.pruneEvents),
        upsertWorkerState: db.prepare(SQL.upsertWorkerState),
        loadWorkerState: db.prepare(SQL.loadWorkerState),
        insertProcess: db.prepare(SQL.insertProcess),
        deleteProcess: db.prepare(SQL.deleteProcess),
        listProcesses: db.prepare(SQL.listProcesses),
        clearProcesses: db.prepare(SQL.clearProcesses),
      }
      this.jobs = new SqliteJobStore(db, this.#guard)
      this.#ownership = new SqliteOwnership(db, file, this.#guard)
    } catch (e) {
      throw openFailed(file, e)
    }
    this.#batch = db.transaction((b: StoreBatch) => {
      for (const i of b.incidents ?? []) this.#upsertIncident(i)
      for (const s of b.workerStates ?? []) this.#upsertWorkerState(s)
      for (const p of b.processesStarted ?? [])
        this.#s.insertProcess.run(p.pid, p.startTicks, p.pool, p.workerId, storedTime(p.spawnedAt))
      for (const p of b.processesEnded ?? []) this.#s.deleteProcess.run(p.pid, p.startTicks)
      return (b.events ?? []).map((e) => this.#insertEvent(e))
    })
  }

  /**
   * Remembers which file was opened (device and inode), so that {@link SqliteStore.check} and every
   * write can tell when the path names another file, or none. {@link openSqliteStore} calls it.
   */
  identify(): void {
    this.#guard.identify()
  }

  /** Tells `listener` the outcome of every write from now on; returns the function that stops it. */
  onWrite(listener: (w: StoreWrite) => void): () => void {
    return this.#guard.onWrite(listener)
  }

  /**
   * Checks that the file at the store's path is still the one opened (same device and inode). A
   * file deleted or replaced since fences the store off: every later write is refused with
   * SHEPHERD_STORE_GONE, as SQLite would otherwise go on writing into a file nobody reads again.
   */
  async check(): Promise<void> {
    this.#guard.check()
  }

  /** Nothing: the file's settings are the store's own (docs/store.md#settings-and-why). */
  async advise(): Promise<string[]> {
    return []
  }

  /**
   * Makes this supervisor the store's owner: takes the OS lock on `<store>.lock`, then decides on
   * the lease in the store (src/core/supervisor-lease.ts) in one transaction. A lock held
   * elsewhere is a refusal at once, naming the holder from the lease row. A refusal lets the lock
   * go; anything else keeps it until {@link SqliteStore.releaseOwnership} or close.
   */
  async claimOwnership(
    claim: LeaseClaim,
    now: number,
    ttlMs: number,
    running: ProcessRunning,
  ): Promise<LeaseDecision> {
    const d = await this.#ownership.claim(claim, now, ttlMs, running)
    if (d.kind !== 'refuse') this.jobs.ownedBy({ node: claim.node, epoch: d.lease.epoch })
    return d
  }

  /**
   * The owner's heartbeat: `renewed`, or `taken` when the lease is no longer `owner`'s (another
   * supervisor took the store, and this one fences itself off: every later write refused,
   * SHEPHERD_STORE_LOCKED). Never `lapsed`: while this supervisor holds the OS lock nobody else
   * can take anything, however late its heartbeat.
   */
  async renewOwnership(owner: string, now: number, ttlMs: number, workload?: NodeWorkload): Promise<Renewal> {
    return this.#ownership.renew(owner, now, ttlMs, workload)
  }

  /** Gives the store up (a clean stop): the lease is deleted and the OS lock let go. */
  async releaseOwnership(owner: string): Promise<void> {
    this.#ownership.release(owner)
  }

  /** The lease in the store, or null when no supervisor owns it. */
  async readOwnership(): Promise<SupervisorLease | null> {
    return this.#ownership.read()
  }

  /** The one supervisor's node, or none (see Store.listNodes). */
  async listNodes(): Promise<FleetNode[]> {
    return this.#ownership.nodes()
  }

  /** Takes the dead supervisor's node off the list (see Store.forgetNode). */
  async forgetNode(node: string, now: number): Promise<ForgetOutcome> {
    return this.#ownership.forget(node, now)
  }

  /** Asks to lead the fleet (see Store.claimLeadership). */
  async claimLeadership(candidate: LeaderCandidate, now: number, ttlMs: number): Promise<LeadershipDecision> {
    return this.#ownership.lead(candidate, now, ttlMs)
  }

  /** Ends this agent's leadership now (a clean stop). */
  async resignLeadership(owner: string, now: number): Promise<void> {
    this.#ownership.resign(owner, now)
  }

  /** Claims the message of a fleet-wide notification (see Store.claimNotification). */
  async claimNotification(claim: FleetNotificationClaim): Promise<FleetNotificationDecision> {
    return this.#ownership.claimNotification(claim)
  }

  /** Deletes the rows of fleet-wide notifications past their window (see Store.pruneFleetNotifications). */
  async pruneFleetNotifications(now: number, before: number): Promise<number> {
    return this.#ownership.pruneNotifications(now, before)
  }

  /** Claims one run of a fleet-wide scheduled chore (see Store.claimChoreRun). */
  async claimChoreRun(name: string, dueAt: number, node: string, spacingMs: number): Promise<boolean> {
    return this.#ownership.claimChoreRun(name, dueAt, node, spacingMs)
  }

  /** The fleet's leader as recorded, or null when none has led yet. */
  async readLeadership(): Promise<Leadership | null> {
    return this.#ownership.leader()
  }

  /** Applies pending migrations; nothing to do when another process or the opening already did. */
  async migrate(): Promise<void> {
    if (this.#guard.closed) {
      throw new ShepherdError(
        'SHEPHERD_STORE_MIGRATION_FAILED',
        `Could not migrate the store ${this.file}: it is closed.`,
      )
    }
    runMigrations(this.#db, this.#migrations)
  }

  /** Inserts or replaces the whole incident (timeline included), in one statement. */
  async saveIncident(incident: Incident): Promise<void> {
    this.#guard.write(`save incident ${incident.id}`, () => this.#upsertIncident(incident))
  }

  #upsertIncident(incident: Incident): void {
    this.#s.upsertIncident.run(
      incident.id,
      incident.workerId,
      incident.pool,
      incident.cause,
      incident.severity,
      incident.strategy,
      incident.phase,
      incident.outcome,
      incident.attempt,
      storedTime(incident.detectedAt),
      incident.recoveredAt === null ? null : storedTime(incident.recoveredAt),
      incident.endedAt === null ? null : storedTime(incident.endedAt),
      JSON.stringify(incident),
      incident.node ?? null,
    )
  }

  /** The incident as last saved, or undefined for an unknown id. */
  async getIncident(id: string): Promise<Incident | undefined> {
    return this.#guard.read(`read incident ${id}`, () => {
      const row = (this.#s.getIncident as Statement<IncidentRow>).get(id)
      return row ? toIncident(row) : undefined
    })
  }

  /** Newest first by detection time, then by id (descending) among incidents detected in the same ms. */
  async listIncidents(query: IncidentQuery = {}): Promise<Incident[]> {
    const { sql, params } = incidentQuery(query)
    return this.#guard.read('list incidents', () =>
      this.#query<IncidentRow>(sql)
        .all(...params)
        .map(toIncident),
    )
  }

  /** Incidents not yet recovered, escalated or interrupted, oldest first (detection order). */
  async listOpenIncidents(): Promise<Incident[]> {
    return this.#guard.read('list open incidents', () =>
      (this.#s.listOpenIncidents as Statement<IncidentRow>).all(...FINAL_PHASES).map(toIncident),
    )
  }

  /** See Store.listLapsedIncidents: none here; the one supervisor closed every open one at its start. */
  async listLapsedIncidents(): Promise<Incident[]> {
    return []
  }

  /** Stores the event (its `seq`, if set, is ignored) and returns the sequence number it was given. */
  async appendEvent(event: AnyEvent): Promise<number> {
    return this.#guard.write(`append event ${event.type}`, () => this.#insertEvent(event))
  }

  /**
   * Writes a batch in one transaction, in order (incidents, worker states, then events), and returns
   * the events' sequence numbers: all of it is stored or none is. One commit (one fsync under
   * synchronous=FULL) for the whole batch.
   */
  async writeBatch(batch: StoreBatch): Promise<number[]> {
    const what = describeBatch(batch)
    if (what === null) return []
    // IMMEDIATE takes the write lock (waiting up to busy_timeout) before the first write.
    return this.#guard.write(`write ${what}`, () => this.#batch.immediate(batch))
  }

  async listWorkerProcesses(): Promise<WorkerProcessRecord[]> {
    return this.#guard.read('list worker processes', () =>
      (this.#s.listProcesses as Statement<ProcessRow>).all().map(toWorkerProcess),
    )
  }

  async clearWorkerProcesses(): Promise<void> {
    this.#guard.write('forget worker processes', () => this.#s.clearProcesses.run())
  }

  /** Oldest first by seq. An empty `types` list means any type, as an absent one does. */
  async listEvents(query: EventQuery = {}): Promise<AnyEvent[]> {
    const { sql, params } = eventQuery(query)
    return this.#guard.read('list events', () =>
      this.#query<EventRow>(sql)
        .all(...params)
        .map(toEvent),
    )
  }

  /**
   * Deletes events with `at < before` in batches of a few thousand, yielding to the event loop
   * between batches. A batch that fails leaves the earlier batches deleted.
   */
  async pruneEvents(before: number): Promise<number> {
    const bound = checkNumber('before', before)
    let deleted = 0
    for (;;) {
      const n = this.#guard.write(
        `prune events older than ${bound}`,
        () => this.#s.pruneEvents.run(bound, PRUNE_BATCH).changes,
      )
      deleted += n
      if (n < PRUNE_BATCH) return deleted
      await nextTurn()
    }
  }

  /** Inserts or replaces the worker's saved state. The checkpoint must be a JSON value. */
  async saveWorkerState(state: SavedWorkerState): Promise<void> {
    this.#guard.write(`save the state of worker ${state.workerId}`, () => this.#upsertWorkerState(state))
  }

  #upsertWorkerState(state: SavedWorkerState): void {
    this.#s.upsertWorkerState.run(
      state.workerId,
      state.pool,
      storedTime(state.savedAt),
      // undefined would vanish from the JSON; the port's "no checkpoint" is null.
      JSON.stringify({ ...state, checkpoint: state.checkpoint ?? null }),
    )
  }

  /** The state last saved for the worker slot, or undefined when none was. */
  async loadWorkerState(workerId: string): Promise<SavedWorkerState | undefined> {
    return this.#guard.read(`read the state of worker ${workerId}`, () => {
      const row = (this.#s.loadWorkerState as Statement<DataRow>).get(workerId)
      return row ? (JSON.parse(row.data) as SavedWorkerState) : undefined
    })
  }

  /** The pragmas in effect on this connection, read back from SQLite (for `status` output and tests). */
  settings(): SqliteSettings {
    return this.#guard.read('read the store settings', () => readSettings(this.#db))
  }

  /** Closes the connection (SQLite checkpoints the WAL into the file). Calling it again does nothing. */
  async close(): Promise<void> {
    if (this.#guard.closed) return
    this.#guard.close()
    this.#queries.clear()
    this.#db.close()
    this.#ownership.unlock()
  }

  /** `await using store = await openSqliteStore(file)` closes the store at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  #insertEvent(event: AnyEvent): number {
    const row = (this.#s.insertEvent as Statement<{ seq: number }>).get(
      storedTime(event.at),
      event.type,
      event.severity,
      event.pool,
      event.workerId,
      event.incidentId,
      event.message,
      JSON.stringify(event.data ?? null),
      event.node ?? null,
    )
    if (!row) throw new Error('INSERT … RETURNING gave no row')
    return row.seq
  }

  #query<R>(sql: string): Statement<R> {
    let stmt = this.#queries.get(sql)
    if (!stmt) {
      stmt = this.#db.prepare(sql)
      this.#queries.set(sql, stmt)
    }
    return stmt as Statement<R>
  }
}
