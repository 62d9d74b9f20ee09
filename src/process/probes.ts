/**
 * Liveness probes in the manner of Kubernetes: an HTTP GET, a TCP connect, or a command.
 * @module
 */
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { performance } from 'node:perf_hooks'

import type { ProbeConfig } from '../config/schema.js'
import { coerceError } from '../errors.js'

/** What a probe can refer to through `{port}`, `{index}`, `{pid}` and `{id}`. */
export interface ProbeVars {
  /** The worker's PORT, when its pool gives it one. */
  port?: number
  /** The worker's index in its pool. */
  index: number
  pid: number
  /** The worker id, e.g. `email#2`. */
  id: string
}

/** The outcome of one probe. */
export interface ProbeResult {
  ok: boolean
  /** What happened, for people: `HTTP 503`, `connection refused (ECONNREFUSED)`, `exit code 1: …`. */
  detail: string
  durationMs: number
}

/** Only this much of an exec probe's stderr is kept: the detail shows its first line. */
const MAX_STDERR_BYTES = 4096

/**
 * After an exec probe exits, how long to wait for the end of its stderr. A process it started
 * outside its group may hold the pipe open forever; the first line is almost always there already.
 */
const STDERR_GRACE_MS = 100

/**
 * Runs one probe against a worker. Never rejects: every failure, including a bad placeholder, is
 * a result with `ok: false` and a detail that says why.
 *
 * @example
 * ```ts
 * const r = await runProbe({ type: 'http', url: 'http://127.0.0.1:{port}/health', timeout: 2000, ... }, { port: 3001, index: 1, pid, id: 'web#1' })
 * if (!r.ok) console.log(`probe failed: ${r.detail}`)
 * ```
 */
export async function runProbe(probe: ProbeConfig, vars: ProbeVars): Promise<ProbeResult> {
  const started = performance.now()
  let outcome: { ok: boolean; detail: string }
  try {
    outcome = await probeOnce(probe, vars)
  } catch (e) {
    outcome = { ok: false, detail: coerceError(e).message }
  }
  return { ...outcome, durationMs: Math.round(performance.now() - started) }
}

async function probeOnce(probe: ProbeConfig, vars: ProbeVars): Promise<{ ok: boolean; detail: string }> {
  switch (probe.type) {
    case 'http':
      return httpProbe(fillPlaceholders(probe.url, vars, encodeURIComponent), probe.timeout)
    case 'tcp':
      return tcpProbe(
        fillPlaceholders(probe.host, vars),
        parsePort(fillPlaceholders(String(probe.port), vars)),
        probe.timeout,
      )
    case 'exec':
      return execProbe(
        probe.command,
        probe.args.map((a) => fillPlaceholders(a, vars)),
        probe.timeout,
      )
    default: {
      const never: never = probe
      throw new Error(`unknown probe type ${JSON.stringify(never)}`)
    }
  }
}

/**
 * Replaces `{port}`, `{index}`, `{pid}`, `{id}`; throws when `{port}` is used but the worker has
 * none. `encode` escapes the values for their context: in a URL, the `#` of `email#2` would
 * otherwise start a fragment.
 */
export function fillPlaceholders(
  template: string,
  vars: ProbeVars,
  encode: (value: string) => string = (v) => v,
): string {
  return template.replace(/\{(port|index|pid|id)\}/g, (_, name: string) =>
    encode(placeholderValue(name, vars)),
  )
}

function placeholderValue(name: string, vars: ProbeVars): string {
  switch (name) {
    case 'port':
      if (vars.port === undefined) throw new Error('the probe uses {port} but the worker has no port')
      return String(vars.port)
    case 'index':
      return String(vars.index)
    case 'pid':
      return String(vars.pid)
    default:
      return vars.id
  }
}

function parsePort(text: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid port "${text}"`)
  return port
}

async function httpProbe(url: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  if (!URL.canParse(url)) return { ok: false, detail: `invalid URL "${url}"` }
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    // Release the connection without reading a body nobody looks at.
    await res.body?.cancel().catch(() => undefined)
    const ok = res.status >= 200 && res.status < 300
    return { ok, detail: `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}` }
  } catch (e) {
    return { ok: false, detail: describeFetchError(e, timeoutMs) }
  }
}

function describeFetchError(thrown: unknown, timeoutMs: number): string {
  const err = coerceError(thrown)
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `timed out after ${timeoutMs} ms`
  // undici reports network failures as TypeError('fetch failed') with the system error as cause.
  const cause = err.cause instanceof Error ? err.cause : undefined
  return cause ? describeNetError(cause) : err.message
}

function describeNetError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)'
    case 'ECONNRESET':
      return 'connection reset (ECONNRESET)'
    case 'ENOTFOUND':
      return 'host not found (ENOTFOUND)'
    default:
      return code ? `${err.message} (${code})` : err.message
  }
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const finish = (ok: boolean, detail: string): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ ok, detail })
    }
    const timer = setTimeout(
      () => finish(false, `timed out after ${timeoutMs} ms connecting to ${host}:${port}`),
      timeoutMs,
    )
    socket.once('connect', () => finish(true, `connected to ${host}:${port}`))
    socket.once('error', (err) => finish(false, `${describeNetError(err)} at ${host}:${port}`))
  })
}

function execProbe(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    // Own process group, so a timeout also kills whatever the command started (a `sh -c` pipeline).
    const child = spawn(command, args, {
      cwd: process.cwd(),
      stdio: ['ignore', 'ignore', 'pipe'],
      shell: false,
      detached: true,
    })
    let stderr = ''
    let timedOut = false
    let settled = false
    let grace: NodeJS.Timeout | undefined
    const finish = (ok: boolean, detail: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(grace)
      child.stderr?.destroy()
      resolve({ ok, detail })
    }
    const report = (code: number | null, signal: NodeJS.Signals | null): void => {
      const line = firstLine(stderr)
      if (timedOut) return finish(false, `timed out after ${timeoutMs} ms${line ? `: ${line}` : ''}`)
      const how = signal ? `killed by ${signal}` : `exit code ${code}`
      finish(code === 0, line ? `${how}: ${line}` : how)
    }
    const timer = setTimeout(() => {
      timedOut = true
      if (child.pid) killGroup(child.pid)
    }, timeoutMs)
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.slice(0, MAX_STDERR_BYTES - stderr.length)
    })
    child.stderr?.on('error', () => undefined)
    child.once('error', (err) => finish(false, describeExecError(command, err)))
    child.once('exit', (code, signal) => {
      // Whatever the command left running in its group would otherwise pile up, one per probe run.
      if (child.pid) killGroup(child.pid)
      grace = setTimeout(() => report(code, signal), STDERR_GRACE_MS)
      child.once('close', () => report(code, signal))
    })
  })
}

function describeExecError(command: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return `cannot run "${command}": command not found (ENOENT)`
  if (err.code === 'EACCES') return `cannot run "${command}": permission denied (EACCES)`
  return `cannot run "${command}": ${err.message}`
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!.trim()
}
