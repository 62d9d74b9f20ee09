/**
 * The embedded Store adapter: one SQLite file in WAL mode through better-sqlite3. better-sqlite3 is
 * synchronous; the methods still return promises so this adapter and the later PostgreSQL one share
 * the async Store port. Every statement is prepared once per connection (filter combinations are
 * prepared on first use and cached).
 * @module
 */
import fs from 'node:fs'
import path from 'node:path'
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'

import Database from 'better-sqlite3'

import { PRIVATE_DIR_MODE } from '../../adapters/file-modes.js'
import type { AnyEvent, EventType } from '../../core/events.js'
import { type Incident, INCIDENT_PHASES, type IncidentPhase, isFinal } from '../../core/incident.js'
import type { StoreProblem } from '../../core/store-health.js'
import {
  decideLease,
  describeHolder,
  holderLiveness,
  type LeaseClaim,
  type LeaseDecision,
  type SupervisorLease,
} from '../../core/supervisor-lease.js'
import { coerceError, type ErrorCode, ShepherdError } from '../../errors.js'
import type { JobStore } from '../job-store.js'
import type {
  EventQuery,
  IncidentQuery,
  ProcessRunning,
  SavedWorkerState,
  Store,
  StoreBatch,
  StoreWrite,
  WorkerProcessRecord,
} from '../store.js'
import { loadMigrations, type Migration, runMigrations, sqliteCode } from './migrate.js'
import { SqliteJobStore } from './sqlite-job-store.js'
import { createPrivate, isStoreLocked, lockFileOf, StoreLock } from './store-lock.js'

/**
 * How long a statement waits for another connection's write lock before failing with SQLITE_BUSY.
 * The supervisor and a CLI process (or a second supervisor starting on the same config) may use the
 * file at once; in WAL mode only writers wait for each other, and every write of ours is one short
 * transaction, so a real wait is milliseconds. 5 s covers a slow disk under load; longer would only
 * hide a stuck process, and better-sqlite3 waits synchronously, blocking the supervisor's event loop.
 * @defaultValue 5000
 */
export const BUSY_TIMEOUT_MS = 5_000

/** Default page size of {@link SqliteStore.listIncidents}, as the port documents. */
const DEFAULT_INCIDENT_LIMIT = 50
/** Default page size of {@link SqliteStore.listEvents}, as the port documents. */
const DEFAULT_EVENT_LIMIT = 100
/**
 * Events deleted per transaction by pruneEvents. A first prune of a large log can delete millions
 * of rows; batches keep each write-lock hold and each synchronous stretch of the event loop short
 * (a few ms), and the loop yields between them so heartbeats and exits are still handled.
 */
const PRUNE_BATCH = 5_000

/** Phases after which an incident is over; derived from the core so the two cannot drift. */
const FINAL_PHASES = (Object.keys(INCIDENT_PHASES) as IncidentPhase[]).filter(isFinal)

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

