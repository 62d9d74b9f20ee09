/**
 * A report as Markdown for people (`shepherd report --format md`, the `text` of a scheduled
 * webhook), in English or Japanese. Pure: the same report and options give the same text.
 * @module
 */
import type { Locale } from '../config/locales.js'
import { shellArg } from '../shell-words.js'
import {
  formatPercent,
  formatPeriod,
  formatPointChange,
  formatSigned,
  formatTime,
  type RenderOptions,
} from './format.js'
import { type ReportMessages, reportMessagesFor } from './messages.js'
import type { PeriodFigures, Report } from './types.js'

/** Options of {@link renderMarkdown}. */
export interface MarkdownOptions extends RenderOptions {
  /** @defaultValue `'en'` */
  locale?: Locale
  /**
   * The config file, quoted in the commands the report suggests (`shepherd retry -c FILE …`).
   * @defaultValue the commands name none
   */
  configFile?: string
}

/** Characters of a job's last error shown in a table cell; `shepherd jobs` shows the rest. */
const MAX_ERROR_CHARS = 80

/**
 * Renders the report as GitHub-flavoured Markdown: a summary table with the changes since the
 * previous period, then availability by pool, incidents by cause, time to recover, the workers
 * with the most incidents, jobs quarantined or dead-lettered, and the jobs quarantined now.
 * @example
 * ```ts
 * process.stdout.write(renderMarkdown(report, { locale: 'ja', configFile: 'shepherd.yaml' }))
 * ```
 */
export function renderMarkdown(report: Report, o: MarkdownOptions = {}): string {
  const m = reportMessagesFor(o.locale ?? 'en')
  const tz = o.timeZone
  const L = m.labels
  const out: string[] = []
  const length = m.duration(report.period.to - report.period.from)

  out.push(`# ${m.title}`, '')
  const current = formatPeriod(report.period, tz)
  const previous = formatPeriod(report.previousPeriod, tz)
  out.push(`- **${L.period}:** ${m.period(current.range, current.offset, length)}`)
  out.push(`- **${L.comparedWith}:** ${m.period(previous.range, previous.offset, null)}`)
  out.push(`- **${L.supervisor}:** ${report.supervisorRunning ? m.supervisorRunning : m.supervisorDown}`, '')

  out.push(`## ${L.summary}`, '')
  out.push(...summaryTable(report, m), '')

  out.push(`## ${m.headings.pools}`, '', m.poolsNote, '')
  out.push(
    ...table(
      [L.pool, L.availability, L.change, L.fullStrength, L.observed, L.incidents, L.restarts, L.now],
      'lrrrrrrl',
      report.pools.map((p) => [
        cell(p.name),
        p.availability === null ? m.notObserved : formatPercent(p.availability),
        p.availability === null || p.previousAvailability === null
          ? '–'
          : m.points(formatPointChange(p.availability, p.previousAvailability)),
        m.duration(p.fullMs),
        m.duration(p.observedMs),
        String(p.incidents),
        String(p.restarts),
        p.now === null ? '–' : m.serving(p.now.serving, p.minReplicas, p.now.spares),
      ]),
    ),
    '',
  )

  out.push(`## ${m.headings.causes}`, '')
  if (report.causes.length === 0) out.push(m.noIncidents, '')
  else {
    out.push(
      ...table(
        [L.cause, L.incidents, L.recovered, L.escalated, L.other, L.restarts, L.mttrMedian],
        'lrrrrrr',
        report.causes.map((c) => [
          `\`${c.cause}\``,
          String(c.incidents),
          String(c.recovered),
          String(c.escalated),
          String(c.interrupted + c.open),
          String(c.restarts),
          c.mttrP50Ms === null ? '–' : m.duration(c.mttrP50Ms),
        ]),
      ),
      '',
    )
    if (report.causes.some((c) => c.interrupted + c.open > 0)) out.push(m.otherNote, '')
  }

  out.push(`## ${m.headings.mttr}`, '')
  const mttr = report.summary.mttr
  out.push(
    mttr.count === 0
      ? m.mttrNone
      : m.mttrLine(m.duration(mttr.p50Ms!), m.duration(mttr.p95Ms!), m.duration(mttr.maxMs!), mttr.count),
    '',
  )

  out.push(`## ${m.headings.workers}`, '')
  if (report.topWorkers.length === 0) out.push(m.noIncidents, '')
  else {
    out.push(
      ...table(
        [L.worker, L.pool, L.incidents, L.recovered, L.escalated, L.cause],
        'llrrrl',
        report.topWorkers.map((w) => [
          cell(w.workerId),
          cell(w.pool),
          String(w.incidents),
          String(w.recovered),
          String(w.escalated),
          Object.entries(w.causes)
            .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
            .map(([cause, n]) => `\`${cause}\` ${n}`)
            .join(', '),
        ]),
      ),
      '',
    )
  }

  out.push(`## ${m.headings.jobs}`, '', m.jobsNote, '')
  if (report.topJobs.length === 0) out.push(m.noJobs, '')
  else {
    out.push(
      ...table(
        [L.job, L.queue, L.quarantined, L.deadLettered, L.lastError],
        'llrrl',
        report.topJobs.map((j) => [
          cell(j.jobId),
          cell(j.queue),
          String(j.quarantined),
          String(j.deadLettered),
          j.lastError === null ? '–' : cell(clip(j.lastError, MAX_ERROR_CHARS)),
        ]),
      ),
      '',
    )
  }

  out.push(`## ${m.headings.quarantined}`, '')
  const q = report.quarantinedNow
  if (q.total === 0) out.push(m.quarantinedNone, '')
  else {
    out.push(m.quarantinedSome(q.total), '')
    out.push(
      ...table(
        [L.job, L.queue, L.crashes, L.since, L.lastError],
        'llrll',
        q.jobs.map((j) => [
          cell(j.id),
          cell(j.queue),
          String(j.crashes),
          formatTime(j.since, tz),
          j.lastError === null ? '–' : cell(clip(j.lastError, MAX_ERROR_CHARS)),
        ]),
      ),
      '',
    )
    if (q.total > q.jobs.length) out.push(m.quarantinedMore(q.total - q.jobs.length), '')
    const config = o.configFile === undefined ? '' : ` -c ${shellArg(o.configFile)}`
    out.push(m.putBack(`shepherd retry${config} QUEUE --quarantined JOB_ID`), '')
  }
  return `${out.join('\n').trimEnd()}\n`
}

