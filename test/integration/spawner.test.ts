import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import { readProcState } from '../../src/adapters/process/proc.js'
import {
  createProcessSpawner,
  MAX_LINE_LENGTH,
  type NodeProcessSpawner,
} from '../../src/adapters/process/spawner.js'
import type { ManagedProcess, WorkerSpec } from '../../src/ports/process.js'
import { isGone, waitFor } from '../helpers/wait.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url))
const DEADLINE_MS = 10_000

const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined)) as Record<
  string,
  string
>

describe('process spawner', () => {
  let tmp: string
  let spawner: NodeProcessSpawner
  let output: Map<string, { stream: 'out' | 'err'; line: string }[]>
  const strays: number[] = []

  const linesOf = (id: string, stream: 'out' | 'err' = 'out'): string[] =>
    (output.get(id) ?? []).filter((l) => l.stream === stream).map((l) => l.line)

  function spec(workerId: string, args: string[], overrides: Partial<WorkerSpec> = {}): WorkerSpec {
    return { workerId, pool: 't', command: process.execPath, args, cwd: tmp, env: cleanEnv, ...overrides }
  }

  function fixture(name: string, ...args: string[]): string[] {
    return [path.join(FIXTURES, name), ...args]
  }

  async function ready(id: string, mp: ManagedProcess): Promise<void> {
    await waitFor(() => linesOf(id).includes('ready') || mp.exit !== null, `${id} ready`)
    assert.equal(mp.exit, null, `${id} exited before it was ready`)
  }

  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'shepherd-'))
    output = new Map()
    spawner = createProcessSpawner({
      now: () => performance.timeOrigin + performance.now(),
      onOutput: (id, stream, lines) => {
        const list = output.get(id) ?? []
        for (const line of lines) list.push({ stream, line })
        output.set(id, list)
      },
    })
  })

  afterEach(() => {
    spawner.killAllSync()
    for (const pid of strays.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    rmSync(tmp, { recursive: true, force: true })
  })

  it('records the exit code of a worker that exits on its own', async () => {
    const mp = spawner.spawn(spec('w#1', fixture('exit-with.mjs', '3')))
    assert.ok(mp.pid > 0)
    assert.equal(mp.exit, null)
    const report = await mp.exited
    assert.equal(report.pid, mp.pid)
    assert.equal(report.exitCode, 3)
    assert.equal(report.signal, null)
    assert.equal(report.killedByUs, false)
    assert.equal(report.forced, false)
    assert.equal(report.spawnFailed, false)
    assert.ok(report.durationMs >= 0)
    assert.equal(report.at - mp.startedAt, report.durationMs)
    assert.equal(mp.exit, report)
    assert.equal(spawner.live(), 0)
  })

  it('notices a SIGKILL crash from the exit event and records the signal', async () => {
    const mp = spawner.spawn(spec('w#1', fixture('forever.mjs')))
    await ready('w#1', mp)
    assert.equal(spawner.live(), 1)
    const killedAt = performance.timeOrigin + performance.now()
    process.kill(mp.pid, 'SIGKILL')
    const report = await mp.exited
    assert.equal(report.exitCode, null)
    assert.equal(report.signal, 'SIGKILL')
    assert.equal(report.killedByUs, false)
    assert.ok(report.at >= killedAt)
    assert.equal(spawner.live(), 0)
  })

  it('reports a command that does not exist as spawnFailed, without throwing', async () => {
    const mp = spawner.spawn(spec('w#1', [], { command: 'shepherd-no-such-command' }))
    assert.equal(mp.pid, 0)
    assert.equal(mp.exit, null, 'the report arrives asynchronously')
    const report = await mp.exited
    assert.equal(report.spawnFailed, true)
    assert.equal(report.pid, 0)
    assert.match(report.error ?? '', /shepherd-no-such-command/)
    assert.match(report.error ?? '', /command not found \(ENOENT\)/)
    assert.ok(report.error?.includes(tmp))
    assert.equal(spawner.live(), 0)
  })

  it('reports a file that is not executable as spawnFailed (EACCES)', async () => {
    const file = path.join(tmp, 'not-executable')
    writeFileSync(file, 'echo hi\n')
    chmodSync(file, 0o644)
    const report = await spawner.spawn(spec('w#1', [], { command: file })).exited
    assert.equal(report.spawnFailed, true)
    assert.match(report.error ?? '', /EACCES/)
  })

  it('reports a missing working directory as spawnFailed and names it', async () => {
    const cwd = path.join(tmp, 'missing')
    const report = await spawner.spawn(spec('w#1', fixture('forever.mjs'), { cwd })).exited
    assert.equal(report.spawnFailed, true)
    assert.match(report.error ?? '', /working directory/)
    assert.ok(report.error?.includes(cwd))
  })

  it('reports arguments the OS cannot take (a NUL byte) as spawnFailed instead of throwing', async () => {
    const mp = spawner.spawn(spec('w#1', ['a\u0000b']))
    const report = await mp.exited
    assert.equal(report.spawnFailed, true)
    assert.equal(mp.pid, 0)
  })

  it('stops gracefully with SIGTERM; concurrent and later stops share the result', async () => {
    const mp = spawner.spawn(spec('w#1', fixture('forever.mjs')))
    await ready('w#1', mp)
    const a = mp.stop({ mode: 'graceful', timeoutMs: DEADLINE_MS })
    const b = mp.stop({ mode: 'hard', timeoutMs: 0 })
    assert.equal(a, b)
    const report = await a
    assert.equal(report.signal, 'SIGTERM')
    assert.equal(report.killedByUs, true)
    assert.equal(report.forced, false)
    assert.equal(await mp.stop({ mode: 'graceful', timeoutMs: 100 }), report)
  })

  it('SIGKILLs a worker that ignores SIGTERM after the timeout and marks it forced', async () => {
    const mp = spawner.spawn(spec('w#1', fixture('ignore-sigterm.mjs')))
    await ready('w#1', mp)
    const report = await mp.stop({ mode: 'graceful', timeoutMs: 300 })
    assert.equal(report.signal, 'SIGKILL')
    assert.equal(report.forced, true)
    assert.equal(report.killedByUs, true)
    assert.ok(report.durationMs >= 300)
  })

  it('hard-stops a SIGSTOPped worker', async () => {
    const mp = spawner.spawn(spec('w#1', fixture('forever.mjs')))
    await ready('w#1', mp)
    mp.signal('SIGSTOP')
    await waitFor(() => readProcState(mp.pid) === 'T', 'state T')
    const report = await mp.stop({ mode: 'hard', timeoutMs: 0 })
    assert.equal(report.signal, 'SIGKILL')
    assert.equal(report.killedByUs, true)
    assert.equal(report.forced, false)
  })

  it('stops a SIGSTOPped worker gracefully: SIGCONT lets it act on SIGTERM', async () => {
    const mp = spawner.spawn(spec('w#1', fixture('forever.mjs')))
    await ready('w#1', mp)
    mp.signal('SIGSTOP')
    await waitFor(() => readProcState(mp.pid) === 'T', 'state T')
    const report = await mp.stop({ mode: 'graceful', timeoutMs: DEADLINE_MS })
    assert.equal(report.signal, 'SIGTERM')
    assert.equal(report.forced, false)
  })

  it('leaves no grandchild of the process group alive after a stop', async () => {
    const mp = spawner.spawn(spec('w#1', fixture('spawn-grandchild.mjs')))
    const grandchild = Number(await waitFor(() => linesOf('w#1')[0], 'grandchild pid'))
    strays.push(grandchild)
    assert.ok(grandchild > 0)
    assert.equal(isGone(grandchild), false)
    await mp.stop({ mode: 'graceful', timeoutMs: DEADLINE_MS })
    await waitFor(() => isGone(grandchild), 'grandchild dead')
  })

  it('kills what a crashed worker left in its group as soon as it exits', async () => {
    const mp = spawner.spawn(spec('w#1', fixture('spawn-grandchild.mjs')))
    const grandchild = Number(await waitFor(() => linesOf('w#1')[0], 'grandchild pid'))
    strays.push(grandchild)
    process.kill(mp.pid, 'SIGKILL')
    const crash = await mp.exited
    // No stop() needed: a crash-loop backoff must not leave the children running.
    await waitFor(() => isGone(grandchild), 'grandchild dead')
    const report = await mp.stop({ mode: 'graceful', timeoutMs: DEADLINE_MS })
    assert.equal(report, crash)
    assert.equal(report.killedByUs, false)
  })

  it('kills extra descendants that left the process group', async () => {
    const code = `const c = require('child_process').spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' })
      console.log(c.pid); setInterval(() => {}, 1e9)`
    const mp = spawner.spawn(spec('w#1', ['-e', code]))
    const escaped = Number(await waitFor(() => linesOf('w#1')[0], 'escaped pid'))
    strays.push(escaped)
    await mp.stop({ mode: 'hard', timeoutMs: 0 }, [escaped])
    await waitFor(() => isGone(escaped), 'escaped descendant dead')
  })

  it('sends the group a signal, and ignores signal() after the exit', async () => {
    const mp = spawner.spawn(spec('w#1', fixture('forever.mjs')))
    await ready('w#1', mp)
    mp.signal('SIGUSR2')
    const report = await mp.exited
    assert.equal(report.signal, 'SIGUSR2')
    assert.equal(report.killedByUs, false)
    mp.signal('SIGTERM')
  })

  it('exchanges IPC messages; send() returns false once the channel is gone', async () => {
    const code = `process.on('message', (m) => { process.send({ echo: m }); if (m.bye) process.disconnect() })`
    const mp = spawner.spawn(spec('w#1', ['-e', code]))
    const received: unknown[] = []
    mp.onMessage(() => {
      throw new Error('a throwing listener must not affect the others')
    })
    mp.onMessage((m) => received.push(m))
    assert.equal(mp.send({ big: BigInt(1) }), false, 'not serialisable')
    assert.equal(mp.send({ n: 1 }), true)
    await waitFor(() => received.length === 1, 'echo')
    assert.deepEqual(received[0], { echo: { n: 1 } })
    assert.equal(mp.send({ bye: true }), true)
    const report = await mp.exited
    assert.equal(report.exitCode, 0)
    assert.equal(mp.send({ n: 2 }), false)
  })

  it('passes stdout and stderr on as complete lines, in order', async () => {
    const mp = spawner.spawn(spec('w#1', fixture('chatty.mjs', '5000')))
    await mp.exited
    await waitFor(() => linesOf('w#1').length === 5000 && linesOf('w#1', 'err').length === 1, 'all lines')
    assert.deepEqual(
      linesOf('w#1'),
      Array.from({ length: 5000 }, (_, i) => `line ${i + 1}`),
    )
    assert.deepEqual(linesOf('w#1', 'err'), ['done'])
  })

  it('truncates an overlong line with a marker and flushes a last line without newline', async () => {
    const code = `process.stdout.write('x'.repeat(40000) + '\\nmiddle\\r\\n' + 'tail without newline')`
    const mp = spawner.spawn(spec('w#1', ['-e', code]))
    await mp.exited
    await waitFor(() => linesOf('w#1').length === 3, 'three lines')
    const [long, middle, last] = linesOf('w#1')
    assert.ok(long!.startsWith('x'.repeat(MAX_LINE_LENGTH)))
    assert.ok(!long!.slice(MAX_LINE_LENGTH).includes('x'))
    assert.match(long!, /truncated: 23616 more characters dropped/)
    assert.equal(middle, 'middle')
    assert.equal(last, 'tail without newline')
  })

  it('survives an output listener that throws', async () => {
    const throwing = createProcessSpawner({
      now: () => performance.now(),
      onOutput: () => {
        throw new Error('listener bug')
      },
    })
    const report = await throwing.spawn(spec('w#1', fixture('chatty.mjs', '10'))).exited
    assert.equal(report.exitCode, 0)
  })

  it('killAllSync kills every live group at once; live() counts them', async () => {
    const a = spawner.spawn(spec('a#1', fixture('forever.mjs')))
    const b = spawner.spawn(spec('b#1', fixture('spawn-grandchild.mjs')))
    await ready('a#1', a)
    const grandchild = Number(await waitFor(() => linesOf('b#1')[0], 'grandchild pid'))
    strays.push(grandchild)
    assert.equal(spawner.live(), 2)
    spawner.killAllSync()
    const [ra, rb] = await Promise.all([a.exited, b.exited])
    assert.equal(ra.signal, 'SIGKILL')
    assert.equal(rb.signal, 'SIGKILL')
    assert.equal(spawner.live(), 0)
    await waitFor(() => isGone(grandchild), 'grandchild dead')
  })

  it('reads the last lines of a worker whose escaped descendant holds its pipes, then lets them go', async () => {
    const pipes = (): number => process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap').length
    const before = pipes()
    // The detached child leaves the process group (spawn returns after its setsid) with stdout,
    // stderr and the IPC channel (fd 3).
    const code = `const c = require('child_process').spawn('sleep', ['600'], { detached: true, stdio: ['ignore', 'inherit', 'inherit', 'inherit'] })
      console.log(c.pid); console.log('last words'); console.error('on stderr'); process.exit(3)`
    const mp = spawner.spawn(spec('w#1', ['-e', code]))
    const report = await mp.exited
    assert.equal(report.exitCode, 3)
    const stray = Number(await waitFor(() => linesOf('w#1')[0], 'stray pid'))
    strays.push(stray)
    assert.equal(isGone(stray), false, 'process groups cannot see a setsid descendant')
    await waitFor(() => linesOf('w#1').length === 2 && linesOf('w#1', 'err').length === 1, 'the last lines')
    assert.equal(linesOf('w#1')[1], 'last words')
    await waitFor(() => pipes() === before, 'the pipes to be closed', 5_000)
  })

  it('runs in the given cwd and env, as its own process group leader', async () => {
    const code = `const fs = require('fs'); const stat = fs.readFileSync('/proc/self/stat', 'utf8')
      const pgrp = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]
      console.log(JSON.stringify({ cwd: process.cwd(), v: process.env.SHEPHERD_TEST_VAR, pgrp: Number(pgrp) }))`
    const mp = spawner.spawn(spec('w#1', ['-e', code], { env: { ...cleanEnv, SHEPHERD_TEST_VAR: 'yes' } }))
    await mp.exited
    const line = await waitFor(() => linesOf('w#1')[0], 'output')
    assert.deepEqual(JSON.parse(line), { cwd: tmp, v: 'yes', pgrp: mp.pid })
    assert.ok(existsSync(tmp))
  })
})
