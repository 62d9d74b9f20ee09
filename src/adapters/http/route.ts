/**
 * How a route of the control API is written: once, with its request and response schemas, beside
 * its handler ({@link defineRoute}). From that one definition come the request validation (the
 * schemas, with Shepherd's error messages), the handler's types (it must answer what the response
 * schemas say, checked by tsc) and the route's part of the OpenAPI document (openapi.ts): its
 * parameters, body, answers, the error codes it can answer with, and the scope it needs.
 *
 * Built on @hono/zod-openapi: a definition is its `createRoute()` config plus the few facts
 * Shepherd adds (the tag, the error codes).
 * @module
 */
import { createRoute, type OpenAPIHono, type RouteConfig, type RouteHandler } from '@hono/zod-openapi'
import type { Context, MiddlewareHandler } from 'hono'
import type { BlankEnv } from 'hono/types'
import { z } from 'zod'

import { coerceError, type ErrorCode, ErrorRegistry, ShepherdError } from '../../errors.js'
import { parseWith } from '../../validation.js'
import type { ApiScope } from './auth.js'
import type { HttpContext } from './context.js'
import { requestError, type RequestIssue } from './errors.js'
import { ErrorBodySchema } from './responses.js'

/**
 * The app's environment. Handlers find the context createHttpApp built in `c.var.ctx`, declared
 * below the way Hono documents for variables set by a middleware.
 */
export type ApiEnv = BlankEnv

declare module 'hono' {
  interface ContextVariableMap {
    /** The routes' shared context (createHttpApp). */
    ctx: HttpContext
  }
}

/** The document's tags, one per subject. */
export const API_TAGS = {
  supervisor: 'The supervisor itself.',
  workers: 'Workers and pools.',
  fleet: 'The agents (nodes) sharing the store.',
  incidents: 'Recoveries and their timelines.',
  queues: 'The job queue.',
  events: 'Events: the live stream, and those recorded in the store.',
  metrics: 'Prometheus metrics.',
} as const

export type ApiTag = keyof typeof API_TAGS

/** What Shepherd says of a route beyond its createRoute() config. */
export interface RouteFacts {
  tag: ApiTag
  /** The codes this route raises itself; the ones that come with what it takes are added ({@link errorCodesOf}). */
  errors?: readonly ErrorCode[]
}

/** One route of the API: its full config (errors, security and tag included), handler and validation hook. */
export interface ApiRoute {
  config: RouteConfig
  /** The codes it can answer with, each documented under its registry status. */
  errors: readonly ErrorCode[]
  /** What the token must allow (auth.ts): `read` for GET (and HEAD), `control` for the rest. */
  scope: ApiScope
  handler: RouteHandler<RouteConfig, ApiEnv>
  hook: ValidationHook
}

/** What @hono/zod-openapi's validators call with their result; it throws when the part is refused. */
type ValidationHook = (
  result: { target: string } & ({ success: true } | { success: false; error: z.ZodError }),
  c: Context<ApiEnv>,
) => Promise<undefined>

/** The query of a route that takes no parameters: any parameter is refused, naming it. */
export const NO_QUERY = z.strictObject({})

/**
 * What a route that writes the store may answer when the store does not take the write: the disk
 * is full (507), the store is read-only, was deleted or its database cannot be reached (503), or it
 * failed otherwise (500).
 */
export const STORE_WRITE_ERRORS: readonly ErrorCode[] = [
  'SHEPHERD_STORE_WRITE_FAILED',
  'SHEPHERD_STORE_FULL',
  'SHEPHERD_STORE_READ_ONLY',
  'SHEPHERD_STORE_UNREACHABLE',
  'SHEPHERD_STORE_GONE',
]

/** Headers some error statuses carry, as the document describes them. */
const ERROR_HEADERS: Partial<Record<ErrorCode, Record<string, { description: string; schema: object }>>> = {
  SHEPHERD_UNAUTHORIZED: {
    'WWW-Authenticate': { description: '`Bearer realm="shepherd"`', schema: { type: 'string' } },
  },
  SHEPHERD_EVENT_STREAM_FULL: {
    'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer' } },
  },
}

