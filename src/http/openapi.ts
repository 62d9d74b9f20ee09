/**
 * The OpenAPI 3.1 description of the API, built from the route table below and the zod schemas
 * the routes validate with (schemas.ts), so the document cannot describe a request the server
 * would refuse. `scripts/gen-openapi.ts` writes it to docs/openapi.json; the server answers it at
 * `GET /api/openapi.json`. A unit test walks the app's routes and this table both ways.
 * @module
 */
import { z } from 'zod'

import { type ErrorCode, ErrorRegistry } from '../errors.js'
import { EnqueueBodySchema } from '../queue/enqueue.js'
import { packageVersion } from '../version.js'
import { API_TOKEN_ENV, type ApiScope, QUERY_TOKEN_PARAM } from './auth.js'
import {
  API_BODY_LIMIT,
  EnqueueBatchSchema,
  EventsQuerySchema,
  IncidentsQuerySchema,
  JobsQuerySchema,
  PurgeBodySchema,
  QueueParamSchema,
  RestartBodySchema,
  RetryBodySchema,
  SignalBodySchema,
} from './schemas.js'

/**
 * What a route that writes the store may answer when the store does not take the write: the disk
 * is full (507), the store is read-only or was deleted (503), or it failed otherwise (500).
 */
const STORE_WRITE_ERRORS: ErrorCode[] = [
  'SHEPHERD_STORE_WRITE_FAILED',
  'SHEPHERD_STORE_FULL',
  'SHEPHERD_STORE_READ_ONLY',
  'SHEPHERD_STORE_GONE',
]

/** A JSON Schema (2020-12, as OpenAPI 3.1 takes it) or a part of one. */
export type JsonSchema = { [key: string]: unknown }

/** One success answer of a route. */
export interface RouteAnswer {
  status: number
  description: string
  /** @defaultValue 'application/json' */
  contentType?: string
  schema?: JsonSchema
  /** Response headers, by name, with their description. */
  headers?: Record<string, string>
}

/** One route of the API, as the document describes it. */
export interface ApiRoute {
  method: 'get' | 'post'
  /** Hono's form: `/api/workers/:id`. */
  path: string
  operationId: string
  tag: 'supervisor' | 'workers' | 'incidents' | 'queues' | 'events' | 'metrics'
  summary: string
  description?: string
  /** What the token must allow (auth.ts). */
  scope: ApiScope
  /** Path parameters, by name; each is a string unless its schema says more. */
  params?: Record<string, { description: string; schema?: z.ZodType }>
  query?: z.ZodObject
  body?: { schema: z.ZodType | z.ZodType[]; required: boolean }
  answers: RouteAnswer[]
  /** The codes this route raises itself; the ones every route shares are added by the builder. */
  errors: ErrorCode[]
}

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` })
const obj = (properties: Record<string, JsonSchema>, description?: string): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  ...(description === undefined ? {} : { description }),
})
const list = (items: JsonSchema): JsonSchema => ({ type: 'array', items })
const count = (description: string): JsonSchema => ({ type: 'integer', minimum: 0, description })

const WORKER_ID = {
  id: { description: 'Worker id, percent-encoded: `email#2` is `email%232`.' },
}
const QUEUE = { queue: { description: 'Queue name.', schema: QueueParamSchema.shape.queue } }
const LOCATION = { Location: 'The incident: `/api/incidents/{id}`.' }

/**
 * Every route behind the token: the JSON API and `/metrics`. The dashboard's static files are not
 * part of the API and are not listed.
 */
