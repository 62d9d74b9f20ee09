import assert from 'node:assert/strict'
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'

import { createHttpApp } from '../../src/adapters/http/app.js'
import { type RunningHttpServer, serveHttp } from '../../src/adapters/http/node-server.js'
import { EVENT_TYPES } from '../../src/core/events.js'
import type { Incident } from '../../src/core/incident.js'
import type { WorkerView } from '../../src/supervisor/view.js'
import { exitEvent } from '../contract/store.contract.js'
import { runCli, spawnCli } from '../helpers/cli.js'
import { FakeSupervisor, incidentRecord, MemoryStore, workerView } from '../helpers/fakes.js'

// ---- fakes ---------------------------------------------------------------------------------

function worker(id: string, over: Partial<WorkerView> = {}): WorkerView {
  return workerView(id, { sdk: true, ...over })
}

const T0 = Date.UTC(2025, 0, 31, 9, 15, 2, 120)

function incident(id: string, workerId: string, detectedAt: number, over: Partial<Incident> = {}): Incident {
  return incidentRecord(id, workerId, detectedAt, {
    recoveredAt: detectedAt + 850,
    endedAt: detectedAt + 850,
    timeline: [
      { at: detectedAt, step: 'detected', detail: 'crash (ordinary): exited with code 1' },
      { at: detectedAt + 3, step: 'state-saved', detail: '12 log lines, checkpoint' },
      { at: detectedAt + 4, step: 'attempt', detail: 'attempt 1 of 4: soft_restart' },
      { at: detectedAt + 240, step: 'started', detail: 'pid 101' },
      { at: detectedAt + 850, step: 'recovered', detail: 'in 850 ms' },
    ],
    ...over,
  })
}

const WORKERS: WorkerView[] = [
  worker('email#1', { pid: 5101, restarts: 2, uptimeMs: 4 * 60_000 + 5_000 }),
  worker('email#2', {
    pid: 5102,
    state: 'degraded',
    healthScore: 80,
    verdict: 'warning',
    worst: 'memory',
    worstDetail: '1100 MiB > 1024 MiB for 3 checks',
    uptimeMs: 12_345,
  }),
  worker('email#s1', { pid: 5103, role: 'spare', uptimeMs: 450 }),
  worker('reports#1', {
    pid: null,
    state: 'failed',
    healthScore: 0,
    verdict: 'unhealthy',
    worst: 'alive',
    worstDetail: 'the process is not running',
    restarts: 11,
    startedAt: null,
    uptimeMs: null,
  }),
]

const INCIDENTS: Incident[] = [
  incident('inc-3', 'email#2', T0 + 60_000, {
    cause: 'hang',
    severity: 'severe',
    detail: 'no heartbeat for 10000 ms',
    strategy: 'hard_restart',
    firstStrategy: 'soft_restart',
    attempt: 2,
    recoveredAt: T0 + 63_200,
    endedAt: T0 + 63_200,
    timeline: [
      { at: T0 + 60_000, step: 'detected', detail: 'hang (severe): no heartbeat for 10000 ms' },
      { at: T0 + 60_002, step: 'state-saved', detail: 'no checkpoint' },
      { at: T0 + 60_003, step: 'attempt', detail: 'attempt 1 of 4: soft_restart' },
      { at: T0 + 61_500, step: 'verify-failed', detail: 'not ready within 1000 ms' },
      { at: T0 + 62_000, step: 'attempt', detail: 'attempt 2 of 4: hard_restart' },
      { at: T0 + 63_200, step: 'recovered', detail: 'in 3200 ms' },
    ],
  }),
  incident('inc-2', 'reports#1', T0 + 30_000, {
    phase: 'escalated',
    outcome: 'escalated',
    attempt: 4,
    strategy: 'hard_restart',
    firstStrategy: 'hard_restart',
    escalationReason: 'not recovered after 4 attempts',
    recoveredAt: null,
    endedAt: T0 + 45_000,
  }),
  incident('inc-1', 'email#1', T0),
]

// ---- the CLI in a real process --------------------------------------------------------------

