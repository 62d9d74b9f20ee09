/**
 * `shepherd start` for real: the CLI runs the supervisor in the foreground; the other commands
 * find it through the control API; SIGTERM stops every worker and exits 0, also when it comes
 * while the supervisor is still starting; incidents survive a restart of the supervisor.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import { stringify } from 'yaml'

import { freePort, runCli, startCli } from '../helpers/cli.js'
import { fixture, NODE, tempDir } from '../helpers/daemon.js'
import { isGone, waitFor } from '../helpers/wait.js'

const cli = (args: string[]) => runCli(args)

async function writeConfig(t: TestContext): Promise<string> {
  const dir = tempDir(t)
  const file = path.join(dir, 'shepherd.yaml')
  writeFileSync(
    file,
    stringify({
      recovery: { check_interval: '500ms', retry_delay: '100ms', min_uptime: '300ms' },
      api: { port: await freePort() },
      workers: {
        web: { command: NODE, args: [fixture('sdk-ready.mjs')], replicas: 2, stop_timeout: 5 },
        plain: { command: NODE, args: [fixture('forever.mjs')], stop_timeout: 5 },
      },
    }),
  )
  return file
}

async function statusJson(
  config: string,
): Promise<Array<{ id: string; pid: number; state: string; restarts: number }>> {
  const r = await cli(['status', '-c', config, '--json'])
  assert.equal(r.code, 0, r.stderr)
  return (
    JSON.parse(r.stdout) as { workers: Array<{ id: string; pid: number; state: string; restarts: number }> }
  ).workers
}

async function allReady(config: string): Promise<void> {
  await waitFor(
    async () => {
      const r = await cli(['status', '-c', config, '--json'])
      if (r.code !== 0) return false
      const { workers } = JSON.parse(r.stdout) as { workers: Array<{ state: string }> }
      return workers.length === 3 && workers.every((w) => w.state === 'ready')
    },
    'every worker ready',
    30_000,
    200,
  )
}

describe('shepherd start', () => {
  it('supervises, answers status/restart/incidents, and stops every worker on SIGTERM with exit 0', async (t) => {
    const config = await writeConfig(t)
    const sup = startCli(t, ['start', '-c', config])
    await allReady(config)
    const workers = await statusJson(config)
    assert.deepEqual(
      workers.map((w) => w.id),
      ['web#1', 'web#2', 'plain#1'],
    )
    for (const key of ['id', 'pool', 'pid', 'state', 'healthScore', 'restarts'])
      assert.ok(key in workers[0]!, key)

    const restart = await cli(['restart', '-c', config, 'web#2', '--hard'])
    assert.equal(restart.code, 0, restart.stderr)
    const id = /incident (\S+) opened/.exec(restart.stdout)?.[1]
    assert.ok(id, restart.stdout)
    await waitFor(
      async () => {
        const r = await cli(['incidents', '-c', config, '--json'])
        const { incidents } = JSON.parse(r.stdout) as {
          incidents: Array<{ id: string; outcome: string | null }>
        }
        return incidents.some((i) => i.id === id && i.outcome === 'recovered')
      },
      'the manual restart to be recovered',
      30_000,
      200,
    )
    const text = await cli(['incidents', '-c', config, '--limit', '1'])
    assert.match(text.stdout, /web#2/)
    assert.match(text.stdout, /manual/)
    assert.match(text.stdout, /hard_restart/)
    assert.match(text.stdout, /recovered/)

    const unknown = await cli(['restart', '-c', config, 'web#9'])
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /no worker has the id web#9/)

    const pids = (await statusJson(config)).map((w) => w.pid)
    sup.child.kill('SIGTERM')
    assert.equal(await sup.exited, 0, sup.log())
    for (const pid of pids) assert.ok(isGone(pid), `worker ${pid} was stopped`)
    assert.match(sup.log(), /shepherd stopped/)

    const down = await cli(['status', '-c', config])
    assert.equal(down.code, 1)
    assert.match(down.stderr, /no supervisor answers/)
  })

  it('keeps incidents across a restart of the supervisor', async (t) => {
    const config = await writeConfig(t)
    const first = startCli(t, ['start', '-c', config])
    await allReady(config)
    const crashed = (await statusJson(config)).find((w) => w.id === 'plain#1')!
    process.kill(crashed.pid, 'SIGKILL')
    await waitFor(
      async () => (await statusJson(config)).find((w) => w.id === 'plain#1')?.restarts === 1,
      'the crash to be recovered',
      30_000,
      200,
    )
    first.child.kill('SIGTERM')
    assert.equal(await first.exited, 0)

    const second = startCli(t, ['start', '-c', config])
    await allReady(config)
    const r = await cli(['incidents', '-c', config, '--json'])
    const { incidents } = JSON.parse(r.stdout) as {
      incidents: Array<{ workerId: string; cause: string; outcome: string }>
    }
    assert.ok(
      incidents.some((i) => i.workerId === 'plain#1' && i.cause === 'crash' && i.outcome === 'recovered'),
    )
    second.child.kill('SIGINT')
    assert.equal(await second.exited, 0)
  })

  it('stops cleanly on a SIGTERM that comes while it is still starting (exit 0, its worker gone)', async (t) => {
    const config = await writeConfig(t)
    const sup = startCli(t, ['start', '-c', config])
    // The first worker is spawned in the middle of the start: the API, the leader's election and
    // "shepherd started" come after it.
    await waitFor(() => /spawned \(pid \d+\)/.test(sup.log()), 'a worker to be spawned', 30_000, 1)
    sup.child.kill('SIGTERM')
    assert.equal(await sup.exited, 0, sup.log())
    assert.match(sup.log(), /shepherd stopped/)
    for (const [, pid] of sup.log().matchAll(/spawned \(pid (\d+)\)/g))
      assert.ok(isGone(Number(pid)), `worker ${pid} was stopped`)
  })

  it('exits at once with code 1 on a second signal while it is still starting (a store that never answers)', async (t) => {
    // A "PostgreSQL" that takes the connection and never says a word: the start waits on it.
    const silent = net.createServer(() => undefined)
    const connected = new Promise<void>((resolve) => silent.once('connection', () => resolve()))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    t.after(() => silent.close())
    const port = (silent.address() as net.AddressInfo).port
    const file = path.join(tempDir(t), 'shepherd.yaml')
    writeFileSync(
      file,
      stringify({
        store: { url: `postgres://postgres@127.0.0.1:${port}/shepherd` },
        api: { port: 0 },
        workers: { plain: { command: NODE, args: [fixture('forever.mjs')] } },
      }),
    )
    const sup = startCli(t, ['start', '-c', file])
    await connected
    sup.child.kill('SIGTERM')
    await sleep(300)
    assert.equal(sup.child.exitCode, null, 'one signal waits for the start to end')
    assert.match(sup.log(), /shepherd: SIGTERM while starting; stopping once started \(again: exit now\)/)
    sup.child.kill('SIGTERM')
    assert.equal(await sup.exited, 1, sup.log())
    assert.match(sup.log(), /shepherd: SIGTERM again while starting; exiting now/)
  })

  it('refuses an invalid config with exit code 2 before starting anything', async (t) => {
    const file = path.join(tempDir(t), 'bad.yaml')
    writeFileSync(file, 'workers:\n  a:\n    command: node\n    stop_timeout: -1\n')
    const r = await cli(['start', '-c', file])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /workers\.a\.stop_timeout \(line 4\): expected a duration ≥ 0/)
  })
})
