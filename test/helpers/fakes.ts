/**
 * In-memory stand-ins for the API's two dependencies, for tests of the HTTP app and of the CLI
 * against a served app: a supervisor that records restarts and wake-ups, and a store that holds
 * incidents (tests of the job routes use a real SQLite store instead). Also the records those
 * tests and the notifier's and metrics' tests feed in: worker views, incidents, incident events.
 */
import type { AnyEvent } from '../../src/core/events.js'
import { type ForgetOutcome, nodeState } from '../../src/core/fleet-node.js'
import {
  decideFleetClaim,
  type FleetNotificationClaim,
  type FleetNotificationDecision,
  type FleetNotificationRow,
} from '../../src/core/fleet-notification.js'
import type { Incident } from '../../src/core/incident.js'
import {
  decideLeadership,
  type LeaderCandidate,
  type Leadership,
  type LeadershipDecision,
} from '../../src/core/leadership.js'
import {
  decideLease,
  type LeaseClaim,
  type LeaseDecision,
  type Renewal,
  type SupervisorLease,
} from '../../src/core/supervisor-lease.js'
import { ShepherdError } from '../../src/errors.js'
import type { JobStore } from '../../src/ports/job-store.js'
import type {
  EventQuery,
  FleetNode,
  IncidentQuery,
  SavedWorkerState,
  Store,
  StoreBatch,
  WorkerProcessRecord,
} from '../../src/ports/store.js'
import type {
  FleetHistory,
  PoolView,
  RestartRequest,
  SignalRequest,
  SupervisorControl,
  SupervisorInfo,
  WorkerView,
} from '../../src/supervisor/view.js'

export function workerView(id: string, over: Partial<WorkerView> = {}): WorkerView {
  return {
    id,
    pool: id.split('#')[0]!,
    pid: 4242,
    state: 'ready',
    role: 'worker',
    healthScore: 100,
    verdict: 'healthy',
    worst: null,
    worstDetail: null,
    restarts: 0,
    recentRestarts: 0,
    cpuSeconds: 0,
    startedAt: 1_000,
    uptimeMs: 5_000,
    incidentId: null,
    lastExit: null,
    sdk: false,
    report: null,
    ...over,
  }
}

export function incidentRecord(
  id: string,
  workerId: string,
  detectedAt: number,
  over: Partial<Incident> = {},
): Incident {
  return {
    id,
    workerId,
    pool: workerId.split('#')[0]!,
    node: null,
    cause: 'crash',
    severity: 'ordinary',
    detail: 'exited with code 1',
    strategy: 'soft_restart',
    firstStrategy: 'soft_restart',
    attempt: 1,
    maxAttempts: 4,
    phase: 'recovered',
    outcome: 'recovered',
    escalationReason: null,
    detectedAt,
    recoveredAt: detectedAt + 500,
    endedAt: detectedAt + 500,
    oldPid: 100,
    newPid: 101,
    exit: null,
    manual: false,
    timeline: [{ at: detectedAt, step: 'detected', detail: 'crash (ordinary): exited with code 1' }],
    ...over,
  }
}

/** The event the supervisor publishes when `inc` opens, recovers or escalates. */
export function incidentEvent(
  type: 'incident:opened' | 'incident:recovered' | 'incident:escalated',
  inc: Incident,
  at = inc.detectedAt,
): AnyEvent {
  const common = { at, pool: inc.pool, workerId: inc.workerId, incidentId: inc.id }
  switch (type) {
    case 'incident:opened':
      return {
        ...common,
        type,
        severity: 'warning',
        message: `${inc.workerId}: ${inc.detail}`,
        data: { incident: inc },
      }
    case 'incident:recovered':
      return {
        ...common,
        type,
        severity: 'info',
        message: `${inc.workerId} recovered`,
        data: { incident: inc },
      }
    case 'incident:escalated':
      return {
        ...common,
        type,
        severity: 'critical',
        message: `${inc.workerId} escalated`,
        data: { incident: inc, reason: inc.escalationReason ?? 'retries exhausted' },
      }
  }
}

export const FAKE_INFO: SupervisorInfo = {
  pid: 77,
  version: '0.1.0',
  startedAt: 1_000,
  configFile: '/etc/shepherd/worker_recovery.yaml',
  pools: ['email', 'reports'],
  apiUrl: 'http://127.0.0.1:7717',
}

/**
 * Records restart calls; `busy` ids answer 409, unknown ids 404, and `failWith` overrides both.
 */
