/**
 * The control API from the other side: what the CLI uses to talk to a running supervisor. Every
 * failure becomes a ShepherdError: a supervisor that does not answer is
 * SHEPHERD_SUPERVISOR_UNREACHABLE, and an API error body keeps its code and message.
 * @module
 */
import type { z } from 'zod'

import type { NodeView } from '../../core/fleet-node.js'
import type { Incident } from '../../core/incident.js'
import type { Job } from '../../core/job.js'
import { coerceError, type ErrorCode, ErrorRegistry, ShepherdError } from '../../errors.js'
import type { AddResult, PurgeState, QueueCounts } from '../../ports/job-store.js'
import type { JOB_LIST_STATES } from '../../ports/job-store.js'
import type { EnqueueBodySchema } from '../../queue/enqueue.js'
import type { SupervisorInfo, WorkerView } from '../../supervisor/view.js'
import type {
  EnqueueResponse,
  ForgetNodeResponse,
  HealthResponse,
  IncidentResponse,
  IncidentsResponse,
  JobResponse,
  JobsResponse,
  NodesResponse,
  PurgeJobsResponse,
  QueuesResponse,
  RecordedEventsResponse,
  RestartResponse,
  RetryJobsResponse,
  WorkerResponse,
  WorkersResponse,
} from './responses.js'

/**
 * How long a request may take before the supervisor counts as unreachable. Every route answers
 * from memory or one store query, so 10 s only ever runs out on a wedged supervisor.
 * @defaultValue 10000
 */
export const DEFAULT_API_TIMEOUT_MS = 10_000

/** Options of an ApiClient beyond its address. */
export interface ApiClientOptions {
  /**
   * Time limit of one request, ms.
   * @defaultValue {@link DEFAULT_API_TIMEOUT_MS}
   */
  timeoutMs?: number
  /**
   * The API token, sent as `Authorization: Bearer <token>` (see {@link clientToken}).
   * @defaultValue none: enough for a supervisor without tokens (on loopback)
   */
  token?: string
}

/** Filters of {@link ApiClient.incidents}. */
export interface IncidentFilter {
  /** At most this many, newest first (1..1000). @defaultValue 50 (the API's default) */
  limit?: number
  /** Only this worker's incidents. */
  worker?: string
  /** Only this pool's incidents. */
  pool?: string
  /** Only the incidents of the agent with this node name. */
  node?: string
}

/** Filters of {@link ApiClient.events}. */
export interface EventFilter {
  /** Only events after this sequence number (the last `seq` of the previous page). */
  after?: number
  /** At most this many, oldest first (1..1000). @defaultValue 100 (the API's default) */
  limit?: number
  /** Event types, or prefixes ending in `:` (`incident:`). @defaultValue every type */
  types?: readonly string[]
  /** Only this worker's events. */
  worker?: string
  /** Only the events of the agent with this node name. */
  node?: string
}

/** An event as the store recorded it: its sequence number and the node of the agent that recorded it. */
export type RecordedEvent = RecordedEventsResponse['events'][number]

/** One job to enqueue: its payload and the enqueue options (`id`, `idempotencyKey`, `delay`, …). */
export type EnqueueJob = z.input<typeof EnqueueBodySchema>

/** Filters of {@link ApiClient.jobs}. */
export interface JobFilter {
  /** Only jobs in this state (`waiting` is due now; `delayed`, `failed` as `queues` counts them). */
  state?: (typeof JOB_LIST_STATES)[number]
  /** At most this many, newest first (1..1000). @defaultValue 50 (the API's default) */
  limit?: number
}

/** The URL of an HTTP server on `host` and `port`; an IPv6 host is bracketed (`http://[::1]:7717`). */
export function httpUrl(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return `http://${h}:${port}`
}

/**
 * The address to connect to for a server bound to `host`: the wildcard addresses (`0.0.0.0`,
 * `::`) mean every interface, and the CLI runs on the same machine, so it uses loopback.
 */
export function connectHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::' || host === '[::]') return '::1'
  return host
}

