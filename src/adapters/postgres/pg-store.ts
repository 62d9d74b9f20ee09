/**
 * The PostgreSQL Store adapter: incidents, events, worker state, jobs and the agents' leases in one
 * database that many hosts share, through one node-postgres pool per store. Same port, same
 * contract tests and same statements where SQL allows as the SQLite adapter (../sql/); what differs
 * is said in docs/store.md.
 * @module
 */
import type pg from 'pg'

import type { AnyEvent } from '../../core/events.js'
import type { FleetNode, ForgetOutcome, NodeWorkload } from '../../core/fleet-node.js'
import type { FleetNotificationClaim, FleetNotificationDecision } from '../../core/fleet-notification.js'
import type { Incident } from '../../core/incident.js'
import type { LeaderCandidate, Leadership, LeadershipDecision } from '../../core/leadership.js'
import type { LeaseClaim, LeaseDecision, Renewal, SupervisorLease } from '../../core/supervisor-lease.js'
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
import type { Migration } from '../sql/migration-files.js'
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
  storedTime,
  toEvent,
  toIncident,
  toWorkerProcess,
} from '../sql/store-sql.js'
import { StoreGate } from '../store-gate.js'
import { clientConfig, createPool, openFailed, parseStoreUrl, type PostgresTarget } from './connection.js'
import { isAboutTheServer } from './failures.js'
import { loadPostgresMigrations, migratePool } from './migrate.js'
import { PgGuard } from './pg-guard.js'
import { PostgresJobStore } from './pg-job-store.js'
import { PostgresOwnership } from './pg-ownership.js'
import { changes, numbered, type Queryable, row, rows } from './statements.js'
import { STORE_STATEMENTS as S } from './store-queries.js'
import { readVacuumSettings, vacuumAdvice } from './vacuum-advice.js'

/**
 * Opens the PostgreSQL store at `url` (creating its schema if `?schema=` names one that is missing)
 * and brings its tables up to date, so the store is ready to use.
 * @throws ShepherdError `SHEPHERD_STORE_OPEN_FAILED` when the server cannot be reached, refuses the
 *   user, or has no such database (the message names the URL without its password);
 *   `SHEPHERD_STORE_MIGRATION_FAILED` when the schema cannot be brought up to date.
 */
export async function openPostgresStore(url: string): Promise<PostgresStore> {
  const target = parseStoreUrl(url)
  const migrations = loadPostgresMigrations()
  const pool = createPool(target)
  try {
    await migratePool(pool, target, migrations)
    return new PostgresStore(pool, target, migrations)
  } catch (e) {
    await pool.end().catch(() => undefined)
    // Not reaching the server, or being refused by it, is a store that cannot be opened.
    if (!(e instanceof ShepherdError)) throw openFailed(target, e)
    if (e.code === 'SHEPHERD_STORE_MIGRATION_FAILED' && isAboutTheServer(e.cause))
      throw openFailed(target, e.cause)
    throw e
  }
}

/** A Store on a PostgreSQL database. Obtain one with {@link openPostgresStore}. */
export class PostgresStore implements Store {
  /** The store's URL without its password. */
  readonly name: string
  /** The durable job queue ({@link PostgresJobStore}), on this store's pool and guard. */
  readonly jobs: PostgresJobStore
  readonly #pool: pg.Pool
  readonly #target: PostgresTarget
  readonly #migrations: readonly Migration[]
  readonly #gate: StoreGate
  readonly #guard: PgGuard
  readonly #ownership: PostgresOwnership

