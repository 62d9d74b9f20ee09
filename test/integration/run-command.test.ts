/**
 * The short-command runner behind exec probes and command hooks (src/adapters/process/run-command.ts), with
 * real processes and its time limit on fake timers: nothing is killed before the limit, the whole
 * group at it, and what the command left behind in its group when it exits.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { runCommand } from '../../src/adapters/process/run-command.js'
import { FakeClock } from '../../src/ports/clock.js'
import { FakeTimers } from '../helpers/fake-timers.js'
import { isGone, waitFor } from '../helpers/wait.js'

const HEAD = { keep: 'head', chars: 4096 } as const

/** A shell that starts a background `sleep` in its group, prints the sleep's pid to stderr, then `rest`. */
function leaveSleeper(rest: string): string[] {
  return ['-c', `sleep 300 & echo $! >&2; ${rest}`]
}

describe('runCommand', () => {
  it('kills the whole group at the time limit armed on its timers, not before', async () => {
    const timers = new FakeTimers(new FakeClock())
    const result = runCommand({
      command: 'sh',
      args: leaveSleeper('sleep 300'),
      cwd: process.cwd(),
      timeoutMs: 5_000,
      timers,
      stderr: HEAD,
    })
    let settled = false
    void result.then(() => (settled = true))
    await timers.run(4_999)
    assert.equal(settled, false, 'still running under the time limit')
    assert.equal(timers.size, 1)
    await timers.run(1)
    // The kill is real; so are the exit and the end of stderr that follow it.
    const r = await result
    assert.equal(r.kind, 'stopped')
    const sleeper = Number((r as { stderr: string }).stderr.trim())
    assert.ok(sleeper > 0)
    await waitFor(() => isGone(sleeper), 'the background sleep to be killed with its group')
  })

  it('kills what a command left in its group when it exits, and keeps the part of stderr asked for', async () => {
    const r = await runCommand({
      command: 'sh',
      args: leaveSleeper('printf "one\\ntwo\\nthree\\n" >&2; exit 3'),
      cwd: process.cwd(),
      stderr: { keep: 'tail', chars: 6 },
    })
    assert.deepEqual(r, { kind: 'exited', code: 3, signal: null, stderr: 'three\n' })
    const head = await runCommand({
      command: 'sh',
      args: leaveSleeper('exit 0'),
      cwd: process.cwd(),
      stderr: { keep: 'head', chars: 3 },
    })
    assert.equal(head.kind, 'exited')
    const pid = Number((head as { stderr: string }).stderr)
    assert.ok(pid > 0 && pid < 1000, 'the first 3 characters of the pid line')
  })

  it('writes `input` to stdin, and is stopped by its signal', async () => {
    const echoed = await runCommand({
      command: 'sh',
      args: ['-c', 'cat >&2'],
      cwd: process.cwd(),
      input: '{"ok":true}\n',
      stderr: HEAD,
    })
    assert.deepEqual(echoed, { kind: 'exited', code: 0, signal: null, stderr: '{"ok":true}\n' })

    const abort = new AbortController()
    const pending = runCommand({
      command: 'sh',
      args: leaveSleeper('sleep 300'),
      cwd: process.cwd(),
      signal: abort.signal,
      stderr: HEAD,
    })
    abort.abort()
    const r = await pending
    assert.equal(r.kind, 'stopped')
  })

  it('says why a command could not start', async () => {
    const r = await runCommand({
      command: 'shepherd-no-such-command',
      args: [],
      cwd: process.cwd(),
      stderr: HEAD,
    })
    assert.equal(r.kind, 'not-started')
    assert.equal((r as { error: NodeJS.ErrnoException }).error.code, 'ENOENT')
  })
})
