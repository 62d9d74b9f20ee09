/**
 * A web page on another site, in a real Chromium, against a real daemon on loopback with no token:
 * it tries every request a page can send without the API's consent (a text/plain fetch, a form
 * POST, a beacon, a JSON fetch that needs a preflight) and a DNS rebinding. None may act.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { Hono } from 'hono'

import { serveHttp } from '../../src/adapters/http/node-server.js'
import { launchChromium, skipBrowser } from '../helpers/chromium.js'
import { fixture, NODE, startTestDaemon } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

describe('cross-site requests from a real browser', () => {
  it(
    'a page of another origin cannot restart, enqueue or read, and a rebound name is refused',
    { timeout: 120_000, skip: skipBrowser },
    async (t) => {
      const td = await startTestDaemon(t, {
        recovery: { min_uptime: '300ms' },
        workers: { web: { command: NODE, args: [fixture('sdk-ready.mjs')], stop_timeout: 2 } },
      })
      await waitFor(() => td.daemon.supervisor.getWorker('web#1')?.state === 'ready', 'web#1 ready')
      const pid = td.daemon.supervisor.getWorker('web#1')!.pid
      const api = td.daemon.apiUrl
      const restart = `${api}/api/workers/web%231/restart`
      const enqueue = `${api}/api/queues/evil/jobs`
      const evilPage = `<!doctype html><html><body>
<form id="f" method="POST" action="${restart}" target="sink"><input name="hard" value="true"></form>
<iframe name="sink"></iframe>
<script>
window.results = []
const note = (what, p) => p.then((r) => results.push(what + ':' + (r && r.status)), (e) => results.push(what + ':error'))
Promise.allSettled([
  note('text', fetch(${JSON.stringify(restart)}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{"hard":true}' })),
  note('empty', fetch(${JSON.stringify(restart)}, { method: 'POST', mode: 'no-cors' })),
  note('json', fetch(${JSON.stringify(enqueue)}, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"payload":1}' })),
  note('beacon', Promise.resolve(navigator.sendBeacon(${JSON.stringify(enqueue)}, new Blob(['{"payload":2}'], { type: 'text/plain' })))),
  note('read', fetch(${JSON.stringify(`${api}/api/queues`)}).then((r) => r.json())),
]).then(() => { document.getElementById('f').submit(); setTimeout(() => { window.done = true }, 500) })
</script></body></html>`
      const evil = new Hono().get('/', (c) => c.html(evilPage))
      const evilServer = await serveHttp(() => evil, { host: '127.0.0.1', port: 0 })
      t.after(() => evilServer.close())

      const port = new URL(api).port
      const browser = await launchChromium(['--host-resolver-rules=MAP rebind.example 127.0.0.1'])
      t.after(() => browser.close())
      const page = await browser.newPage()
      // The API's own origin differs from the evil page's by its port: still another origin.
      await page.goto(`http://localhost:${evilServer.port}/`)
      await page.waitForFunction(() => (globalThis as unknown as { done?: boolean }).done === true, null, {
        timeout: 30_000,
      })
      const results = await page.evaluate(() => (globalThis as unknown as { results: string[] }).results)
      assert.ok(!results.includes('read:200'), `a cross-origin read got through: ${results.join(', ')}`)

      // Nothing happened: no incident, the same process, no job.
      const status = await fetch(`${api}/api/incidents`).then(
        (r) => r.json() as Promise<{ incidents: unknown[] }>,
      )
      assert.deepEqual(status.incidents, [], 'no restart was opened')
      assert.equal(td.daemon.supervisor.getWorker('web#1')!.pid, pid)
      const jobs = await fetch(`${api}/api/queues/evil/jobs`).then(
        (r) => r.json() as Promise<{ jobs: unknown[] }>,
      )
      assert.deepEqual(jobs.jobs, [], 'no job was added')

      // DNS rebinding: a name of the attacker's that resolves to 127.0.0.1 makes the page
      // same-origin with the API. The API does not answer to that name.
      const rebound = await page.goto(`http://rebind.example:${port}/api/queues`)
      assert.equal(rebound?.status(), 403)
      assert.match(await page.content(), /SHEPHERD_HOST_NOT_ALLOWED/)
      const dashboard = await page.goto(`http://rebind.example:${port}/`)
      assert.equal(dashboard?.status(), 403)
    },
  )
})