const SQL = {
  upsertIncident: `INSERT INTO incidents (id, worker_id, pool, cause, severity, strategy, phase, outcome, attempts,
      detected_at, recovered_at, ended_at, data)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET worker_id = excluded.worker_id, pool = excluded.pool, cause = excluded.cause,
      severity = excluded.severity, strategy = excluded.strategy, phase = excluded.phase, outcome = excluded.outcome,
      attempts = excluded.attempts, detected_at = excluded.detected_at, recovered_at = excluded.recovered_at,
      ended_at = excluded.ended_at, data = excluded.data`,
  getIncident: 'SELECT data FROM incidents WHERE id = ?',
  listOpenIncidents: `SELECT data FROM incidents WHERE phase NOT IN (${FINAL_PHASES.map(() => '?').join(', ')})
    ORDER BY detected_at, id`,
  insertEvent: `INSERT INTO events (at, type, severity, pool, worker_id, incident_id, message, data)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
  pruneEvents: 'DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE at < ? ORDER BY seq LIMIT ?)',
  upsertWorkerState: `INSERT INTO worker_state (worker_id, pool, saved_at, data) VALUES (?, ?, ?, ?)
    ON CONFLICT (worker_id) DO UPDATE SET pool = excluded.pool, saved_at = excluded.saved_at, data = excluded.data`,
  loadWorkerState: 'SELECT data FROM worker_state WHERE worker_id = ?',
  insertProcess: `INSERT INTO worker_processes (pid, start_ticks, pool, worker_id, spawned_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (pid, start_ticks) DO NOTHING`,
  deleteProcess: 'DELETE FROM worker_processes WHERE pid = ? AND start_ticks = ?',
  listProcesses:
    'SELECT pid, start_ticks, pool, worker_id, spawned_at FROM worker_processes ORDER BY spawned_at',
  clearProcesses: 'DELETE FROM worker_processes',
  readLease: `SELECT owner, host, pid, start_ticks, api_url, acquired_at, heartbeat_at, expires_at
    FROM supervisor_lease WHERE id = 1`,
  writeLease: `INSERT INTO supervisor_lease (id, owner, host, pid, start_ticks, api_url, acquired_at, heartbeat_at,
      expires_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid,
      start_ticks = excluded.start_ticks, api_url = excluded.api_url, acquired_at = excluded.acquired_at,
      heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at`,
  renewLease: 'UPDATE supervisor_lease SET heartbeat_at = ?, expires_at = ? WHERE id = 1 AND owner = ?',
  releaseLease: 'DELETE FROM supervisor_lease WHERE id = 1 AND owner = ?',
} as const

/** listIncidents for one combination of filters; parameters in the order of the filters, then the limit. */
function incidentListSql(filters: { workerId: boolean; pool: boolean; since: boolean }): string {
  const where = [
    filters.workerId ? 'worker_id = ?' : null,
    filters.pool ? 'pool = ?' : null,
    filters.since ? 'detected_at >= ?' : null,
  ].filter((c) => c !== null)
  return `SELECT data FROM incidents${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
    ORDER BY detected_at DESC, id DESC LIMIT ?`
}

/** listEvents for one combination of filters; parameters: afterSeq, the types, the worker, then the limit. */
function eventListSql(filters: { types: number; workerId: boolean }): string {
  const where = [
    'seq > ?',
    filters.types > 0 ? `type IN (${Array.from({ length: filters.types }, () => '?').join(', ')})` : null,
    filters.workerId ? 'worker_id = ?' : null,
  ].filter((c) => c !== null)
  return `SELECT seq, at, type, severity, pool, worker_id, incident_id, message, data FROM events
    WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`
}

interface DataRow {
  data: string
}

interface EventRow {
  seq: number
  at: number
  type: string
  severity: string
  pool: string | null
  worker_id: string | null
  incident_id: string | null
  message: string
  data: string
}

interface LeaseRow {
  owner: string
  host: string
  pid: number
  start_ticks: number | null
  api_url: string | null
  acquired_at: number
  heartbeat_at: number
  expires_at: number
}

type Statement<R = unknown> = Database.Statement<unknown[], R>

/** The file a store opened, by device and inode: a file at its path with others is another file. */
interface FileIdentity {
  dev: number
  ino: number
}

/** Why a store refuses every write from now on: its file is gone, or another supervisor owns it. */
interface Fence {
  problem: Extract<StoreProblem, 'gone' | 'taken'>
  /** What happened, to follow "the store <file>": "was deleted while the supervisor runs". */
  what: string
  advice: string
}

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

async function openConnection(file: string): Promise<Database.Database> {
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
  readonly jobs: JobStore
  readonly #db: Database.Database
  readonly #migrations: readonly Migration[]
  readonly #s: { [K in keyof typeof SQL]: Statement }
  readonly #queries = new Map<string, Statement>()
  readonly #batch: Database.Transaction<(batch: StoreBatch) => number[]>
  readonly #claim: Database.Transaction<
    (claim: LeaseClaim, now: number, ttlMs: number, running: ProcessRunning) => LeaseDecision
  >
  readonly #listeners = new Set<(w: StoreWrite) => void>()
  #closed = false
  /** The file opened, to tell it from another file at the same path later. */
  #identity: FileIdentity | null = null
  #fence: Fence | null = null
  /** The OS lock, while this store's supervisor owns it. */
  #lock: StoreLock | null = null

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
        readLease: db.prepare(SQL.readLease),
        writeLease: db.prepare(SQL.writeLease),
        renewLease: db.prepare(SQL.renewLease),
        releaseLease: db.prepare(SQL.releaseLease),
      }
      this.jobs = new SqliteJobStore(db, {
        write: (operation, run) => this.#write(operation, run),
        read: (operation, run) => this.#read(operation, run),
      })
    } catch (e) {
      throw openFailed(file, e)
    }
    this.#batch = db.transaction((b: StoreBatch) => {
      for (const i of b.incidents ?? []) this.#upsertIncident(i)
      for (const s of b.workerStates ?? []) this.#upsertWorkerState(s)
      for (const p of b.processesStarted ?? [])
        this.#s.insertProcess.run(p.pid, p.startTicks, p.pool, p.workerId, epochMs(p.spawnedAt))
      for (const p of b.processesEnded ?? []) this.#s.deleteProcess.run(p.pid, p.startTicks)
      return (b.events ?? []).map((e) => this.#insertEvent(e))
    })
    this.#claim = db.transaction((claim: LeaseClaim, now: number, ttlMs: number, running: ProcessRunning) => {
      const current = this.#readLease()
      // This connection holds the OS lock (claimOwnership takes it first): no live supervisor
      // elsewhere would have let it go.
      const liveness = current
        ? holderLiveness(current, claim, running(current.pid, current.startTicks), true)
        : 'unknown'
      const decision = decideLease(current, claim, now, liveness, ttlMs)
      if (decision.kind !== 'refuse') {
        const l = decision.lease
        this.#s.writeLease.run(
          l.owner,
          l.host,
          l.pid,
          l.startTicks,
          l.apiUrl,
          epochMs(l.acquiredAt),
          epochMs(l.heartbeatAt),
          epochMs(l.expiresAt),
        )
      }
      return decision
    })
  }

  /**
   * Remembers which file was opened (device and inode), so that {@link SqliteStore.check} and every
   * write can tell when the path names another file, or none. {@link openSqliteStore} calls it.
   */
  identify(): void {
    const st = fs.statSync(this.file)
    this.#identity = { dev: st.dev, ino: st.ino }
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
    if (this.#lock === null) {
      const lock = StoreLock.tryAcquire(this.file)
      if (lock === null) return { kind: 'refuse', holder: await this.readOwnership() }
      this.#lock = lock
    }
    const decision = this.#write('claim the store for this supervisor', () =>
      this.#claim.immediate(claim, now, ttlMs, running),
    )
    if (decision.kind === 'refuse') this.#unlock()
    return decision
  }

  /**
   * The owner's heartbeat. False when the lease is no longer `owner`'s: another supervisor took
   * the store, and this one fences itself off (every later write refused, SHEPHERD_STORE_LOCKED).
   */
  async renewOwnership(owner: string, now: number, ttlMs: number): Promise<boolean> {
    const renewed = this.#write(
      'renew the lease of this supervisor',
      () => this.#s.renewLease.run(epochMs(now), epochMs(now + ttlMs), owner).changes === 1,
    )
    if (!renewed) {
      const holder = await this.readOwnership()
      this.#setFence({
        problem: 'taken',
        what: `is owned by another supervisor now${holder ? ` (${describeHolder(holder, now)})` : ''}`,
        advice:
          'This supervisor no longer owns it and writes nothing more; its workers keep running. Stop it: ' +
          'the other supervisor takes over its work.',
      })
    }
    return renewed
  }

  /** Gives the store up (a clean stop): the lease is deleted and the OS lock let go. */
  async releaseOwnership(owner: string): Promise<void> {
    try {
      if (this.#fence === null)
        this.#write('release the lease of this supervisor', () => this.#s.releaseLease.run(owner))
    } finally {
      this.#unlock()
    }
  }

  /** The lease in the store, or null when no supervisor owns it. */
  async readOwnership(): Promise<SupervisorLease | null> {
    return this.#read('read the supervisor lease', () => this.#readLease())
  }

  #readLease(): SupervisorLease | null {
    const r = (this.#s.readLease as Statement<LeaseRow>).get()
    if (!r) return null
    return {
      owner: r.owner,
      host: r.host,
      pid: r.pid,
      startTicks: r.start_ticks,
      apiUrl: r.api_url,
      acquiredAt: r.acquired_at,
      heartbeatAt: r.heartbeat_at,
      expiresAt: r.expires_at,
    }
  }

  #unlock(): void {
    this.#lock?.release()
    this.#lock = null
  }

  /** Tells `listener` the outcome of every write from now on; returns the function that stops it. */
  onWrite(listener: (w: StoreWrite) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /**
   * Checks that the file at the store's path is still the one opened (same device and inode). A
   * file deleted or replaced since fences the store off: every later write is refused with
   * SHEPHERD_STORE_GONE, as SQLite would otherwise go on writing into a file nobody reads again.
   */
  async check(): Promise<void> {
    if (this.#fence === null && !this.#closed) this.#checkFile()
  }

  #checkFile(): Fence | null {
    if (this.#identity === null) return null
    let st: fs.Stats
    try {
      st = fs.statSync(this.file)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return null
      return this.#setFence({
        problem: 'gone',
        what: 'was deleted while the supervisor runs',
        advice: GONE_ADVICE,
      })
    }
    if (st.ino === this.#identity.ino && st.dev === this.#identity.dev) return null
    return this.#setFence({
      problem: 'gone',
      what: 'was replaced by another file while the supervisor runs',
      advice: GONE_ADVICE,
    })
  }

  #setFence(fence: Fence): Fence {
    if (this.#fence !== null) return this.#fence
    this.#fence = fence
    this.#tell({
      ok: false,
      problem: fence.problem,
      message: `The store ${this.file} ${fence.what}. ${fence.advice}`,
    })
    return fence
  }

  #tell(w: StoreWrite): void {
    for (const l of this.#listeners) {
      try {
        l(w)
      } catch {
        // A listener's failure is its own; the write's outcome stands.
      }
    }
  }

  /** Applies pending migrations; nothing to do when another process or the opening already did. */
  async migrate(): Promise<void> {
    if (this.#closed) {
      throw new ShepherdError(
        'SHEPHERD_STORE_MIGRATION_FAILED',
        `Could not migrate the store ${this.file}: it is closed.`,
      )
    }
    runMigrations(this.#db, this.#migrations)
  }

  /** Inserts or replaces the whole incident (timeline included), in one statement. */
  async saveIncident(incident: Incident): Promise<void> {
    this.#write(`save incident ${incident.id}`, () => this.#upsertIncident(incident))
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
      epochMs(incident.detectedAt),
      incident.recoveredAt === null ? null : epochMs(incident.recoveredAt),
      incident.endedAt === null ? null : epochMs(incident.endedAt),
      JSON.stringify(incident),
    )
  }

  /** The incident as last saved, or undefined for an unknown id. */
  async getIncident(id: string): Promise<Incident | undefined> {
    return this.#read(`read incident ${id}`, () => {
      const row = (this.#s.getIncident as Statement<DataRow>).get(id)
      return row ? (JSON.parse(row.data) as Incident) : undefined
    })
  }

  /** Newest first by detection time, then by id (descending) among incidents detected in the same ms. */
  async listIncidents(query: IncidentQuery = {}): Promise<Incident[]> {
    const limit = checkLimit(query.limit ?? DEFAULT_INCIDENT_LIMIT)
    const params: unknown[] = []
    if (query.workerId !== undefined) params.push(query.workerId)
    if (query.pool !== undefined) params.push(query.pool)
    if (query.since !== undefined) params.push(checkNumber('since', query.since))
    params.push(limit)
    const sql = incidentListSql({
      workerId: query.workerId !== undefined,
      pool: query.pool !== undefined,
      since: query.since !== undefined,
    })
    return this.#read('list incidents', () =>
      this.#query<DataRow>(sql)
        .all(...params)
        .map((r) => JSON.parse(r.data) as Incident),
    )
  }

  /** Incidents not yet recovered, escalated or interrupted, oldest first (detection order). */
  async listOpenIncidents(): Promise<Incident[]> {
    return this.#read('list open incidents', () =>
      (this.#s.listOpenIncidents as Statement<DataRow>)
        .all(...FINAL_PHASES)
        .map((r) => JSON.parse(r.data) as Incident),
    )
  }

  /** Stores the event (its `seq`, if set, is ignored) and returns the sequence number it was given. */
  async appendEvent(event: AnyEvent): Promise<number> {
    return this.#write(`append event ${event.type}`, () => this.#insertEvent(event))
  }

  /**
   * Writes a batch in one transaction, in order (incidents, worker states, then events), and returns
   * the events' sequence numbers: all of it is stored or none is. One commit (one fsync under
   * synchronous=FULL) for the whole batch.
   */
  async writeBatch(batch: StoreBatch): Promise<number[]> {
    const incidents = batch.incidents ?? []
    const states = batch.workerStates ?? []
    const events = batch.events ?? []
    const started = batch.processesStarted ?? []
    const ended = batch.processesEnded ?? []
    if (incidents.length + states.length + events.length + started.length + ended.length === 0) return []
    const what = [
      incidents.length ? `${incidents.length} incidents` : '',
      states.length ? `${states.length} worker states` : '',
      started.length + ended.length ? `${started.length + ended.length} process records` : '',
      events.length ? `${events.length} events (${[...new Set(events.map((e) => e.type))].join(', ')})` : '',
    ]
      .filter(Boolean)
      .join(', ')
    // IMMEDIATE takes the write lock (waiting up to busy_timeout) before the first write.
    return this.#write(`write ${what}`, () => this.#batch.immediate(batch))
  }

  async listWorkerProcesses(): Promise<WorkerProcessRecord[]> {
    return this.#read('list worker processes', () =>
      (
        this.#s.listProcesses.all() as Array<{
          pid: number
          start_ticks: number
          pool: string
          worker_id: string
          spawned_at: number
        }>
      ).map((r) => ({
        pid: r.pid,
        startTicks: r.start_ticks,
        pool: r.pool,
        workerId: r.worker_id,
        spawnedAt: r.spawned_at,
      })),
    )
  }

  async clearWorkerProcesses(): Promise<void> {
    this.#write('forget worker processes', () => this.#s.clearProcesses.run())
  }

  /** Oldest first by seq. An empty `types` list means any type, as an absent one does. */
  async listEvents(query: EventQuery = {}): Promise<AnyEvent[]> {
    const limit = checkLimit(query.limit ?? DEFAULT_EVENT_LIMIT)
    const types = [...new Set(query.types ?? [])]
    const params: unknown[] = [checkNumber('afterSeq', query.afterSeq ?? 0), ...types]
    if (query.workerId !== undefined) params.push(query.workerId)
    params.push(limit)
    const sql = eventListSql({ types: types.length, workerId: query.workerId !== undefined })
    return this.#read('list events', () =>
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
      const n = this.#write(
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
    this.#write(`save the state of worker ${state.workerId}`, () => this.#upsertWorkerState(state))
  }

  #upsertWorkerState(state: SavedWorkerState): void {
    this.#s.upsertWorkerState.run(
      state.workerId,
      state.pool,
      epochMs(state.savedAt),
      // undefined would vanish from the JSON; the port's "no checkpoint" is null.
      JSON.stringify({ ...state, checkpoint: state.checkpoint ?? null }),
    )
  }

  /** The state last saved for the worker slot, or undefined when none was. */
  async loadWorkerState(workerId: string): Promise<SavedWorkerState | undefined> {
    return this.#read(`read the state of worker ${workerId}`, () => {
      const row = (this.#s.loadWorkerState as Statement<DataRow>).get(workerId)
      return row ? (JSON.parse(row.data) as SavedWorkerState) : undefined
    })
  }

  /** The pragmas in effect on this connection, read back from SQLite (for `status` output and tests). */
  settings(): SqliteSettings {
    return this.#read('read the store settings', () => {
      const sync = Number(this.#db.pragma('synchronous', { simple: true }))
      return {
        journalMode: String(this.#db.pragma('journal_mode', { simple: true })),
        synchronous: synchronousName(sync),
        busyTimeoutMs: Number(this.#db.pragma('busy_timeout', { simple: true })),
        foreignKeys: Number(this.#db.pragma('foreign_keys', { simple: true })) === 1,
      }
    })
  }

  /** Closes the connection (SQLite checkpoints the WAL into the file). Calling it again does nothing. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#queries.clear()
    this.#db.close()
    this.#unlock()
  }

  /** `await using store = await openSqliteStore(file)` closes the store at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  #insertEvent(event: AnyEvent): number {
    const row = (this.#s.insertEvent as Statement<{ seq: number }>).get(
      epochMs(event.at),
      event.type,
      event.severity,
      event.pool,
      event.workerId,
      event.incidentId,
      event.message,
      JSON.stringify(event.data ?? null),
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

  /**
   * Every write goes through here: refused at once when the store is fenced off (deleted,
   * replaced, taken over) or closed, and otherwise run and its outcome told to the listeners of
   * {@link SqliteStore.onWrite}, a full disk or a read-only filesystem named as such.
   */
  #write<T>(operation: string, run: () => T): T {
    if (!this.#closed) {
      const fence = this.#fence ?? this.#checkFile()
      if (fence !== null) {
        const code = fence.problem === 'gone' ? 'SHEPHERD_STORE_GONE' : 'SHEPHERD_STORE_LOCKED'
        const message = `Could not ${operation} in the store ${this.file}: it ${fence.what}. ${fence.advice}`
        this.#tell({ ok: false, problem: fence.problem, message })
        throw new ShepherdError(code, message)
      }
    }
    try {
      const result = this.#guard('SHEPHERD_STORE_WRITE_FAILED', operation, 'in', run)
      this.#tell({ ok: true })
      return result
    } catch (e) {
      if (e instanceof ShepherdError && e.code !== 'SHEPHERD_STORE_WRITE_FAILED') throw e
      const problem = e instanceof ShepherdError ? writeProblem(e.cause, this.file) : null
      if (problem === null) throw e
      const why = problem === 'full' ? 'the disk is full' : `its file, folder or filesystem is read-only`
      const err = new ShepherdError(
        problem === 'full' ? 'SHEPHERD_STORE_FULL' : 'SHEPHERD_STORE_READ_ONLY',
        `Could not ${operation} in the store ${this.file}: ${why} (${sqliteCode((e as ShepherdError).cause) ?? 'I/O error'}). ` +
          `Nothing was written. ${problem === 'full' ? 'Free some space' : 'Make it writable again'}: writes resume by themselves, and the supervisor keeps what workers reported until then.`,
        { cause: (e as ShepherdError).cause },
      )
      this.#tell({ ok: false, problem, message: err.message })
      throw err
    }
  }

  #read<T>(operation: string, run: () => T): T {
    return this.#guard('SHEPHERD_INTERNAL', operation, 'from', run)
  }

  #guard<T>(code: ErrorCode, operation: string, preposition: string, run: () => T): T {
    if (this.#closed) {
      throw new ShepherdError(
        code,
        `Could not ${operation} ${preposition} the store ${this.file}: it is closed.`,
      )
    }
    try {
      return run()
    } catch (e) {
      if (e instanceof ShepherdError) throw e
      const sqlite = sqliteCode(e)
      const err = coerceError(e)
      const what = sqlite ? `${sqlite} (${err.message})` : `${err.name}: ${err.message}`
      const advice =
        code === 'SHEPHERD_STORE_WRITE_FAILED'
          ? writeAdvice(sqlite, this.file)
          : readAdvice(sqlite, this.file)
      throw new ShepherdError(
        code,
        `Could not ${operation} ${preposition} the store ${this.file}: ${what}. ${advice}`,
        {
          cause: e,
        },
      )
    }
  }
}

const GONE_ADVICE =
  'Writes are refused, so that nothing is acknowledged into a file no one will read again; the workers keep running. ' +
  'Restore the file from a backup and restart the supervisor, or restart it to start on a new, empty store.'

/**
 * Whether a failed write met a full disk or a read-only store, or something else (null). SQLite
 * says SQLITE_FULL and SQLITE_READONLY itself; a filesystem that turned read-only under an open
 * file (the kernel does that after a disk error) only shows as SQLITE_IOERR, so then the folder
 * is asked: a file that cannot be created there says EROFS (read-only) or ENOSPC (full).
 */
function writeProblem(cause: unknown, file: string): Extract<StoreProblem, 'full' | 'read-only'> | null {
  const code = sqliteCode(cause)
  if (code === null) return null
  if (code.startsWith('SQLITE_FULL')) return 'full'
  if (code.startsWith('SQLITE_READONLY')) return 'read-only'
  if (!code.startsWith('SQLITE_IOERR') && !code.startsWith('SQLITE_CANTOPEN')) return null
  const probe = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.probe-${process.pid}`)
  try {
    fs.closeSync(fs.openSync(probe, 'w'))
    fs.unlinkSync(probe)
    return null
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code
    if (errno === 'ENOSPC' || errno === 'EDQUOT') return 'full'
    if (errno === 'EROFS' || errno === 'EACCES' || errno === 'EPERM') return 'read-only'
    return null
  }
}

function synchronousName(n: number): SqliteSettings['synchronous'] {
  const name = SYNCHRONOUS_NAMES[n]
  if (name === undefined) throw new RangeError(`PRAGMA synchronous gave ${n}, expected 0 to 3`)
  return name
}

function toEvent(r: EventRow): AnyEvent {
  return {
    seq: r.seq,
    type: r.type as EventType,
    at: r.at,
    severity: r.severity,
    message: r.message,
    pool: r.pool,
    workerId: r.worker_id,
    incidentId: r.incident_id,
    data: JSON.parse(r.data) as unknown,
  } as AnyEvent
}

/**
 * Times go into the indexed columns as whole epoch milliseconds (the daemon's monotonic clock has a
 * fraction; PostgreSQL's BIGINT has none). The JSON `data` of incidents and worker state keeps the
 * exact value.
 */
function epochMs(t: number): number {
  if (!Number.isFinite(t)) throw new TypeError(`a time must be finite epoch milliseconds, got ${String(t)}`)
  return Math.floor(t)
}

function checkNumber(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ShepherdError(
      'SHEPHERD_BAD_REQUEST',
      `Expected \`${name}\` to be a finite number, got \`${String(v)}\` (${typeof v})`,
    )
  }
  return v
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 0) {
    throw new ShepherdError(
      'SHEPHERD_BAD_REQUEST',
      `Expected \`limit\` to be an integer ≥ 0, got \`${String(limit)}\` (${typeof limit})`,
    )
  }
  return limit
}