/**
 * Defines a route: the createRoute() config of @hono/zod-openapi (`path` in OpenAPI form,
 * `/api/workers/{id}`; request schemas; the success answers) with Shepherd's facts, and the handler,
 * which must answer one of the success answers (thrown ShepherdErrors become the error answers).
 * A route without `request.query` takes no query parameters.
 * @example
 * ```ts
 * defineRoute(
 *   { method: 'get', path: '/api/workers', operationId: 'listWorkers', tag: 'workers', summary: 'Every worker',
 *     responses: { 200: json(WorkersResponseSchema, 'The workers.') } },
 *   (c) => c.json({ workers: c.var.ctx.supervisor.listWorkers() }, 200),
 * )
 * ```
 */
export function defineRoute<const R extends RouteConfig>(
  spec: R & RouteFacts,
  handler: RouteHandler<R, ApiEnv>,
): ApiRoute {
  const { tag, errors = [], ...route } = spec
  const scope: ApiScope = route.method === 'get' ? 'read' : 'control'
  const hasBody = route.request?.body !== undefined
  const codes = errorCodesOf({ scope, hasBody, errors })
  const config = createRoute({
    ...route,
    tags: [tag],
    request: { ...route.request, query: route.request?.query ?? NO_QUERY },
    responses: { ...route.responses, ...errorAnswers(codes) },
    security: route.security ?? [{ bearerAuth: [scope] }],
    ...(hasBody ? { middleware: [readJsonBody] } : {}),
  })
  return {
    config,
    errors: codes,
    scope,
    handler: handler as unknown as RouteHandler<RouteConfig, ApiEnv>,
    hook: validationHook(config),
  }
}

/** Mounts routes on the app: their validators, handlers and parts of the OpenAPI registry. */
export function mountRoutes(app: OpenAPIHono<ApiEnv>, routes: readonly ApiRoute[]): void {
  // Each definition was type-checked against its own config by defineRoute.
  for (const r of routes) app.openapi(r.config, r.handler, r.hook as never)
}

/** A JSON answer: its description, schema and headers (name → description). */
export function json<S extends z.ZodType>(
  schema: S,
  description: string,
  headers?: Record<string, string>,
): {
  description: string
  content: { 'application/json': { schema: S } }
  headers?: Record<string, { description: string; schema: { type: 'string' } }>
} {
  return {
    description,
    content: { 'application/json': { schema } },
    ...(headers && {
      headers: Object.fromEntries(
        Object.entries(headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' as const } }]),
      ),
    }),
  }
}

/** A JSON request body. */
export function jsonBody<S extends z.ZodType>(
  schema: S,
  required: boolean,
): { required: boolean; content: { 'application/json': { schema: S } } } {
  return { required, content: { 'application/json': { schema } } }
}

/** The codes a route can answer with: its own and those that come with what it takes. */
export function errorCodesOf(route: {
  scope: ApiScope
  hasBody: boolean
  errors: readonly ErrorCode[]
}): ErrorCode[] {
  const codes = new Set<ErrorCode>(['SHEPHERD_UNAUTHORIZED'])
  if (route.scope === 'control') codes.add('SHEPHERD_FORBIDDEN')
  // What a web page could forge is refused on every route (request-guard.ts).
  codes.add('SHEPHERD_HOST_NOT_ALLOWED')
  codes.add('SHEPHERD_ORIGIN_NOT_ALLOWED')
  // Every route refuses a query parameter it does not take, or one given twice.
  codes.add('SHEPHERD_BAD_REQUEST')
  if (route.hasBody) {
    codes.add('SHEPHERD_UNSUPPORTED_MEDIA_TYPE')
    codes.add('SHEPHERD_PAYLOAD_TOO_LARGE')
  }
  for (const c of route.errors) codes.add(c)
  codes.add('SHEPHERD_INTERNAL')
  return [...codes]
}

/** The error answers of a route, by status: the codes of each, with the error body narrowed to them. */
function errorAnswers(codes: readonly ErrorCode[]): Record<number, object> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of codes) {
    const status = ErrorRegistry[code].status
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  const out: Record<number, object> = {}
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const headers = Object.assign({}, ...list.map((c) => ERROR_HEADERS[c] ?? {})) as Record<string, object>
    out[status] = {
      description: list.map((c) => `${c}: ${ErrorRegistry[c].summary}`).join(' '),
      content: {
        'application/json': {
          schema: ErrorBodySchema.and(
            z.object({ error: z.object({ code: z.enum(list as [ErrorCode, ...ErrorCode[]]) }) }),
          ),
        },
      },
      ...(Object.keys(headers).length > 0 && { headers }),
    }
  }
  return out
}

