// Strings and formats of the dashboard in English and Japanese. Static text (in index.html, and
// the labels of cards) names its key in data-i18n; everything else asks t() while it renders, so a
// switch of language re-renders in place like any other update.
//
// - A text with a count is a plural: keys `name.one`, `name.other` (each language has the forms
//   of its Intl.PluralRules: English one and other, Japanese other only), read with plural().
// - Moments are written one way, in both languages: 24-hour local time with the zone's offset,
//   `2026-12-02 17:53:58 UTC+9` (formatDateTime). Steps of an incident are offsets from its
//   detection, to the millisecond (formatOffset). Chart axes show the same clock (formatClock).

export const LANGUAGES = ['en', 'ja']

const STORAGE_KEY = 'shepherd.lang'

const en = {
  'app.title': 'Shepherd',
  'app.subtitle': 'worker supervisor',
  'conn.live': 'Live',
  'conn.connecting': 'Connecting…',
  'conn.reconnecting': 'Reconnecting…',
  'conn.offline': 'Supervisor unreachable',
  'conn.updated': 'Updated {time}',
  'lang.label': 'Language',
  'theme.dark': 'Dark theme',
  'auth.title': 'Access token required',
  'auth.body': 'The supervisor refused the request (401). Paste an API token; it is kept for this tab only.',
  'auth.refused': 'That token was refused. Check it and try again.',
  'auth.field': 'API token',
  'auth.submit': 'Use token',
  'error.unreachable': 'Cannot reach the supervisor: {message}',
  'summary.title': 'At a glance',
  'summary.health': 'Fleet health score',
  'summary.healthHint.one': 'mean of {n} worker',
  'summary.healthHint.other': 'mean of {n} workers',
  'summary.healthLowered': 'lowered from {mean} by {incidents} in 10 min',
  'summary.availability': 'Availability',
  'summary.availabilityHint': 'time at full strength',
  'summary.serving': 'Serving',
  'summary.servingHint.one': 'ready or degraded, of {n} worker',
  'summary.servingHint.other': 'ready or degraded, of {n} workers',
  'summary.incidents': 'Incidents in the last 10 min',
  'summary.incidentsAtLeast': '{n}+',
  'summary.incidentsOpen': '{n} under way',
  'summary.incidentsNoneOpen': 'none under way',
  'summary.quarantined': 'Quarantined jobs',
  'summary.quarantinedHint.one': 'across {n} queue',
  'summary.quarantinedHint.other': 'across {n} queues',
  'nav.label': 'Sections',
  'nav.jobs': 'Quarantined',
  'nodes.title': 'Nodes',
  'nodes.empty': 'No nodes.',
  'nodes.count.one': '{n} node',
  'nodes.count.other': '{n} nodes',
  'nodes.countDead': '{nodes}, {dead} dead',
  'nodeState.alive': 'alive',
  'nodeState.dead': 'dead',
  'node.leader': 'leader',
  'node.workers': 'Workers serving',
  'node.heartbeat': 'Heartbeat',
  'node.ago': '{age} ago',
  'node.host': 'Host',
  'node.pid': 'pid {pid}',
  'node.version': 'Version',
  'pools.title': 'Pools',
  'pools.empty': 'No pools.',
  'pool.serving': 'Serving',
  'pool.availability': 'Availability',
  'pool.restarts': 'Restarts',
  'pool.queue': 'Queue',
  'pool.noQueue': 'no queue',
  'pool.queueDepth': '{waiting} waiting · {inFlight} in flight',
  'pool.replicas': 'replicas {min}–{max}',
  'pool.replicasFixed': 'replicas {n}',
  'workers.title': 'Workers',
  'workers.empty': 'No workers.',
  'workers.count.one': '{n} worker',
  'workers.count.other': '{n} workers',
  'workers.spares.one': '{n} spare',
  'workers.spares.other': '{n} spares',
  'workers.withSpares': '{workers} + {spares}',
  'worker.health': 'Health score',
  'worker.worstNone': 'none: all healthy',
  'worker.restarts': 'Restarts',
  'worker.recentRestarts': '{n} in 10 min',
  'worker.uptime': 'Uptime',
  'worker.pid': 'pid',
  'worker.cpu': 'CPU',
  'worker.memory': 'Memory',
  'worker.spare': 'spare',
  'worker.restart': 'Restart…',
  'worker.restartLabel': 'Restart {id}',
  'worker.incident': 'Recovering: incident {id}',
  'worker.noSamples': 'no samples yet',
  'queues.title': 'Queues',
  'queues.empty': 'No queues.',
  'queue.waiting': 'Waiting',
  'queue.inFlight': 'In flight',
  'queue.delayed': 'Delayed',
  'queue.done': 'Done',
  'queue.dead': 'Dead-lettered',
  'queue.quarantined': 'Quarantined',
  'queue.throughput': 'Throughput',
  'queue.perMinute': '{n}/min',
  'queue.oldest': 'Oldest waiting',
  'queue.depthChart': 'Queue depth',
  'queue.throughputChart': 'Throughput (jobs/min)',
  'queue.chartLabel': '{chart} of {queue}: {latest}',
  'queue.noHistory': 'no samples yet',
  'jobs.title': 'Quarantined jobs',
  'jobs.empty': 'No quarantined jobs.',
  'jobs.intro':
    'Jobs that were in flight in too many worker crashes or hangs. Retry them once fixed, or purge them.',
  'job.crashes': 'Crashes',
  'job.attempts': 'Attempts',
  'job.quarantinedAt': 'Quarantined',
  'job.error': 'Last error',
  'job.noError': 'no error recorded (the worker crashed)',
  'job.payload': 'Payload',
  'job.retry': 'Retry…',
  'job.purge': 'Purge…',
  'job.retryLabel': 'Retry job {id}',
  'job.purgeLabel': 'Purge job {id}',
  'incidents.title': 'Incidents',
  'incidents.empty': 'No incidents yet.',
  'incidents.count.one': '{n} incident',
  'incidents.count.other': '{n} incidents',
  'incident.cause': 'Cause',
  'incident.strategy': 'Strategy',
  'incident.outcome': 'Outcome',
  'incident.duration': 'Duration',
  'incident.attempt': 'Attempt {n} of {max}',
  'incident.manual': 'manual',
  'incident.inProgress': 'in progress: {phase}',
  'incident.steps': 'Steps ({n})',
  'incident.escalation': 'Escalated because: {reason}',
  'dialog.cancel': 'Cancel',
  'dialog.working': 'Working…',
  'confirm.restartTitle': 'Restart {id}?',
  'confirm.restartBody':
    'Shepherd opens an incident and recovers the worker: it saves its state, stops it, starts it again and checks that it is healthy.',
  'confirm.soft': 'Soft restart',
  'confirm.softHint': 'SIGTERM; the job in progress may finish (up to the stop timeout).',
  'confirm.hard': 'Hard restart',
  'confirm.hardHint': 'SIGKILL of the whole process group, at once. Jobs in flight go back to the queue.',
  'confirm.restart': 'Restart',
  'confirm.retryTitle': 'Retry job {id}?',
  'confirm.retryBody':
    'The job goes back to queue {queue}, due now, with its attempts and crashes reset. If it still crashes its worker, it will be quarantined again.',
  'confirm.retry': 'Retry',
  'confirm.purgeTitle': 'Purge job {id}?',
  'confirm.purgeBody': 'The job is deleted from queue {queue} for good. This cannot be undone.',
  'confirm.purge': 'Purge',
  'toast.restarted': 'Incident {incident} opened for {id}.',
  'toast.retried': 'Job {id} is back in queue {queue}.',
  'toast.purged': 'Job {id} was purged.',
  'toast.skipped': 'Job {id} was no longer quarantined; nothing changed.',
  'state.starting': 'starting',
  'state.ready': 'ready',
  'state.degraded': 'degraded',
  'state.stopping': 'stopping',
  'state.exited': 'exited',
  'state.restarting': 'restarting',
  'state.failed': 'failed',
  'outcome.recovered': 'recovered',
  'outcome.escalated': 'escalated',
  'outcome.interrupted': 'interrupted',
  'cause.crash': 'crash',
  'cause.spawn-failed': 'failed to start',
  'cause.memory': 'memory',
  'cause.error-rate': 'error rate',
  'cause.probe': 'failed probe',
  'cause.start-timeout': 'start timeout',
  'cause.external': 'outside signal',
  'cause.manual': 'manual restart',
  'cause.hang': 'hang',
  'cause.stopped': 'stopped (SIGSTOP)',
  'cause.uninterruptible': 'uninterruptible sleep',
  'cause.zombies': 'zombies',
  'cause.stale-delivery': 'stale delivery',
  'strategy.soft_restart': 'soft restart',
  'strategy.hard_restart': 'hard restart',
  'strategy.scale_recovery': 'scale recovery',
  'phase.saving': 'saving state',
  'phase.backoff': 'backing off',
  'phase.stopping': 'stopping',
  'phase.starting': 'starting',
  'phase.restoring': 'restoring state',
  'phase.verifying': 'verifying',
  'phase.retiring': 'retiring',
  'indicator.alive': 'alive',
  'indicator.responsive': 'heartbeat',
  'indicator.zombies': 'zombies',
  'indicator.cpu': 'CPU',
  'indicator.memory': 'memory',
  'indicator.error_rate': 'error rate',
  'indicator.probe': 'probe',
  'indicator.backlog': 'backlog',
  'indicator.throughput': 'throughput',
  'indicator.external': 'outside signal',
  'indicator.restarts': 'restarts',
  'cause.restartsBy': '{cause} {n}',
  'step.detected': 'detected',
  'step.state-saved': 'state saved',
  'step.backoff': 'backoff',
  'step.backoff-elapsed': 'backoff over',
  'step.attempt': 'attempt',
  'step.stopped': 'stopped',
  'step.started': 'started',
  'step.start-failed': 'start failed',
  'step.state-restored': 'state restored',
  'step.ready': 'ready',
  'step.verify-failed': 'verification failed',
  'step.retired': 'retired',
  'step.recovered': 'recovered',
  'step.escalated': 'escalated',
  'step.interrupted': 'interrupted',
  'step.ignored': 'ignored',
  'unit.s': '{n} s',
  'unit.ms': '{n} ms',
  'unit.m': '{m} min {s} s',
  'unit.h': '{h} h {m} min',
  'unit.d': '{d} d {h} h',
  'unit.mb': '{n} MiB',
  'unit.offsetMs': '+{n} ms',
  'unit.offsetS': '+{n} s',
  'unit.offsetM': '+{m} min {s} s',
  none: '—',
}

