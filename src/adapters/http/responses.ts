/**
 * The bodies the control API answers with, as zod schemas: the OpenAPI document's response
 * components are generated from them, and each route's handler is type-checked against its
 * response schema (@hono/zod-openapi), so the document describes what the code returns.
 *
 * The shapes themselves are the code's own types (src/supervisor/view.ts, src/core/incident.ts,
 * src/core/job.ts, src/ports/job-store.ts); test/unit/response-schemas.test.ts holds each schema's
 * type and the hand-written one to the same keys and types, both ways, at compile time.
 * @module
 */
import { z } from 'zod'

import { EVENT_SEVERITIES, EVENT_TYPES, type EventType } from '../../core/events.js'
import { NODE_STATES } from '../../core/fleet-node.js'
import { INDICATORS } from '../../core/health.js'
import { INCIDENT_PHASES } from '../../core/incident.js'
import { JOB_STATES } from '../../core/job.js'
import { ANOMALY_CAUSES } from '../../core/restart-policy.js'
import { STORE_PROBLEMS } from '../../core/store-health.js'
import { STRATEGIES } from '../../core/strategy.js'
import { WORKER_STATES } from '../../core/worker-state.js'
import { ErrorRegistry } from '../../errors.js'

/** The node name of the agent that recorded an event or an incident; null before nodes were recorded. */
const NodeNameSchema = z.string().nullable()
const time = (what: string) => z.number().describe(`${what}, epoch ms.`)
const count = (what: string) => z.number().int().min(0).describe(what)
const keysOf = <T extends Record<string, unknown>>(o: T) =>
  Object.keys(o) as [keyof T & string, ...(keyof T & string)[]]

export const SupervisorInfoSchema = z
  .object({
    pid: z.number().int(),
    version: z.string().describe('Shepherd’s version.'),
    startedAt: time('When the supervisor started'),
    configFile: z.string().describe('Absolute path of the config file it runs.'),
    pools: z.array(z.string()).describe('Pool names, in config order.'),
    apiUrl: z.string().describe('The URL of this API.'),
  })
  .meta({ id: 'SupervisorInfo', description: 'Which supervisor answers (src/supervisor/view.ts).' })

export const StoreHealthSchema = z
  .object({
    writable: z.boolean().describe('Whether the store takes writes now, as the last writes and checks tell.'),
    problem: z
      .enum(keysOf(STORE_PROBLEMS))
      .nullable()
      .describe(
        'Why it does not: `full`, `read-only`, `unreachable` (PostgreSQL), `gone`, `taken`; null while it does.',
      ),
    message: z
      .string()
      .nullable()
      .describe('The first failure of the outage: the store, why, and what to do.'),
    since: time('When the outage began').nullable(),
    refused: count('Writes refused so far during the outage.'),
  })
  .meta({
    id: 'StoreHealth',
    description: 'Whether the store takes writes (src/core/store-health.ts; docs/store.md).',
  })

const VerdictSchema = z.enum(['healthy', 'warning', 'unhealthy'])

export const IndicatorSchema = z
  .object({
    name: z.enum(INDICATORS),
    value: z.union([z.number(), z.string(), z.null()]).describe('What was measured (unit by indicator).'),
    verdict: z.enum(['healthy', 'warning', 'unhealthy', 'n/a']),
    detail: z.string().describe('The reading in a sentence.'),
    penalty: z.number().describe('Points this indicator takes off the score.'),
  })
  .meta({ id: 'Indicator', description: 'One health signal of a worker (src/core/health.ts).' })

export const HealthReportSchema = z
  .object({
    at: time('When the report was made'),
    verdict: VerdictSchema,
    score: z.number().min(0).max(100).describe('100 minus the penalties of the indicators.'),
    worst: z
      .enum(INDICATORS)
      .nullable()
      .describe('The indicator with the largest penalty; null when healthy.'),
    indicators: z.array(IndicatorSchema),
  })
  .meta({ id: 'HealthReport', description: 'A worker’s last health check, explained (docs/health.md).' })

