import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'

import { loadConfigText, validateConfigText } from '../../src/config/load.js'
import { formatDuration, parseDuration, parseSize } from '../../src/config/units.js'
import { isShepherdError } from '../../src/errors.js'

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')

function problems(yaml: string) {
  const r = validateConfigText(yaml)
  assert.equal(r.config, undefined, 'expected the config to be refused')
  return r.problems
}

describe('the plan’s config', () => {
  it('loads as written, with the plan’s defaults', () => {
    const loaded = loadConfigText(fixture('plan-config.yaml'), '/etc/shepherd/worker_recovery.yaml')
    const { recovery, thresholds, strategies } = loaded.config
    assert.equal(recovery.check_interval, 30_000)
    assert.equal(recovery.max_retries, 3)
    assert.equal(recovery.retry_delay, 10_000)
    assert.deepEqual(
      [thresholds.cpu_percent, thresholds.memory_mb, thresholds.error_rate, thresholds.queue_size],
      [90, 1024, 0.1, 100],
    )
    assert.deepEqual(strategies, { default: 'soft_restart', emergency: 'hard_restart' })
    assert.equal(loaded.storePath, '/etc/shepherd/shepherd.db')
    assert.equal(loaded.logDir, '/etc/shepherd/logs')
    const [email] = loaded.pools
    assert.equal(email!.name, 'email')
    assert.deepEqual(email!.replicas, { min: 2, max: 6 })
    assert.equal(email!.cwd, '/etc/shepherd')
    assert.equal(email!.stop_timeout, 30_000)
    assert.equal(email!.thresholds.memory_limit_mb, 1024)
    assert.equal(email!.thresholds.memory_trend_horizon, 300_000)
  })

  it('gives the plan’s defaults when the blocks are left out', () => {
    const { config } = loadConfigText('workers:\n  a:\n    command: node\n', '/x/c.yaml')
    assert.equal(config.recovery.check_interval, 30_000)
    assert.equal(config.recovery.max_retries, 3)
    assert.equal(config.thresholds.error_rate, 0.1)
    assert.equal(config.strategies.emergency, 'hard_restart')
    assert.equal(config.api.port, 7717)
    assert.equal(config.api.host, '127.0.0.1')
  })
})

describe('per-pool overrides', () => {
  it('layer the pool’s recovery, thresholds and strategies over the top-level blocks', () => {
    const loaded = loadConfigText(
      `recovery: { max_retries: 5, check_interval: 10 }
thresholds: { memory_mb: 512 }
workers:
  a:
    command: node
    recovery: { check_interval: 500ms }
    thresholds: { memory_limit_mb: 800 }
    strategies: { default: scale_recovery }
  b:
    command: node
    replicas: 3
`,
      '/x/c.yaml',
    )
    const [a, b] = loaded.pools
    assert.equal(a!.recovery.check_interval, 500)
    assert.equal(a!.recovery.max_retries, 5)
    assert.equal(a!.thresholds.memory_mb, 512)
    assert.equal(a!.thresholds.memory_limit_mb, 800)
    assert.equal(a!.strategies.default, 'scale_recovery')
    assert.equal(a!.strategies.emergency, 'hard_restart')
    assert.equal(b!.recovery.check_interval, 10_000)
    assert.equal(b!.thresholds.memory_limit_mb, 512)
    assert.deepEqual(b!.replicas, { min: 3, max: 3 })
  })

  it('turn the memory trend off with 0 or null, per pool or for all', () => {
    const loaded = loadConfigText(
      `thresholds: { memory_trend_horizon: 2m }
workers:
  a: { command: node }
  b: { command: node, thresholds: { memory_trend_horizon: null } }
  c: { command: node, thresholds: { memory_trend_horizon: 0 } }
`,
      '/x/c.yaml',
    )
    assert.deepEqual(
      loaded.pools.map((p) => p.thresholds.memory_trend_horizon),
      [120_000, null, 0],
    )
    assert.ok(
      problems('thresholds: { memory_trend_horizon: soon }\nworkers: { a: { command: node } }\n').length > 0,
    )
  })
})

