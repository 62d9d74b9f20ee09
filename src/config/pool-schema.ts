/**
 * A pool of workers (`workers.<name>`): its command, replicas and spares, probes, timeouts, queue,
 * and its overrides of the recovery, thresholds and strategies blocks. A section of the one config
 * schema (schema.ts).
 * @module
 */
import { z } from 'zod'

import { PoolNodesSchema } from './node-schema.js'
import { optionalAll, recoveryFields, strategyFields, thresholdFields } from './policy-schema.js'
import { duration } from './units.js'

/** An env value. load.ts hands over a number or boolean as its source text; one from code is stringified. */
const envValue = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v))

const probeCommon = {
  interval: duration({ positive: true }).prefault(10).describe('Time between probes.'),
  timeout: duration({ positive: true }).prefault(2).describe('A probe that takes longer fails.'),
  failure_threshold: z
    .number()
    .int()
    .min(1)
    .prefault(3)
    .describe('Consecutive failures that make the worker unhealthy.'),
  initial_delay: duration().prefault(0).describe('Wait after the worker starts before the first probe.'),
}

export const ProbeSchema = z
  .discriminatedUnion('type', [
    z
      .strictObject({
        type: z.literal('http'),
        url: z
          .string()
          .min(1)
          .describe(
            'URL to GET; 2xx passes. Placeholders: {port} (the worker’s PORT), {index}, {pid}, {id}.',
          ),
        ...probeCommon,
      })
      .describe('HTTP GET probe.'),
    z
      .strictObject({
        type: z.literal('tcp'),
        host: z.string().min(1).prefault('127.0.0.1').describe('Host to connect to.'),
        port: z
          .union([z.number().int().min(1).max(65535), z.string().min(1)])
          .describe('Port, or a placeholder string such as "{port}".'),
        ...probeCommon,
      })
      .describe('TCP connect probe.'),
    z
      .strictObject({
        type: z.literal('exec'),
        command: z.string().min(1).describe('Command run without a shell; exit 0 passes.'),
        args: z.array(z.string()).prefault([]).describe('Its arguments; placeholders as for http.'),
        ...probeCommon,
      })
      .describe('Command probe.'),
  ])
  .describe(
    'A liveness probe in the manner of Kubernetes. It also serves readiness: a restarted worker with probes is ready once every probe has passed.',
  )

/**
 * Most workers (and, apart, most warm spares) one pool may have. Each is a process with its pipes,
 * /proc samples and timers; far past any one host's sensible count, and a typo such as 50000 is
 * refused rather than tried.
 */
export const MAX_REPLICAS = 1000

const workerCount = () => z.number().int().min(1).max(MAX_REPLICAS)

const Replicas = z
  .union([
    workerCount(),
    z.strictObject({
      min: workerCount().describe('Workers the pool never goes below.'),
      max: workerCount().describe('Workers scale recovery may grow the pool to.'),
    }),
  ])
  .transform((v, ctx) => {
    const r = typeof v === 'number' ? { min: v, max: v } : v
    if (r.max < r.min) {
      ctx.addIssue({ code: 'custom', message: `expected max ≥ min, got min ${r.min} and max ${r.max}` })
      return z.NEVER
    }
    return r
  })
  .describe('How many workers: a number, or { min, max }. The pool starts min workers.')

export const PoolSchema = z
  .strictObject({
    command: z.string().min(1).describe('Executable to run, found on PATH or relative to cwd.'),
    args: z
      .array(z.string())
      .prefault([])
      .describe('Arguments, passed as they are (without a shell; with shell: true, as $1, $2, …).'),
    shell: z
      .boolean()
      .prefault(false)
      .describe(
        'Run command through /bin/sh -c (pipes, redirections, $VARS), with args as $1, $2, …. Off by default: without a shell nothing in command or args is ever interpreted. Turn it on only for a command string you wrote yourself (docs/security.md).',
      ),
    cwd: z
      .string()
      .optional()
      .describe('Working directory, relative to the config file. Default: the config file’s directory.'),
    env: z
      .record(z.string(), envValue)
      .prefault({})
      .describe(
        'Extra environment variables, given to the worker as the file writes them: `01234`, `1.10`, `0x1F` and 12345678901234567890 stay those characters (YAML alone would read numbers: 1234, 1.1, 31, digits lost). An empty value is written "". Workers also get SHEPHERD_WORKER_ID, SHEPHERD_POOL, SHEPHERD_INDEX, SHEPHERD_HEARTBEAT_MS and, with port set, PORT.',
      ),
    replicas: Replicas.prefault(1),
    spares: z
      .number()
      .int()
      .min(0)
      .max(MAX_REPLICAS)
      .prefault(0)
      .describe(
        'Warm spares: workers kept started and ready but idle. A spare takes a dead worker’s place at once and a new spare starts in the background.',
      ),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('Base port. Each live process of the pool gets PORT = port + the lowest free offset.'),
    stop_timeout: duration()
      .prefault(30)
      .describe(
        'Time between SIGTERM and SIGKILL. 30 s lets real work drain (PM2’s 1.6 s default kills jobs mid-way; Kubernetes also uses 30 s).',
      ),
    hang_timeout: duration({ positive: true })
      .prefault(10)
      .describe(
        'A worker is hung when its SDK heartbeats stop, or its process stays stopped (SIGSTOP) or in uninterruptible sleep, for this long.',
      ),
    probes: z.array(ProbeSchema).prefault([]).describe('Liveness probes, all of which must pass.'),
    nodes: PoolNodesSchema,
    queue: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'expected a queue name of letters, digits, "_", "." or "-"')
      .optional()
      .describe(
        'The queue whose jobs this pool works on (through the worker SDK’s work() or the JSON-lines protocol).',
      ),
    concurrency: z.number().int().min(1).prefault(1).describe('Jobs a worker of this pool holds at once.'),
    recovery: z
      .strictObject(optionalAll(recoveryFields()))
      .optional()
      .describe('Overrides of the top-level recovery block.'),
    thresholds: z
      .strictObject(optionalAll(thresholdFields()))
      .optional()
      .describe('Overrides of the top-level thresholds block.'),
    strategies: z
      .strictObject(optionalAll(strategyFields()))
      .optional()
      .describe('Overrides of the top-level strategies block.'),
  })
  .describe('A pool of identical workers.')
