/**
 * The supervisor itself killed with SIGKILL under load, then started again: no job is lost, none
 * is left in flight, duplicates come only from jobs in flight at the crash, and no worker of the
 * dead supervisor is left running.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

import { stringify } from 'yaml'

import { Queue } from '../../src/queue/queue.js'
import { freePort, startCli } from '../helpers/cli.js'
import { fixture, NODE, tempDir } from '../helpers/daemon.js'
import { isGone, waitFor } from '../helpers/wait.js'

async function api<T>(port: number, route: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${route}`)
  return (await res.json()) as T
}

describe('the supervisor killed with SIGKILL', () => {
  it('loses no job, leaves none in flight, and leaves no worker running', { timeout: 120_000 }, async (t) => {
    const dir = tempDir(t)
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
            env: { LEDGER: './ledger.txt' },
          },
          // No SDK: it does not notice the supervisor's death and must be found and stopped.
          plain: { command: NODE, args: [fixture('forever.mjs')] },
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
    const orphan = before.find((w) => w.id === 'plain#1')!.pid!
    const jobWorkers = before.filter((w) => w.id.startsWith('jobs#')).map((w) => w.pid!)
    first.child.kill('SIGKILL')
    await first.exited
    // SDK workers notice the closed channel and leave; the plain one runs on.
    await waitFor(() => jobWorkers.every(isGone), 'the SDK workers to exit by themselves', 20_000)
    assert.ok(!isGone(orphan), 'a worker without the SDK outlives the supervisor')

    const second = startCli(t, ['start', '-c', config])
    await waitFor(() => isGone(orphan), 'the orphan to be stopped by the next supervisor', 30_000)
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
