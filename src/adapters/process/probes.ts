/**
 * Liveness probes in the manner of Kubernetes: an HTTP GET, a TCP connect, or a command.
 * @module
 */
import { connect } from 'node:net'

import type { ProbeConfig } from '../../config/schema.js'
import { coerceError } from '../../errors.js'
import type { TimerPort } from '../../ports/clock.js'
import type { ProbeResult, ProbeVars } from '../../ports/process.js'
import { systemClock } from '../system-clock.js'
import { nodeTimers } from '../timers.js'
import { describeSpawnFailure, runCommand } from './run-command.js'

export type { ProbeResult, ProbeVars }

/** Only this much of an exec probe's stderr is kept: the detail shows its first line. */
const MAX_STDERR_CHARS = 4096

/** The time a probe runs on. */
export interface ProbeTime {
  /** Measures `durationMs`. */
  now: () => number
  /** Arms the time limits. */
  timers: TimerPort
}

/** The real clock and timers. */
const REAL_TIME: ProbeTime = { now: systemClock.now, timers: nodeTimers }

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
export async function runProbe(
  probe: ProbeConfig,
  vars: ProbeVars,
  time: ProbeTime = REAL_TIME,
): Promise<ProbeResult> {
  const started = time.now()
  let outcome: { ok: boolean; detail: string }
  try {
    outcome = await probeOnce(probe, vars, time.timers)
  } catch (e) {
    outcome = { ok: false, detail: coerceError(e).message }
  }
  return { ...outcome, durationMs: Math.round(time.now() - started) }
}

async function probeOnce(
  probe: ProbeConfig,
  vars: ProbeVars,
  timers: TimerPort,
): Promise<{ ok: boolean; detail: string }> {
  switch (probe.type) {
    case 'http':
      return httpProbe(fillPlaceholders(probe.url, vars, encodeURIComponent), probe.timeout, timers)
    case 'tcp':
      return tcpProbe(
        fillPlaceholders(probe.host, vars),
        parsePort(fillPlaceholders(String(probe.port), vars)),
        probe.timeout,
        timers,
      )
    case 'exec':
      return execProbe(
        probe.command,
        probe.args.map((a) => fillPlaceholders(a, vars)),
        probe.timeout,
        timers,
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

async function httpProbe(
  url: string,
  timeoutMs: number,
  timers: TimerPort,
): Promise<{ ok: boolean; detail: string }> {
  if (!URL.canParse(url)) return { ok: false, detail: `invalid URL "${url}"` }
  const ctrl = new AbortController()
  const timer = timers.set(() => ctrl.abort(new DOMException('timed out', 'TimeoutError')), timeoutMs)
  try {
    const res = await fetch(url, { signal: ctrl.signal })
    // Release the connection without reading a body nobody looks at.
    await res.body?.cancel().catch(() => undefined)
    const ok = res.status >= 200 && res.status < 300
    return { ok, detail: `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}` }
  } catch (e) {
    return { ok: false, detail: describeFetchError(e, timeoutMs) }
  } finally {
    timers.clear(timer)
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

function tcpProbe(
  host: string,
  port: number,
  timeoutMs: number,
  timers: TimerPort,
): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const finish = (ok: boolean, detail: string): void => {
      timers.clear(timer)
      socket.destroy()
      resolve({ ok, detail })
    }
    const timer = timers.set(
      () => finish(false, `timed out after ${timeoutMs} ms connecting to ${host}:${port}`),
      timeoutMs,
    )
    socket.once('connect', () => finish(true, `connected to ${host}:${port}`))
    socket.once('error', (err) => finish(false, `${describeNetError(err)} at ${host}:${port}`))
  })
}

async function execProbe(
  command: string,
  args: string[],
  timeoutMs: number,
  timers: TimerPort,
): Promise<{ ok: boolean; detail: string }> {
  // Own process group, so a timeout also kills whatever the command started (a `sh -c` pipeline).
  const r = await runCommand({
    command,
    args,
    cwd: process.cwd(),
    timeoutMs,
    timers,
    stderr: { keep: 'head', chars: MAX_STDERR_CHARS },
  })
  switch (r.kind) {
    case 'not-started':
      return { ok: false, detail: `cannot run "${command}": ${describeSpawnFailure(r.error)}` }
    case 'stopped': {
      // At the time limit: a probe has no other stop.
      const line = firstLine(r.stderr)
      return { ok: false, detail: `timed out after ${timeoutMs} ms${line ? `: ${line}` : ''}` }
    }
    case 'exited': {
      const line = firstLine(r.stderr)
      const how = r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`
      return { ok: r.code === 0, detail: line ? `${how}: ${line}` : how }
    }
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!.trim()
}