export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/api/health',
    operationId: 'getHealth',
    tag: 'supervisor',
    summary: 'Whether a supervisor answers, and which one',
    scope: 'read',
    answers: [
      {
        status: 200,
        description: 'It answers.',
        schema: obj({ ok: { const: true }, supervisor: ref('SupervisorInfo') }),
      },
    ],
    errors: [],
  },
  {
    method: 'get',
    path: '/api/workers',
    operationId: 'listWorkers',
    tag: 'workers',
    summary: 'Every worker slot, spares included',
    scope: 'read',
    answers: [
      { status: 200, description: 'The workers.', schema: obj({ workers: list(ref('WorkerView')) }) },
    ],
    errors: [],
  },
  {
    method: 'get',
    path: '/api/workers/:id',
    operationId: 'getWorker',
    tag: 'workers',
    summary: 'One worker',
    scope: 'read',
    params: WORKER_ID,
    answers: [{ status: 200, description: 'The worker.', schema: obj({ worker: ref('WorkerView') }) }],
    errors: ['SHEPHERD_WORKER_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/api/pools',
    operationId: 'listPools',
    tag: 'workers',
    summary: 'Every pool: size, serving workers, availability, restarts by cause',
    scope: 'read',
    answers: [{ status: 200, description: 'The pools.', schema: obj({ pools: list(ref('PoolView')) }) }],
    errors: [],
  },
  {
    method: 'get',
    path: '/api/history',
    operationId: 'getHistory',
    tag: 'workers',
    summary: 'Recent samples per worker and per queue, oldest first',
    scope: 'read',
    answers: [{ status: 200, description: 'The samples.', schema: ref('FleetHistory') }],
    errors: [],
  },
  {
    method: 'post',
    path: '/api/workers/:id/restart',
    operationId: 'restartWorker',
    tag: 'workers',
    summary: 'Restart a worker: opens a manual incident',
    description: 'Answers once the incident is opened, not when it ends; follow it at the Location.',
    scope: 'control',
    params: WORKER_ID,
    body: { schema: RestartBodySchema, required: false },
    answers: [
      {
        status: 202,
        description: 'The incident is open.',
        schema: obj({ incidentId: { type: 'string' } }),
        headers: LOCATION,
      },
    ],
    errors: ['SHEPHERD_WORKER_NOT_FOUND', 'SHEPHERD_RECOVERY_IN_PROGRESS', 'SHEPHERD_SUPERVISOR_STOPPING'],
  },
  {
    method: 'post',
    path: '/api/workers/:id/signals',
    operationId: 'signalWorker',
    tag: 'workers',
    summary: "An outside monitor's verdict about a worker",
    scope: 'control',
    params: WORKER_ID,
    body: { schema: SignalBodySchema, required: true },
    answers: [
      {
        status: 202,
        description: 'unhealthy: an incident was opened (cause external).',
        schema: obj({ incidentId: { type: 'string' } }),
        headers: LOCATION,
      },
      {
        status: 200,
        description: 'Noted; no incident was opened.',
        schema: obj({ incidentId: { type: 'null' } }),
      },
    ],
    errors: ['SHEPHERD_WORKER_NOT_FOUND', 'SHEPHERD_RECOVERY_IN_PROGRESS', 'SHEPHERD_SUPERVISOR_STOPPING'],
  },
  {
    method: 'get',
    path: '/api/incidents',
    operationId: 'listIncidents',
    tag: 'incidents',
    summary: 'Recent incidents, newest first',
    scope: 'read',
    query: IncidentsQuerySchema,
    answers: [
      { status: 200, description: 'The incidents.', schema: obj({ incidents: list(ref('Incident')) }) },
    ],
    errors: [],
  },
  {
    method: 'get',
    path: '/api/incidents/:id',
    operationId: 'getIncident',
    tag: 'incidents',
    summary: 'One incident with its whole timeline',
    scope: 'read',
    params: { id: { description: 'Incident id.' } },
    answers: [{ status: 200, description: 'The incident.', schema: obj({ incident: ref('Incident') }) }],
    errors: ['SHEPHERD_INCIDENT_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/api/queues',
    operationId: 'listQueues',
    tag: 'queues',
    summary: 'The counts of every queue that has jobs or that the config names',
    scope: 'read',
    answers: [{ status: 200, description: 'The queues.', schema: obj({ queues: list(ref('QueueCounts')) }) }],
    errors: [],
  },
  {
    method: 'post',
    path: '/api/queues/:queue/jobs',
    operationId: 'enqueue',
    tag: 'queues',
    summary: 'Add one job, or many in one transaction',
    scope: 'control',
    params: QUEUE,
    body: { schema: [EnqueueBodySchema, EnqueueBatchSchema], required: true },
    answers: [
      {
        status: 201,
        description: 'Added; `added` is false for a duplicate (by id or idempotency key).',
        schema: obj({ jobs: list(ref('AddResult')) }),
      },
    ],
    errors: STORE_WRITE_ERRORS,
  },
  {
    method: 'get',
    path: '/api/queues/:queue/jobs',
    operationId: 'listJobs',
    tag: 'queues',
    summary: "The queue's jobs, newest first",
    scope: 'read',
    params: QUEUE,
    query: JobsQuerySchema,
    answers: [{ status: 200, description: 'The jobs.', schema: obj({ jobs: list(ref('Job')) }) }],
    errors: [],
  },
  {
    method: 'post',
    path: '/api/queues/:queue/retry',
    operationId: 'retryJobs',
    tag: 'queues',
    summary: 'Put dead-lettered or quarantined jobs back to waiting',
    scope: 'control',
    params: QUEUE,
    body: { schema: RetryBodySchema, required: true },
    answers: [
      {
        status: 200,
        description: 'How many moved.',
        schema: obj({ retried: count('Jobs put back in the queue.') }),
      },
    ],
    errors: STORE_WRITE_ERRORS,
  },
  {
    method: 'post',
    path: '/api/queues/:queue/purge',
    operationId: 'purgeJobs',
    tag: 'queues',
    summary: 'Delete jobs in a state, for good',
    scope: 'control',
    params: QUEUE,
    body: { schema: PurgeBodySchema, required: true },
    answers: [
      { status: 200, description: 'How many were deleted.', schema: obj({ purged: count('Jobs deleted.') }) },
    ],
    errors: STORE_WRITE_ERRORS,
  },
  {
    method: 'get',
    path: '/api/jobs/:id',
    operationId: 'getJob',
    tag: 'queues',
    summary: 'One job',
    scope: 'read',
    params: { id: { description: 'Job id.' } },
    answers: [{ status: 200, description: 'The job.', schema: obj({ job: ref('Job') }) }],
    errors: ['SHEPHERD_JOB_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/api/events',
    operationId: 'streamEvents',
    tag: 'events',
    summary: "The supervisor's events as server-sent events, as they happen",
    description: `Each message's \`event\` is the event type and its \`data\` the event as JSON (src/core/events.ts). A browser's EventSource cannot send headers, so this route alone also takes the token as \`?${QUERY_TOKEN_PARAM}=\`.`,
    scope: 'read',
    query: EventsQuerySchema,
    answers: [
      {
        status: 200,
        description:
          'The stream; a comment line every 15 s keeps it open. A client that stops reading is dropped once 256 KiB of events waits for it.',
        contentType: 'text/event-stream',
        schema: { type: 'string' },
      },
    ],
    errors: ['SHEPHERD_NOT_FOUND', 'SHEPHERD_EVENT_STREAM_FULL'],
  },
  {
    method: 'get',
    path: '/api/openapi.json',
    operationId: 'getOpenApi',
    tag: 'supervisor',
    summary: 'This document',
    scope: 'read',
    answers: [{ status: 200, description: 'The OpenAPI 3.1 document.', schema: { type: 'object' } }],
    errors: [],
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    tag: 'metrics',
    summary: 'Prometheus metrics, in the text exposition format',
    scope: 'read',
    answers: [
      {
        status: 200,
        description: 'The metrics (docs/metrics.md).',
        contentType: 'text/plain',
        schema: { type: 'string' },
      },
    ],
    errors: ['SHEPHERD_NOT_FOUND'],
  },
]

/** `/api/workers/:id` → `/api/workers/{id}`. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
}

/** Response bodies, described by reference to their TypeScript types; docs/api.md lists the fields. */
const RESPONSE_SCHEMAS: Record<string, JsonSchema> = {
  SupervisorInfo: {
    type: 'object',
    description:
      'Which supervisor answers: pid, version, startedAt, configFile, pools, apiUrl (src/supervisor/view.ts).',
  },
  WorkerView: {
    type: 'object',
    description:
      'One worker slot: id, pool, pid, state, role, healthScore, verdict, worst indicator, restarts, uptime, incident, last exit, health report (src/supervisor/view.ts).',
  },
  PoolView: {
    type: 'object',
    description:
      'One pool: replicas, workers, serving, spares, availability, restarts by cause (src/supervisor/view.ts).',
  },
  FleetHistory: {
    type: 'object',
    description:
      'Recent samples: `{ workers: { [id]: Sample[] }, queues: { [name]: Sample[] } }` (src/supervisor/view.ts).',
  },
  Incident: {
    type: 'object',
    description:
      'One recovery: worker, cause, severity, strategies, attempts, phase, outcome, times, pids, exit and the timeline of steps (src/core/incident.ts).',
  },
  QueueCounts: {
    type: 'object',
    description:
      'Counts of one queue: waiting, delayed, active, done, failed, dead, quarantined, throughput (src/store/job-store.ts).',
  },
  Job: {
    type: 'object',
    description:
      'One job: id, queue, payload, state, attempts, crashes, lease, last error, checkpoint, result (src/core/job.ts).',
  },
  AddResult: obj(
    {
      id: { type: 'string', description: 'The job id (for a duplicate by key, the existing job’s).' },
      added: { type: 'boolean', description: 'false when the id or idempotency key existed already.' },
    },
    'The outcome of adding one job.',
  ),
}

const ERROR_BODY: JsonSchema = {
  type: 'object',
  description: 'Every error, whatever raised it (src/http/errors.ts).',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string', enum: Object.keys(ErrorRegistry), description: 'A code of docs/errors.md.' },
        message: { type: 'string', description: 'A sentence for people.' },
        details: { description: 'Extra facts for machines, e.g. `{ issues: [{ path, message }] }`.' },
      },
      required: ['code', 'message'],
      additionalProperties: false,
    },
  },
  required: ['error'],
  additionalProperties: false,
}