export const WorkerViewSchema = z
  .object({
    id: z.string().describe('Slot id, `email#2`; spares are `email#s1`.'),
    pool: z.string(),
    pid: z.number().int().nullable().describe('The process, null when none runs.'),
    state: z.enum(keysOf(WORKER_STATES)),
    role: z
      .enum(['worker', 'spare'])
      .describe('A spare is warm and idle, ready to take a dead worker’s place.'),
    healthScore: z.number().min(0).max(100),
    verdict: VerdictSchema,
    worst: z
      .enum(INDICATORS)
      .nullable()
      .describe('The indicator with the largest penalty, null when healthy.'),
    worstDetail: z.string().nullable(),
    restarts: count('Restarts of this slot since the supervisor started.'),
    recentRestarts: count('Restarts of this slot in the last 10 minutes; they lower its score.'),
    cpuSeconds: z
      .number()
      .min(0)
      .describe('CPU time of the slot’s processes since the supervisor started, s.'),
    startedAt: time('When the current process started').nullable(),
    uptimeMs: z.number().nullable(),
    incidentId: z.string().nullable().describe('The incident under way, if any.'),
    lastExit: z
      .object({ exitCode: z.number().int().nullable(), signal: z.string().nullable(), at: time('When') })
      .nullable()
      .describe('How the previous process ended.'),
    sdk: z.boolean().describe('Whether the worker talks to Shepherd through the SDK.'),
    report: HealthReportSchema.nullable(),
  })
  .meta({ id: 'WorkerView', description: 'One worker slot (src/supervisor/view.ts).' })

export const PoolViewSchema = z
  .object({
    name: z.string(),
    queue: z.string().nullable().describe('The queue its workers take jobs from.'),
    replicas: z.object({ min: count('Fewest slots.'), max: count('Most slots.') }),
    workers: count('Slots now (grows and shrinks with queue-driven scaling).'),
    serving: count('Slots ready or degraded with a live process.'),
    spares: count('Warm spares.'),
    availability: z.number().min(0).max(1).describe('Time at full strength over time observed.'),
    observedMs: z.number().min(0),
    fullMs: z.number().min(0),
    restartsByCause: z
      .record(z.string(), z.number().int())
      .describe('Restarts of its workers by incident cause.'),
  })
  .meta({ id: 'PoolView', description: 'One pool (src/supervisor/view.ts).' })

export const NodeWorkerSchema = z
  .object({
    id: z.string().describe('Slot id, e.g. `email#2`; spares are `email#s1`.'),
    pool: z.string(),
    pid: z.number().int().nullable(),
    state: z.enum(keysOf(WORKER_STATES)),
    role: z.enum(['worker', 'spare']),
    healthScore: z.number().min(0).max(100),
    restarts: count('Restarts of this slot since its supervisor started.'),
    startedAt: time('When the current process started').nullable(),
    worst: z
      .enum(INDICATORS)
      .nullable()
      .describe('The indicator with the largest penalty; null when healthy.'),
    worstDetail: z.string().nullable(),
  })
  .meta({
    id: 'NodeWorker',
    description: 'One worker slot as its agent records it with each heartbeat (src/core/fleet-node.ts).',
  })

export const NodeViewSchema = z
  .object({
    name: z.string().describe('The node’s name (`node.name`, SHEPHERD_NODE, else its host name).'),
    host: z.string(),
    pid: z.number().int().describe('The agent’s process id on its host.'),
    version: z
      .string()
      .nullable()
      .describe('Shepherd’s version on that agent (null: older than this field).'),
    apiUrl: z.string().nullable().describe('Its API, once bound (usually on its own localhost).'),
    state: z
      .enum(keysOf(NODE_STATES))
      .describe('`alive` while its lease is live; `dead` once it expired (its jobs are reclaimed).'),
    leader: z.boolean().describe('Whether it leads the fleet now (runs the fleet-wide chores).'),
    acquiredAt: time('When it took its lease'),
    heartbeatAt: time('Its last heartbeat'),
    heartbeatAgeMs: z.number().min(0).describe('How long ago its last heartbeat was, by this agent’s clock.'),
    expiresAt: time(
      'Its lease lapses then unless renewed; its last heartbeat once the leader ended it (reclaiming its jobs)',
    ),
    epoch: count('Its lease epoch.'),
    running: count('Worker slots serving (ready or degraded).')
      .nullable()
      .describe('Worker slots serving (ready or degraded); null before its first heartbeat.'),
    desired: count('Worker slots its pools want now.')
      .nullable()
      .describe('Worker slots its pools want now; null before its first heartbeat.'),
    workers: z
      .array(NodeWorkerSchema)
      .describe('Its slots, spares included, as of its last heartbeat (this agent’s own: now).'),
  })
  .meta({ id: 'NodeView', description: 'One agent of the fleet (src/core/fleet-node.ts; docs/store.md).' })

