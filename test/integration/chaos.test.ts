/**
 * A few thousand jobs through a pool while faults are injected at random (seeded): workers killed,
 * frozen with SIGSTOP, restarted by hand. Afterwards the ledger of finished jobs must show that
 * nothing was lost and that a job only ever ran twice when it was in flight at a fault.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

import { loadConfigFile } from '../../src/config/load.js'
import { seededRandom } from '../../src/ports/clock.js'
import { Queue } from '../../src/queue/queue.js'
import { fixture, NODE, startTestDaemon } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

const SEED = Number(process.env.CHAOS_SEED ?? 20261128)
const JOBS = 2000
const FAULTS = 24

describe('chaos', () => {
  it(
    `loses no job among ${JOBS} while ${FAULTS} faults are injected (seed ${SEED})`,
    { timeout: 180_000 },
    async (t) => {
      const random = seededRandom(SEED)
      const td = await startTestDaemon(t, {
        recovery: {
          check_interval: '250ms',
          retry_delay: '50ms',
          max_retry_delay: '200ms',
          stable_after: '500ms',
          restart_limit: { max: 1000, window: 60 },
        },
        queues: { work: { poison_threshold: 1000 } },
        workers: {
          jobs: {
            command: NODE,
            args: [fixture('sdk-jobs.mjs')],
            queue: 'work',
            replicas: 3,
            concurrency: 4,
            hang_timeout: '1s',
            stop_timeout: 3,
            env: { LEDGER: './ledger.txt' },
          },
        },
      })
      const queue = new Queue(td.daemon.store, loadConfigFile(td.configFile))
      const added = await queue.addMany(
        'work',
        Array.from({ length: JOBS }, (_, i) => ({
          payload: { op: 'sleep', ms: 1 + Math.floor(random() * 8), i },
        })),
      )
      const ids = new Set(added.map((a) => a.id))
      const ledgerFile = path.join(td.dir, 'ledger.txt')
      const ledger = () =>
        existsSync(ledgerFile) ? readFileSync(ledgerFile, 'utf8').trim().split('\n').filter(Boolean) : []

      const injected: string[] = []
      for (let f = 0; f < FAULTS; f++) {
        await new Promise((r) => setTimeout(r, 60 + random() * 200))
        const serving = td.daemon.supervisor
          .listWorkers()
          .filter((w) => w.state === 'ready' && w.pid !== null)
        if (serving.length === 0) continue
        const victim = serving[Math.floor(random() * serving.length)]!
        const kind = ['SIGKILL', 'SIGSTOP', 'restart', 'hard-restart'][Math.floor(random() * 4)]!
        try {
          if (kind === 'SIGKILL' || kind === 'SIGSTOP') process.kill(victim.pid!, kind)
          else await td.daemon.supervisor.restartWorker(victim.id, { hard: kind === 'hard-restart' })
          injected.push(`${kind} ${victim.id}`)
        } catch {
          // The worker was already being recovered: that fault is skipped.
        }
      }
      await waitFor(
        async () => (await queue.counts('work'))[0]!.done === JOBS,
        `all ${JOBS} jobs done`,
        120_000,
        100,
      )
      const [counts] = await queue.counts('work')
      assert.equal(counts!.inFlight, 0)
      assert.equal(counts!.quarantined + counts!.deadLettered, 0)
      assert.ok(injected.length >= FAULTS / 2, `faults injected: ${injected.length}`)

      const runs = new Map<string, number>()
      for (const line of ledger()) {
        const id = line.split(' ')[0]!
        assert.ok(ids.has(id), `unknown job ${id}`)
        runs.set(id, (runs.get(id) ?? 0) + 1)
      }
      assert.equal(runs.size, JOBS, 'every job finished at least once')
      for (const [id, n] of runs) {
        if (n === 1) continue
        const job = (await td.daemon.store.jobs.getJob(id))!
        // Ran more than once: it must have been in flight at a fault (a crash, or a hang and its kill).
        assert.ok(
          job.delivery > 1 && job.crashes > 0,
          `job ${id} ran ${n} times without a fault: ${JSON.stringify(job)}`,
        )
      }
      t.diagnostic(
        `faults: ${injected.join(', ')}; jobs run twice: ${[...runs.values()].filter((n) => n > 1).length}`,
      )
    },
  )
})