const ja = {
  'app.title': 'Shepherd',
  'app.subtitle': 'ワーカー監視',
  'conn.live': 'ライブ',
  'conn.connecting': '接続中…',
  'conn.reconnecting': '再接続中…',
  'conn.offline': 'スーパーバイザーに接続できません',
  'conn.updated': '{time} 更新',
  'lang.label': '言語',
  'theme.dark': 'ダークテーマ',
  'auth.title': 'アクセストークンが必要です',
  'auth.body':
    'スーパーバイザーがリクエストを拒否しました（401）。API トークンを貼り付けてください。このタブの中だけで保持されます。',
  'auth.refused': 'このトークンは拒否されました。確認してもう一度お試しください。',
  'auth.field': 'API トークン',
  'auth.submit': 'トークンを使う',
  'error.unreachable': 'スーパーバイザーに接続できません: {message}',
  'summary.title': '概要',
  'summary.health': 'フリートのヘルススコア',
  'summary.healthHint.other': '{n} ワーカーの平均',
  'summary.healthLowered': '{mean} から低下（直近 10 分の{incidents}）',
  'summary.availability': '稼働率',
  'summary.availabilityHint': '全台稼働していた時間の割合',
  'summary.serving': '稼働中',
  'summary.servingHint.other': '{n} ワーカー中、稼働中または低下',
  'summary.incidents': 'インシデント（直近 10 分）',
  'summary.incidentsAtLeast': '{n}+',
  'summary.incidentsOpen': '対応中 {n} 件',
  'summary.incidentsNoneOpen': '対応中なし',
  'summary.quarantined': '隔離されたジョブ',
  'summary.quarantinedHint.other': '{n} キューの合計',
  'nav.label': 'セクション',
  'nav.jobs': '隔離ジョブ',
  'nodes.title': 'ノード',
  'nodes.empty': 'ノードはありません。',
  'nodes.count.other': '{n} ノード',
  'nodes.countDead': '{nodes}（停止 {dead}）',
  'nodeState.alive': '稼働中',
  'nodeState.dead': '停止',
  'node.leader': 'リーダー',
  'node.workers': '稼働ワーカー',
  'node.heartbeat': 'ハートビート',
  'node.ago': '{age}前',
  'node.host': 'ホスト',
  'node.pid': 'pid {pid}',
  'node.version': 'バージョン',
  'pools.title': 'プール',
  'pools.empty': 'プールはありません。',
  'pool.serving': '稼働中',
  'pool.availability': '稼働率',
  'pool.restarts': '再起動',
  'pool.queue': 'キュー',
  'pool.noQueue': 'キューなし',
  'pool.queueDepth': '待機中 {waiting} · 処理中 {inFlight}',
  'pool.replicas': 'レプリカ {min}〜{max}',
  'pool.replicasFixed': 'レプリカ {n}',
  'workers.title': 'ワーカー',
  'workers.empty': 'ワーカーはありません。',
  'workers.count.other': 'ワーカー {n}',
  'workers.spares.other': '予備 {n}',
  'workers.withSpares': '{workers} + {spares}',
  'worker.health': 'ヘルススコア',
  'worker.worstNone': 'なし（すべて正常）',
  'worker.restarts': '再起動',
  'worker.recentRestarts': '10 分で {n} 回',
  'worker.uptime': '稼働時間',
  'worker.pid': 'PID',
  'worker.cpu': 'CPU',
  'worker.memory': 'メモリ',
  'worker.spare': '予備',
  'worker.restart': '再起動…',
  'worker.restartLabel': '{id} を再起動',
  'worker.incident': '復旧中: インシデント {id}',
  'worker.noSamples': 'サンプルなし',
  'queues.title': 'キュー',
  'queues.empty': 'キューはありません。',
  'queue.waiting': '待機中',
  'queue.inFlight': '処理中',
  'queue.delayed': '遅延',
  'queue.done': '完了',
  'queue.dead': 'デッドレター',
  'queue.quarantined': '隔離',
  'queue.throughput': 'スループット',
  'queue.perMinute': '{n} 件/分',
  'queue.oldest': '最古の待機',
  'queue.depthChart': 'キューの深さ',
  'queue.throughputChart': 'スループット（件/分）',
  'queue.chartLabel': '{queue} の{chart}: {latest}',
  'queue.noHistory': 'サンプルなし',
  'jobs.title': '隔離されたジョブ',
  'jobs.empty': '隔離されたジョブはありません。',
  'jobs.intro':
    'ワーカーのクラッシュやハングに何度も居合わせたジョブです。原因を直してから再試行するか、削除してください。',
  'job.crashes': 'クラッシュ',
  'job.attempts': '試行',
  'job.quarantinedAt': '隔離日時',
  'job.error': '最後のエラー',
  'job.noError': 'エラーの記録なし（ワーカーがクラッシュ）',
  'job.payload': 'ペイロード',
  'job.retry': '再試行…',
  'job.purge': '削除…',
  'job.retryLabel': 'ジョブ {id} を再試行',
  'job.purgeLabel': 'ジョブ {id} を削除',
  'incidents.title': 'インシデント',
  'incidents.empty': 'インシデントはまだありません。',
  'incidents.count.other': 'インシデント {n} 件',
  'incident.cause': '原因',
  'incident.strategy': '戦略',
  'incident.outcome': '結果',
  'incident.duration': '所要時間',
  'incident.attempt': '試行 {n}/{max}',
  'incident.manual': '手動',
  'incident.inProgress': '対応中: {phase}',
  'incident.steps': '手順（{n}）',
  'incident.escalation': 'エスカレーションの理由: {reason}',
  'dialog.cancel': 'キャンセル',
  'dialog.working': '実行中…',
  'confirm.restartTitle': '{id} を再起動しますか？',
  'confirm.restartBody':
    'インシデントを作成してワーカーを復旧します。状態を保存し、停止して再び起動し、正常であることを確認します。',
  'confirm.soft': 'ソフト再起動',
  'confirm.softHint': 'SIGTERM を送ります。処理中のジョブは停止タイムアウトまで続行できます。',
  'confirm.hard': 'ハード再起動',
  'confirm.hardHint': 'プロセスグループ全体に即座に SIGKILL を送ります。処理中のジョブはキューに戻ります。',
  'confirm.restart': '再起動',
  'confirm.retryTitle': 'ジョブ {id} を再試行しますか？',
  'confirm.retryBody':
    'ジョブはキュー {queue} に戻り、すぐに実行対象になります（試行回数とクラッシュ回数はリセット）。まだワーカーをクラッシュさせる場合は、再び隔離されます。',
  'confirm.retry': '再試行',
  'confirm.purgeTitle': 'ジョブ {id} を削除しますか？',
  'confirm.purgeBody': 'ジョブはキュー {queue} から完全に削除されます。元に戻せません。',
  'confirm.purge': '削除',
  'toast.restarted': '{id} のインシデント {incident} を作成しました。',
  'toast.retried': 'ジョブ {id} をキュー {queue} に戻しました。',
  'toast.purged': 'ジョブ {id} を削除しました。',
  'toast.skipped': 'ジョブ {id} はすでに隔離されていません。変更はありません。',
  'state.starting': '起動中',
  'state.ready': '稼働中',
  'state.degraded': '低下',
  'state.stopping': '停止中',
  'state.exited': '終了',
  'state.restarting': '再起動中',
  'state.failed': '失敗',
  'outcome.recovered': '復旧',
  'outcome.escalated': 'エスカレーション',
  'outcome.interrupted': '中断',
  'cause.crash': 'クラッシュ',
  'cause.spawn-failed': '起動失敗',
  'cause.memory': 'メモリ',
  'cause.error-rate': 'エラー率',
  'cause.probe': 'プローブ失敗',
  'cause.start-timeout': '起動タイムアウト',
  'cause.external': '外部シグナル',
  'cause.manual': '手動再起動',
  'cause.hang': 'ハング',
  'cause.stopped': '停止（SIGSTOP）',
  'cause.uninterruptible': '割り込み不可スリープ',
  'cause.zombies': 'ゾンビプロセス',
  'cause.stale-delivery': '古い配信',
  'strategy.soft_restart': 'ソフト再起動',
  'strategy.hard_restart': 'ハード再起動',
  'strategy.scale_recovery': 'スケール復旧',
  'phase.saving': '状態を保存中',
  'phase.backoff': '待機中（バックオフ）',
  'phase.stopping': '停止中',
  'phase.starting': '起動中',
  'phase.restoring': '状態を復元中',
  'phase.verifying': '確認中',
  'phase.retiring': '旧ワーカーを退役中',
  'indicator.alive': '生存',
  'indicator.responsive': 'ハートビート',
  'indicator.zombies': 'ゾンビ',
  'indicator.cpu': 'CPU',
  'indicator.memory': 'メモリ',
  'indicator.error_rate': 'エラー率',
  'indicator.probe': 'プローブ',
  'indicator.backlog': 'バックログ',
  'indicator.throughput': 'スループット',
  'indicator.external': '外部シグナル',
  'indicator.restarts': '再起動',
  'cause.restartsBy': '{cause} {n}',
  'step.detected': '検知',
  'step.state-saved': '状態を保存',
  'step.backoff': 'バックオフ',
  'step.backoff-elapsed': 'バックオフ終了',
  'step.attempt': '試行',
  'step.stopped': '停止',
  'step.started': '起動',
  'step.start-failed': '起動失敗',
  'step.state-restored': '状態を復元',
  'step.ready': '準備完了',
  'step.verify-failed': '確認失敗',
  'step.retired': '退役',
  'step.recovered': '復旧',
  'step.escalated': 'エスカレーション',
  'step.interrupted': '中断',
  'step.ignored': '無視',
  'unit.s': '{n} 秒',
  'unit.ms': '{n} ms',
  'unit.m': '{m} 分 {s} 秒',
  'unit.h': '{h} 時間 {m} 分',
  'unit.d': '{d} 日 {h} 時間',
  'unit.mb': '{n} MiB',
  'unit.offsetMs': '+{n} ms',
  'unit.offsetS': '+{n} 秒',
  'unit.offsetM': '+{m} 分 {s} 秒',
  none: '—',
}