const WorkerSampleSchema = z
  .object({
    at: time('When'),
    cpuPercent: z.number().nullable(),
    rssMb: z.number().nullable(),
    healthScore: z.number(),
  })
  .meta({ id: 'WorkerSample', description: 'One sample of a worker.' })

const QueueSampleSchema = z
  .object({
    at: time('When'),
    waiting: count('Jobs due.'),
    inFlight: count('Jobs delivered, not settled.'),
    perMinute: z.number().min(0).describe('Jobs finished per minute.'),
  })
  .meta({ id: 'QueueSample', description: 'One sample of a queue.' })

export const FleetHistorySchema = z
  .object({
    workers: z.record(z.string(), z.array(WorkerSampleSchema)).describe('By slot id, oldest first.'),
    queues: z.record(z.string(), z.array(QueueSampleSchema)).describe('By queue name, oldest first.'),
  })
  .meta({ id: 'FleetHistory', description: 'Recent samples for charts (src/supervisor/view.ts).' })

export const ExitReportSchema = z
  .object({
    pid: z.number().int(),
    exitCode: z.number().int().nullable().describe('Null when a signal ended the process.'),
    signal: z.string().nullable(),
    killedByUs: z.boolean().describe('Shepherd asked it to stop.'),
    forced: z.boolean().describe('It was SIGKILLed after ignoring SIGTERM past the stop timeout.'),
    spawnFailed: z.boolean().describe('It could not be started at all; `error` says why.'),
    error: z.string().optional(),
    at: time('When the exit was observed'),
    durationMs: z.number().describe('How long the process ran.'),
  })
  .meta({ id: 'ExitReport', description: 'How a process ended (src/core/exit-report.ts).' })

export const IncidentSchema = z
  .object({
    id: z.string(),
    workerId: z.string(),
    pool: z.string(),
    node: NodeNameSchema.describe(
      'The agent whose supervisor recovers the worker (its node name); null for incidents stored before nodes were recorded.',
    ),
    cause: z.enum(keysOf(ANOMALY_CAUSES)),
    severity: z.enum(['ordinary', 'severe']),
    detail: z.string().describe('What was wrong, in a sentence.'),
    strategy: z.enum(STRATEGIES).describe('Strategy of the current (or last) attempt.'),
    firstStrategy: z.enum(STRATEGIES),
    attempt: count('1-based; 0 while saving state before the first attempt.'),
    maxAttempts: count('Attempts allowed: 1 + recovery.max_retries.'),
    phase: z.enum(keysOf(INCIDENT_PHASES)),
    outcome: z.enum(['recovered', 'escalated', 'interrupted']).nullable(),
    escalationReason: z.string().nullable(),
    detectedAt: time('When the anomaly was detected'),
    recoveredAt: time('When it recovered').nullable(),
    endedAt: time('When it ended').nullable(),
    oldPid: z.number().int().nullable().describe('The sick process.'),
    newPid: z.number().int().nullable().describe('The process that replaced it.'),
    exit: ExitReportSchema.nullable(),
    silentMs: z
      .number()
      .nullable()
      .optional()
      .describe('For a hang or a stopped process: how long it had shown no sign of health when detected.'),
    manual: z.boolean(),
    timeline: z.array(
      z
        .object({ at: time('When'), step: z.string(), detail: z.string() })
        .meta({ id: 'IncidentStep', description: 'One step of a recovery.' }),
    ),
  })
  .meta({ id: 'Incident', description: 'One recovery, with its timeline (src/core/incident.ts).' })