/** The codes a route can answer with: its own and those that come with what it takes. */
export function errorCodesOf(route: ApiRoute): ErrorCode[] {
  const codes = new Set<ErrorCode>(['SHEPHERD_UNAUTHORIZED'])
  if (route.scope === 'control') codes.add('SHEPHERD_FORBIDDEN')
  // Every route refuses a query parameter it does not take, or one given twice (context.ts parseQuery).
  codes.add('SHEPHERD_BAD_REQUEST')
  if (route.body) codes.add('SHEPHERD_PAYLOAD_TOO_LARGE')
  for (const c of route.errors) codes.add(c)
  codes.add('SHEPHERD_INTERNAL')
  return [...codes]
}

/** Options of {@link buildOpenApiDocument}. */
export interface OpenApiOptions {
  /** `info.version`. @defaultValue the version in package.json */
  version?: string
}

/**
 * Builds the OpenAPI 3.1 document. Pure but for reading package.json; the same input gives the
 * same document, key order included, so that docs/openapi.json is stable.
 * @example
 * ```ts
 * const doc = buildOpenApiDocument()
 * doc.paths['/api/workers/{id}'].get.operationId // 'getWorker'
 * ```
 */
export function buildOpenApiDocument(options: OpenApiOptions = {}): JsonSchema {
  const components = new Components()
  for (const [name, schema] of Object.entries(RESPONSE_SCHEMAS)) components.put(name, schema)
  components.put('ErrorBody', ERROR_BODY)

  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of API_ROUTES) {
    const p = openApiPath(route.path)
    paths[p] ??= {}
    paths[p][route.method] = operation(route, components)
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Shepherd control API',
      version: options.version ?? packageVersion(),
      description: [
        'The JSON API of a running Shepherd supervisor: workers, incidents, queues and jobs, events, metrics.',
        `Every error is \`{ "error": { "code", "message", "details"? } }\` with a code of docs/errors.md. Request bodies are JSON, at most ${API_BODY_LIMIT} bytes; unknown keys are refused.`,
        'Generated by scripts/gen-openapi.ts from the schemas the server validates with; do not edit docs/openapi.json by hand.',
      ].join('\n\n'),
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: 'http://127.0.0.1:7717', description: 'The default api.host and api.port.' }],
    tags: [
      { name: 'supervisor', description: 'The supervisor itself.' },
      { name: 'workers', description: 'Workers and pools.' },
      { name: 'incidents', description: 'Recoveries and their timelines.' },
      { name: 'queues', description: 'The job queue.' },
      { name: 'events', description: 'The live event stream.' },
      { name: 'metrics', description: 'Prometheus metrics.' },
    ],
    paths,
    components: {
      schemas: components.schemas,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: `Required once a token is set (api.token or ${API_TOKEN_ENV}; always when api.host is not loopback). Scopes: \`read\` (GET and HEAD) is granted by the read token (api.read_token) and the control token; \`control\` (everything else) by the control token only. Without a token configured, on loopback, no authentication is asked for.`,
        },
        accessToken: {
          type: 'apiKey',
          in: 'query',
          name: QUERY_TOKEN_PARAM,
          description: 'The same token in the query, for EventSource; GET /api/events only.',
        },
      },
    },
  }
}