export const MESSAGES = { en, ja }

let lang = 'en'
let numberFormat = new Intl.NumberFormat('en')
let percentFormat = new Intl.NumberFormat('en', { style: 'percent', maximumFractionDigits: 1 })
/** Seconds to the millisecond, trailing zeros kept: 12.000. */
let secondsFormat = new Intl.NumberFormat('en', { minimumFractionDigits: 3, maximumFractionDigits: 3 })
let pluralRules = new Intl.PluralRules('en')

/** The language stored by the switch, else the browser's when it is Japanese, else English. */
export function initialLanguage() {
  let stored = null
  try {
    stored = localStorage.getItem(STORAGE_KEY)
  } catch {
    // Storage can be disabled; the browser's language still applies.
  }
  if (stored && LANGUAGES.includes(stored)) return stored
  return (navigator.languages ?? [navigator.language]).some((l) => l?.toLowerCase().startsWith('ja'))
    ? 'ja'
    : 'en'
}

export function language() {
  return lang
}

/** Switches the language of t() and the formats; `remember` stores the choice. */
export function setLanguage(next, remember = false) {
  lang = LANGUAGES.includes(next) ? next : 'en'
  numberFormat = new Intl.NumberFormat(lang)
  percentFormat = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 })
  secondsFormat = new Intl.NumberFormat(lang, { minimumFractionDigits: 3, maximumFractionDigits: 3 })
  pluralRules = new Intl.PluralRules(lang)
  document.documentElement.lang = lang
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, lang)
    } catch {
      // Not remembered when storage is disabled; the switch still works for this page.
    }
  }
}

