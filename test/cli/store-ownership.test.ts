/**
 * One supervisor per store. A second `shepherd start` on the same store (another port, so the API
 * does not stop it) is refused before it touches anything, naming the supervisor that holds the
 * store; the first one's workers, jobs and incidents are left alone. A supervisor that died
 * (SIGKILL) is taken over at once by the next start, and the store's events and the incidents it
 * left open say whose lease was taken over. The CLI's reading and enqueueing commands keep working
 * beside a running supervisor.
 */
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'

import { stringify } from 'yaml'

import { openSqliteStore } from '../../src/adapters/sqlite/sqlite-store.js'
import type { Incident } from '../../src/core/incident.js'
import { Queue } from '../../src/queue/queue.js'
import { freePort, runCli, startCli } from '../helpers/cli.js'
import { fixture, NODE, tempDir } from '../helpers/daemon.js'
import { isGone, waitFor } from '../helpers/wait.js'

interface WorkerRow {
  id: string
  pid: number | null
  state: string
}

/** Two configs on one store (shepherd.db beside the first), each with its own API port. */
async function twoConfigs(
  t: TestContext,
  workers: Record<string, unknown>,
): Promise<{ first: string; second: string; store: string; firstApi: string }> {
  const dir = tempDir(t)
  const store = path.join(dir, 'shepherd.db')
  const files: string[] = []
  const ports: number[] = []
  for (const name of ['first', 'second']) {
    const file = path.join(dir, `${name}.yaml`)
    const port = await freePort()
    ports.push(port)
    writeFileSync(
      file,
      stringify({
        recovery: { check_interval: '500ms', min_uptime: '300ms', retry_delay: '60s' },
        api: { port },
        log: { level: 'warn' },
        store: { path: store },
        workers,
      }),
    )
    files.push(file)
  }
  return { first: files[0]!, second: files[1]!, store, firstApi: `http://127.0.0.1:${ports[0]}` }
}

async function workersOf(config: string): Promise<WorkerRow[] | false> {
  const r = await runCli(['status', '-c', config, '--json'])
  return r.code === 0 ? (JSON.parse(r.stdout) as { workers: WorkerRow[] }).workers : false
}

