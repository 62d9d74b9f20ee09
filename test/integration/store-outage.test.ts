/**
 * The store's disk fills up, or turns read-only, under a running supervisor (real filesystems: a
 * small tmpfs, and an ext4 image the kernel remounts read-only). The API says why (507, 503), one
 * critical event goes out through the notification pipeline, workers keep being recovered, and no
 * outcome a worker reported is lost: an ack whose commit failed is committed once space returns.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'

import type { Job } from '../../src/core/job.js'
import { fixture, NODE, startTestDaemon, type TestDaemon } from '../helpers/daemon.js'
import { fillDisk, mountExt4, mountTmpfs } from '../helpers/mounts.js'
import { waitFor } from '../helpers/wait.js'

/** A webhook receiver on 127.0.0.1 that keeps the event types it was sent. */
async function receiver(t: TestContext): Promise<{ url: string; types: string[] }> {
  const types: string[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString('utf8')))
    req.on('end', () => {
      types.push((JSON.parse(body) as { event: { type: string } }).event.type)
      res.writeHead(200).end('ok')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, types }
}

async function enqueue(td: TestDaemon, payload: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${td.daemon.apiUrl}/api/queues/work/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payload }),
  })
  return { status: res.status, body: await res.json() }
}

async function jobOf(td: TestDaemon, id: string): Promise<Job> {
  const res = await fetch(`${td.daemon.apiUrl}/api/jobs/${id}`)
  return ((await res.json()) as { job: Job }).job
}

function errorOf(body: unknown): { code: string; message: string } {
  return (body as { error: { code: string; message: string } }).error
}

async function hardRestartRecovers(td: TestDaemon, workerId: string): Promise<void> {
  const res = await fetch(`${td.daemon.apiUrl}/api/workers/${encodeURIComponent(workerId)}/restart`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hard: true }),
  })
  assert.equal(res.status, 202, await res.clone().text())
  const { incidentId } = (await res.json()) as { incidentId: string }
  await td.waitForEvent('incident:recovered', (e) => e.data.incident.id === incidentId, 30_000)
}

describe('a store whose disk fails under a running supervisor', () => {
  it('full disk: 507, one notification, workers recovered, and the ack that failed is committed when space returns', async (t) => {
    const disk = mountTmpfs(t, 4 << 20)
    if (!disk) return
    const hook = await receiver(t)
    const td = await startTestDaemon(t, {
      store: { path: path.join(disk, 'shepherd.db') },
      recovery: { check_interval: '500ms', min_uptime: '300ms' },
      notifications: { webhooks: [{ url: hook.url }] },
      workers: {
        jobs: {
          command: NODE,
          args: [fixture('sdk-jobs.mjs')],
          queue: 'work',
          replicas: 1,
          env: { LEDGER: './ledger.txt' },
        },
      },
    })
    await td.waitForEvent('worker:state', (e) => e.workerId === 'jobs#1' && e.data.to === 'ready')
    const ledger = path.join(td.dir, 'ledger.txt')
    const added = await enqueue(td, { op: 'sleep', ms: 1500 })
    assert.equal(added.status, 201)
    const id = (added.body as { jobs: [{ id: string }] }).jobs[0].id
    await waitFor(async () => (await jobOf(td, id)).state === 'active', 'the job to be in flight')

    const freeSpace = fillDisk(disk, path.join(disk, 'shepherd.db'))
    t.after(freeSpace)
    // Writes are refused with 507 and the reason; reads go on.
    for (let i = 0; i < 3; i++) {
      const r = await enqueue(td, { op: 'ok' })
      assert.equal(r.status, 507, JSON.stringify(r.body))
      assert.equal(errorOf(r.body).code, 'SHEPHERD_STORE_FULL')
      assert.match(errorOf(r.body).message, /full/)
    }
    const failed = await td.waitForEvent('store:failed')
    assert.equal(failed.severity, 'critical')
    assert.equal(failed.data.problem, 'full')

    // The worker finishes its job during the outage; its ack cannot be committed.
    await waitFor(() => existsSync(ledger) && readFileSync(ledger, 'utf8').includes(id), 'the worker to ack')
    // Recovery does not depend on the store: a hard restart of the worker still recovers it.
    await hardRestartRecovers(td, 'jobs#1')
    assert.equal((await jobOf(td, id)).state, 'active', 'the ack is not committed while the disk is full')

    freeSpace()
    await waitFor(async () => (await jobOf(td, id)).state === 'done', 'the acked job to be done', 20_000)
    assert.equal((await jobOf(td, id)).delivery, 1, 'committed as acked, not run again')
    await td.waitForEvent('store:recovered', () => true, 20_000)
    assert.equal(td.eventsOf('store:failed').length, 1, 'one store:failed for the whole outage')
    const r = await enqueue(td, { op: 'ok' })
    assert.equal(r.status, 201, 'writes are accepted again')
    await waitFor(() => hook.types.includes('store:recovered'), 'the webhook to hear of the recovery')
    assert.equal(hook.types.filter((x) => x === 'store:failed').length, 1, 'notified once')
  })

  it('read-only filesystem: 503, one notification, and workers are still recovered', async (t) => {
    const disk = mountExt4(t)
    if (!disk) return
    const hook = await receiver(t)
    const td = await startTestDaemon(t, {
      store: { path: path.join(disk.dir, 'shepherd.db') },
      recovery: { check_interval: '500ms', min_uptime: '300ms' },
      notifications: { webhooks: [{ url: hook.url }] },
      workers: { jobs: { command: NODE, args: [fixture('sdk-jobs.mjs')], queue: 'work', replicas: 1 } },
    })
    await td.waitForEvent('worker:state', (e) => e.workerId === 'jobs#1' && e.data.to === 'ready')

    disk.failToReadOnly()
    for (let i = 0; i < 3; i++) {
      const r = await enqueue(td, { op: 'ok' })
      assert.equal(r.status, 503, JSON.stringify(r.body))
      assert.equal(errorOf(r.body).code, 'SHEPHERD_STORE_READ_ONLY')
      assert.match(errorOf(r.body).message, /read-only/)
    }
    const failed = await td.waitForEvent('store:failed')
    assert.equal(failed.severity, 'critical')
    assert.equal(failed.data.problem, 'read-only')
    await hardRestartRecovers(td, 'jobs#1')
    await waitFor(() => hook.types.includes('store:failed'), 'the webhook to hear of it')
    assert.equal(td.eventsOf('store:failed').length, 1)
    assert.equal(hook.types.filter((x) => x === 'store:failed').length, 1, 'notified once')
  })
})