export const JobSchema = z
  .object({
    id: z.string(),
    queue: z.string(),
    payload: z.unknown().describe('The payload it was enqueued with: any JSON value.'),
    state: z.enum(keysOf(JOB_STATES)),
    priority: z.number().int().describe('Higher runs first.'),
    runAt: time('Not delivered before this'),
    createdAt: time('Enqueued'),
    updatedAt: time('Last changed'),
    finishedAt: time('Done, dead-lettered or quarantined').nullable(),
    attempts: count('Deliveries that ended in an error or a timeout.'),
    maxAttempts: count('Deliveries before a failing job is dead-lettered.'),
    crashes: count('Deliveries that ended with their worker crashing or hanging.'),
    timeoutMs: z.number().nullable().describe('A delivery running longer fails; null: no limit.'),
    idempotencyKey: z.string().nullable(),
    delivery: count('Deliveries so far.'),
    leaseWorker: z.string().nullable().describe('While active: the worker holding it.'),
    leaseExpires: time('While active: until when').nullable(),
    ownerNode: z.string().nullable().describe('While active: the node of the agent that claimed it.'),
    ownerEpoch: z.number().int().nullable().describe("While active: that agent's lease epoch at the claim."),
    lastError: z.string().nullable(),
    lastStack: z.string().nullable(),
    checkpoint: z.unknown().describe('The last checkpoint a handler saved (JSON), or null.'),
    progress: z.unknown().describe('The last progress a handler reported (JSON), or null.'),
    result: z.unknown().describe('What the handler returned (JSON), or null.'),
  })
  .meta({ id: 'Job', description: 'One job (src/core/job.ts).' })

export const QueueCountsSchema = z
  .object({
    queue: z.string(),
    waiting: count('Due now.'),
    delayed: count('Waiting, not due yet (delay or retry backoff).'),
    inFlight: count('Delivered, not settled.'),
    done: count('Done.'),
    failed: count('Waiting for a retry after an error.'),
    deadLettered: count('Dead-lettered.'),
    quarantined: count('Quarantined.'),
    throughputPerMinute: count('Jobs finished in the last minute.'),
    oldestWaitingMs: z.number().min(0).describe('Age of the oldest job that is due (0 when none).'),
  })
  .meta({ id: 'QueueCounts', description: 'The counts of one queue (src/ports/job-store.ts).' })

export const AddResultSchema = z
  .object({
    id: z.string().describe('The job id (for a duplicate by key, the existing job’s).'),
    added: z.boolean().describe('false when the id or idempotency key existed already.'),
  })
  .meta({ id: 'AddResult', description: 'The outcome of adding one job.' })

export const ErrorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(keysOf(ErrorRegistry)).describe('A code of docs/errors.md.'),
      message: z.string().describe('A sentence for people.'),
      details: z
        .unknown()
        .optional()
        .describe('Extra facts for machines, e.g. `{ issues: [{ path, message }] }`.'),
    }),
  })
  .meta({ id: 'ErrorBody', description: 'Every error, whatever raised it (src/adapters/http/errors.ts).' })

/** Body of `GET /api/health`. */
export const HealthResponseSchema = z.object({
  ok: z.literal(true),
  supervisor: SupervisorInfoSchema,
  store: StoreHealthSchema,
})
/** Body of `GET /api/workers`. */
export const WorkersResponseSchema = z.object({ workers: z.array(WorkerViewSchema) })
/** Body of `GET /api/workers/:id`. */
export const WorkerResponseSchema = z.object({ worker: WorkerViewSchema })
/** Body of `GET /api/nodes`. */
export const NodesResponseSchema = z.object({ nodes: z.array(NodeViewSchema) })
/** Body of `DELETE /api/nodes/:name`. */
export const ForgetNodeResponseSchema = z.object({
  forgotten: NodeViewSchema.describe('The node as it was listed, dead.'),
  workerStates: count(
    'Saved worker states of the node deleted with it (PostgreSQL; 0 on SQLite, where they are the store’s).',
  ),
})
/** Body of `GET /api/pools`. */
export const PoolsResponseSchema = z.object({ pools: z.array(PoolViewSchema) })
/** Body of `POST /api/workers/:id/restart` (202), and of a signal that opened an incident (202). */
export const IncidentOpenedSchema = z.object({ incidentId: z.string().describe('The incident opened.') })
/** Body of a signal that opened no incident (200). */
export const NoIncidentSchema = z.object({ incidentId: z.null() })
/** Body of `GET /api/incidents`. */
export const IncidentsResponseSchema = z.object({ incidents: z.array(IncidentSchema) })
/** Body of `GET /api/incidents/:id`. */
export const IncidentResponseSchema = z.object({ incident: IncidentSchema })
/**
 * An event as the store recorded it (src/core/events.ts): its sequence number, and the node of the
 * agent that recorded it.
 */