/**
 * The base URL of the control API a config describes (`config.api`), as seen from this machine.
 * @example
 * ```ts
 * apiBaseUrl(loadConfigFile(file).config) // 'http://127.0.0.1:7717'
 * ```
 */
export function apiBaseUrl(config: { api: { host: string; port: number } }): string {
  return httpUrl(connectHost(config.api.host), config.api.port)
}

/**
 * The token the CLI sends: the control token when it knows one (from the environment or the
 * config), else the read token, else none.
 */
export function clientToken(tokens: { token?: string; readToken?: string }): string | undefined {
  return tokens.token ?? tokens.readToken
}

/** Connection errors that mean nothing (or nothing reachable) listens at the address. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EADDRNOTAVAIL',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
])

/**
 * A client of the control API.
 * @example
 * ```ts
 * const api = new ApiClient('http://127.0.0.1:7717')
 * const { incidentId } = await api.restart('email#2', false)
 * ```
 */
export class ApiClient {
  /** The API's base URL, without a trailing slash. */
  readonly baseUrl: string
  readonly #fetch: typeof fetch
  readonly #timeoutMs: number
  readonly #token: string | undefined

  /**
   * @param baseUrl - e.g. `http://127.0.0.1:7717` (see {@link apiBaseUrl})
   * @param fetchImpl - the fetch to use; tests pass a fake. @defaultValue the global fetch
   */
  constructor(baseUrl: string, fetchImpl: typeof fetch = globalThis.fetch, options: ApiClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    this.#fetch = fetchImpl
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_API_TIMEOUT_MS
    this.#token = options.token
  }

  /** `GET /api/health`: whether a supervisor answers, and which. */
  health(): Promise<HealthResponse> {
    return this.#request<HealthResponse>('GET', '/api/health')
  }

  /** `GET /api/health`, the supervisor part. */
  async supervisor(): Promise<SupervisorInfo> {
    return (await this.health()).supervisor
  }

