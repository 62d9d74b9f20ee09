import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'

import { CLI_ENV, type CliResult, runCli } from '../helpers/cli.js'

/** `shepherd <args>`, in `cwd`, with `env` over the CLI's usual environment. */
const shepherd = (args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> =>
  runCli(args, { cwd: o.cwd, env: { ...CLI_ENV, ...o.env } })

/** The config block of the plan (seed/worker-auto-recovery-plan.ja.md), byte for byte. */
const PLAN_BLOCK = [
  '# config/worker_recovery.yaml',
  'recovery:',
  '  check_interval: 30  # 秒',
  '  max_retries: 3',
  '  retry_delay: 10',
  '  ',
  'thresholds:',
  '  cpu_percent: 90',
  '  memory_mb: 1024',
  '  error_rate: 0.1',
  '  queue_size: 100',
  '  ',
  'strategies:',
  '  default: soft_restart',
  '  emergency: hard_restart',
  '',
].join('\n')

const WORKERS = [
  'workers:',
  '  email:',
  '    command: node',
  '    args: [workers/email.js]',
  '    replicas: { min: 2, max: 6 }',
  '',
].join('\n')

let dir = ''
function file(name: string, text: string): string {
  const p = path.join(dir, name)
  mkdirSync(path.dirname(p), { recursive: true })
  writeFileSync(p, text)
  return p
}

/** Asserts that the CLI refused the file and listed `expected` problems, each with path and line. */
async function expectProblems(name: string, text: string, expected: string[]): Promise<CliResult> {
  const f = file(name, text)
  const r = await shepherd(['validate', '-c', f])
  assert.equal(r.code, 2, r.stderr)
  assert.equal(r.stdout, '')
  const lines = r.stderr.trimEnd().split('\n')
  assert.equal(
    lines[0],
    `shepherd: ${f}: ${expected.length} problem${expected.length === 1 ? '' : 's'} [SHEPHERD_CONFIG_INVALID]`,
  )
  assert.deepEqual(lines.slice(1), expected)
  return r
}

describe('shepherd validate', { timeout: 120_000 }, () => {
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'shepherd-validate-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it("accepts the plan's config block as written, with a workers section", async () => {
    const f = file('plan.yaml', PLAN_BLOCK + WORKERS)
    const r = await shepherd(['validate', '-c', f])
    assert.equal(r.stderr, '')
    assert.equal(r.stdout, 'ok\n1 pool, 2 workers: email (2..6)\n')
    assert.equal(r.code, 0)
  })

  it('reports a wrong type with its path, line and what was expected', async () => {
    await expectProblems(
      'wrong-type.yaml',
      PLAN_BLOCK.replace('max_retries: 3', 'max_retries: three') + WORKERS,
      ['  recovery.max_retries (line 4): expected a number, got "three" (string)'],
    )
  })

  it('reports an unknown key with its line and the key it probably meant', async () => {
    await expectProblems(
      'unknown-key.yaml',
      PLAN_BLOCK.replace('cpu_percent: 90', 'cpu_percnt: 90') + WORKERS,
      ['  thresholds.cpu_percnt (line 8): unknown key "cpu_percnt"; did you mean "cpu_percent"?'],
    )
  })

  it('reports a negative duration', async () => {
    await expectProblems(
      'negative.yaml',
      PLAN_BLOCK.replace('retry_delay: 10', 'retry_delay: -10') + WORKERS,
      ['  recovery.retry_delay (line 5): expected a duration ≥ 0, got -10 (number)'],
    )
  })

  it('reports a pool without its command', async () => {
    await expectProblems('no-command.yaml', PLAN_BLOCK + WORKERS.replace('    command: node\n', ''), [
      '  workers.email.command (line 17): required: expected a string',
    ])
  })

  it('lists every problem of a file at once, in line order', async () => {
    const text = PLAN_BLOCK.replace('max_retries: 3', 'max_retries: -1')
      .replace('default: soft_restart', 'default: gentle_restart')
      .concat(WORKERS.replace('    command: node\n', ''))
    await expectProblems('many.yaml', text, [
      '  recovery.max_retries (line 4): expected a number ≥ 0, got -1 (number)',
      '  strategies.default (line 14): expected one of "soft_restart", "hard_restart", "scale_recovery", got "gentle_restart" (string)',
      '  workers.email.command (line 17): required: expected a string',
    ])
  })

  it('refuses a file without workers', async () => {
    await expectProblems('no-workers.yaml', PLAN_BLOCK, ['  workers (line 2): required: expected a mapping'])
  })

  it('refuses a file that is not YAML, with the line', async () => {
    const f = file('broken.yaml', 'recovery:\n  check_interval: [30\n')
    const r = await shepherd(['validate', '-c', f])
    assert.equal(r.code, 2)
    // The YAML parser's wording is its own; what matters is the code, the path and the line.
    assert.match(
      r.stderr,
      new RegExp(
        `^shepherd: ${escape(f)}: 1 problem \\[SHEPHERD_CONFIG_INVALID\\]\\n {2}\\(yaml\\) \\(line \\d+\\): \\S`,
      ),
    )
  })

  it('refuses a file it cannot read, with exit code 2', async () => {
    const missing = path.join(dir, 'missing.yaml')
    const r = await shepherd(['validate', '-c', missing])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(
      r.stderr,
      new RegExp(
        `^shepherd: cannot read config file ${escape(missing)}: ENOENT.*\\[SHEPHERD_CONFIG_NOT_FOUND\\]\\n$`,
      ),
    )
  })

  it('takes the file from $SHEPHERD_CONFIG, else ./config/worker_recovery.yaml', async () => {
    const f = file('env.yaml', PLAN_BLOCK + WORKERS)
    const fromEnv = await shepherd(['validate'], { env: { SHEPHERD_CONFIG: f } })
    assert.equal(fromEnv.code, 0, fromEnv.stderr)
    const cwd = path.join(dir, 'project')
    file('project/config/worker_recovery.yaml', PLAN_BLOCK + WORKERS)
    const fromCwd = await shepherd(['validate'], { cwd })
    assert.equal(fromCwd.code, 0, fromCwd.stderr)
    assert.match(fromCwd.stdout, /^ok\n/)
    const none = await shepherd(['validate'], { cwd: dir })
    assert.equal(none.code, 2)
    assert.ok(none.stderr.includes(path.join(dir, 'config', 'worker_recovery.yaml')), none.stderr)
  })

  it('answers a usage error with exit code 2', async () => {
    const r = await shepherd(['validate', '--bogus'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^shepherd: unknown option '--bogus'/)
  })
})

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
