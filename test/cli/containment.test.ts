/**
 * `shepherd start` against workers whose descendants outlive them, hold their stdout, or leave
 * their process group: the supervisor still exits after SIGTERM, and (where the containment can
 * see them) nothing the workers started survives a death, a shutdown or a SIGKILL of the
 * supervisor.
 */
import assert from 'node:assert/strict'
import { readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'

import { stringify } from 'yaml'

import { freePort, type RunningCli, startCli } from '../helpers/cli.js'
import { fixture, NODE, tempDir } from '../helpers/daemon.js'
import { markedProcesses, newMark } from '../helpers/marked.js'
import { waitFor } from '../helpers/wait.js'

/** Generous: a 2-core machine shared with other test runs. */
const EXIT_BOUND_MS = 30_000

async function setUp(
  t: TestContext,
  workers: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<{ dir: string; config: string; port: number }> {
  const dir = tempDir(t)
  const config = path.join(dir, 'shepherd.yaml')
  const port = await freePort()
  writeFileSync(
    config,
    stringify({
      // The first restart after a crash is immediate, the next one waits retry_delay: the second
      // death leaves the worker in a long backoff.
      recovery: { check_interval: '500ms', retry_delay: '60s', min_uptime: '300ms' },
      api: { port },
      log: { level: 'info' },
      workers,
      ...extra,
    }),
  )
  return { dir, config, port }
}

/** Resolves with the exit code, or null if the process is still running after `ms`. */
async function exitWithin(sup: RunningCli, ms: number): Promise<number | null | 'running'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), ms)))
  const code = await Promise.race([sup.exited, late])
  clearTimeout(timer)
  return code
}

async function workerStates(port: number): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/workers`)
  const body = (await res.json()) as { workers: Array<{ state: string }> }
  return body.workers.map((w) => w.state)
}

const kidFiles = (dir: string): string[] => readdirSync(dir).filter((f) => /^kids-\d+$/.test(f))

for (const containment of ['auto', 'process_groups'] as const) {
  describe(`shepherd start with containment: ${containment}`, () => {
    it('exits after SIGTERM while a crash-looping worker’s descendants hold its stdout', async (t) => {
      const mark = newMark(t)
      const { dir, config, port } = await setUp(
        t,
        {
          stray: {
            command: 'sh',
            args: [fixture('setsid-children.sh'), '3', 'exit'],
            env: { SHEPHERD_TEST_MARK: mark },
          },
        },
        // auto is the default: the file says nothing, as most files will.
        containment === 'auto' ? {} : { containment },
      )
      const sup = startCli(t, ['start', '-c', config])
      // Two deaths: an immediate restart after the first, then a 60 s backoff.
      await waitFor(() => kidFiles(dir).length >= 2, 'the worker to die twice', 30_000)
      await waitFor(
        async () => (await workerStates(port))[0] === 'restarting',
        'the worker to wait in its backoff',
        30_000,
        100,
      )
      // The log says which containment is in force.
      assert.match(
        sup.log(),
        containment === 'auto'
          ? /"containment: cgroup \/[^"]*\/shepherd\/\d+-[0-9a-f]+"/
          : /"containment: process groups"/,
      )
      sup.child.kill('SIGTERM')
      const code = await exitWithin(sup, EXIT_BOUND_MS)
      assert.equal(
        code,
        0,
        `shepherd start is still running ${EXIT_BOUND_MS} ms after SIGTERM:\n${sup.log()}`,
      )
      assert.match(sup.log(), /shepherd stopped/)
      // The exit is owed to the pipes being let go, not to the last-resort exit.
      assert.doesNotMatch(sup.log(), /still open after shepherd stopped/)
      if (containment === 'auto') {
        await waitFor(
          () => markedProcesses(mark).length === 0,
          'every descendant of the worker to be gone',
          10_000,
        )
      }
    })
  })
}

describe('the supervisor killed with SIGKILL, without cgroups', () => {
  it('takes its workers and their process groups with it', { timeout: 90_000 }, async (t) => {
    const mark = newMark(t)
    const env = { SHEPHERD_TEST_MARK: mark }
    const { config, port } = await setUp(
      t,
      {
        plain: { command: NODE, args: [fixture('forever.mjs')], replicas: 2, env },
        // A worker with a child in its process group (setsid children would escape: see docs).
        family: { command: 'sh', args: [fixture('setsid-children.sh'), '0'], env },
      },
      { containment: 'process_groups' },
    )
    const sup = startCli(t, ['start', '-c', config])
    await waitFor(
      async () => {
        try {
          const states = await workerStates(port)
          return states.length === 3 && states.every((s) => s === 'ready')
        } catch {
          return false
        }
      },
      'every worker ready',
      30_000,
      100,
    )
    assert.ok(markedProcesses(mark).length >= 4, 'three workers and a child')
    sup.child.kill('SIGKILL')
    await sup.exited
    await waitFor(
      () => markedProcesses(mark).length === 0,
      'every worker and child of the dead supervisor to be gone',
      20_000,
    )
  })
})