function configText(port: number): string {
  return [
    'api:',
    `  port: ${port}`,
    'logs:',
    '  dir: logs',
    'workers:',
    '  email:',
    '    command: node',
    '    args: [workers/email.js]',
    '    replicas: { min: 2, max: 6 }',
    '    spares: 1',
    '  reports:',
    '    command: node',
    '    args: [workers/reports.js]',
    '',
  ].join('\n')
}

/** A port nothing listens on: bound once by the OS, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

describe('shepherd commands that talk to the API', { timeout: 180_000 }, () => {
  let dir = ''
  let config = ''
  let server: RunningHttpServer
  const supervisor = new FakeSupervisor(WORKERS)
  const store = new MemoryStore([...INCIDENTS])

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'shepherd-cli-'))
    server = await serveHttp(() => createHttpApp({ supervisor, store }), { host: '127.0.0.1', port: 0 })
    config = path.join(dir, 'worker_recovery.yaml')
    writeFileSync(config, configText(server.port))
  })

  after(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('status prints one aligned row per worker', async () => {
    const r = await runCli(['status', '-c', config])
    assert.equal(r.stderr, '')
    assert.equal(r.code, 0)
    assert.equal(
      r.stdout,
      [
        'ID         POOL     PID   STATE          HEALTH  RESTARTS  UPTIME  WORST',
        'email#1    email    5101  ready          100     2         4m05s   -',
        'email#2    email    5102  degraded       80      0         12.3s   memory: 1100 MiB > 1024 MiB for 3 checks',
        'email#s1   email    5103  ready (spare)  100     0         450ms   -',
        'reports#1  reports  -     failed         0       11        -       alive: the process is not running',
        '',
      ].join('\n'),
    )
  })

  it('status --json prints exactly {"workers":[...]} with the view keys', async () => {
    const r = await runCli(['status', '--json', '-c', config])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `${JSON.stringify({ workers: WORKERS })}\n`)
    const parsed = JSON.parse(r.stdout) as { workers: WorkerView[] }
    assert.deepEqual(Object.keys(parsed), ['workers'])
    for (const key of [
      'id',
      'pool',
      'pid',
      'state',
      'healthScore',
      'restarts',
      'uptimeMs',
      'worst',
      'worstDetail',
    ]) {
      assert.ok(key in parsed.workers[0]!, key)
    }
  })

  it('restart asks for a soft restart and prints the incident id', async () => {
    const before = supervisor.restarts.length
    const r = await runCli(['restart', '-c', config, 'email#2'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `incident inc-${before + 1} opened: soft_restart of email#2\n`)
    assert.deepEqual(supervisor.restarts.at(-1), { id: 'email#2', request: { hard: false } })
  })

  it('restart --hard asks for a hard restart', async () => {
    const r = await runCli(['restart', 'email#1', '--hard', '-c', config])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^incident inc-\d+ opened: hard_restart of email#1\n$/)
    assert.deepEqual(supervisor.restarts.at(-1), { id: 'email#1', request: { hard: true } })
  })

  it('restart exits 1 with the API’s reason for an unknown worker (404) and a busy one (409)', async () => {
    const unknown = await runCli(['restart', '-c', config, 'email#9'])
    assert.equal(unknown.code, 1)
    assert.equal(unknown.stdout, '')
    assert.equal(unknown.stderr, 'shepherd: no worker has id "email#9" [SHEPHERD_WORKER_NOT_FOUND]\n')
    supervisor.busy.add('email#2')
    try {
      const busy = await runCli(['restart', '-c', config, 'email#2'])
      assert.equal(busy.code, 1)
      assert.equal(
        busy.stderr,
        'shepherd: email#2 is already being recovered (incident inc-3) [SHEPHERD_RECOVERY_IN_PROGRESS]\n',
      )
    } finally {
      supervisor.busy.delete('email#2')
    }
  })

  it('incidents prints one block per incident with its timeline', async () => {
    const r = await runCli(['incidents', '-c', config])
    assert.equal(r.code, 0, r.stderr)
    const blocks = r.stdout.trimEnd().split('\n\n')
    assert.equal(blocks.length, 3)
    assert.equal(
      blocks[0],
      [
        'incident inc-3',
        '  worker        email#2 (pool email)',
        '  cause         hang (severe): no heartbeat for 10000 ms',
        '  strategy      soft_restart → hard_restart',
        '  attempts      2 of 4',
        '  outcome       recovered',
        '  detected at   2025-01-31T09:16:02.120+00:00',
        '  recovered at  2025-01-31T09:16:05.320+00:00',
        '  duration      3.20s',
        '  timeline',
        '       +0 ms  detected       hang (severe): no heartbeat for 10000 ms',
        '       +2 ms  state-saved    no checkpoint',
        '       +3 ms  attempt        attempt 1 of 4: soft_restart',
        '    +1500 ms  verify-failed  not ready within 1000 ms',
        '    +2000 ms  attempt        attempt 2 of 4: hard_restart',
        '    +3200 ms  recovered      in 3200 ms',
      ].join('\n'),
    )
    assert.match(
      blocks[1]!,
      /^ {2}strategy {6}hard_restart$/m,
      'one strategy when first and last are the same',
    )
    assert.match(blocks[1]!, /^ {2}outcome {7}escalated: not recovered after 4 attempts$/m)
    assert.match(blocks[1]!, /^ {2}recovered at {2}-$/m)
    assert.match(blocks[1]!, /^ {2}duration {6}15\.0s$/m)
    assert.match(blocks[2]!, /^incident inc-1\n {2}worker {8}email#1 \(pool email\)$/m)
    assert.deepEqual(store.queries.at(-1), { limit: 50 })
  })

  it('incidents --json --limit 1 prints exactly {"incidents":[...]} with one incident', async () => {
    const r = await runCli(['incidents', '-c', config, '--json', '--limit', '1'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `${JSON.stringify({ incidents: [INCIDENTS[0]] })}\n`)
    assert.deepEqual(store.queries.at(-1), { limit: 1 })
  })

  it('incidents --worker filters by worker id (sent as %23)', async () => {
    const r = await runCli(['incidents', '-c', config, '--worker', 'email#1', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(
      (JSON.parse(r.stdout) as { incidents: Incident[] }).incidents.map((i) => i.id),
      ['inc-1'],
    )
    assert.deepEqual(store.queries.at(-1), { limit: 50, workerId: 'email#1' })
  })

  it('incidents --node filters by node; one store of one supervisor shows no node', async () => {
    const r = await runCli(['incidents', '-c', config, '--node', 'web-2'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'no incidents\n')
    assert.deepEqual(store.queries.at(-1), { limit: 50, node: 'web-2' })
    const all = await runCli(['incidents', '-c', config])
    assert.doesNotMatch(all.stdout, /^ {2}node /m)
  })

  it('events prints the recorded events as a table, oldest first, and passes its filters on', async () => {
    store.events.push(
      { ...exitEvent(T0, 'email#1', 5101, 'web-1'), seq: 7 },
      {
        type: 'incident:opened',
        at: T0 + 2,
        severity: 'warning',
        message: 'email#1 crashed (exit code 1); recovering with soft_restart',
        pool: 'email',
        workerId: 'email#1',
        incidentId: 'inc-1',
        node: 'web-1',
        data: { incident: INCIDENTS[2]! },
        seq: 8,
      },
    )
    const r = await runCli(['events', '-c', config])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(
      r.stdout,
      [
        'SEQ  TIME                           SEVERITY  TYPE             WORKER   MESSAGE',
        '7    2025-01-31T09:15:02.120+00:00  warning   worker:exit      email#1  email#1 (pid 5101) was killed by SIGKILL after 3600000 ms',
        '8    2025-01-31T09:15:02.122+00:00  warning   incident:opened  email#1  email#1 crashed (exit code 1); recovering with soft_restart',
        '',
      ].join('\n'),
    )
    assert.deepEqual(store.eventQueries.at(-1), { limit: 100 })
    const filtered = await runCli([
      'events',
      '-c',
      config,
      '--json',
      '--after',
      '7',
      '--type',
      'incident:,worker:exit',
      '--worker',
      'email#1',
      '--node',
      'web-1',
      '--limit',
      '5',
    ])
    assert.equal(filtered.code, 0, filtered.stderr)
    assert.deepEqual(
      (JSON.parse(filtered.stdout) as { events: { seq: number; node: string }[] }).events.map((e) => [
        e.seq,
        e.node,
      ]),
      [[8, 'web-1']],
    )
    assert.deepEqual(store.eventQueries.at(-1), {
      limit: 5,
      afterSeq: 7,
      types: EVENT_TYPES.filter((t) => t.startsWith('incident:') || t === 'worker:exit'),
      workerId: 'email#1',
      node: 'web-1',
    })
  })

  it('incidents --limit 0 is a usage error (exit 2) and never reaches the API', async () => {
    const calls = store.queries.length
    const r = await runCli(['incidents', '-c', config, '--limit', '0'])
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      /^shepherd: option '--limit <n>' argument '0' is invalid\. expected an integer from 1 to 1000\./,
    )
    assert.equal(store.queries.length, calls)
  })

  it('status against a port nothing listens on exits 1 with the unreachable message', async () => {
    const port = await closedPort()
    const down = path.join(dir, 'down.yaml')
    writeFileSync(down, configText(port))
    const r = await runCli(['status', '-c', down])
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.equal(
      r.stderr,
      `shepherd: no supervisor answers at http://127.0.0.1:${port} (is \`shepherd start -c FILE\` running?) [SHEPHERD_SUPERVISOR_UNREACHABLE]\n`,
    )
  })

  it('a second API server on the same port is refused with SHEPHERD_API_PORT_IN_USE', async () => {
    await assert.rejects(
      serveHttp(() => createHttpApp({ supervisor, store }), { host: '127.0.0.1', port: server.port }),
      {
        code: 'SHEPHERD_API_PORT_IN_USE',
        message: new RegExp(
          `^cannot serve the API on http://127\\.0\\.0\\.1:${server.port}: the address is already in use\\. A supervisor is probably already running on this config .*change api\\.port$`,
        ),
      },
    )
  })

  it('status with an invalid config exits 2 before calling anything', async () => {
    const bad = path.join(dir, 'bad.yaml')
    writeFileSync(bad, configText(server.port).replace('  port:', '  prot:'))
    const r = await runCli(['status', '-c', bad])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /api\.prot \(line 2\): unknown key "prot"; did you mean "port"\?/)
  })
})

describe('shepherd logs (reads the files; no supervisor needed)', { timeout: 180_000 }, () => {
  let dir = ''
  let config = ''
  const line = (sec: number, id: string, text: string) =>
    `2025-01-31T09:15:${String(sec).padStart(2, '0')}.000Z ${id} out| ${text}\n`

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'shepherd-logs-'))
    config = path.join(dir, 'worker_recovery.yaml')
    writeFileSync(config, configText(await closedPort()))
    mkdirSync(path.join(dir, 'logs'))
    writeFileSync(
      path.join(dir, 'logs', 'email.log'),
      line(1, 'email#1', 'one') + line(3, 'email#2', 'two') + line(5, 'email#1', 'three'),
    )
    writeFileSync(path.join(dir, 'logs', 'reports.log'), line(2, 'reports#1', 'report'))
  })

  after(() => rmSync(dir, { recursive: true, force: true }))

  it('prints the last lines of every pool, merged by time', async () => {
    const r = await runCli(['logs', '-c', config])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(
      r.stdout,
      line(1, 'email#1', 'one') +
        line(2, 'reports#1', 'report') +
        line(3, 'email#2', 'two') +
        line(5, 'email#1', 'three'),
    )
  })

  it('narrows to a pool or a worker, and to -n lines', async () => {
    const pool = await runCli(['logs', '-c', config, 'email', '-n', '2'])
    assert.equal(pool.code, 0, pool.stderr)
    assert.equal(pool.stdout, line(3, 'email#2', 'two') + line(5, 'email#1', 'three'))
    const one = await runCli(['logs', '-c', config, 'email#1'])
    assert.equal(one.stdout, line(1, 'email#1', 'one') + line(5, 'email#1', 'three'))
  })

  it('refuses an unknown pool or worker with the list of pools, exit 2', async () => {
    for (const selector of ['emails', 'billing#1']) {
      const r = await runCli(['logs', '-c', config, selector])
      assert.equal(r.code, 2)
      assert.equal(r.stdout, '')
      assert.match(
        r.stderr,
        new RegExp(
          `^shepherd: no pool or worker "${selector}"; the pools are: email, reports \\(a worker id is POOL#N\\)\\n`,
        ),
      )
    }
  })

  it('refuses a worker id its pool cannot have and its logs never had, exit 2', async () => {
    const cases: [string, string][] = [
      ['reports#99', 'no worker "reports#99": reports has reports#1 (replicas.max 1)'],
      [
        'email#7',
        'no worker "email#7": email has email#1 to email#6 (replicas.max 6), and spares email#s1, email#s2, …',
      ],
      [
        'email#0',
        'no worker "email#0": email has email#1 to email#6 (replicas.max 6), and spares email#s1, email#s2, …',
      ],
      ['reports#s1', 'no worker "reports#s1": reports has reports#1 (replicas.max 1)'],
      [
        'email#x',
        'no worker "email#x": email has email#1 to email#6 (replicas.max 6), and spares email#s1, email#s2, …',
      ],
    ]
    for (const [selector, message] of cases) {
      const r = await runCli(['logs', '-c', config, selector])
      assert.equal(r.code, 2, `${selector}: ${r.stderr}`)
      assert.equal(r.stdout, '')
      assert.equal(
        r.stderr,
        `shepherd: ${message}, and no log line of it\n(run \`shepherd --help\` for usage)\n`,
      )
    }
    // Ids the config allows print what there is (nothing yet), and so does one the logs have from an earlier config.
    for (const selector of ['email#6', 'email#s3']) {
      const r = await runCli(['logs', '-c', config, selector])
      assert.equal(r.code, 0, `${selector}: ${r.stderr}`)
      assert.equal(r.stdout, '')
    }
    const file = path.join(dir, 'logs', 'reports.log')
    const before = readFileSync(file, 'utf8')
    writeFileSync(file, before + line(9, 'reports#4', 'from when reports had 4'))
    try {
      const old = await runCli(['logs', '-c', config, 'reports#4'])
      assert.equal(old.code, 0, old.stderr)
      assert.equal(old.stdout, line(9, 'reports#4', 'from when reports had 4'))
    } finally {
      writeFileSync(file, before)
    }
  })

  it('-f prints new lines as they are written and stops on SIGINT with exit 0', async () => {
    const child = spawnCli(['logs', '-c', config, 'email#2', '-f', '-n', '1'])
    let stdout = ''
    let stderr = ''
    const waiters: { text: string; resolve: () => void }[] = []
    child.stderr.on('data', (d: string) => (stderr += d))
    child.stdout.on('data', (d: string) => {
      stdout += d
      for (const w of waiters.filter((x) => stdout.includes(x.text))) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    })
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const waitFor = (text: string) =>
      stdout.includes(text)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiters.push({ text, resolve })
            void exited.then(() => reject(new Error(`exited before printing ${text}; stderr: ${stderr}`)))
          })
    try {
      await waitFor('two')
      // The follower starts after the tail is printed; keep appending until a line comes through,
      // so the test waits for the event it needs rather than guessing a delay.
      const follow = waitFor('after')
      let n = 0
      const timer = setInterval(
        () => appendFileSync(path.join(dir, 'logs', 'email.log'), line(6, 'email#2', `after ${++n}`)),
        200,
      )
      try {
        await follow
      } finally {
        clearInterval(timer)
      }
      child.kill('SIGINT')
      assert.equal(await exited, 0, stderr)
      assert.ok(stdout.startsWith(line(3, 'email#2', 'two')), stdout)
      assert.match(stdout, /email#2 out\| after \d+\n/)
      assert.ok(!stdout.includes('email#1'), stdout)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
