/**
 * Reports from fake incidents and events: every figure, the Markdown in English and Japanese
 * (exactly), and the Slack message's bounds.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { Incident } from '../../src/core/incident.js'
import type { Job } from '../../src/core/job.js'
import { buildReport, percentile, type ReportEvent, type ReportInput } from '../../src/report/build.js'
import { renderMarkdown } from '../../src/report/markdown.js'
import { formatReportSlack, SLACK_MAX_ENTRIES, SLACK_MAX_POOLS } from '../../src/report/slack.js'
import { incidentRecord } from '../helpers/fakes.js'

const H = 3_600_000
/** 2025-03-14 00:00 UTC, 09:00 in Tokyo. */
const T0 = Date.UTC(2025, 2, 14, 0, 0)
const TO = T0 + 24 * H

function recovered(
  id: string,
  worker: string,
  at: number,
  tookMs: number,
  over: Partial<Incident> = {},
): Incident {
  return incidentRecord(id, worker, at, { recoveredAt: at + tookMs, endedAt: at + tookMs, ...over })
}

function ev(
  type: string,
  at: number,
  workerId: string | null,
  data: unknown,
  incidentId: string | null = null,
): ReportEvent {
  return { type, at, pool: workerId?.split('#')[0] ?? null, workerId, incidentId, data }
}
const state = (at: number, w: string, to: string) => ev('worker:state', at, w, { to })
const spawned = (at: number, w: string, incidentId: string) =>
  ev('worker:spawned', at, w, { pid: 1, spare: false }, incidentId)

function quarantinedJob(id: string, queue: string, updatedAt: number): Job {
  return {
    id,
    queue,
    payload: {},
    state: 'quarantined',
    priority: 0,
    runAt: 0,
    createdAt: 0,
    updatedAt,
    finishedAt: null,
    attempts: 0,
    maxAttempts: 3,
    crashes: 3,
    timeoutMs: null,
    idempotencyKey: null,
    delivery: 3,
    leaseWorker: null,
    leaseExpires: null,
    ownerNode: null,
    ownerEpoch: null,
    lastError: 'worker crashed | twice',
    lastStack: null,
    checkpoint: null,
    progress: null,
    result: null,
  }
}

function input(): ReportInput {
  const incidents: Incident[] = [
    recovered('i1', 'email#1', T0 + 1 * H, 1_200, { exit: null }),
    recovered('i2', 'email#1', T0 + 6 * H, 800),
    recovered('i3', 'email#2', T0 + 7 * H, 5_000, { cause: 'memory' }),
    incidentRecord('i4', 'reports#1', T0 + 2 * H, {
      cause: 'hang',
      severity: 'severe',
      outcome: 'escalated',
      phase: 'escalated',
      recoveredAt: null,
      endedAt: T0 + 2 * H + 60_000,
    }),
    incidentRecord('i5', 'email#2', T0 + 23 * H, {
      outcome: null,
      phase: 'verifying',
      recoveredAt: null,
      endedAt: null,
    }),
    recovered('p1', 'email#1', T0 - 10 * H, 2_000),
    recovered('p2', 'reports#1', T0 - 5 * H, 3_000),
    // Before both periods: not counted (the store's `since` may return it at the edge).
    recovered('old', 'email#1', T0 - 49 * H, 9_000),
  ]
  const events: ReportEvent[] = [
    ev('supervisor:started', T0 - 30 * H, null, {}),
    state(T0 - 30 * H + 1000, 'email#1', 'ready'),
    state(T0 - 30 * H + 1000, 'email#2', 'ready'),
    state(T0 - 30 * H + 1000, 'reports#1', 'ready'),
    spawned(T0 - 10 * H, 'email#1', 'p1'),
    spawned(T0 - 5 * H, 'reports#1', 'p2'),
    state(T0 + 1 * H, 'email#1', 'exited'),
    spawned(T0 + 1 * H + 10, 'email#1', 'i1'),
    state(T0 + 1 * H + 1_200, 'email#1', 'ready'),
    state(T0 + 2 * H, 'reports#1', 'failed'),
    spawned(T0 + 2 * H + 10, 'reports#1', 'i4'),
    spawned(T0 + 2 * H + 20, 'reports#1', 'i4'),
    spawned(T0 + 2 * H + 30, 'reports#1', 'x0'),
    ev('job:quarantined', T0 + 3 * H, 'email#1', { jobId: 'j1', queue: 'email', crashes: 3, error: null }),
    ev('job:dead-lettered', T0 + 4 * H, 'email#2', {
      jobId: 'j_2',
      queue: 'email',
      attempts: 3,
      error: 'SMTP 550: no such user',
    }),
    ev('job:quarantined', T0 + 5 * H, 'email#2', {
      jobId: 'j1',
      queue: 'email',
      crashes: 3,
      error: 'worker crashed',
    }),
    spawned(T0 + 6 * H + 10, 'email#1', 'i2'),
    spawned(T0 + 7 * H + 10, 'email#2', 'i3'),
  ]
  return {
    generatedAt: TO,
    period: { from: T0, to: TO },
    previousPeriod: { from: T0 - 24 * H, to: T0 },
    supervisorRunning: true,
    pools: [
      { name: 'email', minReplicas: 2, now: { workers: 2, serving: 2, spares: 1 } },
      { name: 'reports', minReplicas: 1, now: { workers: 1, serving: 0, spares: 0 } },
    ],
    incidents,
    events,
    causeOf: new Map([['x0', 'probe']]),
    quarantined: { total: 1, jobs: [quarantinedJob('j1', 'email', T0 + 5 * H)] },
  }
}

