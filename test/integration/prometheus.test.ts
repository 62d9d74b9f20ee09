/**
 * Shepherd's /metrics as real Prometheus tools see it: Debian's Prometheus server scrapes a real
 * daemon and evaluates the escalation alert of the shipped rules (examples/prometheus/), `promtool
 * check metrics` lints the exposition, and `promtool check rules` and `promtool test rules` pass on
 * the rules and their unit tests (two agents of a fleet, told apart by their node label). Skips without the binaries, except under CI=true (.ci/run
 * installs Debian's `prometheus`).
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'

import { freePort } from '../helpers/cli.js'
import { fixture, NODE, startTestDaemon, tempDir } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

/** The alerting rules Shepherd ships, and their promtool unit tests. */
const RULES = path.resolve(import.meta.dirname, '../../examples/prometheus')

function has(binary: string): boolean {
  return spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0
}
const missing = ['prometheus', 'promtool'].filter((b) => !has(b))
const skip =
  missing.length > 0 && process.env.CI !== 'true'
    ? `${missing.join(' and ')} not installed (apt-get install prometheus)`
    : false

/** Starts Prometheus scraping `target` every second with `rules`; stops it after the test. */
async function startPrometheus(t: TestContext, target: string, rules: string): Promise<string> {
  const dir = tempDir(t)
  const port = await freePort()
  writeFileSync(path.join(dir, 'rules.yml'), rules)
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'rule_files: [rules.yml]',
      'scrape_configs:',
      `  - { job_name: shepherd, static_configs: [{ targets: ['${target}'] }] }`,
    ].join('\n'),
  )
  const child = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  )
  t.after(() => {
    child.kill('SIGKILL')
  })
  const url = `http://127.0.0.1:${port}`
  await waitFor(
    async () => (await fetch(`${url}/-/ready`).catch(() => null))?.ok === true,
    'prometheus ready',
    30_000,
  )
  return url
}

describe('Prometheus reads /metrics', { skip }, () => {
  it('fires the recommended escalation alert on the first escalation of a pool', async (t) => {
    const dir = tempDir(t)
    const marker = path.join(dir, 'ran-once')
    const gate = path.join(dir, 'fail-now')
    const td = await startTestDaemon(t, {
      recovery: { max_retries: 0, retry_delay: '50ms', revive_interval: '1h' },
      workers: {
        // Runs until the test opens the gate (once Prometheus has seen the pool healthy), then every
        // start fails at once: the one recovery attempt fails and the incident escalates.
        billing: {
          command: 'sh',
          args: [
            '-c',
            'if [ -e "$0" ]; then exit 1; fi; touch "$0"; while [ ! -e "$1" ]; do sleep 0.05; done; exit 1',
            marker,
            gate,
          ],
          stop_timeout: 2,
        },
      },
    })
    const target = new URL(td.daemon.apiUrl).host
    const prom = await startPrometheus(
      t,
      target,
      readFileSync(path.join(RULES, 'shepherd.rules.yml'), 'utf8'),
    )
    // Prometheus has seen the escalation counter at 0 before the worker fails.
    await waitFor(
      async () => {
        const q = await fetch(
          `${prom}/api/v1/query?query=${encodeURIComponent('shepherd_incidents_escalated_total{pool="billing",cause="crash"}')}`,
        )
        const body = (await q.json()) as { data: { result: { value: [number, string] }[] } }
        return body.data.result[0]?.value[1] === '0'
      },
      'the escalation series at 0 in Prometheus',
      30_000,
    )
    writeFileSync(gate, '')
    await td.waitForEvent('incident:escalated', (e) => e.pool === 'billing', 30_000)
    await waitFor(
      async () => {
        const res = await fetch(`${prom}/api/v1/alerts`)
        const body = (await res.json()) as {
          data: { alerts: { labels: Record<string, string>; state: string }[] }
        }
        return body.data.alerts.some(
          (a) =>
            a.labels.alertname === 'ShepherdEscalation' &&
            a.labels.pool === 'billing' &&
            a.labels.node === td.node &&
            a.state === 'firing',
        )
      },
      'the escalation alert firing',
      30_000,
    )
  })

  it("has nothing for promtool check metrics to say about Shepherd's own metrics", async (t) => {
    const td = await startTestDaemon(t, {
      workers: { api: { command: NODE, args: [fixture('sdk-ready.mjs')], queue: 'jobs', stop_timeout: 2 } },
      notifications: { webhooks: [{ url: 'http://127.0.0.1:9/hook' }] },
    })
    await waitFor(() => td.daemon.supervisor.getWorker('api#1')?.state === 'ready', 'ready')
    const text = await (await fetch(`${td.daemon.apiUrl}/metrics`)).text()
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
    const problems = `${r.stdout}${r.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '')
      // prom-client's default metrics name three gauges *_total; they are not Shepherd's to rename.
      .filter((l) => !/^nodejs_active_(handles|requests|resources)_total /.test(l))
    assert.deepEqual(problems, [])
    const node = `node="${td.node}"`
    assert.match(
      text,
      new RegExp(`\\nprocess_cpu_seconds_total\\{${node}\\} `),
      'standard process metrics, unprefixed',
    )
    assert.match(
      text,
      new RegExp(`\\nshepherd_worker_cpu_seconds_total\\{pool="api",worker="api#1",${node}\\} `),
    )
  })

  it('passes promtool check rules and promtool test rules on the shipped alerting rules', () => {
    const check = spawnSync('promtool', ['check', 'rules', 'shepherd.rules.yml'], {
      cwd: RULES,
      encoding: 'utf8',
    })
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`)
    assert.match(check.stdout, /SUCCESS: 6 rules found/)
    const test = spawnSync('promtool', ['test', 'rules', 'shepherd.rules.test.yml'], {
      cwd: RULES,
      encoding: 'utf8',
    })
    assert.equal(test.status, 0, `${test.stdout}${test.stderr}`)
    assert.match(test.stdout, /SUCCESS/)
  })
})
