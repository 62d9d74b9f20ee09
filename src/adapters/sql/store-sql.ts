/**
 * The SQL of the Store adapters (incidents, events, worker state, worker processes), kept apart from
 * the code that runs it, as data: one statement per operation, and the listings' statements for each
 * combination of filters; and the rows they return, read back into the core's records. Portable on
 * purpose: SQLite runs these as they are, PostgreSQL with the `?` placeholders numbered
 * (postgres/placeholders.ts). The schemas are `sql/sqlite/` and `sql/postgres/`, table for table.
 * @module
 */
import type { AnyEvent, EventType } from '../../core/events.js'
import type { FleetNode, NodeWorkload } from '../../core/fleet-node.js'
import type { FleetNotificationRow } from '../../core/fleet-notification.js'
import { type Incident, INCIDENT_PHASES, type IncidentPhase, isFinal } from '../../core/incident.js'
import type { Leadership } from '../../core/leadership.js'
import type { SupervisorLease } from '../../core/supervisor-lease.js'
import type { EventQuery, IncidentQuery, StoreBatch, WorkerProcessRecord } from '../../ports/store.js'
import { checkInteger, checkNumber } from '../../store/checks.js'

/** Phases after which an incident is over; derived from the core so the two cannot drift. */
export const FINAL_PHASES = (Object.keys(INCIDENT_PHASES) as IncidentPhase[]).filter(isFinal)

/**
 * The columns of each store table, as every statement and `shepherd store copy` name them. A
 * migration that adds a column adds it here too, and the copy carries it (a column the source
 * lacks arrives NULL).
 */
export const INCIDENT_COLUMNS = `id, worker_id, pool, cause, severity, strategy, phase, outcome, attempts,
  detected_at, recovered_at, ended_at, data, node`
/** See {@link INCIDENT_COLUMNS}. */
export const EVENT_COLUMNS = 'seq, at, type, severity, pool, worker_id, incident_id, message, data, node'
/** See {@link INCIDENT_COLUMNS}. */
export const WORKER_STATE_COLUMNS = 'worker_id, pool, saved_at, data'

