/**
 * The supervisor itself killed with SIGKILL under load, then started again: no job is lost, none
 * is left in flight, duplicates come only from jobs in flight at the crash, and no worker of the
 * dead supervisor, nor anything a worker started, is left running, even before another supervisor
 * starts.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

import { stringify } from 'yaml'

import { Queue } from '../../src/queue/queue.js'
import { freePort, startCli } from '../helpers/cli.js'
import { fixture, NODE, tempDir } from '../helpers/daemon.js'
import { markedProcesses, newMark } from '../helpers/marked.js'
import { isGone, waitFor } from '../helpers/wait.js'

async function api<T>(port: number, route: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${route}`)
  return (await res.json()) as T
}

describe('the supervisor killed with SIGKILL', () => {
  it('loses no job, leaves none in flight, and leaves no worker running', { timeout: 120_000 }, async (t) => {
    const dir = tempDir(t)
    const mark = newMark(t)
    const config = path.join(dir, 'shepherd.yaml')
    const port = await freePort()
    writeFileSync(
      config,
      stringify({
        recovery: { check_interval: '500ms', min_uptime: '300ms' },
        api: { port },
        log: { level: 'warn' },
        workers: {
          jobs: {
            command: NODE,
            args: [fixture('sdk-jobs.mjs')],
            queue: 'work',
            replicas: 2,
            concurrency: 4,
            env: { LEDGER: './ledger.txt', SHEPHERD_TEST_MARK: mark },
          },
          // No SDK: it does not notice the supervisor's death.
          plain: { command: NODE, args: [fixture('forever.mjs')], env: { SHEPHERD_TEST_MARK: mark } },
          // No SDK either, and children that leave its process group and session.
          family: {
            command: 'sh',
            args: [fixture('setsid-children.sh'), '5'],
            env: { SHEPHERD_TEST_MARK: mark },
          },
        },
      }),
    )
    const queue = await Queue.open(config)
    t.after(() => queue.close())
    const jobs = await queue.addMany(
      'work',
      Array.from({ length: 400 }, (_, i) => ({ payload: { op: 'sleep', ms: 15, i } })),
    )
    const ids = new Set(jobs.map((j) => j.id))
    const ledger = () => {
      const file = path.join(dir, 'ledger.txt')
      return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []
    }

    const first = startCli(t, ['start', '-c', config])
    await waitFor(() => ledger().length >= 60, 'the first jobs to be done', 60_000)
    type Workers = { workers: Array<{ id: string; pid: number | null }> }
    const before = (await api<Workers>(port, '/api/workers')).workers
    const pids = before.map((w) => w.pid!)
    await waitFor(() => markedProcesses(mark).length >= pids.length + 6, 'the children of family#1', 20_000)
    first.child.kill('SIGKILL')
    await first.exited
    // No other supervisor runs on this store: what ties the workers to the dead one does it alone.
    await waitFor(() => pids.every(isGone), 'every worker of the dead supervisor to be gone', 20_000)
    await waitFor(
      () => markedProcesses(mark).length === 0,
      'every descendant of those workers to be gone',
      20_000,
    )

    const second = startCli(t, ['start', '-c', config])
    await waitFor(
      async () => {
        const [c] = await queue.counts('work')
        return c!.done === 400
      },
      'every job to be done',
      90_000,
    )
    const [counts] = await queue.counts('work')
    assert.equal(counts!.inFlight, 0)
    assert.equal(counts!.waiting + counts!.delayed, 0)

    const lines = ledger()
    const seen = new Map<string, number[]>()
    for (const l of lines) {
      const [id, delivery] = l.split(' ')
      assert.ok(ids.has(id!), `unknown job ${id}`)
      seen.set(id!, [...(seen.get(id!) ?? []), Number(delivery)])
    }
    assert.equal(seen.size, 400, 'every job was done at least once')
    for (const [id, deliveries] of seen) {
      if (deliveries.length === 1) continue
      // Done twice: it was in flight at the crash, released at the restart and delivered again.
      assert.deepEqual(deliveries.sort(), [1, 2], `job ${id}: ${deliveries}`)
    }
    second.child.kill('SIGTERM')
    await second.exited
  })
})
