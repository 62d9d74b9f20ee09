/**
 * Slack messages in Japanese (`notifications.locale: ja`), checked word for word, and the message
 * table both languages are written from.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { formatSlackMessage, type SlackFormatContext } from '../../src/adapters/notify/slack.js'
import { LOCALES } from '../../src/config/locales.js'
import type { Incident } from '../../src/core/incident.js'
import { MESSAGES, messagesFor } from '../../src/notify/i18n.js'
import { incidentEvent, incidentRecord } from '../helpers/fakes.js'

const T0 = Date.UTC(2025, 2, 14, 3, 12, 7)
const CONFIG = '/etc/shepherd/shepherd.yaml'
const DATE = '<!date^1741921927^{date_short_pretty} {time_secs}|2025-03-14 03:12:07 UTC>'

const INCIDENT: Incident = incidentRecord('01JPB6X9R4', 'email#2', T0, {
  cause: 'memory',
  detail: 'resident memory 1.31 GiB above memory_limit_mb 1024',
  recoveredAt: T0 + 5888,
  endedAt: T0 + 5888,
  oldPid: 48211,
  newPid: 48377,
  timeline: [
    {
      at: T0,
      step: 'detected',
      detail: 'memory (ordinary): resident memory 1.31 GiB above memory_limit_mb 1024',
    },
    { at: T0 + 14, step: 'attempt', detail: 'attempt 1 of 4: soft_restart' },
    { at: T0 + 4210, step: 'stopped', detail: 'pid 48211 exit code 0' },
    { at: T0 + 5888, step: 'recovered', detail: 'in 5888 ms' },
  ],
})

const JA: SlackFormatContext = { suppressedBefore: 0, configFile: CONFIG, locale: 'ja' }

describe('Slack messages in Japanese', () => {
  it('renders a recovery, text and blocks, exactly', () => {
    const m = formatSlackMessage(incidentEvent('incident:recovered', INCIDENT, T0 + 5888), {
      ...JA,
      suppressedBefore: 2,
    })
    assert.equal(
      m.text,
      [
        '✅ email#2 は復旧しました（プール email）所要時間 5.89秒',
        '発生した問題: memory: resident memory 1.31 GiB above memory_limit_mb 1024',
        '実施した対応: soft_restart、試行 1 / 4 回: detected → attempt → stopped → recovered',
        `確認すること: shepherd incidents -c ${CONFIG} ; shepherd logs -c ${CONFIG} email#2 -n 100`,
        '前回のメッセージ以降、email#2 の同様のイベント 2 件を抑制しました（dedup_window, rate_limit）。',
      ].join('\n'),
    )
    const md = (text: string) => ({ type: 'mrkdwn', text })
    assert.deepEqual(m.blocks, [
      {
        type: 'section',
        text: md('✅ *email#2 は復旧しました*（プール email）所要時間 5.89秒'),
        fields: [
          md('*ワーカー*\nemail#2'),
          md('*プール*\nemail'),
          md('*原因*\nmemory (ordinary)'),
          md('*復旧方法*\nsoft_restart'),
          md('*試行*\n1 / 4 回'),
          md('*所要時間*\n5.89秒'),
        ],
      },
      {
        type: 'section',
        text: md('*発生した問題:* memory: resident memory 1.31 GiB above memory_limit_mb 1024'),
      },
      {
        type: 'section',
        text: md(
          [
            '*実施した対応*',
            '```',
            '+0ms    detected   memory (ordinary): resident memory 1.31 GiB above memory_limit_mb 1024',
            '+14ms   attempt    attempt 1 of 4: soft_restart',
            '+4.21s  stopped    pid 48211 exit code 0',
            '+5.89s  recovered  in 5888 ms',
            '```',
          ].join('\n'),
        ),
      },
      {
        type: 'section',
        text: md(
          `*確認すること*\n\`shepherd incidents -c ${CONFIG}\`\n\`shepherd logs -c ${CONFIG} email#2 -n 100\``,
        ),
      },
      {
        type: 'context',
        elements: [
          md(`インシデント 01JPB6X9R4 · 検知 ${DATE}`),
          md(
            '前回のメッセージ以降、email#2 の同様のイベント 2 件を抑制しました（dedup_window, rate_limit）。',
          ),
        ],
      },
    ])
  })

  it('renders an escalation and an opening in Japanese', () => {
    const escalated = {
      ...INCIDENT,
      attempt: 4,
      strategy: 'hard_restart' as const,
      endedAt: T0 + 72_000,
      escalationReason: 'not recovered after 4 attempts',
    }
    const esc = formatSlackMessage(incidentEvent('incident:escalated', escalated, T0 + 72_000), JA)
    assert.equal(
      esc.text.split('\n').slice(0, 4).join('\n'),
      [
        '🚨 email#2 は人の対応が必要です（プール email）1分12秒 試みても復旧しなかったため、エスカレーションしました',
        '発生した問題: memory: resident memory 1.31 GiB above memory_limit_mb 1024',
        '人の対応が必要な理由: not recovered after 4 attempts',
        '実施した対応: soft_restart、続けて hard_restart、試行 4 / 4 回: detected → attempt → stopped → recovered',
      ].join('\n'),
    )
    assert.equal(
      esc.blocks[2]!.type === 'section' ? esc.blocks[2].text.text : '',
      '*人の対応が必要な理由:* not recovered after 4 attempts\nワーカーは failed になりました。Shepherd は revive_interval ごとに起動を試み、再び動き出したらここでお知らせします。',
    )
    const opened = { ...INCIDENT, attempt: 0, endedAt: null, outcome: null }
    const open = formatSlackMessage(incidentEvent('incident:opened', opened, T0), JA)
    assert.deepEqual(open.text.split('\n').slice(0, 3), [
      '⚠️ email#2 を復旧しています（プール email）原因: memory',
      '発生した問題: memory: resident memory 1.31 GiB above memory_limit_mb 1024',
      '対応予定: soft_restart で最大 4 回試み、復旧しなければエスカレーションします',
    ])
  })

  it('renders a quarantine and a revival in Japanese', () => {
    const q = formatSlackMessage(
      {
        type: 'job:quarantined',
        at: T0,
        severity: 'warning',
        message: 'q',
        pool: 'mailer',
        workerId: 'mailer#1',
        incidentId: null,
        data: { jobId: 'j-7', queue: 'mail', crashes: 3, error: 'boom' },
      },
      { ...JA, configFile: 'c.yaml' },
    )
    assert.equal(
      q.text,
      [
        '☣️ キュー mail のジョブ j-7 を隔離しました（処理中にワーカーが 3 回クラッシュまたはハングしたため）',
        '発生した問題: このジョブを処理していたワーカー（最後は mailer#1）が 3 回クラッシュまたはハングしました。再試行はしないので、これ以上ワーカーを落とすことはありません。',
        '最後のエラー: boom',
        '対応: ペイロードを確認してください（shepherd jobs -c c.yaml mail --state quarantined）。原因を直したら shepherd retry -c c.yaml mail --quarantined j-7 でキューに戻せます。',
      ].join('\n'),
    )
    const r = formatSlackMessage(
      {
        type: 'worker:revived',
        at: T0,
        severity: 'warning',
        message: 'billing#1 is running again',
        pool: 'billing',
        workerId: 'billing#1',
        incidentId: null,
        data: { afterMs: 300_000, incidentId: null, attempts: 1 },
      },
      JA,
    )
    assert.equal(
      r.text.split('\n')[0],
      '♻️ billing#1 が再び動き出しました（プール billing）停止していた時間 5分0秒',
    )
    assert.ok(JSON.stringify(r.blocks).includes('*エスカレーションしたインシデント*\\nなし'))
  })

  it('escapes what a worker controls in Japanese as in English', () => {
    const evil = { ...INCIDENT, workerId: 'x<!channel>#1', detail: 'a & b <https://evil>' }
    const m = formatSlackMessage(incidentEvent('incident:recovered', evil, T0 + 5888), JA)
    const all = JSON.stringify(m)
    assert.ok(!all.includes('<!channel>') && !all.includes('<https://evil>'))
    assert.ok(all.includes('x&lt;!channel&gt;#1 は復旧しました'))
  })

  it('stays English by default', () => {
    const m = formatSlackMessage(incidentEvent('incident:recovered', INCIDENT, T0 + 5888), {
      suppressedBefore: 0,
      configFile: CONFIG,
    })
    assert.equal(m.text.split('\n')[0], '✅ email#2 recovered (pool email) in 5.89s')
  })
})

describe('the message table', () => {
  it('has the same entries in every language', () => {
    const shape = (o: object): string[] =>
      Object.entries(o)
        .flatMap(([k, v]) => (typeof v === 'object' ? shape(v as object).map((x) => `${k}.${x}`) : [k]))
        .sort()
    for (const locale of LOCALES) assert.deepEqual(shape(MESSAGES[locale]), shape(MESSAGES.en), locale)
  })

  it('writes durations the way each language does', () => {
    const ja = messagesFor('ja')
    assert.deepEqual(
      [850, 5890, 12_500, 72_000, 300_000, 7_500_000].map((ms) => ja.duration(ms)),
      ['850ミリ秒', '5.89秒', '12.5秒', '1分12秒', '5分0秒', '2時間5分'],
    )
    assert.equal(messagesFor('en').duration(72_000), '1m12s')
    assert.equal(messagesFor('en').plan('soft_restart', 1), 'soft_restart, up to 1 attempt, then escalation')
  })
})