/** The message of `key` with `{name}` placeholders filled; an unknown key shows as itself. */
export function t(key, vars) {
  const template = MESSAGES[lang][key] ?? en[key] ?? key
  if (!vars) return template
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole))
}

/**
 * The message of a count: `key.one`, `key.other` (as the language's plural rules choose for `n`),
 * with `{n}` the count as a number of the language (unless `vars` gives it as text, such as
 * "30+") and the other placeholders from `vars`.
 */
export function plural(key, n, vars) {
  const form = `${key}.${pluralRules.select(n)}`
  return t(form in MESSAGES[lang] ? form : `${key}.other`, { n: formatNumber(n), ...vars })
}

/** A translated API value (`state.ready`), or the value itself when it has no translation. */
export function tValue(prefix, value) {
  if (value === null || value === undefined) return t('none')
  const key = `${prefix}.${value}`
  return key in en ? t(key) : String(value)
}

/** Applies the static text of the page: every element with data-i18n gets its key's text. */
export function translateStatic(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n)
  document.title = t('app.title')
}

export function formatNumber(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return t('none')
  const f = Math.pow(10, digits)
  return numberFormat.format(Math.round(n * f) / f)
}

export function formatPercent(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return t('none')
  return percentFormat.format(ratio)
}

export function formatMb(mb) {
  if (mb === null || mb === undefined) return t('none')
  return t('unit.mb', { n: formatNumber(mb, mb < 10 ? 1 : 0) })
}