describe('one supervisor per store', () => {
  it('refuses a second `shepherd start` on the same store, naming the holder, and leaves the first alone', async (t) => {
    const { first, second, store, firstApi } = await twoConfigs(t, {
      // Two at once: one holds the long job, the other runs what the CLI enqueues.
      jobs: { command: NODE, args: [fixture('sdk-jobs.mjs')], queue: 'work', replicas: 1, concurrency: 2 },
      plain: { command: NODE, args: [fixture('forever.mjs')], replicas: 2 },
    })
    const a = startCli(t, ['start', '-c', first])
    const before = await waitFor(
      async () => {
        const w = await workersOf(first)
        return w && w.length === 3 && w.every((x) => x.state === 'ready') ? w : false
      },
      'the first supervisor to run its workers',
      30_000,
      200,
    )
    // A job in flight in the first supervisor's worker.
    const queue = await Queue.open(first)
    t.after(() => queue.close())
    const { id } = await queue.add('work', { op: 'sleep', ms: 60_000 })
    await waitFor(async () => (await queue.getJob(id))?.state === 'active', 'the job to be in flight')

    const b = startCli(t, ['start', '-c', second])
    const code = await Promise.race([
      b.exited,
      new Promise<'running'>((r) => setTimeout(() => r('running'), 20_000)),
    ])
    if (code === 'running') b.child.kill('SIGKILL')
    assert.equal(code, 1, `the second start is refused with exit code 1; it printed:\n${b.log()}`)
    const out = b.log()
    assert.match(out, /\[SHEPHERD_STORE_LOCKED\]/)
    assert.ok(out.includes(store), `names the store: ${out}`)
    assert.ok(out.includes(`pid ${a.child.pid}`), `names the holder's pid: ${out}`)
    assert.ok(out.includes(os.hostname()), `names the holder's host: ${out}`)
    assert.ok(out.includes(`API ${firstApi}`), `names the holder's API: ${out}`)
    assert.match(out, /since \d{4}-\d\d-\d\dT/, `says since when: ${out}`)

    // Even with its lock file deleted, the holder's process (pid and start time) still runs: refused.
    rmSync(`${store}.lock`)
    const c = startCli(t, ['start', '-c', second])
    assert.equal(await c.exited, 1, c.log())
    assert.match(c.log(), /\[SHEPHERD_STORE_LOCKED\]/)
    assert.ok(c.log().includes(`pid ${a.child.pid}`), c.log())

    // The first supervisor's workers, job and API are untouched.
    const after = await workersOf(first)
    assert.ok(after, 'the first supervisor still answers')
    assert.deepEqual(
      after.map((w) => [w.id, w.pid, w.state]),
      before.map((w) => [w.id, w.pid, w.state]),
    )
    for (const w of before) assert.ok(!isGone(w.pid!), `${w.id} (pid ${w.pid}) still runs`)
    const job = await queue.getJob(id)
    assert.equal(job?.state, 'active')
    assert.equal(job?.delivery, 1)

    // Reading and enqueueing from the CLI work beside the running supervisor.
    const enq = await runCli(['enqueue', '-c', second, 'work', '{"op":"ok"}'])
    assert.equal(enq.code, 0, enq.stderr)
    const jobs = await runCli(['jobs', '-c', second, 'work', '--json'])
    assert.equal(jobs.code, 0, jobs.stderr)
    await waitFor(
      async () => (await queue.getJob(enq.stdout.trim()))?.state === 'done',
      'the first supervisor to run the job enqueued by the CLI',
    )
    a.child.kill('SIGTERM')
    assert.equal(await a.exited, 0)
  })

  it('takes over the store of a supervisor that died, and says whose lease it took', async (t) => {
    const { first, second, store, firstApi } = await twoConfigs(t, {
      plain: { command: NODE, args: [fixture('forever.mjs')], replicas: 1 },
      // Crashes at once; its recovery then waits 60 s (retry_delay) with its incident open.
      flaky: { command: NODE, args: [fixture('exit-with.mjs'), '3', '200'], replicas: 1 },
    })
    const a = startCli(t, ['start', '-c', first])
    const open = await waitFor(
      async () => {
        const r = await runCli(['incidents', '-c', first, '--json'])
        if (r.code !== 0) return false
        const { incidents } = JSON.parse(r.stdout) as { incidents: Incident[] }
        return incidents.find((i) => i.workerId === 'flaky#1' && i.phase === 'backoff')
      },
      'an incident of flaky#1 waiting for its retry',
      30_000,
      200,
    )
    a.child.kill('SIGKILL')
    await a.exited

    const b = startCli(t, ['start', '-c', second])
    await waitFor(
      async () => (await workersOf(second)) !== false,
      'the second supervisor to answer',
      30_000,
      200,
    )
    const s = await openSqliteStore(store)
    t.after(() => s.close())
    const [takeover] = await s.listEvents({ types: ['supervisor:takeover'] })
    assert.ok(takeover, 'a supervisor:takeover event is stored')
    assert.equal(takeover.severity, 'warning')
    assert.ok(takeover.message.includes(`pid ${a.child.pid}`), takeover.message)
    assert.ok(takeover.message.includes(firstApi), takeover.message)
    const data = takeover.data as { previous: { pid: number; apiUrl: string; host: string }; reason: string }
    assert.equal(data.previous.pid, a.child.pid)
    assert.equal(data.previous.host, os.hostname())
    assert.equal(data.reason, 'dead')

    const closed = await s.getIncident(open.id)
    assert.equal(closed?.phase, 'interrupted')
    const last = closed!.timeline.at(-1)!
    assert.match(
      JSON.stringify(last),
      new RegExp(`pid ${a.child.pid}`),
      'the timeline names the supervisor taken over',
    )
    b.child.kill('SIGTERM')
    await b.exited
  })
})
