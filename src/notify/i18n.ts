/**
 * The words of human-facing messages, in English and Japanese: one table per locale, so a message
 * is written once (slack.ts) and each language reads naturally rather than word for word. Reports
 * and other renderers may import the same table. Identifiers stay as they are in every language
 * (worker ids, causes such as `crash`, strategies such as `soft_restart`, config keys, commands):
 * they are what people type and search for.
 * @module
 */
import type { Locale } from '../config/locales.js'
import { formatDuration } from '../config/units.js'

/** Wraps the part of a sentence that is bold in Slack; the plain text passes the identity. */
export type Emphasis = (s: string) => string

/**
 * Everything a message says, for one language. Labels are nouns; sentence functions take values
 * already escaped for their destination and never escape anything themselves.
 */
export interface MessageTable {
  /** A duration for people: `5.89s` / `5.89秒`. */
  duration(ms: number): string
  labels: {
    worker: string
    pool: string
    cause: string
    strategy: string
    attempts: string
    detected: string
    took: string
    outOfService: string
    escalatedIncident: string
    /** Heading of what went wrong. */
    whatWasWrong: string
    /** Heading of the plan while nothing has been done yet. */
    whatIsBeingDone: string
    /** Heading of the incident's timeline. */
    whatWasDone: string
    whyHuman: string
    whatToLookAt: string
    /** The same, in the plain one-line text. */
    lookAt: string
    lastLogLines: string
    whatHappened: string
    lastError: string
    whatToDo: string
  }
  /** In place of a value there is none of. */
  none: string
  unknownWorker: string
  unknownPool: string
  /** The title of an incident that has just opened. */
  recovering(worker: string, pool: string, cause: string, b: Emphasis): string
  recovered(worker: string, pool: string, took: string, b: Emphasis): string
  escalated(worker: string, pool: string, took: string, b: Emphasis): string
  revived(worker: string, pool: string, outOfService: string, b: Emphasis): string
  quarantined(jobId: string, queue: string, b: Emphasis): string
  /** The rest of the quarantine title in plain text, separator included. */
  quarantinedWhy(crashes: number): string
  /** A strategy that changed during the incident. */
  strategyThen(first: string, then: string): string
  attemptsNone(max: number): string
  attemptsOf(attempt: number, max: number): string
  /** What an incident that has just opened will do. */
  plan(strategy: string, maxAttempts: number): string
  /** After an escalation: what happens to the worker now. */
  markedFailed: string
  /** The one-line timeline of the plain text. */
  doneShort(strategy: string, attempts: string, steps: string): string
  moreSteps(omitted: number): string
  contextIncident(incidentId: string, date: string): string
  contextAt(date: string): string
  suppressed(count: number, workerId: string | null): string
  /**
   * A fleet-wide message, sent by `node`: says that it stands for the fleet, and how many messages
   * of other nodes for the same fact were not sent since its last one.
   */
  fleetSuppressed(node: string, count: number, nodes: readonly string[]): string
  quarantineWrong(workerId: string | null, crashes: number): string
  quarantineToDo(lookCommand: string, retryCommand: string): string
}

const en: MessageTable = {
  duration: formatDuration,
  labels: {
    worker: 'Worker',
    pool: 'Pool',
    cause: 'Cause',
    strategy: 'Strategy',
    attempts: 'Attempts',
    detected: 'Detected',
    took: 'Took',
    outOfService: 'Out of service',
    escalatedIncident: 'Escalated incident',
    whatWasWrong: 'What was wrong',
    whatIsBeingDone: 'What is being done',
    whatWasDone: 'What was done',
    whyHuman: 'Why it needs a human',
    whatToLookAt: 'What to look at',
    lookAt: 'Look at',
    lastLogLines: 'Last log lines',
    whatHappened: 'What happened',
    lastError: 'Its last error',
    whatToDo: 'What to do',
  },
  none: 'none',
  unknownWorker: 'unknown worker',
  unknownPool: 'unknown pool',
  recovering: (w, p, cause, b) => `⚠️ ${b(`Recovering ${w}`)} (pool ${p}): ${cause}`,
  recovered: (w, p, took, b) => `✅ ${b(`${w} recovered`)} (pool ${p}) in ${took}`,
  escalated: (w, p, took, b) => `🚨 ${b(`${w} needs a human`)} (pool ${p}): recovery gave up after ${took}`,
  revived: (w, p, out, b) =>
    `♻️ ${b(`${w} is running again`)} (pool ${p}), ${out} after it was marked failed`,
  quarantined: (job, queue, b) => `☣️ ${b(`Job ${job} of queue ${queue} is quarantined`)}`,
  quarantinedWhy: (n) => `: it was in flight in ${n} worker crashes or hangs`,
  strategyThen: (first, then) => `${first}, then ${then}`,
  attemptsNone: (max) => `none yet (up to ${max})`,
  attemptsOf: (a, max) => `${a} of ${max}`,
  plan: (s, n) => `${s}, up to ${n} attempt${n === 1 ? '' : 's'}, then escalation`,
  markedFailed:
    'The worker is marked failed. Shepherd keeps trying to start it at the revive interval and will say so here when it runs again.',
  doneShort: (s, attempts, steps) => `${s}, attempt ${attempts}: ${steps}`,
  moreSteps: (n) => `… ${n} more steps (shepherd incidents) …`,
  contextIncident: (id, date) => `Incident ${id} · detected ${date}`,
  contextAt: (date) => `At ${date}`,
  suppressed: (n, w) =>
    `${n} similar event${n === 1 ? '' : 's'}${w === null ? '' : ` of ${w}`} suppressed since the last message (dedup_window, rate_limit).`,
  fleetSuppressed: (node, n, nodes) =>
    n <= 0
      ? `Sent once for the fleet by ${node}: the same message from other nodes within dedup_window is not sent.`
      : `Sent once for the fleet by ${node}: ${n} message${n === 1 ? '' : 's'} of the same from other nodes${nodes.length === 0 ? '' : ` (${nodes.join(', ')})`} not sent since the last one (dedup_window).`,
  quarantineWrong: (w, n) =>
    `the worker running it (last ${w ?? 'a worker'}) crashed or hung ${n} times; it is not retried, so it can no longer take workers down.`,
  quarantineToDo: (look, retry) =>
    `look at its payload (${look}); once the cause is fixed, put it back with ${retry}`,
}

