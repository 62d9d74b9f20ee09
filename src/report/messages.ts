/**
 * The words of reports, in English and Japanese: one table per locale, written so that each reads
 * naturally rather than word for word. As in notifications (notify/i18n.ts, whose locales and
 * durations this reuses), identifiers stay as they are in every language: pool and worker ids,
 * causes such as `crash`, config keys, commands.
 * @module
 */
import type { Locale } from '../config/locales.js'
import { messagesFor } from '../notify/i18n.js'

/** Everything a report says, for one language. */
export interface ReportMessages {
  /** A duration for people: `1.20s` / `1.20秒`. */
  duration(ms: number): string
  title: string
  /** A period: `2025-03-14 09:00 → 2025-03-15 09:00 (UTC+09:00), 24h00m` (the length when given). */
  period(range: string, offset: string, length: string | null): string
  /** `📊 Shepherd report, <period>` for the Slack title. */
  slackTitle(period: string): string
  labels: {
    period: string
    comparedWith: string
    supervisor: string
    summary: string
    thisPeriod: string
    previousPeriod: string
    change: string
    availability: string
    incidents: string
    recovered: string
    escalated: string
    other: string
    mttrMedian: string
    restarts: string
    pool: string
    fullStrength: string
    observed: string
    now: string
    cause: string
    worker: string
    job: string
    queue: string
    quarantined: string
    deadLettered: string
    lastError: string
    crashes: string
    since: string
    quarantinedNow: string
  }
  supervisorRunning: string
  supervisorDown: string
  headings: {
    pools: string
    causes: string
    mttr: string
    workers: string
    jobs: string
    quarantined: string
  }
  poolsNote: string
  notObserved: string
  /** Current strength of a pool: `2/2 serving`, with spares when it has any. */
  serving(serving: number, min: number, spares: number): string
  noIncidents: string
  mttrLine(p50: string, p95: string, max: string, count: number): string
  mttrNone: string
  /** The other outcomes of a cause's incidents (interrupted, still open). */
  otherNote: string
  jobsNote: string
  noJobs: string
  quarantinedNone: string
  quarantinedSome(total: number): string
  /** Jobs quarantined beyond the ones listed. */
  quarantinedMore(count: number): string
  putBack(command: string): string
  /** A change in percentage points: `+0.05 pt` / `+0.05 ポイント`. */
  points(signedValue: string): string
  andMore(count: number): string
  fullReport(command: string): string
  /** One worker in Slack's top list. */
  workerLine(worker: string, incidents: number, escalated: number): string
  /** One job in Slack's list. */
  jobLine(job: string, queue: string, quarantined: number, deadLettered: number): string
}

const en: ReportMessages = {
  duration: messagesFor('en').duration,
  title: 'Shepherd report',
  period: (range, offset, length) => `${range} (${offset})${length === null ? '' : `, ${length}`}`,
  slackTitle: (period) => `📊 Shepherd report, ${period}`,
  labels: {
    period: 'Period',
    comparedWith: 'Compared with',
    supervisor: 'Supervisor',
    summary: 'Summary',
    thisPeriod: 'This period',
    previousPeriod: 'Previous period',
    change: 'Change',
    availability: 'Availability',
    incidents: 'Incidents',
    recovered: 'Recovered',
    escalated: 'Escalated',
    other: 'Other',
    mttrMedian: 'Time to recover, median',
    restarts: 'Restarts',
    pool: 'Pool',
    fullStrength: 'At full strength',
    observed: 'Observed',
    now: 'Now',
    cause: 'Cause',
    worker: 'Worker',
    job: 'Job',
    queue: 'Queue',
    quarantined: 'Quarantined',
    deadLettered: 'Dead-lettered',
    lastError: 'Last error',
    crashes: 'Crashes',
    since: 'Since',
    quarantinedNow: 'Quarantined now',
  },
  supervisorRunning: 'running (the pools are shown as they are now)',
  supervisorDown: 'not running (the pools come from the config file)',
  headings: {
    pools: 'Availability by pool',
    causes: 'Incidents by cause',
    mttr: 'Time to recover',
    workers: 'Workers with the most incidents',
    jobs: 'Jobs quarantined or dead-lettered',
    quarantined: 'Quarantined now',
  },
  poolsNote:
    'Share of the time the supervisor ran during which the pool had at least replicas.min workers ready or degraded.',
  notObserved: 'not observed',
  serving: (n, min, spares) =>
    `${n}/${min} serving${spares > 0 ? `, ${spares} spare${spares === 1 ? '' : 's'}` : ''}`,
  noIncidents: 'No incidents in this period.',
  mttrLine: (p50, p95, max, n) =>
    `Median ${p50} · 95th percentile ${p95} · longest ${max}, over ${n} recovered incident${n === 1 ? '' : 's'}.`,
  mttrNone: 'No incident was recovered in this period.',
  otherNote: 'Other: interrupted (its supervisor stopped, or its agent died), or still under way.',
  jobsNote:
    'Jobs quarantined during the period (in flight in repeated worker crashes or hangs) or dead-lettered (failed max_attempts times).',
  noJobs: 'No job was quarantined or dead-lettered in this period.',
  quarantinedNone: 'No job is quarantined.',
  quarantinedSome: (n) =>
    `${n} job${n === 1 ? ' is' : 's are'} quarantined. ${n === 1 ? 'It is' : 'They are'} not retried until someone puts ${n === 1 ? 'it' : 'them'} back.`,
  quarantinedMore: (n) => `… and ${n} more (\`shepherd jobs QUEUE --state quarantined\`).`,
  putBack: (cmd) => `Once the cause is fixed, put a job back with \`${cmd}\`.`,
  points: (v) => `${v} pt`,
  andMore: (n) => `… and ${n} more`,
  fullReport: (cmd) => `Full report: \`${cmd}\``,
  workerLine: (w, n, esc) => `${w}: ${n} incident${n === 1 ? '' : 's'}${esc > 0 ? `, ${esc} escalated` : ''}`,
  jobLine: (job, queue, q, d) =>
    `${job} (${queue}): ${[q > 0 ? `quarantined${q > 1 ? ` ×${q}` : ''}` : '', d > 0 ? `dead-lettered${d > 1 ? ` ×${d}` : ''}` : ''].filter(Boolean).join(', ')}`,
}