describe('bad configs get precise errors', () => {
  it('a wrong type names the path, the line and what was expected', () => {
    const [p] = problems('thresholds:\n  cpu_percent: high\nworkers:\n  a:\n    command: node\n')
    assert.deepEqual(p, {
      path: 'thresholds.cpu_percent',
      line: 2,
      message: 'expected a number, got "high" (string)',
    })
  })
  it('an unknown key is an error with a suggestion', () => {
    const [p] = problems('recovery:\n  retry_dela: 10\nworkers:\n  a:\n    command: node\n')
    assert.equal(p!.path, 'recovery.retry_dela')
    assert.equal(p!.line, 2)
    assert.match(p!.message, /unknown key "retry_dela"; did you mean "retry_delay"\?/)
  })
  it('a negative duration is refused', () => {
    const [p] = problems('workers:\n  a:\n    command: node\n    stop_timeout: -5\n')
    assert.deepEqual(p, {
      path: 'workers.a.stop_timeout',
      line: 4,
      message: 'expected a duration ≥ 0, got -5 (number)',
    })
  })
  it('a missing command is refused at the pool’s line', () => {
    const [p] = problems('workers:\n  a:\n    args: [x.js]\n')
    assert.deepEqual(p, { path: 'workers.a.command', line: 2, message: 'required: expected a string' })
  })
  it('every problem is reported, not only the first', () => {
    const ps = problems(
      'recovery:\n  max_retries: -1\nstrategies:\n  default: softer\nworkers:\n  a:\n    command: node\n    replicas: { min: 3, max: 2 }\n    hang_timeout: 2x\n',
    )
    assert.deepEqual(
      ps.map((p) => [p.path, p.line]),
      [
        ['recovery.max_retries', 2],
        ['strategies.default', 4],
        ['workers.a.replicas', 8],
        ['workers.a.hang_timeout', 9],
      ],
    )
    assert.match(
      ps[1]!.message,
      /expected one of "soft_restart", "hard_restart", "scale_recovery", got "softer"/,
    )
    assert.match(ps[2]!.message, /expected max ≥ min, got min 3 and max 2/)
  })
  it('no workers section, or an empty one, is refused', () => {
    assert.equal(problems('recovery: {}\n')[0]!.path, 'workers')
    assert.match(problems('workers: {}\n')[0]!.message, /at least one pool/)
  })
  it('YAML syntax errors carry their line', () => {
    const [p] = problems('workers:\n  a:\n    command: "node\n')
    assert.equal(p!.path, '(yaml)')
    assert.ok(p!.line! >= 3)
  })
  it('loadConfigText throws one SHEPHERD_CONFIG_INVALID listing every problem', () => {
    assert.throws(
      () => loadConfigText('workers:\n  a:\n    command: 3\n    nope: 1\n', '/x/c.yaml'),
      (e: unknown) =>
        isShepherdError(e, 'SHEPHERD_CONFIG_INVALID') &&
        /2 problems/.test(e.message) &&
        /line 4/.test(e.message),
    )
  })
  it('a bad probe type and an unknown probe key are reported', () => {
    const ps = problems(
      'workers:\n  a:\n    command: node\n    probes:\n      - type: grpc\n      - type: http\n        url: http://x\n        every: 5\n',
    )
    assert.equal(ps[0]!.path, 'workers.a.probes.0.type')
    assert.match(ps[0]!.message, /"http", "tcp", "exec"/)
    assert.equal(ps[1]!.path, 'workers.a.probes.1.every')
    assert.equal(ps[1]!.line, 8)
  })
})

describe('durations and sizes', () => {
  it('read plain numbers as seconds and strings with units', () => {
    assert.equal(parseDuration(30), 30_000)
    assert.equal(parseDuration(0.5), 500)
    assert.equal(parseDuration('500ms'), 500)
    assert.equal(parseDuration('2m'), 120_000)
    assert.equal(parseDuration('1h'), 3_600_000)
    assert.equal(parseDuration('1.5s'), 1500)
    assert.deepEqual(parseDuration(-1), { error: 'a duration ≥ 0' })
    assert.ok(typeof parseDuration('soon') === 'object')
    assert.equal(parseSize('10MB'), 10 * 1024 * 1024)
    assert.equal(parseSize(512), 512)
    assert.equal(parseSize('1g'), 1024 ** 3)
    assert.ok(typeof parseSize('lots') === 'object')
  })
  it('format for people', () => {
    assert.equal(formatDuration(450), '450ms')
    assert.equal(formatDuration(1234), '1.23s')
    assert.equal(formatDuration(65_000), '1m05s')
    assert.equal(formatDuration(3_660_000), '1h01m')
  })
})