const ja: MessageTable = {
  duration: durationJa,
  labels: {
    worker: 'ワーカー',
    pool: 'プール',
    cause: '原因',
    strategy: '復旧方法',
    attempts: '試行',
    detected: '検知',
    took: '所要時間',
    outOfService: '停止していた時間',
    escalatedIncident: 'エスカレーションしたインシデント',
    whatWasWrong: '発生した問題',
    whatIsBeingDone: '対応予定',
    whatWasDone: '実施した対応',
    whyHuman: '人の対応が必要な理由',
    whatToLookAt: '確認すること',
    lookAt: '確認すること',
    lastLogLines: '直近のログ',
    whatHappened: '何が起きたか',
    lastError: '最後のエラー',
    whatToDo: '対応',
  },
  none: 'なし',
  unknownWorker: '不明なワーカー',
  unknownPool: '不明なプール',
  recovering: (w, p, cause, b) => `⚠️ ${b(`${w} を復旧しています`)}（プール ${p}）原因: ${cause}`,
  recovered: (w, p, took, b) => `✅ ${b(`${w} は復旧しました`)}（プール ${p}）所要時間 ${took}`,
  escalated: (w, p, took, b) =>
    `🚨 ${b(`${w} は人の対応が必要です`)}（プール ${p}）${took} 試みても復旧しなかったため、エスカレーションしました`,
  revived: (w, p, out, b) => `♻️ ${b(`${w} が再び動き出しました`)}（プール ${p}）停止していた時間 ${out}`,
  quarantined: (job, queue, b) => `☣️ ${b(`キュー ${queue} のジョブ ${job} を隔離しました`)}`,
  quarantinedWhy: (n) => `（処理中にワーカーが ${n} 回クラッシュまたはハングしたため）`,
  strategyThen: (first, then) => `${first}、続けて ${then}`,
  attemptsNone: (max) => `まだなし（最大 ${max} 回）`,
  attemptsOf: (a, max) => `${a} / ${max} 回`,
  plan: (s, n) => `${s} で最大 ${n} 回試み、復旧しなければエスカレーションします`,
  markedFailed:
    'ワーカーは failed になりました。Shepherd は revive_interval ごとに起動を試み、再び動き出したらここでお知らせします。',
  doneShort: (s, attempts, steps) => `${s}、試行 ${attempts}: ${steps}`,
  moreSteps: (n) => `… 途中の ${n} ステップは省略（shepherd incidents で確認できます）…`,
  contextIncident: (id, date) => `インシデント ${id} · 検知 ${date}`,
  contextAt: (date) => `日時 ${date}`,
  suppressed: (n, w) =>
    `前回のメッセージ以降、${w === null ? '' : `${w} の`}同様のイベント ${n} 件を抑制しました（dedup_window, rate_limit）。`,
  fleetSuppressed: (node, n, nodes) =>
    n <= 0
      ? `${node} がフリート全体で 1 回だけ送信しています。dedup_window の間、他のノードからの同じメッセージは送信しません。`
      : `${node} がフリート全体で 1 回だけ送信しています。前回のメッセージ以降、他のノード${nodes.length === 0 ? '' : `（${nodes.join('、')}）`}からの同じメッセージ ${n} 件は送信していません（dedup_window）。`,
  quarantineWrong: (w, n) =>
    `このジョブを処理していたワーカー${w === null ? '' : `（最後は ${w}）`}が ${n} 回クラッシュまたはハングしました。再試行はしないので、これ以上ワーカーを落とすことはありません。`,
  quarantineToDo: (look, retry) =>
    `ペイロードを確認してください（${look}）。原因を直したら ${retry} でキューに戻せます。`,
}

/** The tables by locale. */
export const MESSAGES: Readonly<Record<Locale, MessageTable>> = { en, ja }

/**
 * The table of a locale.
 * @example
 * ```ts
 * const t = messagesFor('ja')
 * t.recovered('email#2', 'email', t.duration(5890), (s) => s) // '✅ email#2 は復旧しました（プール email）所要時間 5.89秒'
 * ```
 */
export function messagesFor(locale: Locale): MessageTable {
  return MESSAGES[locale]
}

/** `850ミリ秒`, `5.89秒`, `12.5秒`, `1分12秒`, `5分0秒`, `2時間5分`: the precision of {@link formatDuration}. */
function durationJa(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ミリ秒`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}秒`
  const totalS = Math.round(ms / 1000)
  if (totalS < 3600) return `${Math.floor(totalS / 60)}分${totalS % 60}秒`
  return `${Math.floor(totalS / 3600)}時間${Math.floor((totalS % 3600) / 60)}分`
}
