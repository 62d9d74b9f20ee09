/**
 * A report as one Slack message: the headline figures with their changes, availability by pool,
 * incidents by cause, the workers and jobs that stood out, and the command for the full report.
 * Slack cuts a section at 3000 characters and a message at 50 blocks, so the message is a summary
 * of bounded size whatever the fleet: lists keep their first entries and say how many were left
 * out, and the full report is one command away.
 * @module
 */
import { escapeSlack } from '../adapters/notify/slack.js'
import type { SlackBlock, SlackMessage, SlackText } from '../adapters/notify/slack-blocks.js'
import type { Locale } from '../config/locales.js'
import { formatPercent, formatPeriod, formatPointChange, formatSigned, type RenderOptions } from './format.js'
import { reportMessagesFor } from './messages.js'
import type { Report } from './types.js'

/** Options of {@link formatReportSlack}. */
export interface SlackReportOptions extends RenderOptions {
  /** @defaultValue `'en'` */
  locale?: Locale
  /** The config file, quoted in the command for the full report. */
  configFile: string
}

/** Pools listed by name; a larger fleet lists its least available pools first, then a count of the rest. */
export const SLACK_MAX_POOLS = 15
/** Workers and jobs listed. */
export const SLACK_MAX_ENTRIES = 5
/** Slack's limit on one section's text is 3000 characters; the margin leaves room for the "more" line. */
const MAX_SECTION_CHARS = 2800

/**
 * Renders the report as a Slack message (`text` is the fallback for notifications and old
 * clients). Everything from workers and jobs is escaped, as in incident messages.
 * @example
 * ```ts
 * const body = formatReportSlack(report, { locale: 'ja', configFile: '/etc/shepherd.yaml' })
 * ```
 */
export function formatReportSlack(report: Report, o: SlackReportOptions): SlackMessage {
  const m = reportMessagesFor(o.locale ?? 'en')
  const L = m.labels
  const s = report.summary
  const c = report.changes
  const p = formatPeriod(report.period, o.timeZone)
  const period = m.period(p.range, p.offset, null)
  const title = m.slackTitle(period)
  const availability =
    s.availability === null
      ? m.notObserved
      : `${formatPercent(s.availability)}${report.previous.availability === null ? '' : ` (${m.points(formatPointChange(s.availability, report.previous.availability))})`}`
  const median =
    s.mttr.p50Ms === null
      ? '–'
      : `${m.duration(s.mttr.p50Ms)}${c.mttrP50Ms === null ? '' : ` (${formatSigned(c.mttrP50Ms, m.duration)})`}`
  const fields: SlackText[] = [
    md(`*${L.availability}*\n${availability}`),
    md(`*${L.incidents}*\n${s.incidents} (${formatSigned(c.incidents)})`),
    md(`*${L.recovered}* / *${L.escalated}*\n${s.recovered} / ${s.escalated}`),
    md(`*${L.mttrMedian}*\n${median}`),
    md(`*${L.restarts}*\n${s.restarts} (${formatSigned(c.restarts)})`),
    md(`*${L.quarantinedNow}*\n${report.quarantinedNow.total}`),
  ]
  const blocks: SlackBlock[] = [{ type: 'section', text: md(`*${escapeSlack(title)}*`), fields }]

  const pools = [...report.pools].sort(
    (a, b) => (a.availability ?? 2) - (b.availability ?? 2) || a.name.localeCompare(b.name),
  )
  blocks.push(
    section(
      m.headings.pools,
      pools.map((p) => {
        const ratio = p.availability === null ? m.notObserved : formatPercent(p.availability)
        const change =
          p.availability === null || p.previousAvailability === null
            ? ''
            : ` (${m.points(formatPointChange(p.availability, p.previousAvailability))})`
        const now = p.now === null ? '' : ` · ${m.serving(p.now.serving, p.minReplicas, p.now.spares)}`
        return `${escapeSlack(p.name)}: ${ratio}${change}${now}`
      }),
      SLACK_MAX_POOLS,
      m.andMore,
    ),
  )
  blocks.push(
    section(
      m.headings.causes,
      report.causes.length === 0
        ? [m.noIncidents]
        : [report.causes.map((x) => `\`${escapeSlack(x.cause)}\` ${x.incidents}`).join(' · ')],
      1,
      m.andMore,
    ),
  )
  if (report.topWorkers.length > 0) {
    blocks.push(
      section(
        m.headings.workers,
        report.topWorkers.map((w) => m.workerLine(escapeSlack(w.workerId), w.incidents, w.escalated)),
        SLACK_MAX_ENTRIES,
        m.andMore,
      ),
    )
  }
  if (report.topJobs.length > 0) {
    blocks.push(
      section(
        m.headings.jobs,
        report.topJobs.map((j) =>
          m.jobLine(escapeSlack(j.jobId), escapeSlack(j.queue), j.quarantined, j.deadLettered),
        ),
        SLACK_MAX_ENTRIES,
        m.andMore,
      ),
    )
  }
  const sinceArg = compactDuration(report.period.to - report.period.from)
  blocks.push({
    type: 'context',
    elements: [md(escapeSlack(m.fullReport(`shepherd report -c ${o.configFile} --since ${sinceArg}`)))],
  })

  const plain = [
    title,
    `${L.availability}: ${availability} · ${L.incidents}: ${s.incidents} · ${L.recovered}: ${s.recovered} · ${L.escalated}: ${s.escalated} · ${L.mttrMedian}: ${median}`,
  ]
  return { text: escapeSlack(plain.join('\n')), blocks }
}

/** A titled section of at most `max` lines, and a count of the lines left out; never over Slack's limit. */
function section(
  heading: string,
  lines: readonly string[],
  max: number,
  andMore: (n: number) => string,
): SlackBlock {
  const shown: string[] = []
  let length = heading.length + 4
  for (const line of lines.slice(0, max)) {
    if (length + line.length + 1 > MAX_SECTION_CHARS) break
    shown.push(line)
    length += line.length + 1
  }
  const left = lines.length - shown.length
  const body = left > 0 ? [...shown, andMore(left)] : shown
  return { type: 'section', text: md(`*${heading}*\n${body.join('\n')}`) }
}

function md(text: string): SlackText {
  return { type: 'mrkdwn', text }
}

/** The period length as `--since` takes it: `24h`, `7d`, `90m`, `45s`. */
function compactDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms >= 7 * 86_400_000) return `${ms / 86_400_000}d`
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}