describe('report figures', () => {
  it('percentile is by nearest rank', () => {
    assert.equal(percentile([], 50), null)
    assert.equal(percentile([7], 95), 7)
    assert.equal(percentile([10, 20, 30, 40], 50), 20)
    assert.equal(percentile([10, 20, 30, 40], 95), 40)
    assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], 95), 19)
  })

  it('counts incidents by outcome, time to recover, restarts and availability, with the changes', () => {
    const r = buildReport(input())
    assert.deepEqual(r.summary, {
      incidents: 5,
      recovered: 3,
      escalated: 1,
      interrupted: 0,
      open: 1,
      mttr: { count: 3, p50Ms: 1_200, p95Ms: 5_000, maxMs: 5_000, sumMs: 7_000 },
      restarts: 6,
      availability: ((24 * H - 1_200) / (24 * H) + 2 / 24) / 2,
    })
    assert.deepEqual(r.previous, {
      incidents: 2,
      recovered: 2,
      escalated: 0,
      interrupted: 0,
      open: 0,
      mttr: { count: 2, p50Ms: 2_000, p95Ms: 3_000, maxMs: 3_000, sumMs: 5_000 },
      restarts: 2,
      availability: 1,
    })
    assert.deepEqual(r.changes, {
      incidents: 3,
      recovered: 1,
      escalated: 1,
      restarts: 4,
      mttrP50Ms: -800,
      availability: r.summary.availability! - 1,
    })
  })

  it('gives each pool its availability over the period, its change and its strength now', () => {
    const r = buildReport(input())
    assert.deepEqual(r.pools, [
      {
        name: 'email',
        minReplicas: 2,
        availability: (24 * H - 1_200) / (24 * H),
        observedMs: 24 * H,
        fullMs: 24 * H - 1_200,
        previousAvailability: 1,
        availabilityChange: (24 * H - 1_200) / (24 * H) - 1,
        incidents: 4,
        recovered: 3,
        escalated: 0,
        restarts: 3,
        now: { workers: 2, serving: 2, spares: 1 },
      },
      {
        name: 'reports',
        minReplicas: 1,
        availability: 2 / 24,
        observedMs: 24 * H,
        fullMs: 2 * H,
        previousAvailability: 1,
        availabilityChange: 2 / 24 - 1,
        incidents: 1,
        recovered: 0,
        escalated: 1,
        restarts: 3,
        now: { workers: 1, serving: 0, spares: 0 },
      },
    ])
  })

  it('lists causes, workers and jobs, the most first', () => {
    const r = buildReport(input())
    assert.deepEqual(r.causes, [
      {
        cause: 'crash',
        incidents: 3,
        recovered: 2,
        escalated: 0,
        interrupted: 0,
        open: 1,
        mttrP50Ms: 800,
        restarts: 2,
      },
      {
        cause: 'hang',
        incidents: 1,
        recovered: 0,
        escalated: 1,
        interrupted: 0,
        open: 0,
        mttrP50Ms: null,
        restarts: 2,
      },
      {
        cause: 'memory',
        incidents: 1,
        recovered: 1,
        escalated: 0,
        interrupted: 0,
        open: 0,
        mttrP50Ms: 5_000,
        restarts: 1,
      },
      {
        cause: 'probe',
        incidents: 0,
        recovered: 0,
        escalated: 0,
        interrupted: 0,
        open: 0,
        mttrP50Ms: null,
        restarts: 1,
      },
    ])
    assert.deepEqual(r.topWorkers, [
      { workerId: 'email#1', pool: 'email', incidents: 2, recovered: 2, escalated: 0, causes: { crash: 2 } },
      {
        workerId: 'email#2',
        pool: 'email',
        incidents: 2,
        recovered: 1,
        escalated: 0,
        causes: { memory: 1, crash: 1 },
      },
      {
        workerId: 'reports#1',
        pool: 'reports',
        incidents: 1,
        recovered: 0,
        escalated: 1,
        causes: { hang: 1 },
      },
    ])
    assert.deepEqual(r.topJobs, [
      {
        jobId: 'j1',
        queue: 'email',
        quarantined: 2,
        deadLettered: 0,
        lastAt: T0 + 5 * H,
        lastError: 'worker crashed',
      },
      {
        jobId: 'j_2',
        queue: 'email',
        quarantined: 0,
        deadLettered: 1,
        lastAt: T0 + 4 * H,
        lastError: 'SMTP 550: no such user',
      },
    ])
    assert.deepEqual(r.quarantinedNow, {
      total: 1,
      jobs: [
        {
          id: 'j1',
          queue: 'email',
          crashes: 3,
          attempts: 0,
          since: T0 + 5 * H,
          lastError: 'worker crashed | twice',
        },
      ],
    })
  })

  it('reports an empty period with nulls where there is no figure', () => {
    const r = buildReport({
      ...input(),
      incidents: [],
      events: [],
      supervisorRunning: false,
      quarantined: { total: 0, jobs: [] },
    })
    assert.equal(r.summary.incidents, 0)
    assert.deepEqual(r.summary.mttr, { count: 0, p50Ms: null, p95Ms: null, maxMs: null, sumMs: 0 })
    assert.equal(r.summary.availability, null)
    assert.equal(r.changes.mttrP50Ms, null)
    assert.equal(r.changes.availability, null)
    assert.deepEqual(r.causes, [])
    assert.equal(r.pools[0]!.availability, null)
  })
})

