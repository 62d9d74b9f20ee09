/**
 * The queue commands in real processes, on a temp config whose store is a real SQLite file and
 * with no supervisor running (they never need one). Dead and quarantined jobs are made by driving
 * the store's JobStore directly, as a supervisor would.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'

import { jobPolicy, loadConfigFile, type LoadedConfig, queueSettings } from '../../src/config/load.js'
import type { Job } from '../../src/core/job.js'
import type { QueueCounts } from '../../src/ports/job-store.js'
import type { Store } from '../../src/ports/store.js'
import { openStore } from '../../src/store/open-store.js'
import { type CliResult, runCli } from '../helpers/cli.js'

/** `shepherd <args>` with `stdin` piped in. */
const shepherd = (args: string[], stdin = ''): Promise<CliResult> => runCli(args, { stdin })

// The API port is never used by these commands: no supervisor runs, and none is needed.
const CONFIG = [
  'api:',
  '  port: 1',
  'queues:',
  '  email: { max_attempts: 5, timeout: 30s }',
  'workers:',
  '  email: { command: node, args: [email.js], queue: email }',
  '  reports: { command: node, args: [reports.js], queue: reports }',
  '',
].join('\n')

const QUEUE_KEYS = [
  'name',
  'waiting',
  'delayed',
  'inFlight',
  'done',
  'failed',
  'deadLettered',
  'quarantined',
  'throughputPerMinute',
  'oldestWaitingMs',
]