/**
 * Reads the JSON body of a route that takes one, before its validator: an empty body is `{}` (a
 * restart without options), and a body that is not JSON is refused in Shepherd's words rather than
 * the validator's.
 */
const readJsonBody: MiddlewareHandler = async (c, next) => {
  const text = await c.req.text()
  if (text.trim() === '') {
    // The validator parses the text Hono keeps of the body: hand it the empty object instead.
    // (Hono keeps the promise of the text; its type says string.)
    c.req.bodyCache.text = Promise.resolve('{}') as unknown as string
  } else {
    try {
      JSON.parse(text)
    } catch (cause) {
      throw new ShepherdError('SHEPHERD_BAD_REQUEST', 'body is not valid JSON', {
        cause,
        details: { reason: coerceError(cause).message },
      })
    }
  }
  await next()
}

/**
 * The hook the validators call: a part that fails its schema is refused with one
 * SHEPHERD_BAD_REQUEST naming every problem, in the words of src/validation.ts. The part is read
 * again from the request and described with the schema (the validator's own issues carry zod's
 * default messages).
 */
function validationHook(config: RouteConfig): ValidationHook {
  return async (result, c) => {
    if (result.success) return undefined
    const error =
      result.target === 'query'
        ? queryError(config.request?.query ?? NO_QUERY, c)
        : result.target === 'param'
          ? partError('path', config.request?.params, c.req.param())
          : result.target === 'json'
            ? partError('body', bodySchema(config), await c.req.json())
            : undefined
    throw error ?? new ShepherdError('SHEPHERD_BAD_REQUEST', `${result.target}: ${result.error.message}`)
  }
}

/**
 * The query, by the one rule of every route: each parameter the schema names, at most once;
 * anything else is refused naming it. A parameter given twice is refused rather than one of its
 * values silently taken.
 */
function queryError(schema: z.ZodType, c: Context): ShepherdError | undefined {
  const all = c.req.queries()
  const first = Object.fromEntries(Object.entries(all).map(([k, values]) => [k, values[0]]))
  const parsed = parseWith(schema, first, { root: 'query', noun: 'parameter' })
  if (!parsed.success) return requestError(parsed.issues)
  const repeated: RequestIssue[] = Object.entries(all)
    .filter(([, values]) => values.length > 1)
    .map(([k, values]) => ({ path: `query.${k}`, message: `expected one value, got ${values.length}` }))
  if (repeated.length === 0) return undefined
  return new ShepherdError(
    'SHEPHERD_BAD_REQUEST',
    repeated.map((i) => `${i.path}: ${i.message}`).join('; '),
    {
      details: { issues: repeated },
    },
  )
}

function partError(
  part: 'path' | 'body',
  schema: z.ZodType | undefined,
  value: unknown,
): ShepherdError | undefined {
  if (!schema) return undefined
  const parsed = parseWith(describedBy(schema, value), value, {
    root: part,
    noun: part === 'body' ? 'key' : 'parameter',
  })
  return parsed.success ? undefined : requestError(parsed.issues)
}

function bodySchema(config: RouteConfig): z.ZodType | undefined {
  const media = config.request?.body?.content['application/json']
  const schema = media && 'schema' in media ? media.schema : undefined
  return schema instanceof z.ZodType ? schema : undefined
}

/**
 * The schema a value is described by: for a union of objects (a job, or a batch of jobs), the
 * option that shares the most keys with the value, so that its problems are named against the
 * shape it was meant to have rather than "matches none of them".
 */
function describedBy(schema: z.ZodType, value: unknown): z.ZodType {
  if (!(schema instanceof z.ZodUnion)) return schema
  const options = schema.options as readonly z.ZodType[]
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return options[0]!
  const keys = Object.keys(value)
  const shared = (o: z.ZodType) =>
    o instanceof z.ZodObject ? keys.filter((k) => Object.hasOwn(o.shape, k)).length : -1
  return options.reduce((best, o) => (shared(o) > shared(best) ? o : best), options[0]!)
}