const ja: ReportMessages = {
  duration: messagesFor('ja').duration,
  title: 'Shepherd レポート',
  period: (range, offset, length) => `${range}（${offset}）${length === null ? '' : `、${length}`}`,
  slackTitle: (period) => `📊 Shepherd レポート: ${period}`,
  labels: {
    period: '対象期間',
    comparedWith: '比較対象',
    supervisor: 'スーパーバイザー',
    summary: '概要',
    thisPeriod: '今回',
    previousPeriod: '前回',
    change: '増減',
    availability: '稼働率',
    incidents: 'インシデント',
    recovered: '復旧',
    escalated: 'エスカレーション',
    other: 'その他',
    mttrMedian: '復旧時間の中央値',
    restarts: '再起動',
    pool: 'プール',
    fullStrength: 'フル稼働の時間',
    observed: '観測時間',
    now: '現在',
    cause: '原因',
    worker: 'ワーカー',
    job: 'ジョブ',
    queue: 'キュー',
    quarantined: '隔離',
    deadLettered: 'デッドレター',
    lastError: '最後のエラー',
    crashes: 'クラッシュ回数',
    since: '隔離した日時',
    quarantinedNow: '現在隔離中',
  },
  supervisorRunning: '稼働中（プールは現在の状態を表示しています）',
  supervisorDown: '停止中（プールは設定ファイルの内容です）',
  headings: {
    pools: 'プール別の稼働率',
    causes: '原因別のインシデント',
    mttr: '復旧時間',
    workers: 'インシデントの多いワーカー',
    jobs: '隔離・デッドレターになったジョブ',
    quarantined: '現在隔離中のジョブ',
  },
  poolsNote:
    'スーパーバイザーが動いていた時間のうち、プールで replicas.min 以上のワーカーが ready または degraded だった時間の割合です。',
  notObserved: '観測なし',
  serving: (n, min, spares) => `${n}/${min} 稼働中${spares > 0 ? `、予備 ${spares}` : ''}`,
  noIncidents: 'この期間のインシデントはありません。',
  mttrLine: (p50, p95, max, n) =>
    `中央値 ${p50} · 95パーセンタイル ${p95} · 最長 ${max}（復旧したインシデント ${n} 件）`,
  mttrNone: 'この期間に復旧したインシデントはありません。',
  otherNote:
    'その他: 中断したもの（スーパーバイザーの停止、またはエージェントが落ちたため）、または対応中のもの。',
  jobsNote:
    '期間中に隔離されたジョブ（ワーカーのクラッシュやハングの際に繰り返し処理中だったもの）と、デッドレターになったジョブ（max_attempts 回失敗したもの）です。',
  noJobs: 'この期間に隔離・デッドレターになったジョブはありません。',
  quarantinedNone: '隔離中のジョブはありません。',
  quarantinedSome: (n) => `${n} 件のジョブを隔離しています。キューに戻すまで再試行されません。`,
  quarantinedMore: (n) => `… ほか ${n} 件（\`shepherd jobs QUEUE --state quarantined\` で確認できます）`,
  putBack: (cmd) => `原因を直したら \`${cmd}\` でキューに戻せます。`,
  points: (v) => `${v} ポイント`,
  andMore: (n) => `… ほか ${n} 件`,
  fullReport: (cmd) => `詳しいレポート: \`${cmd}\``,
  workerLine: (w, n, esc) =>
    `${w}: インシデント ${n} 件${esc > 0 ? `（うちエスカレーション ${esc} 件）` : ''}`,
  jobLine: (job, queue, q, d) =>
    `${job}（${queue}）: ${[q > 0 ? `隔離 ${q} 回` : '', d > 0 ? `デッドレター ${d} 回` : ''].filter(Boolean).join('、')}`,
}

/** The tables by locale. */
export const REPORT_MESSAGES: Readonly<Record<Locale, ReportMessages>> = { en, ja }

/**
 * The report table of a locale.
 * @example
 * ```ts
 * reportMessagesFor('ja').labels.availability // '稼働率'
 * ```
 */
export function reportMessagesFor(locale: Locale): ReportMessages {
  return REPORT_MESSAGES[locale]
}