/** A duration for people: 850 ms, 12 s, 3 min 4 s, 2 h 5 min, 3 d 4 h. */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || ms < 0 || Number.isNaN(ms)) return t('none')
  if (ms < 1000) return t('unit.ms', { n: Math.round(ms) })
  const s = Math.floor(ms / 1000)
  if (s < 60) return t('unit.s', { n: ms < 10_000 ? formatNumber(ms / 1000, 1) : s })
  if (s < 3600) return t('unit.m', { m: Math.floor(s / 60), s: s % 60 })
  if (s < 86_400) return t('unit.h', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) })
  return t('unit.d', { d: Math.floor(s / 86_400), h: Math.floor((s % 86_400) / 3600) })
}

/**
 * How far into an incident a step came, to the millisecond: +0 ms, +15 ms, +1.234 s,
 * +2 min 5.015 s.
 */
export function formatOffset(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return t('none')
  if (ms < 1000) return t('unit.offsetMs', { n: formatNumber(ms) })
  if (ms < 60_000) return t('unit.offsetS', { n: secondsFormat.format(ms / 1000) })
  return t('unit.offsetM', {
    m: formatNumber(Math.floor(ms / 60_000)),
    s: secondsFormat.format((ms % 60_000) / 1000),
  })
}

const pad = (n) => String(n).padStart(2, '0')

/** The zone of a moment as its offset from UTC: UTC, UTC+9, UTC-5, UTC+5:30. */
function zoneOf(date) {
  const east = -date.getTimezoneOffset()
  if (east === 0) return 'UTC'
  const abs = Math.abs(east)
  return `UTC${east > 0 ? '+' : '-'}${Math.floor(abs / 60)}${abs % 60 ? `:${pad(abs % 60)}` : ''}`
}

/**
 * A moment, the one way the page writes one (in both languages): the browser's local time,
 * 24-hour, with its zone: `2026-12-02 17:53:58 UTC+9`.
 */
export function formatDateTime(epochMs) {
  if (epochMs === null || epochMs === undefined) return t('none')
  const d = new Date(epochMs)
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
  return `${date} ${formatClock(epochMs, true)} ${zoneOf(d)}`
}

/** The clock part of formatDateTime (chart axes): `17:53`, or `17:53:58` with `seconds`. */
export function formatClock(epochMs, seconds) {
  const d = new Date(epochMs)
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`
  return seconds ? `${hm}:${pad(d.getSeconds())}` : hm
}