/** Errors that say the file itself is unusable (rather than a statement being wrong). */
function isAboutTheFile(e: unknown): boolean {
  const code = sqliteCode(e)
  return code !== null && /^SQLITE_(NOTADB|CORRUPT|CANTOPEN|READONLY|PERM|AUTH|BUSY|LOCKED)/.test(code)
}

function openFailed(file: string, e: unknown): ShepherdError {
  if (e instanceof ShepherdError) return e
  const code = sqliteCode(e)
  const err = coerceError(e)
  return new ShepherdError(
    'SHEPHERD_STORE_OPEN_FAILED',
    `Could not open the store ${file}: ${code ?? err.name} (${err.message}). ${openAdvice(code, file)}`,
    { cause: e },
  )
}

function moveAside(file: string): string {
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

function writeAdvice(code: string | null, file: string): string {
  if (code === null) return 'Nothing was written.'
  if (code.startsWith('SQLITE_FULL'))
    return 'The disk is full (or the store reached its size limit): nothing was written; free some space.'
  if (/^SQLITE_(READONLY|PERM|AUTH)/.test(code)) {
    return 'The file, its directory or its filesystem is read-only: nothing was written; make them writable by the user running Shepherd.'
  }
  if (/^SQLITE_(NOTADB|CORRUPT)/.test(code))
    return `The file is corrupt: nothing was written. ${moveAside(file)}`
  if (code.startsWith('SQLITE_IOERR'))
    return 'The disk reported an I/O error: nothing was written; check the disk and the kernel log.'
  if (/^SQLITE_(BUSY|LOCKED)/.test(code)) {
    return `Another process held the write lock for more than ${BUSY_TIMEOUT_MS} ms: nothing was written.`
  }
  return 'Nothing was written.'
}

function readAdvice(code: string | null, file: string): string {
  if (code !== null && /^SQLITE_(NOTADB|CORRUPT)/.test(code)) return `The file is corrupt. ${moveAside(file)}`
  if (code !== null && code.startsWith('SQLITE_IOERR'))
    return 'The disk reported an I/O error: check the disk and the kernel log.'
  return 'See docs/store.md.'
}