export const RecordedEventSchema = z
  .object({
    seq: z
      .number()
      .int()
      .min(1)
      .describe('Store sequence number: only grows, never reused (page with `after`).'),
    type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
    at: time('When it happened'),
    severity: z.enum(EVENT_SEVERITIES),
    message: z.string().describe('What happened, in a sentence.'),
    pool: z.string().nullable(),
    workerId: z.string().nullable(),
    incidentId: z.string().nullable(),
    node: NodeNameSchema.describe(
      'The agent that recorded it (its node name); null for events stored before nodes were recorded.',
    ),
    data: z
      .record(z.string(), z.unknown())
      .describe('The details, by type: `EventDataMap` in src/core/events.ts.'),
  })
  .meta({ id: 'RecordedEvent', description: 'An event recorded in the store (src/core/events.ts).' })
/** Body of `GET /api/events/recorded`. */
export const RecordedEventsResponseSchema = z.object({ events: z.array(RecordedEventSchema) })
/** Body of `GET /api/queues`. */
export const QueuesResponseSchema = z.object({ queues: z.array(QueueCountsSchema) })
/** Body of `POST /api/queues/:queue/jobs` (201). `added` is false for a duplicate (by id or key). */
export const EnqueueResponseSchema = z.object({ jobs: z.array(AddResultSchema) })
/** Body of `GET /api/queues/:queue/jobs`. */
export const JobsResponseSchema = z.object({ jobs: z.array(JobSchema) })
/** Body of `GET /api/jobs/:id`. */
export const JobResponseSchema = z.object({ job: JobSchema })
/** Body of `POST /api/queues/:queue/retry`. */
export const RetryJobsResponseSchema = z.object({ retried: count('Jobs put back in the queue.') })
/** Body of `POST /api/queues/:queue/purge`. */
export const PurgeJobsResponseSchema = z.object({ purged: count('Jobs deleted.') })

export type HealthResponse = z.infer<typeof HealthResponseSchema>
export type WorkersResponse = z.infer<typeof WorkersResponseSchema>
export type WorkerResponse = z.infer<typeof WorkerResponseSchema>
export type PoolsResponse = z.infer<typeof PoolsResponseSchema>
export type NodesResponse = z.infer<typeof NodesResponseSchema>
export type ForgetNodeResponse = z.infer<typeof ForgetNodeResponseSchema>
export type HistoryResponse = z.infer<typeof FleetHistorySchema>
export type RestartResponse = z.infer<typeof IncidentOpenedSchema>
export type SignalResponse = { incidentId: string | null }
export type IncidentsResponse = z.infer<typeof IncidentsResponseSchema>
export type IncidentResponse = z.infer<typeof IncidentResponseSchema>
export type QueuesResponse = z.infer<typeof QueuesResponseSchema>
export type RecordedEventsResponse = z.infer<typeof RecordedEventsResponseSchema>
export type EnqueueResponse = z.infer<typeof EnqueueResponseSchema>
export type JobsResponse = z.infer<typeof JobsResponseSchema>
export type JobResponse = z.infer<typeof JobResponseSchema>
export type RetryJobsResponse = z.infer<typeof RetryJobsResponseSchema>
export type PurgeJobsResponse = z.infer<typeof PurgeJobsResponseSchema>