const EXPECTED_EN = `# Shepherd report

- **Period:** 2025-03-14 09:00 → 2025-03-15 09:00 (UTC+09:00), 24h00m
- **Compared with:** 2025-03-13 09:00 → 2025-03-14 09:00 (UTC+09:00)
- **Supervisor:** running (the pools are shown as they are now)

## Summary

|  | This period | Previous period | Change |
| --- | ---: | ---: | ---: |
| Availability | 54.16% | 100.00% | -45.84 pt |
| Incidents | 5 | 2 | +3 |
| Recovered | 3 | 2 | +1 |
| Escalated | 1 | 0 | +1 |
| Time to recover, median | 1.20s | 2.00s | -800ms |
| Restarts | 6 | 2 | +4 |
| Quarantined now | 1 | – | – |

## Availability by pool

Share of the time the supervisor ran during which the pool had at least replicas.min workers ready or degraded.

| Pool | Availability | Change | At full strength | Observed | Incidents | Restarts | Now |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
| email | 99.99% | -0.01 pt | 23h59m | 24h00m | 4 | 3 | 2/2 serving, 1 spare |
| reports | 8.33% | -91.67 pt | 2h00m | 24h00m | 1 | 3 | 0/1 serving |

## Incidents by cause

| Cause | Incidents | Recovered | Escalated | Other | Restarts | Time to recover, median |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| \`crash\` | 3 | 2 | 0 | 1 | 2 | 800ms |
| \`hang\` | 1 | 0 | 1 | 0 | 2 | – |
| \`memory\` | 1 | 1 | 0 | 0 | 1 | 5.00s |
| \`probe\` | 0 | 0 | 0 | 0 | 1 | – |

Other: interrupted (its supervisor stopped, or its agent died), or still under way.

## Time to recover

Median 1.20s · 95th percentile 5.00s · longest 5.00s, over 3 recovered incidents.

## Workers with the most incidents

| Worker | Pool | Incidents | Recovered | Escalated | Cause |
| --- | --- | ---: | ---: | ---: | --- |
| email#1 | email | 2 | 2 | 0 | \`crash\` 2 |
| email#2 | email | 2 | 1 | 0 | \`crash\` 1, \`memory\` 1 |
| reports#1 | reports | 1 | 0 | 1 | \`hang\` 1 |

## Jobs quarantined or dead-lettered

Jobs quarantined during the period (in flight in repeated worker crashes or hangs) or dead-lettered (failed max_attempts times).

| Job | Queue | Quarantined | Dead-lettered | Last error |
| --- | --- | ---: | ---: | --- |
| j1 | email | 2 | 0 | worker crashed |
| j\\_2 | email | 0 | 1 | SMTP 550: no such user |

## Quarantined now

1 job is quarantined. It is not retried until someone puts it back.

| Job | Queue | Crashes | Since | Last error |
| --- | --- | ---: | --- | --- |
| j1 | email | 3 | 2025-03-14 14:00 | worker crashed \\| twice |

Once the cause is fixed, put a job back with \`shepherd retry -c /etc/shepherd.yaml QUEUE --quarantined JOB_ID\`.
`