let cached: string | undefined

/** The document as JSON text, built once per process (the server answers it as it is). */
export function openApiJson(): string {
  return (cached ??= JSON.stringify(buildOpenApiDocument()))
}

function operation(route: ApiRoute, components: Components): Record<string, unknown> {
  const op: Record<string, unknown> = {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
  }
  if (route.description !== undefined) op.description = route.description

  const parameters: unknown[] = []
  for (const [name, p] of Object.entries(route.params ?? {})) {
    parameters.push({
      name,
      in: 'path',
      required: true,
      description: p.description,
      schema: p.schema ? components.inline(p.schema) : { type: 'string' },
    })
  }
  if (route.query) {
    const schema = components.inline(route.query)
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>
    const required = new Set((schema.required as string[] | undefined) ?? [])
    for (const [name, s] of Object.entries(props)) {
      const { description, ...rest } = s
      parameters.push({ name, in: 'query', required: required.has(name), description, schema: rest })
    }
  }
  if (parameters.length > 0) op.parameters = parameters

  if (route.body) {
    const schemas = Array.isArray(route.body.schema) ? route.body.schema : [route.body.schema]
    const refs = schemas.map((s) => components.named(s))
    op.requestBody = {
      required: route.body.required,
      content: { 'application/json': { schema: refs.length === 1 ? refs[0] : { oneOf: refs } } },
    }
  }

  const responses: Record<string, unknown> = {}
  for (const a of route.answers) {
    const r: Record<string, unknown> = { description: a.description }
    if (a.headers) {
      r.headers = Object.fromEntries(
        Object.entries(a.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }]),
      )
    }
    if (a.schema) r.content = { [a.contentType ?? 'application/json']: { schema: a.schema } }
    responses[String(a.status)] = r
  }
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of errorCodesOf(route)) {
    const status = ErrorRegistry[code].status
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const r: Record<string, unknown> = {
      description: codes.map((c) => `${c}: ${ErrorRegistry[c].summary}`).join(' '),
      content: {
        'application/json': {
          schema: {
            allOf: [ref('ErrorBody'), { properties: { error: { properties: { code: { enum: codes } } } } }],
          },
        },
      },
    }
    if (status === 401) {
      r.headers = {
        'WWW-Authenticate': { description: '`Bearer realm="shepherd"`', schema: { type: 'string' } },
      }
    }
    responses[String(status)] = r
  }
  op.responses = responses
  op.security =
    route.path === '/api/events'
      ? [{ bearerAuth: [route.scope] }, { accessToken: [route.scope] }]
      : [{ bearerAuth: [route.scope] }]
  return op
}

