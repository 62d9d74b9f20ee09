/**
 * The store file deleted (or replaced) under a running supervisor. SQLite would go on writing into
 * the unlinked file, so acknowledged jobs would vanish at the next start. Instead: one critical
 * event, writes refused with 503 and the reason, workers kept running and recovered, and the CLI
 * refuses to create a new empty store where the supervisor's store was.
 */
import assert from 'node:assert/strict'
import { copyFileSync, existsSync, renameSync, rmSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

import { runCli } from '../helpers/cli.js'
import { cliConfig, fixture, NODE, startTestDaemon, type TestDaemon } from '../helpers/daemon.js'
import { isGone, waitFor } from '../helpers/wait.js'

async function enqueue(
  td: TestDaemon,
): Promise<{ status: number; error?: { code: string; message: string } }> {
  const res = await fetch(`${td.daemon.apiUrl}/api/queues/work/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payload: { op: 'ok' } }),
  })
  const body = (await res.json()) as { error?: { code: string; message: string } }
  return { status: res.status, error: body.error }
}

const workers = {
  jobs: { command: NODE, args: [fixture('sdk-jobs.mjs')], queue: 'work', replicas: 1 },
  plain: { command: NODE, args: [fixture('forever.mjs')], replicas: 1 },
}

describe('a store deleted or replaced under a running supervisor', () => {
  it('deleted: one critical event, writes refused with 503, workers recovered, and the CLI creates no new store', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: { check_interval: '500ms', min_uptime: '300ms' },
      workers,
    })
    await td.waitForEvent('worker:state', (e) => e.workerId === 'plain#1' && e.data.to === 'ready')
    assert.equal((await enqueue(td)).status, 201)
    const store = path.join(td.dir, 'shepherd.db')
    for (const f of [store, `${store}-wal`, `${store}-shm`]) rmSync(f, { force: true })

    const failed = await td.waitForEvent('store:failed', () => true, 10_000)
    assert.equal(failed.severity, 'critical')
    assert.equal(failed.data.problem, 'gone')
    assert.match(failed.message, /deleted/)
    const r = await enqueue(td)
    assert.equal(r.status, 503)
    assert.equal(r.error?.code, 'SHEPHERD_STORE_GONE')
    assert.match(r.error!.message, /deleted/)
    assert.ok(r.error!.message.includes(store), r.error!.message)

    // The CLI does not create a fresh, empty store that no supervisor would ever read.
    const cli = await runCli(['enqueue', '-c', cliConfig(td), 'work', '{"op":"ok"}'])
    assert.equal(cli.code, 1, cli.stdout + cli.stderr)
    assert.match(cli.stderr, /\[SHEPHERD_STORE_GONE\]/)
    assert.ok(!existsSync(store), 'no new store file was created')

    // Workers run on and are still recovered.
    const plain = td.daemon.supervisor.getWorker('plain#1')!
    process.kill(plain.pid!, 'SIGKILL')
    await waitFor(() => isGone(plain.pid!), 'the worker to die')
    await td.waitForEvent('incident:recovered', (e) => e.workerId === 'plain#1', 30_000)
    assert.ok(!isGone(td.daemon.supervisor.getWorker('jobs#1')!.pid!), 'the other worker runs on')
    assert.equal(td.eventsOf('store:failed').length, 1, 'one event, not one per write')
  })

  it('replaced by another file: detected the same way', async (t) => {
    const td = await startTestDaemon(t, { workers })
    await td.waitForEvent('worker:state', (e) => e.workerId === 'jobs#1' && e.data.to === 'ready')
    const store = path.join(td.dir, 'shepherd.db')
    copyFileSync(store, `${store}.copy`)
    renameSync(`${store}.copy`, store)
    const failed = await td.waitForEvent('store:failed', () => true, 10_000)
    assert.equal(failed.data.problem, 'gone')
    assert.match(failed.message, /replaced/)
    const r = await enqueue(td)
    assert.equal(r.status, 503)
    assert.equal(r.error?.code, 'SHEPHERD_STORE_GONE')
  })
})
