/**
 * Workers run without a shell unless their pool says `shell: true`: without it, no character of a
 * command or its arguments is interpreted; with it, the command is a /bin/sh script and the
 * arguments stay single words ($1, $2, …), however they are written.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

import { commandLine, createProcessSpawner, WORKER_SHELL } from '../../src/adapters/process/spawner.js'
import type { ExitReport } from '../../src/core/exit-report.js'
import type { WorkerSpec } from '../../src/ports/process.js'
import { fixture, NODE, startTestDaemon, tempDir } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

const ENV = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined)) as Record<
  string,
  string
>

/** Runs one spec to its end and until it has printed `lines` lines; resolves with its exit report and stdout. */
async function run(
  spec: Omit<WorkerSpec, 'workerId' | 'pool' | 'env'>,
  lines = 0,
): Promise<{ exit: ExitReport; out: string[] }> {
  const out: string[] = []
  const spawner = createProcessSpawner({
    now: () => performance.now(),
    onOutput: (_id, stream, got) => {
      if (stream === 'out') out.push(...got)
    },
  })
  const p = spawner.spawn({ workerId: 't#1', pool: 'tpool', env: ENV, ...spec })
  const exit = await p.exited
  // The exit event can come before the last of the output has been read from the pipe.
  await waitFor(() => out.length >= lines, `${lines} line(s) of output`)
  return { exit, out }
}

describe('worker commands and the shell', () => {
  it('execute the command itself by default: shell syntax in it is just a file name that does not exist', async (t) => {
    const dir = tempDir(t)
    const { exit } = await run({ command: `echo hi > ${dir}/x`, args: [], cwd: dir })
    assert.equal(exit.spawnFailed, true)
    assert.match(exit.error ?? '', /command not found \(ENOENT\)/)
    assert.ok(!existsSync(path.join(dir, 'x')), 'no shell ran the redirection')
  })

  it('pass arguments as they are by default: nothing in them is expanded or run', async (t) => {
    const dir = tempDir(t)
    const args = ['$(touch pwned)', '`touch pwned2`; touch pwned3', '$HOME', '*']
    const { exit, out } = await run(
      {
        command: NODE,
        args: ['-e', 'console.log(JSON.stringify(process.argv.slice(1)))', ...args],
        cwd: dir,
      },
      1,
    )
    assert.equal(exit.exitCode, 0)
    assert.deepEqual(JSON.parse(out[0]!), args)
    for (const f of ['pwned', 'pwned2', 'pwned3']) assert.ok(!existsSync(path.join(dir, f)), f)
  })

  it('with shell: true run the command through /bin/sh, arguments as $1, $2, … and the pool as $0', async (t) => {
    const dir = tempDir(t)
    const args = ['a b', '$(touch pwned)', "it's"]
    const { exit, out } = await run(
      {
        command: `printf '%s|' "$0" "$@" > args.txt; echo hello | tr a-z A-Z`,
        args,
        shell: true,
        cwd: dir,
      },
      1,
    )
    assert.equal(exit.exitCode, 0, exit.error)
    assert.deepEqual(out, ['HELLO'], 'a pipeline ran')
    assert.equal(readFileSync(path.join(dir, 'args.txt'), 'utf8'), "tpool|a b|$(touch pwned)|it's|")
    assert.ok(!existsSync(path.join(dir, 'pwned')), 'arguments stay words, even under a shell')
  })

  it('build the command line from the spec', () => {
    const spec = { command: 'node', args: ['w.js', '--x'], pool: 'email' }
    assert.deepEqual(commandLine(spec), ['node', ['w.js', '--x']])
    assert.deepEqual(commandLine({ ...spec, shell: false }), ['node', ['w.js', '--x']])
    assert.deepEqual(commandLine({ ...spec, command: 'exec node "$@"', shell: true }), [
      WORKER_SHELL,
      ['-c', 'exec node "$@"', 'email', 'w.js', '--x'],
    ])
  })

  it('with shell: true in a pool, the daemon runs the worker through sh (which may exec it)', async (t) => {
    const td = await startTestDaemon(t, {
      recovery: { min_uptime: '200ms' },
      workers: {
        web: {
          command: 'echo "started $SHEPHERD_WORKER_ID" >> started.log && exec "$@"',
          args: [NODE, fixture('forever.mjs')],
          shell: true,
        },
      },
    })
    await waitFor(() => td.daemon.supervisor.listWorkers()[0]?.state === 'ready', 'the worker to be ready')
    assert.equal(readFileSync(path.join(td.dir, 'started.log'), 'utf8'), 'started web#1\n')
    const pid = td.daemon.supervisor.listWorkers()[0]!.pid!
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    assert.deepEqual(cmdline.slice(0, 2), [NODE, fixture('forever.mjs')], 'sh exec’d the worker')
  })
})
