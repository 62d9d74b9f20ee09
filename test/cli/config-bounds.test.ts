/**
 * The edges of a config file, through the CLI as a user meets them: durations past what a timer
 * takes, numbers YAML cannot hold, env values YAML would rewrite, alias bombs, oversized files,
 * absurd replica counts, a syntax error on the last line, and commands that cannot run.
 */
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'

import { CLI_ENV, type CliResult, runCli, startCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

const shepherd = (args: string[], env: NodeJS.ProcessEnv = CLI_ENV): Promise<CliResult> =>
  runCli(args, { env })

function write(t: TestContext, text: string, name = 'shepherd.yaml'): string {
  const file = path.join(tempDir(t), name)
  writeFileSync(file, text)
  return file
}

/** `shepherd validate` and `shepherd start` both refuse the file with exit 2, the code, and these lines. */
async function expectRefused(file: string, problems: string[]): Promise<void> {
  for (const command of ['validate', 'start']) {
    const r = await shepherd([command, '-c', file])
    assert.equal(r.code, 2, `${command}: ${r.stderr}`)
    assert.equal(r.stdout, '', command)
    const n = problems.length
    assert.equal(
      r.stderr,
      [
        `shepherd: ${file}: ${n} problem${n === 1 ? '' : 's'} [SHEPHERD_CONFIG_INVALID]`,
        ...problems,
        '',
      ].join('\n'),
      command,
    )
  }
}

const POOL = 'workers:\n  q:\n    command: node\n'

describe('config bounds', { timeout: 180_000 }, () => {
  it('refuses a supervisor duration past 24 days, naming the field, the limit and what the file says', async (t) => {
    const file = write(
      t,
      [
        'recovery:',
        '  check_interval: 1e300',
        'workers:',
        '  q:',
        '    command: node',
        '    stop_timeout: 1e300',
        '    hang_timeout: 30d',
        '',
      ].join('\n'),
    )
    await expectRefused(file, [
      '  recovery.check_interval (line 2): expected a duration of at most 24d, got 1e300 (number)',
      '  workers.q.stop_timeout (line 6): expected a duration of at most 24d, got 1e300 (number)',
      '  workers.q.hang_timeout (line 7): expected a duration of at most 24d, got "30d" (string)',
    ])
  })

  it('takes a retention, a queue delay and a report period of years, up to 3650 days', async (t) => {
    const ok = write(
      t,
      `store: { event_retention: 400d }\nqueues:\n  q: { keep_done: 3650d, timeout: 400d, max_retry_delay: 30d }\n${POOL}`,
    )
    const r = await shepherd(['validate', '-c', ok])
    assert.equal(r.code, 0, r.stderr)
    const tooLong = write(t, `store: { event_retention: 3651d }\n${POOL}`, 'long.yaml')
    await expectRefused(tooLong, [
      '  store.event_retention (line 1): expected a duration of at most 3650d, got "3651d" (string)',
    ])
  })

  it('reports a number too large for YAML as the file writes it, not as "null"', async (t) => {
    const file = write(t, `recovery:\n  check_interval: 1e400\n  max_retries: 1e400\n${POOL}`)
    await expectRefused(file, [
      '  recovery.check_interval (line 2): expected a finite number, got 1e400 (number)',
      '  recovery.max_retries (line 3): expected a finite number, got 1e400 (number)',
    ])
  })

  it('refuses a billion-laughs file with the file, the code, the line and a reason', async (t) => {
    const lol = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]']
    for (const [name, prev] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
      ['g', 'f'],
    ])
      lol.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`)
    const file = write(t, `${lol.join('\n')}\n${POOL}`)
    await expectRefused(file, [
      '  (yaml) (line 2): too many aliases: expanding them makes more than 100 copies (an alias bomb); write the values out, or use fewer aliases',
    ])
  })

  it('refuses a file over 1 MiB before parsing it', async (t) => {
    const file = write(t, `${POOL}# ${'x'.repeat(1024 * 1024)}\n`)
    const size = readFileSync(file).length
    await expectRefused(file, [`  (file): expected at most 1048576 bytes (1 MiB), got ${size} bytes`])
  })

  it('refuses more than 1000 replicas or spares', async (t) => {
    const file = write(
      t,
      [
        'workers:',
        '  a: { command: node, replicas: 5000 }',
        '  b: { command: node, replicas: { min: 1, max: 1001 } }',
        '  c: { command: node, spares: 2000 }',
        '',
      ].join('\n'),
    )
    await expectRefused(file, [
      '  workers.a.replicas (line 2): expected a number ≤ 1000, got 5000 (number)',
      '  workers.b.replicas.max (line 3): expected a number ≤ 1000, got 1001 (number)',
      '  workers.c.spares (line 4): expected a number ≤ 1000, got 2000 (number)',
    ])
  })

  it('reports a syntax error on the last line at that line, not the one after', async (t) => {
    const file = write(t, 'workers:\n  q:\n    command: node\n    args: [a, b\n')
    const r = await shepherd(['validate', '-c', file])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /\n {2}\(yaml\) \(line 4\): /)
  })

  it('gives a worker its env values as the file writes them', async (t) => {
    const dir = tempDir(t)
    const file = path.join(dir, 'shepherd.yaml')
    const out = path.join(dir, 'env.out')
    writeFileSync(
      file,
      [
        'api: { port: 0 }',
        'workers:',
        '  q:',
        '    command: /bin/sh',
        `    args: ['-c', 'printf "%s|%s|%s|%s|%s|%s" "$A" "$B" "$C" "$D" "$E" "$F" > ${out}; exec sleep 1000']`,
        '    env:',
        '      A: 01234',
        '      B: 1.10',
        '      C: 0x1F',
        '      D: 12345678901234567890',
        '      E: True',
        '      F: 1e400',
        '',
      ].join('\n'),
    )
    const daemon = startCli(t, ['start', '-c', file])
    await waitFor(
      () => existsSync(out) && readFileSync(out, 'utf8').includes('|'),
      'the worker to write its env',
      30_000,
    )
    assert.equal(readFileSync(out, 'utf8'), '01234|1.10|0x1F|12345678901234567890|True|1e400')
    // Stopped once it has started: the usual stop, its worker going with it.
    await waitFor(() => daemon.log().includes('shepherd started'), 'the supervisor to have started', 30_000)
    daemon.child.kill('SIGTERM')
    assert.equal(await daemon.exited, 0)
  })

  it('validate warns (exit 0) about a command that is not found or not executable, minding cwd, shell and env.PATH', async (t) => {
    const dir = tempDir(t)
    mkdirSync(path.join(dir, 'bin'))
    writeFileSync(path.join(dir, 'bin', 'tool'), '#!/bin/sh\n')
    chmodSync(path.join(dir, 'bin', 'tool'), 0o755)
    writeFileSync(path.join(dir, 'bin', 'data.txt'), 'not a program\n')
    chmodSync(path.join(dir, 'bin', 'data.txt'), 0o644)
    const file = path.join(dir, 'shepherd.yaml')
    writeFileSync(
      file,
      [
        'workers:',
        '  fine: { command: node }',
        '  relative: { command: ./tool, cwd: bin }',
        '  onpath: { command: tool, env: { PATH: bin } }',
        '  shell: { command: "tool | cat", shell: true }',
        '  missing: { command: tool }',
        '  plain: { command: ./data.txt, cwd: bin }',
        '  gone: { command: ./tool, cwd: nowhere }',
        '',
      ].join('\n'),
    )
    const r = await shepherd(['validate', '-c', file], {
      ...CLI_ENV,
      PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`,
    })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^ok\n/)
    assert.equal(
      r.stderr,
      [
        'shepherd: warning: workers.missing.command (line 6): "tool" is not found on PATH (' +
          `${path.dirname(process.execPath)}:/usr/bin:/bin)`,
        `shepherd: warning: workers.plain.command (line 7): ${path.join(dir, 'bin', 'data.txt')} is not executable`,
        `shepherd: warning: workers.gone.cwd (line 8): the working directory ${path.join(dir, 'nowhere')} does not exist`,
        '',
      ].join('\n'),
    )
  })
})
