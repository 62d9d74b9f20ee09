import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'

import { fillPlaceholders, runProbe } from '../../src/adapters/process/probes.js'
import { ProbeSchema } from '../../src/config/schema.js'
import { isGone, waitFor } from '../helpers/wait.js'

const vars = { index: 2, pid: 4242, id: 'web#2' }

function probe(input: Record<string, unknown>) {
  return ProbeSchema.parse(input)
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createTcpServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  await new Promise((r) => server.close(r))
  return port
}

describe('probes', () => {
  let http: Server
  let port: number
  const paths: string[] = []

  before(async () => {
    http = createServer((req, res) => {
      paths.push(req.url ?? '')
      if (req.url === '/slow') return // never answers: the probe must time out
      res.statusCode = req.url === '/sick' ? 503 : 200
      res.end('body nobody reads')
    })
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
    port = (http.address() as AddressInfo).port
  })

  after(async () => {
    http.closeAllConnections()
    await new Promise((r) => http.close(r))
  })

  describe('http', () => {
    it('passes on 2xx, with {port} filled in', async () => {
      const r = await runProbe(probe({ type: 'http', url: 'http://127.0.0.1:{port}/ok' }), { ...vars, port })
      assert.deepEqual([r.ok, r.detail], [true, 'HTTP 200 OK'])
      assert.ok(r.durationMs >= 0)
    })

    it('fills {id}, {index} and {pid}, encoding the id for a URL', async () => {
      const r = await runProbe(probe({ type: 'http', url: 'http://127.0.0.1:{port}/h/{id}/{index}/{pid}' }), {
        ...vars,
        port,
      })
      assert.equal(r.ok, true)
      assert.ok(paths.includes('/h/web%232/2/4242'), `got ${paths.join(', ')}`)
    })

    it('fails on a non-2xx status and names it', async () => {
      const r = await runProbe(probe({ type: 'http', url: `http://127.0.0.1:${port}/sick` }), vars)
      assert.deepEqual([r.ok, r.detail], [false, 'HTTP 503 Service Unavailable'])
    })

    it('fails on a refused connection', async () => {
      const r = await runProbe(probe({ type: 'http', url: `http://127.0.0.1:${await closedPort()}/` }), vars)
      assert.deepEqual([r.ok, r.detail], [false, 'connection refused (ECONNREFUSED)'])
    })

    it('fails at the timeout when the server does not answer', async () => {
      const r = await runProbe(
        probe({ type: 'http', url: `http://127.0.0.1:${port}/slow`, timeout: '200ms' }),
        vars,
      )
      assert.deepEqual([r.ok, r.detail], [false, 'timed out after 200 ms'])
      assert.ok(r.durationMs >= 190 && r.durationMs < 5000, `took ${r.durationMs} ms`)
    })

    it('fails without a request when {port} is used and the worker has no port', async () => {
      const r = await runProbe(probe({ type: 'http', url: 'http://127.0.0.1:{port}/ok' }), vars)
      assert.equal(r.ok, false)
      assert.match(r.detail, /\{port\}.*no port/)
    })

    it('fails on a malformed URL', async () => {
      const r = await runProbe(probe({ type: 'http', url: 'not a url' }), vars)
      assert.equal(r.ok, false)
      assert.deepEqual([r.ok, r.detail], [false, 'invalid URL "not a url"'])
    })
  })

  describe('tcp', () => {
    let stalled: ChildProcess | undefined
    const fillers: Socket[] = []

    after(() => {
      for (const s of fillers) s.destroy()
      if (stalled?.pid) process.kill(stalled.pid, 'SIGKILL')
    })

    it('passes when the port accepts a connection, from a "{port}" string', async () => {
      const r = await runProbe(probe({ type: 'tcp', port: '{port}' }), { ...vars, port })
      assert.deepEqual([r.ok, r.detail], [true, `connected to 127.0.0.1:${port}`])
    })

    it('fails on a closed port', async () => {
      const closed = await closedPort()
      const r = await runProbe(probe({ type: 'tcp', host: '127.0.0.1', port: closed }), vars)
      assert.equal(r.ok, false)
      assert.equal(r.detail, `connection refused (ECONNREFUSED) at 127.0.0.1:${closed}`)
    })

    it('fails on a port that is not a number', async () => {
      const r = await runProbe(probe({ type: 'tcp', port: 'http' }), vars)
      assert.deepEqual([r.ok, r.detail], [false, 'invalid port "http"'])
    })

    it('fails at the timeout when the connection is never accepted', async () => {
      // A listener with a backlog of 1 in a stopped process: once its accept queue is full, the
      // kernel drops further SYNs and a connect hangs, with no network outside this host.
      const code = `require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () {
        console.log(this.address().port) })`
      stalled = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
      const stalledPort = Number(
        await new Promise<string>((r) => stalled!.stdout!.once('data', (d) => r(String(d)))),
      )
      process.kill(stalled.pid!, 'SIGSTOP')
      for (let i = 0; i < 16; i++) {
        const s = connect({ host: '127.0.0.1', port: stalledPort })
        fillers.push(s)
        s.on('error', () => undefined)
        const connected = await new Promise((r) => {
          s.once('connect', () => r(true))
          setTimeout(() => r(false), 300)
        })
        if (!connected) break
      }
      const r = await runProbe(probe({ type: 'tcp', port: stalledPort, timeout: '200ms' }), vars)
      assert.deepEqual(
        [r.ok, r.detail],
        [false, `timed out after 200 ms connecting to 127.0.0.1:${stalledPort}`],
      )
      assert.ok(r.durationMs >= 190 && r.durationMs < 5000, `took ${r.durationMs} ms`)
    })
  })

  describe('exec', () => {
    it('passes on exit 0, with placeholders in the arguments', async () => {
      const code = `process.exit(process.argv[1] === 'web#2-2-4242' && process.cwd() === ${JSON.stringify(process.cwd())} ? 0 : 1)`
      const r = await runProbe(
        probe({ type: 'exec', command: process.execPath, args: ['-e', code, '{id}-{index}-{pid}'] }),
        vars,
      )
      assert.deepEqual([r.ok, r.detail], [true, 'exit code 0'])
    })

    it('fails on a non-zero exit with the code and the first line of stderr', async () => {
      const code = `console.error('queue unreachable\\nsecond line'); process.exit(3)`
      const r = await runProbe(probe({ type: 'exec', command: process.execPath, args: ['-e', code] }), vars)
      assert.deepEqual([r.ok, r.detail], [false, 'exit code 3: queue unreachable'])
    })

    it('kills the command at the timeout, with whatever it started', async () => {
      const r = await runProbe(
        probe({ type: 'exec', command: 'sh', args: ['-c', 'sleep 30; true'], timeout: '200ms' }),
        vars,
      )
      assert.deepEqual([r.ok, r.detail], [false, 'timed out after 200 ms'])
      assert.ok(r.durationMs < 5000, `took ${r.durationMs} ms`)
    })

    it('kills what the command left running in its group, which would hold stderr open', async () => {
      const args = ['-c', 'sleep 30 & echo $! >&2; exit 0']
      const r = await runProbe(probe({ type: 'exec', command: 'sh', args }), vars)
      assert.equal(r.ok, true)
      assert.ok(r.durationMs < 5000, `took ${r.durationMs} ms`)
      const background = Number(/^exit code 0: (\d+)$/.exec(r.detail)?.[1])
      assert.ok(background > 0, r.detail)
      await waitFor(() => isGone(background), 'background sleep dead')
    })

    it('does not wait for a process outside its group that keeps stderr open', async () => {
      const args = ['-c', 'setsid sleep 3 & echo started >&2; exit 0']
      const r = await runProbe(probe({ type: 'exec', command: 'sh', args }), vars)
      assert.deepEqual([r.ok, r.detail], [true, 'exit code 0: started'])
      assert.ok(r.durationMs < 2500, `took ${r.durationMs} ms`)
    })

    it('fails when the command does not exist', async () => {
      const r = await runProbe(probe({ type: 'exec', command: 'shepherd-no-such-probe' }), vars)
      assert.deepEqual(
        [r.ok, r.detail],
        [false, 'cannot run "shepherd-no-such-probe": command not found (ENOENT)'],
      )
    })

    it('reports a command killed by a signal', async () => {
      const r = await runProbe(probe({ type: 'exec', command: 'sh', args: ['-c', 'kill -9 $$'] }), vars)
      assert.deepEqual([r.ok, r.detail], [false, 'killed by SIGKILL'])
    })
  })

  it('fills placeholders verbatim outside URLs', () => {
    assert.equal(
      fillPlaceholders('{id}:{index}:{pid}:{port}:{other}', { ...vars, port: 80 }),
      'web#2:2:4242:80:{other}',
    )
  })
})