/**
 * `components.schemas`, filled as operations need them. Zod emits a recursive schema (a job's
 * payload, any JSON value) as `$defs` local to each schema; they are hoisted here, once each, so
 * every `$ref` resolves from the document's root.
 */
class Components {
  readonly schemas: Record<string, JsonSchema> = {}
  readonly #byZod = new Map<z.ZodType, JsonSchema>()
  readonly #defNames = new Map<string, string>()

  put(name: string, schema: JsonSchema): void {
    this.schemas[name] = schema
  }

  /** A `$ref` to the schema's component, named after its description's first words. */
  named(schema: z.ZodType): JsonSchema {
    const known = this.#byZod.get(schema)
    if (known) return known
    const name = componentName(schema)
    this.schemas[name] = this.inline(schema)
    const r = ref(name)
    this.#byZod.set(schema, r)
    return r
  }

  /** The schema itself, its `$defs` hoisted. */
  inline(schema: z.ZodType): JsonSchema {
    const json = z.toJSONSchema(schema, {
      io: 'input',
      unrepresentable: 'any',
      target: 'draft-2020-12',
    }) as JsonSchema
    delete json.$schema
    const defs = (json.$defs ?? {}) as Record<string, JsonSchema>
    delete json.$defs
    const renames = new Map<string, string>()
    for (const [key, def] of Object.entries(defs)) renames.set(key, this.#hoist(def, defs))
    return rewriteRefs(json, renames) as JsonSchema
  }

  #hoist(def: JsonSchema, siblings: Record<string, JsonSchema>): string {
    const text = JSON.stringify(def)
    const known = this.#defNames.get(text)
    if (known) return known
    const name = isJsonValueSchema(def, siblings) ? 'JsonValue' : `Shared${this.#defNames.size + 1}`
    this.#defNames.set(text, name)
    // Self-references inside the definition point at the hoisted copy.
    const self = Object.keys(siblings).find((k) => siblings[k] === def)!
    this.schemas[name] = rewriteRefs(def, new Map([[self, name]])) as JsonSchema
    return name
  }
}