  /** @param pool - a pool on a migrated database; the store owns it from now on and ends it at close. */
  constructor(pool: pg.Pool, target: PostgresTarget, migrations: readonly Migration[]) {
    this.name = target.name
    this.#pool = pool
    this.#target = target
    this.#migrations = migrations
    this.#gate = new StoreGate(target.name)
    this.#guard = new PgGuard(pool, this.#gate)
    this.jobs = new PostgresJobStore(this.#guard, { listen: clientConfig(target) })
    this.#ownership = new PostgresOwnership(this.#guard, this.#gate)
  }

  /** Tells `listener` the outcome of every write from now on; returns the function that stops it. */
  onWrite(listener: (w: StoreWrite) => void): () => void {
    return this.#gate.onWrite(listener)
  }

  /**
   * Asks the server whether it answers (`SELECT 1`): one that does not is a passing outage
   * (`unreachable`), told through onWrite, never a store that is gone.
   */
  async check(): Promise<void> {
    await this.#guard.check()
  }

  /** Autovacuum off for the server or a table of the store (see vacuum-advice.ts). */
  async advise(): Promise<string[]> {
    return vacuumAdvice(this.name, await this.#guard.read('read the vacuum settings', readVacuumSettings))
  }

  /** Makes this supervisor the owner of its node (see pg-ownership.ts). */
  async claimOwnership(
    claim: LeaseClaim,
    now: number,
    ttlMs: number,
    running: ProcessRunning,
  ): Promise<LeaseDecision> {
    const d = await this.#ownership.claim(claim, now, ttlMs, running)
    // From now on this store's claims are its node's, and its restart puts back only its node's jobs.
    if (d.kind !== 'refuse') this.jobs.ownedBy({ node: claim.node, epoch: d.lease.epoch })
    return d
  }

  /** The owner's heartbeat, with its workload: `taken` (and every later write refused) once another took its node. */
  async renewOwnership(owner: string, now: number, ttlMs: number, workload?: NodeWorkload): Promise<Renewal> {
    return this.#ownership.renew(owner, now, ttlMs, workload)
  }

  /** Gives the node up (a clean stop): its lease row is deleted. */
  async releaseOwnership(owner: string): Promise<void> {
    await this.#ownership.release(owner)
  }

  /** The lease of this store's node, or before any claim the agent heard from last; null for none. */
  async readOwnership(): Promise<SupervisorLease | null> {
    return this.#ownership.read()
  }

  /** Every node of the fleet, live or expired, by name (see Store.listNodes). */
  async listNodes(): Promise<FleetNode[]> {
    return this.#ownership.nodes()
  }

  /** Takes a dead node off the fleet (see Store.forgetNode). */
  async forgetNode(node: string, now: number): Promise<ForgetOutcome> {
    return this.#ownership.forget(node, now)
  }

  /** Asks to lead the fleet (see Store.claimLeadership). */
  async claimLeadership(candidate: LeaderCandidate, now: number, ttlMs: number): Promise<LeadershipDecision> {
    return this.#ownership.lead(candidate, now, ttlMs)
  }

  /** Ends this agent's leadership now (a clean stop). */
  async resignLeadership(owner: string, now: number): Promise<void> {
    await this.#ownership.resign(owner, now)
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

  /** Applies pending migrations under the migration lock; nothing to do when another agent did. */
  async migrate(): Promise<void> {
    if (this.#gate.closed) {
      throw new ShepherdError(
        'SHEPHERD_STORE_MIGRATION_FAILED',
        `Could not migrate the store ${this.name}: it is closed.`,
      )
    }
    await migratePool(this.#pool, this.#target, this.#migrations).catch((e: unknown) => {
      throw e instanceof ShepherdError ? e : openFailed(this.#target, e)
    })
  }

  /** Inserts or replaces the whole incident (timeline included), in one statement. */
  async saveIncident(incident: Incident): Promise<void> {
    await this.#guard.write(`save incident ${incident.id}`, (c) => upsertIncident(c, incident))
  }

  /** The incident as last saved, or undefined for an unknown id. */
  async getIncident(id: string): Promise<Incident | undefined> {
    return this.#guard.read(`read incident ${id}`, async (q) => {
      const r = await row<IncidentRow>(q, S.getIncident, [id])
      return r ? toIncident(r) : undefined
    })
  }

  /** Newest first by detection time, then by id (descending) among incidents detected in the same ms. */
  async listIncidents(query: IncidentQuery = {}): Promise<Incident[]> {
    const { sql, params } = incidentQuery(query)
    return this.#guard.read('list incidents', async (q) =>
      (await q.query<IncidentRow>(numbered(sql), params)).rows.map(toIncident),
    )
  }