export const SQL = {
  upsertIncident: `INSERT INTO incidents (${INCIDENT_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET worker_id = excluded.worker_id, pool = excluded.pool, cause = excluded.cause,
      severity = excluded.severity, strategy = excluded.strategy, phase = excluded.phase, outcome = excluded.outcome,
      attempts = excluded.attempts, detected_at = excluded.detected_at, recovered_at = excluded.recovered_at,
      ended_at = excluded.ended_at, data = excluded.data, node = excluded.node`,
  getIncident: 'SELECT data, node FROM incidents WHERE id = ?',
  listOpenIncidents: `SELECT data, node FROM incidents WHERE phase NOT IN (${FINAL_PHASES.map(() => '?').join(', ')})
    ORDER BY detected_at, id`,
  insertEvent: `INSERT INTO events (at, type, severity, pool, worker_id, incident_id, message, data, node)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
  pruneEvents: 'DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE at < ? ORDER BY seq LIMIT ?)',
  upsertWorkerState: `INSERT INTO worker_state (${WORKER_STATE_COLUMNS}) VALUES (?, ?, ?, ?)
    ON CONFLICT (worker_id) DO UPDATE SET pool = excluded.pool, saved_at = excluded.saved_at, data = excluded.data`,
  loadWorkerState: 'SELECT data FROM worker_state WHERE worker_id = ?',
  insertProcess: `INSERT INTO worker_processes (pid, start_ticks, pool, worker_id, spawned_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (pid, start_ticks) DO NOTHING`,
  deleteProcess: 'DELETE FROM worker_processes WHERE pid = ? AND start_ticks = ?',
  listProcesses:
    'SELECT pid, start_ticks, pool, worker_id, spawned_at FROM worker_processes ORDER BY spawned_at',
  clearProcesses: 'DELETE FROM worker_processes',
} as const

/**
 * The fleet's leader (sql/sqlite/0006_leader.sql, sql/postgres/0003_leader.sql): one row, there from the migration on. Read (PostgreSQL
 * locks it FOR UPDATE in the claim's transaction; SQLite's transaction holds the write lock),
 * written whole by a claim, and expired at once by a leader that resigns (kept, not deleted, so
 * that the next reign's epoch follows this one's).
 */
export const LEADER_SQL = {
  readLeader: 'SELECT owner, node, epoch, acquired_at, expires_at FROM fleet_leader WHERE id = 1',
  writeLeader:
    'UPDATE fleet_leader SET owner = ?, node = ?, epoch = ?, acquired_at = ?, expires_at = ? WHERE id = 1',
  resignLeader: 'UPDATE fleet_leader SET expires_at = ? WHERE id = 1 AND owner = ? AND expires_at > ?',
  // A chore's run due at `due_at` is claimed by the one statement that moves the row forward to it,
  // by at least the spacing (the last ?): agents whose schedules started apart claim one run a period.
  claimChoreRun: `INSERT INTO fleet_chores (name, due_at, node) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET due_at = excluded.due_at, node = excluded.node
    WHERE fleet_chores.due_at <= excluded.due_at - ?`,
} as const

/**
 * Fleet-wide notifications (sql/sqlite/0010_fleet_notifications.sql,
 * sql/postgres/0007_fleet_notifications.sql): one row per fleet key, made sure of first (so that
 * PostgreSQL always finds a row to lock and two first claims cannot both insert one), then read
 * (PostgreSQL: FOR UPDATE), decided by the core (`decideFleetClaim`) and written, in one transaction.
 * The leader prunes the rows past their window (Store.pruneFleetNotifications).
 */
export const FLEET_NOTIFICATION_SQL = {
  ensureNotification: `INSERT INTO fleet_notifications (key, node, sent_at, expires_at, suppressed, nodes)
    VALUES (?, '', 0, 0, 0, '[]') ON CONFLICT (key) DO NOTHING`,
  readNotification:
    'SELECT node, sent_at, expires_at, suppressed, nodes FROM fleet_notifications WHERE key = ?',
  writeNotification:
    'UPDATE fleet_notifications SET node = ?, sent_at = ?, expires_at = ?, suppressed = ?, nodes = ? WHERE key = ?',
  // The leader's retention (now, then before): rows whose window ended and that count nothing
  // (they decide as no row does), and those whose window ended before the events' retention.
  pruneNotifications:
    'DELETE FROM fleet_notifications WHERE expires_at <= ? AND (suppressed = 0 OR expires_at < ?)',
} as const

/** A row of `fleet_notifications`. */
export interface FleetNotificationDbRow {
  node: string
  sent_at: number
  expires_at: number
  suppressed: number
  nodes: string
}

/** The row as the core sees it; undefined for one never claimed (the row {@link FLEET_NOTIFICATION_SQL} makes sure of). */
export function toFleetNotificationRow(
  r: FleetNotificationDbRow | undefined,
): FleetNotificationRow | undefined {
  if (!r || r.node === '') return undefined
  const nodes: unknown = JSON.parse(r.nodes)
  return {
    node: r.node,
    sentAt: Number(r.sent_at),
    expiresAt: Number(r.expires_at),
    suppressed: Number(r.suppressed),
    nodes: Array.isArray(nodes) ? nodes.filter((n): n is string => typeof n === 'string') : [],
  }
}

/** A row's values in the order of {@link FLEET_NOTIFICATION_SQL}'s writeNotification, the key last. */
export function fleetNotificationValues(key: string, r: FleetNotificationRow): unknown[] {
  return [r.node, storedTime(r.sentAt), storedTime(r.expiresAt), r.suppressed, JSON.stringify(r.nodes), key]
}

/** A row of `fleet_leader`. */
export interface LeaderRow {
  owner: string
  node: string
  epoch: number
  acquired_at: number
  expires_at: number
}

/** The leader a row records; null for the row as the migration left it (nobody has led yet). */
export function toLeadership(r: LeaderRow | undefined): Leadership | null {
  if (!r || r.owner === '') return null
  return { owner: r.owner, node: r.node, epoch: r.epoch, acquiredAt: r.acquired_at, expiresAt: r.expires_at }
}

/** A leader's values in the order of {@link LEADER_SQL}'s writeLeader. */
export function leaderValues(l: Leadership): unknown[] {
  return [l.owner, l.node, l.epoch, storedTime(l.acquiredAt), storedTime(l.expiresAt)]
}

/** Default page size of listIncidents, as the port documents. */
const DEFAULT_INCIDENT_LIMIT = 50
/** Default page size of listEvents, as the port documents. */
const DEFAULT_EVENT_LIMIT = 100

/**
 * Events deleted per transaction by pruneEvents. A first prune of a large log can delete millions
 * of rows; batches keep each transaction (SQLite: each write-lock hold and each synchronous stretch
 * of the event loop) short, a few ms, and the store yields between them.
 */
export const PRUNE_BATCH = 5_000

/**
 * listIncidents' statement and parameters, the arguments checked (SHEPHERD_BAD_REQUEST). `since`
 * is rounded up: the column holds whole ms, and `>= ceil(since)` is `>= since` for them.
 */
export function incidentQuery(query: IncidentQuery): { sql: string; params: unknown[] } {
  const limit = checkInteger('limit', query.limit ?? DEFAULT_INCIDENT_LIMIT, 0)
  const params: unknown[] = []
  if (query.workerId !== undefined) params.push(query.workerId)
  if (query.pool !== undefined) params.push(query.pool)
  if (query.node !== undefined) params.push(query.node)
  if (query.since !== undefined) params.push(Math.ceil(checkNumber('since', query.since)))
  params.push(limit)
  const sql = incidentListSql({
    workerId: query.workerId !== undefined,
    pool: query.pool !== undefined,
    node: query.node !== undefined,
    since: query.since !== undefined,
  })
  return { sql, params }
}

/**
 * listEvents' statement and parameters, the arguments checked; an empty `types` list means any
 * type. `afterSeq` is rounded down: `seq > floor(x)` is `seq > x` for whole numbers.
 */
export function eventQuery(query: EventQuery): { sql: string; params: unknown[] } {
  const limit = checkInteger('limit', query.limit ?? DEFAULT_EVENT_LIMIT, 0)
  const types = [...new Set(query.types ?? [])]
  const params: unknown[] = [Math.floor(checkNumber('afterSeq', query.afterSeq ?? 0)), ...types]
  if (query.workerId !== undefined) params.push(query.workerId)
  if (query.node !== undefined) params.push(query.node)
  params.push(limit)
  const filters = {
    types: types.length,
    workerId: query.workerId !== undefined,
    node: query.node !== undefined,
  }
  return { sql: eventListSql(filters), params }
}

/** What a batch holds, for the operation a store error names; null for an empty batch. */
export function describeBatch(batch: StoreBatch): string | null {
  const incidents = batch.incidents?.length ?? 0
  const states = batch.workerStates?.length ?? 0
  const processes = (batch.processesStarted?.length ?? 0) + (batch.processesEnded?.length ?? 0)
  const events = batch.events ?? []
  if (incidents + states + processes + events.length === 0) return null
  return [
    incidents ? `${incidents} incidents` : '',
    states ? `${states} worker states` : '',
    processes ? `${processes} process records` : '',
    events.length ? `${events.length} events (${[...new Set(events.map((e) => e.type))].join(', ')})` : '',
  ]
    .filter(Boolean)
    .join(', ')
}

/** listIncidents for one combination of filters; parameters in the order of the filters, then the limit. */
export function incidentListSql(filters: {
  workerId: boolean
  pool: boolean
  node: boolean
  since: boolean
}): string {
  const where = [
    filters.workerId ? 'worker_id = ?' : null,
    filters.pool ? 'pool = ?' : null,
    filters.node ? 'node = ?' : null,
    filters.since ? 'detected_at >= ?' : null,
  ].filter((c) => c !== null)
  return `SELECT data, node FROM incidents${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
    ORDER BY detected_at DESC, id DESC LIMIT ?`
}

/** listEvents for one combination of filters; parameters: afterSeq, the types, the worker, the node, then the limit. */
export function eventListSql(filters: { types: number; workerId: boolean; node: boolean }): string {
  const where = [
    'seq > ?',
    filters.types > 0 ? `type IN (${Array.from({ length: filters.types }, () => '?').join(', ')})` : null,
    filters.workerId ? 'worker_id = ?' : null,
    filters.node ? 'node = ?' : null,
  ].filter((c) => c !== null)
  return `SELECT ${EVENT_COLUMNS} FROM events
    WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`
}

export interface DataRow {
  data: string
}

/** A row of `incidents` as the readers select it: the whole record, and the node that recorded it. */
export interface IncidentRow {
  data: string
  node: string | null
}

/**
 * A row of `incidents` read back into the incident; its node is the column's (null for rows from
 * before nodes were recorded, whose JSON has none).
 */
export function toIncident(r: IncidentRow): Incident {
  return { ...(JSON.parse(r.data) as Incident), node: r.node }
}

export interface EventRow {
  seq: number
  at: number
  type: string
  severity: string
  pool: string | null
  worker_id: string | null
  incident_id: string | null
  message: string
  data: string
  node: string | null
}

export interface LeaseRow {
  owner: string
  host: string
  pid: number
  start_ticks: number | null
  api_url: string | null
  acquired_at: number
  heartbeat_at: number
  expires_at: number
  epoch: number
}

/** A lease row as `listNodes` reads it: the lease, its node, version and workload (JSON text). */
export interface NodeRow extends LeaseRow {
  node: string
  version: string | null
  workload: string | null
}

/** A node's workload as stored: JSON text, or NULL before the agent's first heartbeat. */
export function storedWorkload(workload: NodeWorkload | undefined): string | null {
  return workload === undefined ? null : JSON.stringify(workload)
}

/**
 * A lease row read back into the fleet's node. A workload that is not JSON (written by hand) reads
 * as none rather than failing the whole list.
 */
export function toFleetNode(r: NodeRow): FleetNode {
  let workload: NodeWorkload | null = null
  if (r.workload !== null) {
    try {
      workload = JSON.parse(r.workload) as NodeWorkload
    } catch {
      workload = null
    }
  }
  return {
    name: r.node,
    host: r.host,
    pid: Number(r.pid),
    version: r.version,
    apiUrl: r.api_url,
    acquiredAt: Number(r.acquired_at),
    heartbeatAt: Number(r.heartbeat_at),
    expiresAt: Number(r.expires_at),
    epoch: Number(r.epoch),
    workload,
  }
}

/** A row of `worker_processes`. */
export interface ProcessRow {
  pid: number
  start_ticks: number
  pool: string
  worker_id: string
  spawned_at: number
}

export function toWorkerProcess(r: ProcessRow): WorkerProcessRecord {
  return {
    pid: r.pid,
    startTicks: r.start_ticks,
    pool: r.pool,
    workerId: r.worker_id,
    spawnedAt: r.spawned_at,
  }
}

/** A lease's values in the order of the lease columns (owner … expires_at, epoch), times as stored. */
export function leaseValues(l: SupervisorLease): unknown[] {
  return [
    l.owner,
    l.host,
    l.pid,
    l.startTicks,
    l.apiUrl,
    storedTime(l.acquiredAt),
    storedTime(l.heartbeatAt),
    storedTime(l.expiresAt),
    l.epoch,
  ]
}

/** A row of a supervisor lease read back into the lease. */
export function toLease(r: LeaseRow): SupervisorLease {
  return {
    owner: r.owner,
    host: r.host,
    pid: r.pid,
    startTicks: r.start_ticks,
    apiUrl: r.api_url,
    acquiredAt: r.acquired_at,
    heartbeatAt: r.heartbeat_at,
    expiresAt: r.expires_at,
    epoch: Number(r.epoch),
  }
}

/** A row of `events` read back into the event it stored. */
export function toEvent(r: EventRow): AnyEvent {
  return {
    seq: r.seq,
    type: r.type as EventType,
    at: r.at,
    severity: r.severity,
    message: r.message,
    pool: r.pool,
    workerId: r.worker_id,
    incidentId: r.incident_id,
    node: r.node,
    data: JSON.parse(r.data) as unknown,
  } as AnyEvent
}

/**
 * Times go into the indexed columns as whole epoch milliseconds (the daemon's monotonic clock has a
 * fraction; PostgreSQL's BIGINT has none). The JSON `data` of incidents and worker state keeps the
 * exact value.
 */
export function storedTime(t: number): number {
  if (!Number.isFinite(t)) throw new TypeError(`a time must be finite epoch milliseconds, got ${String(t)}`)
  return Math.floor(t)
}