const EXPECTED_JA = `# Shepherd レポート

- **対象期間:** 2025-03-14 09:00 → 2025-03-15 09:00（UTC+09:00）、24時間0分
- **比較対象:** 2025-03-13 09:00 → 2025-03-14 09:00（UTC+09:00）
- **スーパーバイザー:** 稼働中（プールは現在の状態を表示しています）

## 概要

|  | 今回 | 前回 | 増減 |
| --- | ---: | ---: | ---: |
| 稼働率 | 54.16% | 100.00% | -45.84 ポイント |
| インシデント | 5 | 2 | +3 |
| 復旧 | 3 | 2 | +1 |
| エスカレーション | 1 | 0 | +1 |
| 復旧時間の中央値 | 1.20秒 | 2.00秒 | -800ミリ秒 |
| 再起動 | 6 | 2 | +4 |
| 現在隔離中 | 1 | – | – |

## プール別の稼働率

スーパーバイザーが動いていた時間のうち、プールで replicas.min 以上のワーカーが ready または degraded だった時間の割合です。

| プール | 稼働率 | 増減 | フル稼働の時間 | 観測時間 | インシデント | 再起動 | 現在 |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
| email | 99.99% | -0.01 ポイント | 23時間59分 | 24時間0分 | 4 | 3 | 2/2 稼働中、予備 1 |
| reports | 8.33% | -91.67 ポイント | 2時間0分 | 24時間0分 | 1 | 3 | 0/1 稼働中 |

## 原因別のインシデント

| 原因 | インシデント | 復旧 | エスカレーション | その他 | 再起動 | 復旧時間の中央値 |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| \`crash\` | 3 | 2 | 0 | 1 | 2 | 800ミリ秒 |
| \`hang\` | 1 | 0 | 1 | 0 | 2 | – |
| \`memory\` | 1 | 1 | 0 | 0 | 1 | 5.00秒 |
| \`probe\` | 0 | 0 | 0 | 0 | 1 | – |

その他: 中断したもの（スーパーバイザーの停止、またはエージェントが落ちたため）、または対応中のもの。

## 復旧時間

中央値 1.20秒 · 95パーセンタイル 5.00秒 · 最長 5.00秒（復旧したインシデント 3 件）

## インシデントの多いワーカー

| ワーカー | プール | インシデント | 復旧 | エスカレーション | 原因 |
| --- | --- | ---: | ---: | ---: | --- |
| email#1 | email | 2 | 2 | 0 | \`crash\` 2 |
| email#2 | email | 2 | 1 | 0 | \`crash\` 1, \`memory\` 1 |
| reports#1 | reports | 1 | 0 | 1 | \`hang\` 1 |

## 隔離・デッドレターになったジョブ

期間中に隔離されたジョブ（ワーカーのクラッシュやハングの際に繰り返し処理中だったもの）と、デッドレターになったジョブ（max_attempts 回失敗したもの）です。

| ジョブ | キュー | 隔離 | デッドレター | 最後のエラー |
| --- | --- | ---: | ---: | --- |
| j1 | email | 2 | 0 | worker crashed |
| j\\_2 | email | 0 | 1 | SMTP 550: no such user |

## 現在隔離中のジョブ

1 件のジョブを隔離しています。キューに戻すまで再試行されません。

| ジョブ | キュー | クラッシュ回数 | 隔離した日時 | 最後のエラー |
| --- | --- | ---: | --- | --- |
| j1 | email | 3 | 2025-03-14 14:00 | worker crashed \\| twice |

原因を直したら \`shepherd retry -c /etc/shepherd.yaml QUEUE --quarantined JOB_ID\` でキューに戻せます。
`