  /** `GET /api/workers`: every worker slot, spares included. */
  async workers(): Promise<WorkerView[]> {
    return (await this.#request<WorkersResponse>('GET', '/api/workers')).workers
  }

  /** `GET /api/nodes`: every agent sharing the store, by name. */
  async nodes(): Promise<NodeView[]> {
    return (await this.#request<NodesResponse>('GET', '/api/nodes')).nodes
  }

  /**
   * `DELETE /api/nodes/:name`: takes a dead node off the fleet's list. Fails with
   * SHEPHERD_NODE_ALIVE for a node whose lease is live, SHEPHERD_NODE_NOT_FOUND for a name no lease holds.
   */
  async forgetNode(name: string): Promise<ForgetNodeResponse> {
    return this.#request<ForgetNodeResponse>('DELETE', `/api/nodes/${encodeURIComponent(name)}`)
  }

  /** `GET /api/workers/:id`; SHEPHERD_WORKER_NOT_FOUND when there is no such worker. */
  async worker(id: string): Promise<WorkerView> {
    return (await this.#request<WorkerResponse>('GET', `/api/workers/${encodeURIComponent(id)}`)).worker
  }

  /**
   * `POST /api/workers/:id/restart`: opens a manual incident and resolves with its id once it is
   * opened (not once it ends). Fails with SHEPHERD_WORKER_NOT_FOUND, SHEPHERD_RECOVERY_IN_PROGRESS
   * or SHEPHERD_SUPERVISOR_STOPPING.
   */
  restart(id: string, hard = false): Promise<RestartResponse> {
    return this.#request<RestartResponse>('POST', `/api/workers/${encodeURIComponent(id)}/restart`, { hard })
  }

  /** `GET /api/incidents`: newest first. */
  async incidents(filter: IncidentFilter = {}): Promise<Incident[]> {
    const q = new URLSearchParams()
    if (filter.limit !== undefined) q.set('limit', String(filter.limit))
    if (filter.worker !== undefined) q.set('worker', filter.worker)
    if (filter.pool !== undefined) q.set('pool', filter.pool)
    if (filter.node !== undefined) q.set('node', filter.node)
    const qs = q.size > 0 ? `?${q.toString()}` : ''
    return (await this.#request<IncidentsResponse>('GET', `/api/incidents${qs}`)).incidents
  }

  /** `GET /api/events/recorded`: events the store holds, oldest first (every agent's on a shared store). */
  async events(filter: EventFilter = {}): Promise<RecordedEvent[]> {
    const q = new URLSearchParams()
    if (filter.after !== undefined) q.set('after', String(filter.after))
    if (filter.limit !== undefined) q.set('limit', String(filter.limit))
    if (filter.types !== undefined && filter.types.length > 0) q.set('types', filter.types.join(','))
    if (filter.worker !== undefined) q.set('worker', filter.worker)
    if (filter.node !== undefined) q.set('node', filter.node)
    const qs = q.size > 0 ? `?${q.toString()}` : ''
    return (await this.#request<RecordedEventsResponse>('GET', `/api/events/recorded${qs}`)).events
  }

  /** `GET /api/incidents/:id`; SHEPHERD_INCIDENT_NOT_FOUND when there is no such incident. */
  async incident(id: string): Promise<Incident> {
    return (await this.#request<IncidentResponse>('GET', `/api/incidents/${encodeURIComponent(id)}`)).incident
  }

  /** `GET /api/queues`: the counts of every queue that has jobs or that the config names. */
  async queues(): Promise<QueueCounts[]> {
    return (await this.#request<QueuesResponse>('GET', '/api/queues')).queues
  }

  /**
   * `POST /api/queues/:queue/jobs` with one job; `added` is false when its id or idempotency key
   * existed already (the existing job is left as it was).
   * @example
   * ```ts
   * await api.enqueue('email', { payload: { to: 'a@example.com' }, idempotencyKey: 'welcome:42' })
   * ```
   */
  async enqueue(queue: string, job: EnqueueJob): Promise<AddResult> {
    const [result] = (await this.#request<EnqueueResponse>('POST', queuePath(queue, 'jobs'), job)).jobs
    if (!result)
      throw new ShepherdError('SHEPHERD_INTERNAL', `POST ${queuePath(queue, 'jobs')} answered no job`)
    return result
  }

  /** `POST /api/queues/:queue/jobs` with 1..1000 jobs, added in one transaction; results in order. */
  async enqueueMany(queue: string, jobs: readonly EnqueueJob[]): Promise<AddResult[]> {
    return (await this.#request<EnqueueResponse>('POST', queuePath(queue, 'jobs'), { jobs })).jobs
  }

  /** `GET /api/queues/:queue/jobs`: newest first. */
  async jobs(queue: string, filter: JobFilter = {}): Promise<Job[]> {
    const q = new URLSearchParams()
    if (filter.state !== undefined) q.set('state', filter.state)
    if (filter.limit !== undefined) q.set('limit', String(filter.limit))
    const qs = q.size > 0 ? `?${q.toString()}` : ''
    return (await this.#request<JobsResponse>('GET', `${queuePath(queue, 'jobs')}${qs}`)).jobs
  }

  /** `GET /api/jobs/:id`; SHEPHERD_JOB_NOT_FOUND when there is no such job. */
  async job(id: string): Promise<Job> {
    return (await this.#request<JobResponse>('GET', `/api/jobs/${encodeURIComponent(id)}`)).job
  }

  /**
   * `POST /api/queues/:queue/retry`: puts the queue's dead-lettered or quarantined jobs (all, or
   * those `ids`) back to waiting; resolves with how many.
   */
  async retryJobs(queue: string, from: 'dead' | 'quarantined', ids?: readonly string[]): Promise<number> {
    const body = ids === undefined ? { from } : { from, ids }
    return (await this.#request<RetryJobsResponse>('POST', queuePath(queue, 'retry'), body)).retried
  }

  /** `POST /api/queues/:queue/purge`: deletes the queue's jobs in that state (all, or those `ids`); resolves with how many. */
  async purgeJobs(queue: string, state: PurgeState, ids?: readonly string[]): Promise<number> {
    const body = ids === undefined ? { state } : { state, ids }
    return (await this.#request<PurgeJobsResponse>('POST', queuePath(queue, 'purge'), body)).purged
  }

  async #request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    if (new URL(this.baseUrl).port === '0') {
      throw new ShepherdError(
        'SHEPHERD_SUPERVISOR_UNREACHABLE',
        `api.port is 0 (the supervisor picks a free port when it starts), so there is no address to reach it at; set api.port in the config`,
      )
    }
    const doFetch = this.#fetch
    const headers: Record<string, string> = { accept: 'application/json' }
    // Every POST says JSON, bodiless ones too: the API refuses any other (request-guard.ts).
    if (method === 'POST') headers['content-type'] = 'application/json'
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`
    let res: Response
    try {
      res = await doFetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
    } catch (thrown) {
      throw this.#unreachable(thrown)
    }
    let text: string
    try {
      text = await res.text()
    } catch (thrown) {
      throw this.#unreachable(thrown)
    }
    const data = parseJson(text)
    if (res.ok && data !== undefined) return data as T
    const apiError = readApiError(data)
    if (apiError) throw apiError
    throw new ShepherdError(
      'SHEPHERD_SUPERVISOR_UNREACHABLE',
      `something answers at ${this.baseUrl} (HTTP ${res.status} to ${method} ${path}) but it is not a Shepherd supervisor`,
    )
  }

  #unreachable(thrown: unknown): ShepherdError {
    const err = coerceError(thrown)
    const hint = '(is `shepherd start -c FILE` running?)'
    if (err.name === 'TimeoutError' || err.name === 'AbortError') {
      return new ShepherdError(
        'SHEPHERD_SUPERVISOR_UNREACHABLE',
        `the supervisor at ${this.baseUrl} did not answer within ${this.#timeoutMs} ms`,
        { cause: err },
      )
    }
    const code = errorCodeOf(err)
    if (code === 'ECONNREFUSED') {
      return new ShepherdError(
        'SHEPHERD_SUPERVISOR_UNREACHABLE',
        `no supervisor answers at ${this.baseUrl} ${hint}`,
        {
          cause: err,
        },
      )
    }
    const reason = code && UNREACHABLE_CODES.has(code) ? code : (causeOf(err)?.message ?? err.message)
    return new ShepherdError(
      'SHEPHERD_SUPERVISOR_UNREACHABLE',
      `no supervisor answers at ${this.baseUrl}: ${reason} ${hint}`,
      {
        cause: err,
      },
    )
  }
}

function queuePath(queue: string, action: 'jobs' | 'retry' | 'purge'): string {
  return `/api/queues/${encodeURIComponent(queue)}/${action}`
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

/** The ShepherdError an API error body stands for, or undefined when it is not one. */
function readApiError(data: unknown): ShepherdError | undefined {
  if (!isRecord(data) || !isRecord(data.error)) return undefined
  const { code, message, details } = data.error
  if (typeof code !== 'string' || typeof message !== 'string') return undefined
  if (isErrorCode(code)) return new ShepherdError(code, message, { details })
  // A newer supervisor may answer with a code this CLI does not know: keep it in the message.
  return new ShepherdError('SHEPHERD_INTERNAL', `${code}: ${message}`, { details })
}

function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ErrorRegistry, code)
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function causeOf(err: Error): Error | undefined {
  return err.cause instanceof Error ? err.cause : undefined
}

/** The system error code of a failed fetch (undici puts it on the cause, sometimes one level down). */
function errorCodeOf(err: Error): string | undefined {
  for (let e: unknown = err, i = 0; e instanceof Error && i < 4; e = e.cause, i++) {
    const code = (e as NodeJS.ErrnoException).code
    if (typeof code === 'string') return code
    if (e instanceof AggregateError) {
      const inner = e.errors.find((x): x is NodeJS.ErrnoException => x instanceof Error && 'code' in x)
      if (inner?.code) return inner.code
    }
  }
  return undefined
}