  /**
   * Incidents not yet recovered, escalated or interrupted, oldest first (detection order): those of
   * this store's node and those of no node (stored before nodes were recorded). Another agent's
   * open incidents are its own, under way. A store that claimed no node (a reader) lists every one.
   */
  async listOpenIncidents(): Promise<Incident[]> {
    const node = this.#ownership.node
    return this.#guard.read('list open incidents', async (q) =>
      (await rows<IncidentRow>(q, S.listOpenNodeIncidents, [...FINAL_PHASES, node])).map(toIncident),
    )
  }

  /** See Store.listLapsedIncidents: the open incidents of other nodes with no live lease. */
  async listLapsedIncidents(now: number): Promise<Incident[]> {
    const node = this.#ownership.node
    return this.#guard.read('list the open incidents of nodes whose lease lapsed', async (q) =>
      (await rows<IncidentRow>(q, S.listLapsedIncidents, [storedTime(now), node])).map(toIncident),
    )
  }

  /** Stores the event (its `seq`, if set, is ignored) and returns the sequence number it was given. */
  async appendEvent(event: AnyEvent): Promise<number> {
    return this.#guard.write(`append event ${event.type}`, async (c) => (await insertEvents(c, [event]))[0]!)
  }

  /**
   * Writes a batch in one transaction (incidents, worker states, process records, then the events in
   * one statement) and returns the events' sequence numbers: all of it is stored or none is.
   */
  async writeBatch(batch: StoreBatch): Promise<number[]> {
    const what = describeBatch(batch)
    if (what === null) return []
    const events = batch.events ?? []
    return this.#guard.write(`write ${what}`, async (c) => {
      for (const i of batch.incidents ?? []) await upsertIncident(c, i)
      for (const s of batch.workerStates ?? []) await upsertWorkerState(c, s, this.#ownership.node)
      for (const p of batch.processesStarted ?? [])
        await changes(c, S.insertNodeProcess, [
          p.pid,
          p.startTicks,
          p.pool,
          p.workerId,
          storedTime(p.spawnedAt),
          this.#ownership.node ?? '',
        ])
      for (const p of batch.processesEnded ?? []) await changes(c, S.deleteProcess, [p.pid, p.startTicks])
      return events.length > 0 ? insertEvents(c, events) : []
    })
  }

  /**
   * Processes of this store's node recorded as started and not as ended, oldest first: other
   * agents' processes (on this host or another) are theirs to sweep. A store that claimed no node
   * (a reader beside the agents) lists every node's.
   */
  async listWorkerProcesses(): Promise<WorkerProcessRecord[]> {
    const node = this.#ownership.node
    return this.#guard.read('list worker processes', async (q) =>
      (await rows<ProcessRow>(q, S.listNodeProcesses, [node])).map(toWorkerProcess),
    )
  }

  /** Forgets the processes of this store's node only. */
  async clearWorkerProcesses(): Promise<void> {
    const node = this.#ownership.node ?? ''
    await this.#guard.write('forget worker processes', (c) => changes(c, S.clearNodeProcesses, [node]))
  }

  /** Oldest first by seq. An empty `types` list means any type, as an absent one does. */
  async listEvents(query: EventQuery = {}): Promise<AnyEvent[]> {
    const { sql, params } = eventQuery(query)
    return this.#guard.read('list events', async (q) =>
      (await q.query<EventRow>(numbered(sql), params)).rows.map(toEvent),
    )
  }

  /** Deletes events with `at < before` in batches, one transaction each; returns how many. */
  async pruneEvents(before: number): Promise<number> {
    // Whole ms in the column: `< ceil(before)` is `< before` for them.
    const bound = Math.ceil(checkNumber('before', before))
    let deleted = 0
    for (;;) {
      const n = await this.#guard.write(`prune events older than ${bound}`, (c) =>
        changes(c, S.pruneEvents, [bound, PRUNE_BATCH]),
      )
      deleted += n
      if (n < PRUNE_BATCH) return deleted
    }
  }

  /** Inserts or replaces the worker's saved state. The checkpoint must be a JSON value. */
  async saveWorkerState(state: SavedWorkerState): Promise<void> {
    await this.#guard.write(`save the state of worker ${state.workerId}`, (c) =>
      upsertWorkerState(c, state, this.#ownership.node),
    )
  }

  /** The state last saved for the worker slot, or undefined when none was. */
  async loadWorkerState(workerId: string): Promise<SavedWorkerState | undefined> {
    return this.#guard.read(`read the state of worker ${workerId}`, async (q) => {
      const r = await row<DataRow>(q, S.loadNodeWorkerState, [workerId, this.#ownership.node ?? ''])
      return r ? (JSON.parse(r.data) as SavedWorkerState) : undefined
    })
  }

  /** Ends the pool (its connections close). Calling it again does nothing. */
  async close(): Promise<void> {
    if (this.#gate.closed) return
    this.#gate.close()
    await this.jobs.close()
    await this.#pool.end()
  }

  /** `await using store = await openPostgresStore(url)` closes the store at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

async function upsertIncident(c: Queryable, incident: Incident): Promise<void> {
  await changes(c, S.upsertIncident, [
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
  ])
}

/** Saves a worker's state as `node`'s (null: a store that claimed no node). */
async function upsertWorkerState(c: Queryable, state: SavedWorkerState, node: string | null): Promise<void> {
  await changes(c, S.upsertNodeWorkerState, [
    node ?? '',
    state.workerId,
    state.pool,
    storedTime(state.savedAt),
    // undefined would vanish from the JSON; the port's "no checkpoint" is null.
    JSON.stringify({ ...state, checkpoint: state.checkpoint ?? null }),
  ])
}

/**
 * Inserts events in one statement, the last of its transaction, under the fleet's events lock
 * (held until the commit: see `lockEvents`); their sequence numbers, in the order of `events`.
 */
async function insertEvents(c: Queryable, events: readonly AnyEvent[]): Promise<number[]> {
  await c.query(S.lockEvents)
  const column = <T>(f: (e: AnyEvent) => T): T[] => events.map(f)
  const seqs = await rows<{ seq: number }>(c, S.insertEvents, [
    column((e) => storedTime(e.at)),
    column((e) => e.type),
    column((e) => e.severity),
    column((e) => e.pool),
    column((e) => e.workerId),
    column((e) => e.incidentId),
    column((e) => e.message),
    column((e) => JSON.stringify(e.data ?? null)),
    column((e) => e.node ?? null),
  ])
  // The identity numbers the rows as unnest gives them, in array order.
  return seqs.map((r) => r.seq).sort((a, b) => a - b)
}
