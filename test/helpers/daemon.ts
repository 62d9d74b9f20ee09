/**
 * Runs a real daemon (real processes, real SQLite file, real HTTP API on a free port) on a config
 * written to a temp dir, and records every event so tests can wait for what they expect.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'

import { stringify } from 'yaml'

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
  const daemon = await startDaemon(loadConfigFile(configFile), { logDestination: sink })
  const events: AnyEvent[] = []
  const waiters = new Set<(e: AnyEvent) => void>()
  daemon.onEvent((e) => {
    events.push(e)
    for (const w of [...waiters]) w(e)
  })
  t.after(() => daemon.stop('test finished', true))

  const td: TestDaemon = {
    daemon,
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