describe('notification defaults', () => {
  it('sends Slack what someone may act on (warning and up) unless told otherwise, as docs/notifications.md says', () => {
    const loaded = loadConfigText(
      "notifications: { slack: { webhook_url: 'https://hooks.slack.com/services/T/B/X' } }\nworkers: { a: { command: 'true' } }\n",
      '/srv/shepherd.yaml',
    )
    assert.equal(loaded.config.notifications.slack?.min_severity, 'warning')
    const docs = readFileSync(new URL('../../docs/notifications.md', import.meta.url), 'utf8')
    assert.match(docs, /Slack \(default `min_severity: warning`\)/)
  })
})

describe('the store section', () => {
  const pool = 'workers:\n  a:\n    command: node\n'

  it('is a SQLite file beside the config by default, or at store.path', () => {
    assert.deepEqual(loadConfigText(pool, '/etc/shepherd/c.yaml').store, {
      kind: 'sqlite',
      path: '/etc/shepherd/shepherd.db',
    })
    const loaded = loadConfigText(`store:\n  path: state/s.db\n${pool}`, '/etc/shepherd/c.yaml')
    assert.deepEqual(loaded.store, { kind: 'sqlite', path: '/etc/shepherd/state/s.db' })
    assert.equal(loaded.storePath, '/etc/shepherd/state/s.db')
  })

  it('is a PostgreSQL database at store.url, named without its password', () => {
    const url = 'postgres://shepherd:s3cret@db.internal:5432/fleet?schema=prod'
    const loaded = loadConfigText(`store:\n  url: ${url}\n${pool}`, '/x/c.yaml')
    assert.deepEqual(loaded.store, {
      kind: 'postgres',
      url,
      name: 'postgres://shepherd:***@db.internal:5432/fleet?schema=prod',
    })
    assert.equal(loaded.storePath, 'postgres://shepherd:***@db.internal:5432/fleet?schema=prod')
  })

  it('reads the URL from the variable store.url_env names, at load', () => {
    const text = `store:\n  url_env: SHEPHERD_STORE_URL\n${pool}`
    const url = 'postgresql://shepherd:s3cret@db/fleet'
    const loaded = loadConfigText(text, '/x/c.yaml', { SHEPHERD_STORE_URL: url })
    assert.deepEqual(loaded.store, { kind: 'postgres', url, name: 'postgresql://shepherd:***@db/fleet' })
    assert.throws(
      () => loadConfigText(text, '/x/c.yaml', {}),
      (e: unknown) =>
        isShepherdError(e, 'SHEPHERD_CONFIG_INVALID') &&
        /store\.url_env \(line 2\): expected the environment variable SHEPHERD_STORE_URL to hold a postgres:\/\/ URL, but it is not set/.test(
          e.message,
        ),
    )
    assert.throws(
      () => loadConfigText(text, '/x/c.yaml', { SHEPHERD_STORE_URL: 'mysql://root:pw@db/x' }),
      (e: unknown) =>
        isShepherdError(e, 'SHEPHERD_CONFIG_INVALID') &&
        /store\.url_env \(line 2\): SHEPHERD_STORE_URL: expected a postgres:\/\/ or postgresql:\/\/ URL/.test(
          e.message,
        ) &&
        !e.message.includes('pw'),
    )
  })

  it('refuses a bad URL with the field, the line and what was expected, never showing the password', () => {
    const [p] = problems(`${pool}store:\n  url: http://u:pw@db/x\n`)
    assert.deepEqual(p, {
      path: 'store.url',
      line: 5,
      message: 'expected a postgres:// or postgresql:// URL, got one with http:',
    })
    const [q] = problems(`${pool}store:\n  url: "postgres://u:pw@db/x?schema=Prod-1"\n`)
    assert.match(q!.message, /expected the schema parameter to be a lower-case name/)
    const [r] = problems(`${pool}store:\n  url: not a url with pw@host\n`)
    assert.match(r!.message, /expected a postgres:\/\/ URL/)
    assert.doesNotMatch(r!.message, /pw/)
  })

  it('takes at most one of path, url and url_env', () => {
    const [p] = problems(`store:\n  path: s.db\n  url: postgres://db/x\n${pool}`)
    assert.deepEqual(p, {
      path: 'store.url',
      line: 3,
      message: 'expected at most one of path, url and url_env, got path and url',
    })
  })
})
