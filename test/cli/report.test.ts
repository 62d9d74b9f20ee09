/**
 * `shepherd report` in real processes, with no supervisor running: the store is filled with the
 * events and incidents a supervisor would have written, and the command reads it.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'

import type { AnyEvent } from '../../src/core/events.js'
import type { Report } from '../../src/report/types.js'
import { openStore } from '../../src/store/open-store.js'
import { runCli } from '../helpers/cli.js'
import { incidentRecord } from '../helpers/fakes.js'

const MIN = 60_000

// Nothing listens on port 1: the command finds no supervisor and reports from the store alone.
const config = (extra = '') =>
  [
    'api:',
    '  port: 1',
    'workers:',
    '  email: { command: node, args: [email.js], replicas: 2 }',
    extra,
    '',
  ].join('\n')

describe('shepherd report', () => {
  let dir: string
  let file: string
  let jaFile: string
  const now = Date.now()

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'shepherd-report-'))
    file = path.join(dir, 'shepherd.yaml')
    writeFileSync(file, config())
    jaFile = path.join(dir, 'ja.yaml')
    writeFileSync(jaFile, config('notifications: { locale: ja }'))
    const store = await openStore(path.join(dir, 'shepherd.db'))
    await store.migrate()
    const base = { severity: 'info' as const, message: 'x', incidentId: null }
    const state = (at: number, workerId: string, to: string): AnyEvent => ({
      ...base,
      type: 'worker:state',
      at,
      pool: 'email',
      workerId,
      data: { from: 'x', to, reason: 'x', pid: null },
    })
    const supervisorEvent = (type: 'supervisor:started' | 'supervisor:stopping', at: number): AnyEvent =>
      type === 'supervisor:started'
        ? {
            ...base,
            type,
            at,
            pool: null,
            workerId: null,
            data: { pools: ['email'], workers: 2, apiUrl: '' },
          }
        : { ...base, type, at, pool: null, workerId: null, data: { reason: 'x' } }
    const incident = incidentRecord('inc-1', 'email#1', now - 60 * MIN, {
      recoveredAt: now - 60 * MIN + 1_500,
      endedAt: now - 60 * MIN + 1_500,
    })
    for (const e of [
      supervisorEvent('supervisor:started', now - 120 * MIN),
      state(now - 120 * MIN, 'email#1', 'ready'),
      state(now - 120 * MIN, 'email#2', 'ready'),
      state(now - 60 * MIN, 'email#1', 'exited'),
      {
        ...base,
        type: 'worker:spawned',
        at: now - 60 * MIN + 10,
        pool: 'email',
        workerId: 'email#1',
        incidentId: 'inc-1',
        data: { pid: 2, spare: false },
      } satisfies AnyEvent,
      state(now - 60 * MIN + 1_500, 'email#1', 'ready'),
      supervisorEvent('supervisor:stopping', now - 10 * MIN),
    ]) {
      await store.appendEvent(e)
    }
    await store.saveIncident(incident)
    await store.close()
  })

  after(() => rmSync(dir, { recursive: true, force: true }))

  it('prints the JSON report from the store when no supervisor runs', async () => {
    const r = await runCli(['report', '-c', file, '--format', 'json'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    const report = JSON.parse(r.stdout) as Report
    assert.equal(report.kind, 'shepherd.report')
    assert.equal(report.version, 1)
    assert.equal(report.supervisorRunning, false)
    assert.equal(report.period.to - report.period.from, 24 * 60 * MIN)
    assert.deepEqual(
      [
        report.summary.incidents,
        report.summary.recovered,
        report.summary.restarts,
        report.summary.mttr.p50Ms,
      ],
      [1, 1, 1, 1_500],
    )
    const email = report.pools[0]!
    assert.equal(email.name, 'email')
    assert.equal(email.now, null)
    // Observed from the start to the stop (110 min), short for the 1.5 s of the recovery.
    assert.equal(email.observedMs, 110 * MIN)
    assert.equal(email.fullMs, 110 * MIN - 1_500)
  })

  it('covers the period --since says', async () => {
    const r = await runCli(['report', '-c', file, '--format', 'json', '--since', '45m'])
    assert.equal(r.code, 0, r.stderr)
    const report = JSON.parse(r.stdout) as Report
    assert.equal(report.period.to - report.period.from, 45 * MIN)
    assert.equal(report.summary.incidents, 0)
    assert.equal(report.previous.incidents, 1)
    assert.equal(report.changes.incidents, -1)
    // From the start of the period to the stop, 35 min before the test began (less the ms since).
    const observed = report.pools[0]!.observedMs
    assert.ok(observed <= 35 * MIN && observed > 34 * MIN, String(observed))
  })

  it('prints Markdown, in English by default and in the language asked for', async () => {
    const en = await runCli(['report', '-c', file])
    assert.equal(en.code, 0, en.stderr)
    assert.match(en.stdout, /^# Shepherd report\n\n- \*\*Period:\*\* .* \(UTC\), 24h00m\n/)
    assert.match(en.stdout, /\n- \*\*Supervisor:\*\* not running \(the pools come from the config file\)\n/)
    assert.match(en.stdout, /\n\| `crash` \| 1 \| 1 \| 0 \| 0 \| 1 \| 1.50s \|\n/)
    const ja = await runCli(['report', '-c', file, '--locale', 'ja'])
    assert.match(ja.stdout, /^# Shepherd レポート\n/)
    assert.match(ja.stdout, /\n\| 復旧時間の中央値 \| 1.50秒 \| – \| – \|\n/)
    // notifications.locale is the default language.
    const fromConfig = await runCli(['report', '-c', jaFile])
    assert.match(fromConfig.stdout, /\n## プール別の稼働率\n/)
  })

  it('refuses a bad period or format as a usage error', async () => {
    const zero = await runCli(['report', '-c', file, '--since', '0'])
    assert.equal(zero.code, 2)
    assert.match(zero.stderr, /--since <duration>' argument '0' is invalid. expected a duration > 0/)
    const word = await runCli(['report', '-c', file, '--since', 'yesterday'])
    assert.equal(word.code, 2)
    const format = await runCli(['report', '-c', file, '--format', 'xml'])
    assert.equal(format.code, 2)
    assert.match(format.stderr, /Allowed choices are md, json/)
  })
})