describe('report rendering', () => {
  const opts = { configFile: '/etc/shepherd.yaml', timeZone: 'Asia/Tokyo' }

  it('renders Markdown in English', () => {
    assert.equal(renderMarkdown(buildReport(input()), { ...opts, locale: 'en' }), EXPECTED_EN)
  })

  it('renders Markdown in Japanese', () => {
    assert.equal(renderMarkdown(buildReport(input()), { ...opts, locale: 'ja' }), EXPECTED_JA)
  })

  it('says when there was nothing', () => {
    const r = buildReport({
      ...input(),
      pools: input().pools.map((p) => ({ ...p, now: null })),
      incidents: [],
      events: [],
      supervisorRunning: false,
      quarantined: { total: 0, jobs: [] },
    })
    const md = renderMarkdown(r, { ...opts, locale: 'en' })
    assert.match(md, /\n- \*\*Supervisor:\*\* not running \(the pools come from the config file\)\n/)
    assert.match(md, /\n\| Availability \| not observed \| not observed \| – \|\n/)
    assert.match(md, /\n\| email \| not observed \| – \| 0ms \| 0ms \| 0 \| 0 \| – \|\n/)
    assert.match(md, /## Incidents by cause\n\nNo incidents in this period.\n/)
    assert.match(md, /## Time to recover\n\nNo incident was recovered in this period.\n/)
    assert.match(md, /\nNo job was quarantined or dead-lettered in this period.\n/)
    assert.match(md, /## Quarantined now\n\nNo job is quarantined.\n$/)
  })

  it('renders one Slack message: the headline figures, pools, causes, workers and jobs, escaped', () => {
    const msg = formatReportSlack(buildReport(input()), { ...opts, locale: 'en' })
    assert.equal(
      msg.text,
      '📊 Shepherd report, 2025-03-14 09:00 → 2025-03-15 09:00 (UTC+09:00)\nAvailability: 54.16% (-45.84 pt) · Incidents: 5 · Recovered: 3 · Escalated: 1 · Time to recover, median: 1.20s (-800ms)',
    )
    assert.deepEqual(
      msg.blocks.map((b) =>
        b.type === 'section' ? b.text.text : b.type === 'context' ? b.elements[0]!.text : '',
      ),
      [
        '*📊 Shepherd report, 2025-03-14 09:00 → 2025-03-15 09:00 (UTC+09:00)*',
        '*Availability by pool*\nreports: 8.33% (-91.67 pt) · 0/1 serving\nemail: 99.99% (-0.01 pt) · 2/2 serving, 1 spare',
        '*Incidents by cause*\n`crash` 3 · `hang` 1 · `memory` 1 · `probe` 0',
        '*Workers with the most incidents*\nemail#1: 2 incidents\nemail#2: 2 incidents\nreports#1: 1 incident, 1 escalated',
        '*Jobs quarantined or dead-lettered*\nj1 (email): quarantined ×2\nj_2 (email): dead-lettered',
        'Full report: `shepherd report -c /etc/shepherd.yaml --since 24h`',
      ],
    )
    const first = msg.blocks[0]!
    assert.ok(first.type === 'section')
    assert.deepEqual(
      first.fields?.map((f) => f.text),
      [
        '*Availability*\n54.16% (-45.84 pt)',
        '*Incidents*\n5 (+3)',
        '*Recovered* / *Escalated*\n3 / 1',
        '*Time to recover, median*\n1.20s (-800ms)',
        '*Restarts*\n6 (+4)',
        '*Quarantined now*\n1',
      ],
    )
    const ja = formatReportSlack(buildReport(input()), { ...opts, locale: 'ja' })
    assert.match(
      ja.text,
      /^📊 Shepherd レポート: 2025-03-14 09:00 → 2025-03-15 09:00（UTC\+09:00）\n稼働率: 54.16% \(-45.84 ポイント\)/,
    )
  })

  it('keeps a Slack message of a large fleet within Slack limits', () => {
    const big = input()
    const pools = Array.from({ length: 60 }, (_, i) => ({ name: `pool<${i}>`, minReplicas: 1, now: null }))
    const incidents = Array.from({ length: 40 }, (_, i) =>
      recovered(`w${i}`, `pool<${i}>#1`, T0 + i * 1000, 100),
    )
    const r = buildReport({ ...big, pools, incidents })
    const msg = formatReportSlack(r, { ...opts, locale: 'en' })
    assert.ok(msg.blocks.length <= 50)
    for (const b of msg.blocks) if (b.type === 'section') assert.ok(b.text.text.length <= 3000)
    const poolsBlock = msg.blocks[1]!
    assert.ok(poolsBlock.type === 'section')
    const lines = poolsBlock.text.text.split('\n')
    assert.equal(lines.length, 1 + SLACK_MAX_POOLS + 1)
    assert.equal(lines.at(-1), `… and ${60 - SLACK_MAX_POOLS} more`)
    assert.match(poolsBlock.text.text, /pool&lt;0&gt;/)
    assert.doesNotMatch(poolsBlock.text.text, /<\d/)
    const workersBlock = msg.blocks[3]!
    assert.ok(workersBlock.type === 'section')
    assert.equal(workersBlock.text.text.split('\n').length, 1 + SLACK_MAX_ENTRIES + 1)
  })
})