describe('shepherd queue commands (no supervisor running)', { timeout: 300_000 }, () => {
  let dir = ''
  let config = ''
  let loaded: LoadedConfig
  let store: Store
  /** Each job the helpers below add outranks every earlier one, so that the next claim takes it. */
  let nextPriority = 1_000_000

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'shepherd-queue-cli-'))
    config = path.join(dir, 'worker_recovery.yaml')
    writeFileSync(config, CONFIG)
    loaded = loadConfigFile(config)
    store = await openStore(loaded.storePath)
  })

  after(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const policy = (queue: string) => jobPolicy(queueSettings(loaded.config, queue), 0)
  const job = async (id: string): Promise<Job | undefined> => store.jobs.getJob(id)
  /** Every job of the queue, whatever its state. */
  const total = async (queue: string): Promise<number> => {
    const c = await counts(queue)
    return c.waiting + c.delayed + c.inFlight + c.done + c.deadLettered + c.quarantined
  }
  const counts = async (queue: string): Promise<QueueCounts> => {
    const [c] = await store.jobs.counts(Date.now(), queue)
    assert.ok(c)
    return c
  }

  /** A job that failed its only attempt: dead-lettered. */
  async function makeDead(queue: string, id: string): Promise<void> {
    const now = Date.now()
    await store.jobs.add(
      [{ queue, id, payload: { id }, maxAttempts: 1, priority: nextPriority++ }],
      now,
      () => ({
        maxAttempts: 1,
        timeoutMs: null,
      }),
    )
    const [d] = await store.jobs.claim(queue, 1, `${queue}#1`, now)
    assert.equal(d?.job.id, id)
    const [r] = await store.jobs.settle(
      [{ kind: 'fail', token: d.token, error: `boom ${id}` }],
      now,
      policy,
      () => 0.5,
    )
    assert.equal(r?.outcome, 'dead')
  }

  /** A job in flight in poison_threshold (3) worker crashes: quarantined. */
  async function makeQuarantined(queue: string, id: string): Promise<void> {
    const now = Date.now()
    await store.jobs.add([{ queue, id, payload: { id }, priority: nextPriority++ }], now, () => ({
      maxAttempts: 3,
      timeoutMs: null,
    }))
    for (;;) {
      const [d] = await store.jobs.claim(queue, 1, `${queue}#1`, now)
      assert.equal(d?.job.id, id)
      const [r] = await store.jobs.settle([{ kind: 'crash', token: d.token }], now, policy, () => 0.5)
      if (r?.outcome === 'quarantined') return
      assert.equal(r?.outcome, 'requeued')
    }
  }

  it('enqueue adds one job with its options and prints its id', async () => {
    const r = await shepherd([
      'enqueue',
      '-c',
      config,
      'email',
      '{"to":"a@example.com"}',
      '--id',
      'welcome-1',
      '--delay',
      '30s',
      '--priority',
      '5',
      '--max-attempts',
      '2',
      '--timeout',
      '1500',
    ])
    assert.equal(r.stderr, '')
    assert.equal(r.code, 0)
    assert.equal(r.stdout, 'welcome-1\n')
    const j = await job('welcome-1')
    assert.ok(j)
    assert.deepEqual(
      {
        queue: j.queue,
        payload: j.payload,
        state: j.state,
        delay: j.runAt - j.createdAt,
        priority: j.priority,
        maxAttempts: j.maxAttempts,
        timeoutMs: j.timeoutMs,
      },
      {
        queue: 'email',
        payload: { to: 'a@example.com' },
        state: 'waiting',
        delay: 30_000,
        priority: 5,
        maxAttempts: 2,
        timeoutMs: 1500,
      },
    )
  })

  it('enqueue gives a job without options the queue’s defaults from the config, and a bare number is ms', async () => {
    const r = await shepherd(['enqueue', '-c', config, 'email', '"plain"', '--delay', '250'])
    assert.equal(r.code, 0, r.stderr)
    const id = r.stdout.trim()
    assert.match(id, /^[0-9a-f-]{36}$/)
    const j = await job(id)
    assert.deepEqual(
      [j?.payload, j?.maxAttempts, j?.timeoutMs, j ? j.runAt - j.createdAt : -1],
      ['plain', 5, 30_000, 250],
    )
  })

  it('enqueue by idempotency key says a second add is a duplicate and leaves the job alone', async () => {
    const first = await shepherd(['enqueue', '-c', config, 'email', '{"n":1}', '--key', 'signup:42'])
    assert.equal(first.code, 0, first.stderr)
    const id = first.stdout.trim()
    const again = await shepherd(['enqueue', '-c', config, 'email', '{"n":2}', '--key', 'signup:42'])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(again.stdout, `${id} (duplicate: already there, unchanged)\n`)
    const json = await shepherd(['enqueue', '-c', config, 'email', '{"n":3}', '--key', 'signup:42', '--json'])
    assert.equal(json.stdout, `${JSON.stringify({ jobs: [{ id, added: false }] })}\n`)
    assert.deepEqual((await job(id))?.payload, { n: 1 })
  })

  it('enqueue reads JSON lines from stdin, in batches of 1000, skipping blank lines', async () => {
    const already = (await counts('bulk')).waiting
    const lines = Array.from({ length: 2500 }, (_, i) => JSON.stringify({ n: i })).join('\n')
    const r = await shepherd(['enqueue', '-c', config, 'bulk', '--priority', '3'], `${lines}\n\n`)
    assert.equal(r.code, 0, r.stderr)
    const ids = r.stdout.trimEnd().split('\n')
    assert.equal(ids.length, 2500)
    assert.equal(new Set(ids).size, 2500)
    assert.equal(r.stderr, 'added 2500 jobs to bulk\n')
    assert.equal((await counts('bulk')).waiting, already + 2500)
    const last = await job(ids[2499]!)
    assert.deepEqual([last?.payload, last?.priority], [{ n: 2499 }, 3])
  })

  it('enqueue refuses stdin with a bad line, naming each bad line, and adds nothing', async () => {
    const already = await total('lines')
    const r = await shepherd(
      ['enqueue', '-c', config, 'lines', '-'],
      '{"ok":1}\n\n{"to":\n"fine"\nnot json\n',
    )
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^shepherd: 2 bad lines on stdin; nothing was added \[SHEPHERD_BAD_REQUEST\]\n/)
    assert.match(r.stderr, /\n {2}line 3: not valid JSON \(/)
    assert.match(r.stderr, /\n {2}line 5: not valid JSON \(/)
    assert.equal(await total('lines'), already)
  })

  it('enqueue --lines-are-jobs takes each line’s options over the flags’, and names a bad key with its line', async () => {
    const input = [
      JSON.stringify({ payload: { n: 1 }, id: 'lj-1', priority: 9 }),
      JSON.stringify({ payload: { n: 2 }, id: 'lj-2' }),
      JSON.stringify({ payload: { n: 3 }, id: 'lj-2' }),
    ].join('\n')
    const r = await shepherd(
      ['enqueue', '-c', config, 'email', '--lines-are-jobs', '--priority', '4', '--json'],
      input,
    )
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), {
      jobs: [
        { id: 'lj-1', added: true },
        { id: 'lj-2', added: true },
        { id: 'lj-2', added: false },
      ],
    })
    assert.equal(r.stderr, 'added 2 jobs to email, 1 duplicate left as they were\n')
    assert.deepEqual([(await job('lj-1'))?.priority, (await job('lj-2'))?.priority], [9, 4])

    const bad = await shepherd(
      ['enqueue', '-c', config, 'email', '--lines-are-jobs'],
      '{"payload":1,"id":"lj-3"}\n{"payload":2,"priorty":1}\n[3]\n',
    )
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /^shepherd: 2 bad lines on stdin; nothing was added \[SHEPHERD_BAD_REQUEST\]\n/)
    assert.match(bad.stderr, /\n {2}line 2: priorty: unknown key "priorty"; did you mean "priority"\?\n/)
    assert.match(
      bad.stderr,
      /\n {2}line 3: expected an object \{"payload": …, <options>\} \(--lines-are-jobs\), got an array\n/,
    )
    assert.equal(await job('lj-3'), undefined)
  })

  it('enqueue refuses a bad command line with exit 2 and adds nothing', async () => {
    const already = await total('email')
    const cases: [string[], RegExp][] = [
      [['{bad'], /^shepherd: the payload argument is not valid JSON/],
      [
        ['1', '--delay', 'soon'],
        /^shepherd: --delay: expected milliseconds or a duration such as "500ms", "30s", "2m", got "soon"/,
      ],
      [['1', '--priority', '1.5'], /^shepherd: --priority: expected an integer, got 1\.5 \(number\)/],
      [['1', '--max-attempts', '0'], /^shepherd: --max-attempts: expected a number ≥ 1, got 0 \(number\)/],
      [['-', '--key', 'k'], /^shepherd: --key names one job: with jobs from stdin, give each line its own/],
      [['1', '--lines-are-jobs'], /^shepherd: --lines-are-jobs reads stdin/],
    ]
    for (const [args, message] of cases) {
      const r = await shepherd(['enqueue', '-c', config, 'email', ...args], '')
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, message)
      assert.equal(r.stdout, '')
    }
    const badQueue = await shepherd(['enqueue', '-c', config, 'e mail', '1'])
    assert.equal(badQueue.code, 2)
    assert.match(
      badQueue.stderr,
      /^shepherd: <queue>: expected a queue name of letters, digits, "_", "\." or "-", got "e mail" \(string\)\n/,
    )
    const empty = await shepherd(['enqueue', '-c', config, 'email'], '\n\n')
    assert.equal(empty.code, 2)
    assert.match(empty.stderr, /^shepherd: no jobs on stdin/)
    assert.equal(await total('email'), already)
  })

  it('enqueue refuses a payload nested deeper than 64 levels, or a delay over 3650 days, and adds nothing', async () => {
    const already = await total('email')
    const deep = '['.repeat(2000) + ']'.repeat(2000)
    const arg = await shepherd(['enqueue', '-c', config, 'email', deep])
    assert.equal(arg.code, 1, arg.stderr)
    assert.equal(
      arg.stderr,
      'shepherd: job 1: payload: expected JSON nested at most 64 levels deep, got deeper [SHEPHERD_BAD_REQUEST]\n',
    )
    const lines = await shepherd(['enqueue', '-c', config, 'email'], `1\n${deep}\n`)
    assert.equal(lines.code, 1, lines.stderr)
    assert.match(
      lines.stderr,
      /\n {2}line 2: payload: expected JSON nested at most 64 levels deep, got deeper\n/,
    )
    const delay = await shepherd(['enqueue', '-c', config, 'email', '1', '--delay', '4000d'])
    assert.equal(delay.code, 2, delay.stderr)
    assert.match(delay.stderr, /^shepherd: --delay: expected at most 3650d, got "4000d" \(string\)\n/)
    assert.equal(await total('email'), already)
  })

  it('queues prints a row per queue, the configured ones included; --json names the queue "name"', async () => {
    await makeDead('audit', 'audit-dead')
    const r = await shepherd(['queues', '-c', config])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    assert.match(
      lines[0]!,
      /^QUEUE +WAITING +DELAYED +IN FLIGHT +DONE +FAILED +DEAD +QUARANTINED +PER MIN +OLDEST WAITING$/,
    )
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/ {2,}/)[0]),
      ['audit', 'bulk', 'email', 'reports'],
    )
    assert.match(lines[1]!, /^audit +0 +0 +0 +0 +0 +1 +0 +0 +-$/)
    assert.match(lines[4]!, /^reports +0 +0 +0 +0 +0 +0 +0 +0 +-$/, 'a queue a pool names shows with zeros')

    const json = await shepherd(['queues', '-c', config, '--json'])
    assert.equal(json.code, 0, json.stderr)
    const parsed = JSON.parse(json.stdout) as { queues: Record<string, unknown>[] }
    assert.deepEqual(Object.keys(parsed), ['queues'])
    for (const q of parsed.queues) assert.deepEqual(Object.keys(q), QUEUE_KEYS)
    const audit = parsed.queues.find((q) => q.name === 'audit')
    assert.deepEqual(audit, {
      name: 'audit',
      waiting: 0,
      delayed: 0,
      inFlight: 0,
      done: 0,
      failed: 0,
      deadLettered: 1,
      quarantined: 0,
      throughputPerMinute: 0,
      oldestWaitingMs: 0,
    })
  })

  it('jobs lists a queue’s jobs with --state, --limit and --json', async () => {
    await makeDead('mail2', 'm-dead')
    await makeQuarantined('mail2', 'm-poison')
    const r = await shepherd(['jobs', '-c', config, 'mail2'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    assert.match(lines[0]!, /^ID +STATE +PRIORITY +ATTEMPTS +CRASHES +DELIVERY +AGE +LAST ERROR$/)
    assert.match(lines[1]!, /^m-poison +quarantined +\d+ +0\/3 +3 +3 +\S+ +-$/)
    assert.match(lines[2]!, /^m-dead +dead +\d+ +1\/1 +0 +1 +\S+ +boom m-dead$/)

    const dead = await shepherd(['jobs', '-c', config, 'mail2', '--state', 'dead', '--json'])
    assert.equal(dead.code, 0, dead.stderr)
    const parsed = JSON.parse(dead.stdout) as { jobs: Job[] }
    assert.deepEqual(Object.keys(parsed), ['jobs'])
    assert.deepEqual(parsed.jobs, [await job('m-dead')])

    const one = await shepherd(['jobs', '-c', config, 'mail2', '--limit', '1', '--json'])
    assert.deepEqual(
      (JSON.parse(one.stdout) as { jobs: Job[] }).jobs.map((j) => j.id),
      ['m-poison'],
    )
    const none = await shepherd(['jobs', '-c', config, 'mail2', '--state', 'done'])
    assert.equal(none.stdout, 'no jobs\n')
    const badState = await shepherd(['jobs', '-c', config, 'mail2', '--state', 'nope'])
    assert.equal(badState.code, 2)
    assert.match(
      badState.stderr,
      /argument 'nope' is invalid\. Allowed choices are waiting, delayed, active, done, failed, dead, quarantined/,
    )
  })

  it('retry puts dead jobs back (by id, then all) and quarantined ones, and says how many', async () => {
    await makeDead('retries', 'r-dead-1')
    await makeDead('retries', 'r-dead-2')
    await makeDead('retries', 'r-dead-3')
    await makeQuarantined('retries', 'r-poison')

    const byId = await shepherd(['retry', '-c', config, 'retries', '--dead', 'r-dead-1', 'r-poison'])
    assert.equal(byId.code, 0, byId.stderr)
    assert.equal(byId.stdout, 'retried 1 dead job of retries (1 id named no dead job of retries)\n')
    assert.equal((await job('r-dead-1'))?.state, 'waiting')
    assert.equal((await job('r-poison'))?.state, 'quarantined')

    const all = await shepherd(['retry', '-c', config, 'retries', '--dead'])
    assert.equal(all.stdout, 'retried 2 dead jobs of retries\n')
    const quarantined = await shepherd(['retry', '-c', config, 'retries', '--quarantined'])
    assert.equal(quarantined.stdout, 'retried 1 quarantined job of retries\n')
    const p = await job('r-poison')
    assert.deepEqual([p?.state, p?.crashes, p?.attempts], ['waiting', 0, 0])
    assert.equal((await counts('retries')).waiting, 4)

    const neither = await shepherd(['retry', '-c', config, 'retries'])
    assert.equal(neither.code, 2)
    assert.match(neither.stderr, /^shepherd: say which jobs: one of --dead, --quarantined\n/)
    const both = await shepherd(['retry', '-c', config, 'retries', '--dead', '--quarantined'])
    assert.equal(both.code, 2)
    assert.match(both.stderr, /^shepherd: give only one of --dead, --quarantined\n/)
  })

  it('purge without --yes and with stdin not a terminal refuses (exit 2) and deletes nothing', async () => {
    await makeDead('purges', 'p-dead-1')
    await makeDead('purges', 'p-dead-2')
    const r = await shepherd(['purge', '-c', config, 'purges', '--dead'])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(
      r.stderr,
      /^shepherd: would delete 2 dead jobs of purges, but stdin is not a terminal to ask on: pass --yes to delete them \(nothing was deleted\)\n/,
    )
    const piped = await shepherd(['purge', '-c', config, 'purges', '--dead'], 'y\n')
    assert.equal(piped.code, 2, 'an answer piped in is not a person at a terminal')
    assert.equal((await counts('purges')).deadLettered, 2)
  })

  it('purge --yes deletes (by id, then all of the state) and says how many', async () => {
    await makeQuarantined('purges', 'p-poison')
    const byId = await shepherd(['purge', '-c', config, 'purges', '--dead', 'p-dead-1', 'p-poison', '--yes'])
    assert.equal(byId.code, 0, byId.stderr)
    assert.equal(byId.stdout, 'purged 1 dead job of purges\n')
    assert.equal(await job('p-dead-1'), undefined)
    assert.equal((await job('p-poison'))?.state, 'quarantined')

    const all = await shepherd(['purge', '-c', config, 'purges', '--quarantined', '-y'])
    assert.equal(all.stdout, 'purged 1 quarantined job of purges\n')
    const dead = await shepherd(['purge', '-c', config, 'purges', '--dead', '--yes'])
    assert.equal(dead.stdout, 'purged 1 dead job of purges\n')
    const c = await counts('purges')
    assert.deepEqual([c.deadLettered, c.quarantined], [0, 0])

    const nothing = await shepherd(['purge', '-c', config, 'purges', '--done'])
    assert.equal(nothing.code, 0, 'nothing to delete: nothing to ask')
    assert.equal(nothing.stdout, 'no done jobs of purges: nothing deleted\n')
  })

  it('purge --waiting deletes waiting jobs (due, delayed, waiting for a retry), by id or all, never one in flight', async () => {
    const now = Date.now()
    await store.jobs.add(
      [
        { queue: 'drain', id: 'w-due-1', payload: 1 },
        { queue: 'drain', id: 'w-due-2', payload: 2 },
        { queue: 'drain', id: 'w-later', payload: 3, delay: 3_600_000 },
        { queue: 'drain', id: 'w-busy', payload: 4, priority: 10 },
      ],
      now,
      () => ({ maxAttempts: 3, timeoutMs: null }),
    )
    const [busy] = await store.jobs.claim('drain', 1, 'drain#1', now)
    assert.equal(busy?.job.id, 'w-busy')

    const asked = await shepherd(['purge', '-c', config, 'drain', '--waiting'])
    assert.equal(asked.code, 2, 'asks first, like every purge')
    assert.match(asked.stderr, /would delete 3 waiting jobs of drain/)

    const byId = await shepherd(['purge', '-c', config, 'drain', '--waiting', 'w-due-1', 'w-busy', '--yes'])
    assert.equal(byId.code, 0, byId.stderr)
    assert.equal(byId.stdout, 'purged 1 waiting job of drain\n')
    assert.equal(await job('w-due-1'), undefined)
    assert.equal((await job('w-busy'))?.state, 'active', 'a job in flight is never deleted')

    const all = await shepherd(['purge', '-c', config, 'drain', '--waiting', '--yes'])
    assert.equal(all.stdout, 'purged 2 waiting jobs of drain\n')
    const c = await counts('drain')
    assert.deepEqual([c.waiting, c.delayed, c.inFlight], [0, 0, 1])
  })

  it('jobs prints the control characters of a job id escaped, never raw to the terminal', async () => {
    const id = 'x\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202eevil'
    const added = await shepherd(['enqueue', '-c', config, 'escapes', '1', '--id', id])
    assert.equal(added.code, 0, added.stderr)
    for (const r of [added, await shepherd(['jobs', '-c', config, 'escapes'])]) {
      assert.doesNotMatch(
        r.stdout,
        // eslint-disable-next-line no-control-regex
        /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/,
        JSON.stringify(r.stdout),
      )
      assert.ok(
        r.stdout.includes('x\\x1b]0;pwned\\x07\\x1b[2J\\u009b31m\\u202eevil'),
        JSON.stringify(r.stdout),
      )
    }
    const json = await shepherd(['jobs', '-c', config, 'escapes', '--json'])
    assert.equal(JSON.parse(json.stdout).jobs[0].id, id, '--json stays valid JSON with the id as it is')
  })

  it('an invalid config is exit 2 before the store is opened', async () => {
    const bad = path.join(dir, 'bad.yaml')
    writeFileSync(bad, CONFIG.replace('max_attempts', 'max_attempt'))
    const r = await shepherd(['queues', '-c', bad])
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      /queues\.email\.max_attempt \(line 4\): unknown key "max_attempt"; did you mean "max_attempts"\?/,
    )
  })
})