export class FakeSupervisor implements SupervisorControl {
  readonly restarts: { id: string; request: RestartRequest }[] = []
  readonly busy = new Set<string>()
  failWith: Error | null = null
  constructor(readonly workers: WorkerView[]) {}
  info(): SupervisorInfo {
    return FAKE_INFO
  }
  listWorkers(): WorkerView[] {
    return this.workers
  }
  getWorker(id: string): WorkerView | undefined {
    return this.workers.find((w) => w.id === id)
  }
  async restartWorker(id: string, request: RestartRequest): Promise<{ incidentId: string }> {
    this.restarts.push({ id, request })
    if (this.failWith) throw this.failWith
    if (!this.getWorker(id)) throw new ShepherdError('SHEPHERD_WORKER_NOT_FOUND', `no worker has id "${id}"`)
    if (this.busy.has(id)) {
      throw new ShepherdError(
        'SHEPHERD_RECOVERY_IN_PROGRESS',
        `${id} is already being recovered (incident inc-3)`,
      )
    }
    return { incidentId: `inc-${this.restarts.length}` }
  }
  readonly signals: { id: string; request: SignalRequest }[] = []
  pools: PoolView[] = []
  listPools(): PoolView[] {
    return this.pools
  }
  history(): FleetHistory {
    return { workers: {}, queues: {} }
  }
  async signal(id: string, request: SignalRequest): Promise<{ incidentId: string | null }> {
    this.signals.push({ id, request })
    if (this.failWith) throw this.failWith
    if (!this.getWorker(id)) throw new ShepherdError('SHEPHERD_WORKER_NOT_FOUND', `no worker has id "${id}"`)
    return { incidentId: request.status === 'unhealthy' ? `inc-signal-${this.signals.length}` : null }
  }
}

/**
 * The tests that use {@link MemoryStore} never touch jobs; a call that does is a test bug, and
 * says so, instead of answering with an empty queue that a test could mistake for behaviour.
 */
async function noJobQueue(): Promise<never> {
  throw new Error('MemoryStore has no job queue')
}