function summaryTable(report: Report, m: ReportMessages): string[] {
  const L = m.labels
  const now = report.summary
  const before = report.previous
  const c = report.changes
  const count = (v: number) => formatSigned(v)
  const row = (label: string, get: (f: PeriodFigures) => string, change: string): string[] => [
    label,
    get(now),
    get(before),
    change,
  ]
  const availability = (f: PeriodFigures) =>
    f.availability === null ? m.notObserved : formatPercent(f.availability)
  const median = (f: PeriodFigures) => (f.mttr.p50Ms === null ? '–' : m.duration(f.mttr.p50Ms))
  return table(['', L.thisPeriod, L.previousPeriod, L.change], 'lrrr', [
    row(
      L.availability,
      availability,
      now.availability === null || before.availability === null
        ? '–'
        : m.points(formatPointChange(now.availability, before.availability)),
    ),
    row(L.incidents, (f) => String(f.incidents), count(c.incidents)),
    row(L.recovered, (f) => String(f.recovered), count(c.recovered)),
    row(L.escalated, (f) => String(f.escalated), count(c.escalated)),
    row(L.mttrMedian, median, c.mttrP50Ms === null ? '–' : formatSigned(c.mttrP50Ms, m.duration)),
    row(L.restarts, (f) => String(f.restarts), count(c.restarts)),
    [L.quarantinedNow, String(report.quarantinedNow.total), '–', '–'],
  ])
}

/** A Markdown table; `align` has one `l` or `r` per column. */
function table(header: readonly string[], align: string, rows: readonly (readonly string[])[]): string[] {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  const rule = header.map((_, i) => (align[i] === 'r' ? '---:' : '---'))
  return [line(header), line(rule), ...rows.map(line)]
}

/**
 * Text from workers and jobs (ids, errors) in a table cell: Markdown's active characters are
 * escaped, so an id like `a_b_c` or an error with `|` or `<script>` shows as it is and cannot
 * break the table; line breaks become spaces.
 */
function cell(s: string): string {
  return s.replace(/\s+/g, ' ').replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`)
}

function clip(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ').trim()
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`
}