/** The component name of a request body schema, for `$ref`s that read well. */
function componentName(schema: z.ZodType): string {
  const known = new Map<z.ZodType, string>([
    [RestartBodySchema, 'RestartBody'],
    [SignalBodySchema, 'SignalBody'],
    [EnqueueBodySchema, 'EnqueueBody'],
    [EnqueueBatchSchema, 'EnqueueBatch'],
    [RetryBodySchema, 'RetryBody'],
    [PurgeBodySchema, 'PurgeBody'],
  ])
  const name = known.get(schema)
  if (name === undefined) throw new Error('a request body schema without a component name')
  return name
}

/** Zod's z.json(): a string, number, boolean, null, array or object of itself. */
function isJsonValueSchema(def: JsonSchema, siblings: Record<string, JsonSchema>): boolean {
  const types = ((def.anyOf ?? []) as JsonSchema[]).map((a) => a.type)
  return (
    Object.keys(siblings).length === 1 &&
    ['string', 'number', 'boolean', 'null', 'array', 'object'].every((t) => types.includes(t))
  )
}

function rewriteRefs(value: unknown, renames: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteRefs(v, renames))
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')) {
      const target = renames.get(v.slice('#/$defs/'.length))
      out[k] = target === undefined ? v : `#/components/schemas/${target}`
    } else {
      out[k] = rewriteRefs(v, renames)
    }
  }
  return out
}
