/**
 * Containment with a real daemon: whatever a worker started, in its process group or not, dies
 * with it, every time it dies.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

import { fixture, startTestDaemon } from '../helpers/daemon.js'
import { markedProcesses, newMark } from '../helpers/marked.js'
import { isGone, waitFor } from '../helpers/wait.js'

describe('containment of a worker’s descendants', () => {
  it('kills the 20 setsid children of a worker each time it dies', { timeout: 90_000 }, async (t) => {
    const mark = newMark(t)
    const td = await startTestDaemon(t, {
      recovery: { check_interval: '500ms', retry_delay: '200ms', min_uptime: '300ms' },
      workers: {
        kids: {
          command: 'sh',
          args: [fixture('setsid-children.sh'), '20', 'exit'],
          env: { SHEPHERD_TEST_MARK: mark },
        },
      },
    })
    for (let death = 1; death <= 3; death++) {
      const exit = await td.waitForEvent(
        'worker:exit',
        (e) => td.eventsOf('worker:exit').indexOf(e) === death - 1,
        30_000,
      )
      const { pid } = exit.data
      const file = path.join(td.dir, `kids-${pid}`)
      assert.ok(existsSync(file), `worker ${pid} recorded its children`)
      const kids = readFileSync(file, 'utf8').trim().split('\n').map(Number)
      assert.equal(kids.length, 21)
      await waitFor(
        () => kids.every(isGone),
        `every child of worker ${pid} (death ${death}) to be gone: alive ${kids.filter((k) => !isGone(k)).join(' ')}`,
        5_000,
      )
    }
    await td.daemon.stop('test finished')
    assert.deepEqual(markedProcesses(mark), [], 'nothing is left after the stop')
  })

  it(
    'without cgroups, kills at a crash the setsid children seen at the last check',
    { timeout: 60_000 },
    async (t) => {
      const mark = newMark(t)
      const td = await startTestDaemon(t, {
        containment: 'process_groups',
        recovery: { check_interval: '200ms', retry_delay: '60s', min_uptime: '300ms' },
        workers: {
          kids: {
            command: 'sh',
            args: [fixture('setsid-children.sh'), '5'],
            env: { SHEPHERD_TEST_MARK: mark },
          },
        },
      })
      const worker = () => td.daemon.supervisor.listWorkers()[0]!
      const pid = await waitFor(() => worker().pid ?? undefined, 'the worker')
      const file = path.join(td.dir, `kids-${pid}`)
      await waitFor(() => existsSync(file), 'the children')
      const kids = readFileSync(file, 'utf8').trim().split('\n').map(Number)
      // A check after the children started: /proc showed them as the worker's descendants.
      const before = worker().report?.at ?? 0
      await waitFor(() => (worker().report?.at ?? 0) > before, 'a health check', 10_000)
      process.kill(pid, 'SIGKILL')
      await waitFor(() => kids.every(isGone), 'the children seen at the last check to be gone', 5_000)
    },
  )
})
