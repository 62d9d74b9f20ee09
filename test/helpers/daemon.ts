/**
 * Runs a real daemon (real processes, real SQLite file, real HTTP API on a free port) on a config
 * written to a temp dir, and records every event so tests can wait for what they expect.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'

import { parse, stringify } from 'yaml'

import { type CliIo, main } from '../../src/cli/main.js'
import { loadConfigFile } from '../../src/config/load.js'
import type { AnyEvent, EventType } from '../../src/core/events.js'
import { type Daemon, startDaemon } from '../../src/daemon.js'

export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures')
export const NODE = process.execPath

export function fixture(name: string): string {
  return path.join(FIXTURES, name)
}

export interface TestDaemon {
  daemon: Daemon
  /** The agent's node name (SHEPHERD_NODE, node.name or the host name). */
  node: string
  dir: string
  configFile: string
  events: AnyEvent[]
  /** Resolves with the first event (already seen or future) that matches. */
  waitForEvent<T extends EventType>(
    type: T,
    match?: (e: Extract<AnyEvent, { type: T }>) => boolean,
    timeoutMs?: number,
  ): Promise<Extract<AnyEvent, { type: T }>>
  eventsOf<T extends EventType>(type: T): Extract<AnyEvent, { type: T }>[]
}

export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Starts a daemon on `config` (the api, store and logs keys are filled in) and stops it after the test. */
export async function startTestDaemon(t: TestContext, config: Record<string, unknown>): Promise<TestDaemon> {
  const dir = tempDir(t)
  const configFile = path.join(dir, 'shepherd.yaml')
  const full = {
    api: { port: 0 },
    log: { level: 'warn' },
    ...config,
  }
  writeFileSync(configFile, stringify(full))
  const sink = new Writable({ write: (_c, _e, cb) => cb() })
  const loaded = loadConfigFile(configFile)
  const daemon = await startDaemon(loaded, { logDestination: sink })
  const events: AnyEvent[] = []
  const waiters = new Set<(e: AnyEvent) => void>()
  daemon.onEvent((e) => {
    events.push(e)
    for (const w of [...waiters]) w(e)
  })
  t.after(() => daemon.stop('test finished', true))

  const td: TestDaemon = {
    daemon,
    node: loaded.node.name,
    dir,
    configFile,
    events,
    eventsOf: (type) => events.filter((e) => e.type === type) as never,
    waitForEvent(type, match = () => true, timeoutMs = 20_000) {
      const hit = events.find((e) => e.type === type && match(e as never))
      if (hit) return Promise.resolve(hit as never)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(listener)
          reject(new Error(`timed out after ${timeoutMs} ms waiting for a ${type} event`))
        }, timeoutMs)
        const listener = (e: AnyEvent): void => {
          if (e.type === type && match(e as never)) {
            clearTimeout(timer)
            waiters.delete(listener)
            resolve(e as never)
          }
        }
        waiters.add(listener)
      })
    },
  }
  return td
}

/**
 * One scrape of the daemon's /metrics, as a map from `name{labels}` to value. Every series must
 * carry the agent's node (`node="…"`, the registry's default label); the keys leave it out, so that
 * tests name the labels of their own.
 */
export async function scrapeMetrics(td: TestDaemon): Promise<Map<string, number>> {
  const res = await fetch(`${td.daemon.apiUrl}/metrics`)
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  const out = new Map<string, number>()
  const node = `node="${td.node.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    const series = line.slice(0, at)
    const labels = /\{(.*)\}$/.exec(series)?.[1]?.split(/,(?=[a-z_]+=")/) ?? []
    assert.ok(labels.includes(node), `${series} carries ${node}`)
    const own = labels.filter((l) => l !== node)
    const key = `${series.slice(0, series.indexOf('{'))}${own.length > 0 ? `{${own.join(',')}}` : ''}`
    out.set(key, Number(line.slice(at + 1)))
  }
  return out
}

/** The sum of every series of a metric whose labels include all of `labels`. */
export function metricSum(m: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const [key, value] of m) {
    const brace = key.indexOf('{')
    if ((brace < 0 ? key : key.slice(0, brace)) !== name) continue
    if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) total += value
  }
  return total
}

/**
 * The daemon's config with the port it bound (the test daemon asks for port 0), beside it, so
 * that the CLI reaches the same API and the same store.
 */
export function cliConfig(td: TestDaemon): string {
  const config = parse(readFileSync(td.configFile, 'utf8')) as { api: { port: number } }
  config.api.port = Number(new URL(td.daemon.apiUrl).port)
  const file = path.join(td.dir, 'cli.yaml')
  writeFileSync(file, stringify(config))
  return file
}

/** Runs the CLI in this process (beside the daemon) and returns what it printed. */
export async function cliInProcess(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const io: CliIo = {
    out: (t) => void (out += `${t}\n`),
    err: (t) => void (err += `${t}\n`),
    color: false,
    env: {},
    onInterrupt: () => () => undefined,
  }
  const code = await main(args, io)
  return { code, out, err }
}