/** Incidents in memory, filtered and ordered as the Store contract says; the rest does nothing. */
export class MemoryStore implements Store {
  readonly jobs: JobStore = {
    add: noJobQueue,
    claim: noJobQueue,
    exchange: noJobQueue,
    settle: noJobQueue,
    releaseAllActive: noJobQueue,
    reclaimLapsed: noJobQueue,
    adopt: noJobQueue,
    nextDueAt: noJobQueue,
    countDue: noJobQueue,
    counts: noJobQueue,
    getJob: noJobQueue,
    listJobs: noJobQueue,
    retry: noJobQueue,
    purge: noJobQueue,
    pruneDone: noJobQueue,
    watch: () => {
      throw new Error('MemoryStore has no job queue')
    },
  }
  readonly queries: IncidentQuery[] = []
  failWith: Error | null = null
  constructor(readonly incidents: Incident[]) {}
  async migrate(): Promise<void> {}
  async saveIncident(inc: Incident): Promise<void> {
    this.incidents.push(inc)
  }
  async getIncident(id: string): Promise<Incident | undefined> {
    if (this.failWith) throw this.failWith
    return this.incidents.find((i) => i.id === id)
  }
  async listIncidents(q: IncidentQuery = {}): Promise<Incident[]> {
    this.queries.push(q)
    if (this.failWith) throw this.failWith
    return this.incidents
      .filter(
        (i) =>
          (q.workerId === undefined || i.workerId === q.workerId) &&
          (q.pool === undefined || i.pool === q.pool) &&
          (q.node === undefined || i.node === q.node),
      )
      .sort((a, b) => b.detectedAt - a.detectedAt)
      .slice(0, q.limit ?? 50)
  }
  async listOpenIncidents(): Promise<Incident[]> {
    return this.incidents.filter((i) => i.outcome === null)
  }
  /** One supervisor, as on SQLite: it closed every open incident at its start. */
  async listLapsedIncidents(): Promise<Incident[]> {
    return []
  }
  async writeBatch(batch: StoreBatch): Promise<number[]> {
    for (const i of batch.incidents ?? []) await this.saveIncident(i)
    return (batch.events ?? []).map(() => 0)
  }
  async appendEvent(_event: AnyEvent): Promise<number> {
    return 0
  }
  /** Events the store holds (each with its seq), and the queries listEvents was asked. */
  readonly events: AnyEvent[] = []
  readonly eventQueries: EventQuery[] = []
  async listEvents(q: EventQuery = {}): Promise<AnyEvent[]> {
    this.eventQueries.push(q)
    if (this.failWith) throw this.failWith
    return this.events
      .filter(
        (e) =>
          (e.seq ?? 0) > (q.afterSeq ?? 0) &&
          (q.types === undefined || q.types.length === 0 || q.types.includes(e.type)) &&
          (q.workerId === undefined || e.workerId === q.workerId) &&
          (q.node === undefined || e.node === q.node),
      )
      .slice(0, q.limit ?? 100)
  }
  async pruneEvents(): Promise<number> {
    return 0
  }
  /** Processes a dead supervisor left recorded as running (what the next one finds at its start). */
  leftBehind: WorkerProcessRecord[] = []
  async listWorkerProcesses(): Promise<WorkerProcessRecord[]> {
    return [...this.leftBehind]
  }
  async clearWorkerProcesses(): Promise<void> {
    this.leftBehind = []
  }
  async saveWorkerState(_state: SavedWorkerState): Promise<void> {}
  async loadWorkerState(): Promise<SavedWorkerState | undefined> {
    return undefined
  }
  /** One lease in memory; a holder's liveness cannot be seen, so only expiry frees it. */
  lease: SupervisorLease | null = null
  async claimOwnership(claim: LeaseClaim, now: number, ttlMs: number): Promise<LeaseDecision> {
    const d = decideLease(this.lease, claim, now, 'unknown', ttlMs)
    if (d.kind !== 'refuse') this.lease = d.lease
    return d
  }
  async renewOwnership(owner: string, now: number, ttlMs: number): Promise<Renewal> {
    if (this.lease?.owner !== owner) return 'taken'
    if (now >= this.lease.expiresAt) return 'lapsed'
    // As the stores do: a renewal answered late never moves the lease back.
    this.lease = {
      ...this.lease,
      heartbeatAt: Math.max(this.lease.heartbeatAt, now),
      expiresAt: Math.max(this.lease.expiresAt, now + ttlMs),
    }
    return 'renewed'
  }
  async releaseOwnership(owner: string): Promise<void> {
    if (this.lease?.owner === owner) this.lease = null
  }
  async readOwnership(): Promise<SupervisorLease | null> {
    return this.lease
  }
  /** The nodes `listNodes` answers with (tests set them). */
  nodes: FleetNode[] = []
  async listNodes(): Promise<FleetNode[]> {
    return [...this.nodes]
  }
  async forgetNode(name: string, now: number): Promise<ForgetOutcome> {
    const node = this.nodes.find((n) => n.name === name)
    if (!node) return { kind: 'unknown' }
    if (nodeState(node, now) === 'alive') return { kind: 'alive', node }
    this.nodes = this.nodes.filter((n) => n !== node)
    return { kind: 'forgotten', node, workerStates: 0 }
  }
  /** The fleet's leader in memory, decided as the adapters decide it. */
  leader: Leadership | null = null
  async claimLeadership(candidate: LeaderCandidate, now: number, ttlMs: number): Promise<LeadershipDecision> {
    const d = decideLeadership(this.leader, candidate, now, ttlMs)
    if (d.kind !== 'follow') this.leader = d.leader
    return d
  }
  async resignLeadership(owner: string, now: number): Promise<void> {
    if (this.leader?.owner === owner && this.leader.expiresAt > now)
      this.leader = { ...this.leader, expiresAt: now }
  }
  async readLeadership(): Promise<Leadership | null> {
    return this.leader
  }
  /** The latest due time claimed per chore. */
  choreRuns = new Map<string, number>()
  async claimChoreRun(name: string, dueAt: number, _node: string, spacingMs: number): Promise<boolean> {
    if ((this.choreRuns.get(name) ?? -Infinity) > dueAt - spacingMs) return false
    this.choreRuns.set(name, dueAt)
    return true
  }
  /** The rows of fleet-wide notifications, by key. */
  notificationRows = new Map<string, FleetNotificationRow>()
  async claimNotification(claim: FleetNotificationClaim): Promise<FleetNotificationDecision> {
    const d = decideFleetClaim(this.notificationRows.get(claim.key), claim)
    this.notificationRows.set(claim.key, d.row)
    return d.decision
  }
  async pruneFleetNotifications(now: number, before: number): Promise<number> {
    const gone = [...this.notificationRows].filter(
      ([, r]) => r.expiresAt <= now && (r.suppressed === 0 || r.expiresAt < before),
    )
    for (const [key] of gone) this.notificationRows.delete(key)
    return gone.length
  }
  onWrite(): () => void {
    return () => undefined
  }
  async check(): Promise<void> {}
  async advise(): Promise<string[]> {
    return []
  }
  async close(): Promise<void> {}
}
