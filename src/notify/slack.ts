/**
 * Slack through an incoming webhook: one message per notified event, written for the person who
 * reads it on a phone at 3 a.m. It says which worker, what was wrong, what Shepherd did, how long
 * it took, and the exact commands to look further.
 * @module
 */
import { formatDuration } from '../config/units.js'
import type { AnyEvent, EventSeverity, ShepherdEvent } from '../core/events.js'
import type { Incident, IncidentStep } from '../core/incident.js'
import { type DeliveryContext, type Notifier, postJson } from './notifier.js'

/** A Slack mrkdwn text object. */
export interface SlackText {
  type: 'mrkdwn'
  text: string
}

/** The Block Kit blocks Shepherd's messages use. */
export type SlackBlock =
  | { type: 'section'; text: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] }
  | { type: 'divider' }

/** A Slack message: `text` is the plain fallback (push notifications, old clients), `blocks` the layout. */
export interface SlackMessage {
  text: string
  blocks: SlackBlock[]
}

/** What the formatter needs besides the event. */
export interface SlackFormatContext {
  /** Events of the same worker held back since the last message (dedup, rate limit). */
  suppressedBefore: number
  /** The config file path, as the reader must pass it to the CLI. */
  configFile: string
}

/**
 * Timeline steps shown in full. An incident that went through every retry has about 30 steps;
 * Slack cuts a section at 3000 characters, so longer timelines keep the first steps (what was
 * detected) and the last ones (how it ended) and say how many were left out.
 */
const MAX_TIMELINE_STEPS = 16
/** Characters of one step's detail or one log line; the CLI shows the rest. */
const MAX_LINE_CHARS = 120
/** Characters of the "what was wrong" sentence and the escalation reason. */
const MAX_DETAIL_CHARS = 600
/** Log lines quoted when an event carries them; `shepherd logs` has the rest. */
const LOG_TAIL_LINES = 5

/**
 * Escapes the three characters Slack treats as control characters in mrkdwn (`&`, `<`, `>`), so a
 * worker id, a detail or a log line can neither break the layout nor smuggle in a link or an
 * `<!channel>` mention.
 */
export function escapeSlack(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/**
 * Renders one event as a Slack message. Escalations are loud (🚨, "needs a human"), recoveries
 * calm (✅), openings ⚠️, revivals ♻️. Pure: the same event gives the same message.
 *
 * @example
 * ```ts
 * const { text, blocks } = formatSlackMessage(event, { suppressedBefore: 3, configFile: '/etc/shepherd.yaml' })
 * ```
 */
export function formatSlackMessage(event: AnyEvent, ctx: SlackFormatContext): SlackMessage {
  switch (event.type) {
    case 'incident:opened':
      return incidentMessage(event, event.data.incident, ctx, null)
    case 'incident:recovered':
      return incidentMessage(event, event.data.incident, ctx, null)
    case 'incident:escalated':
      return incidentMessage(event, event.data.incident, ctx, event.data.reason)
    case 'worker:revived':
      return revivedMessage(event, ctx)
    case 'job:quarantined':
      return quarantinedMessage(event, ctx)
    default:
      return genericMessage(event, ctx)
  }
}

/** Options of {@link SlackNotifier}. */
export interface SlackNotifierOptions {
  /** The incoming-webhook URL. A secret: it is never logged. */
  webhookUrl: string
  /**
   * @defaultValue `'warning'`: openings, escalations and revivals reach people; a recovery alone
   * (info) goes to the log and webhooks, since nobody needs to act on it.
   */
  minSeverity?: EventSeverity
  /** Config file path quoted in the commands of each message. */
  configFile: string
  /** @defaultValue the global fetch */
  fetch?: typeof fetch
  /** @defaultValue `'slack'` */
  name?: string
}

/** Delivers events to a Slack incoming webhook as {@link formatSlackMessage} renders them. */
export class SlackNotifier implements Notifier {
  readonly name: string
  readonly minSeverity: EventSeverity
  readonly #url: string
  readonly #configFile: string
  readonly #fetch: typeof fetch

  constructor(o: SlackNotifierOptions) {
    this.name = o.name ?? 'slack'
    this.minSeverity = o.minSeverity ?? 'warning'
    this.#url = o.webhookUrl
    this.#configFile = o.configFile
    this.#fetch = o.fetch ?? fetch
  }

  /** POSTs `{ text, blocks }`; rejects with a DeliveryError that says whether to retry. */
  async deliver(event: AnyEvent, ctx: DeliveryContext, signal: AbortSignal): Promise<void> {
    const body = formatSlackMessage(event, {
      suppressedBefore: ctx.suppressedBefore,
      configFile: this.#configFile,
    })
    await postJson({ fetch: this.#fetch, url: this.#url, body, signal })
  }
}

type IncidentEvent = Extract<
  AnyEvent,
  { type: 'incident:opened' | 'incident:recovered' | 'incident:escalated' }
>

function incidentMessage(
  event: IncidentEvent,
  inc: Incident,
  ctx: SlackFormatContext,
  escalationReason: string | null,
): SlackMessage {
  const w = inc.workerId
  const p = inc.pool
  const took = formatDuration(Math.max(0, (inc.endedAt ?? event.at) - inc.detectedAt))
  const strategy =
    inc.strategy === inc.firstStrategy ? inc.strategy : `${inc.firstStrategy}, then ${inc.strategy}`
  const attempts =
    inc.attempt === 0 ? `none yet (up to ${inc.maxAttempts})` : `${inc.attempt} of ${inc.maxAttempts}`
  const wrongRaw = `${inc.cause}: ${inc.detail}`
  const wrong = clip(wrongRaw, MAX_DETAIL_CHARS)

  let title: { md: string; plain: string }
  switch (event.type) {
    case 'incident:opened':
      title = {
        md: `⚠️ *Recovering ${esc(w)}* (pool ${esc(p)}): ${inc.cause}`,
        plain: `⚠️ Recovering ${w} (pool ${p}): ${inc.cause}`,
      }
      break
    case 'incident:recovered':
      title = {
        md: `✅ *${esc(w)} recovered* (pool ${esc(p)}) in ${took}`,
        plain: `✅ ${w} recovered (pool ${p}) in ${took}`,
      }
      break
    case 'incident:escalated':
      title = {
        md: `🚨 *${esc(w)} needs a human* (pool ${esc(p)}): recovery gave up after ${took}`,
        plain: `🚨 ${w} needs a human (pool ${p}): recovery gave up after ${took}`,
      }
      break
  }

  const fields: SlackText[] = [
    md(`*Worker*\n${esc(w)}`),
    md(`*Pool*\n${esc(p)}`),
    md(`*Cause*\n${inc.cause} (${inc.severity})`),
    md(`*Strategy*\n${strategy}`),
    md(`*Attempts*\n${attempts}`),
    event.type === 'incident:opened' ? md(`*Detected*\n${slackDate(inc.detectedAt)}`) : md(`*Took*\n${took}`),
  ]

  const blocks: SlackBlock[] = [
    { type: 'section', text: md(title.md), fields },
    { type: 'section', text: md(`*What was wrong:* ${escClip(wrongRaw, MAX_DETAIL_CHARS)}`) },
  ]
  const plain = [title.plain, `What was wrong: ${wrong}`]

  if (escalationReason !== null) {
    const reason = clip(escalationReason, MAX_DETAIL_CHARS)
    blocks.push({
      type: 'section',
      text: md(
        `*Why it needs a human:* ${escClip(escalationReason, MAX_DETAIL_CHARS)}\nThe worker is marked failed. Shepherd keeps trying to start it at the revive interval and will say so here when it runs again.`,
      ),
    })
    plain.push(`Why it needs a human: ${reason}`)
  }

  if (event.type === 'incident:opened' && inc.attempt === 0) {
    // Nothing has been done yet but saving state; say what will be.
    const plan = `${strategy}, up to ${inc.maxAttempts} attempt${inc.maxAttempts === 1 ? '' : 's'}, then escalation`
    blocks.push({ type: 'section', text: md(`*What is being done:* ${plan}`) })
    plain.push(`What is being done: ${plan}`)
  } else {
    blocks.push({ type: 'section', text: md(`*What was done*\n${codeBlock(timelineLines(inc))}`) })
    plain.push(`What was done: ${strategy}, attempt ${attempts}: ${timelineShort(inc.timeline)}`)
  }

  appendLookAt(blocks, plain, event, w, ctx)
  blocks.push({
    type: 'context',
    elements: contextElements(`Incident ${esc(inc.id)} · detected ${slackDate(inc.detectedAt)}`, w, ctx),
  })
  appendSuppressed(plain, w, ctx)
  return { text: esc(plain.join('\n')), blocks }
}

function revivedMessage(event: ShepherdEvent<'worker:revived'>, ctx: SlackFormatContext): SlackMessage {
  const w = event.workerId ?? 'unknown worker'
  const p = event.pool ?? 'unknown pool'
  const out = formatDuration(event.data.afterMs)
  const incidentId = event.data.incidentId ?? event.incidentId
  const titlePlain = `♻️ ${w} is running again (pool ${p}), ${out} after it was marked failed`
  const fields: SlackText[] = [
    md(`*Worker*\n${esc(w)}`),
    md(`*Pool*\n${esc(p)}`),
    md(`*Out of service*\n${out}`),
    md(`*Escalated incident*\n${incidentId === null ? 'none' : esc(incidentId)}`),
  ]
  const blocks: SlackBlock[] = [
    {
      type: 'section',
      text: md(`♻️ *${esc(w)} is running again* (pool ${esc(p)}), ${out} after it was marked failed`),
      fields,
    },
    { type: 'section', text: md(`*What happened:* ${escClip(event.message, MAX_DETAIL_CHARS)}`) },
  ]
  const plain = [titlePlain, `What happened: ${clip(event.message, MAX_DETAIL_CHARS)}`]
  appendLookAt(blocks, plain, event, w, ctx)
  blocks.push({ type: 'context', elements: contextElements(`At ${slackDate(event.at)}`, w, ctx) })
  appendSuppressed(plain, w, ctx)
  return { text: esc(plain.join('\n')), blocks }
}

function quarantinedMessage(event: ShepherdEvent<'job:quarantined'>, ctx: SlackFormatContext): SlackMessage {
  const { jobId, queue, crashes, error } = event.data
  const w = event.workerId ?? 'a worker'
  const title = `☣️ Job ${jobId} of queue ${queue} is quarantined: it was in flight in ${crashes} worker crashes or hangs`
  const retry = `shepherd retry -c ${ctx.configFile} ${queue} --quarantined ${jobId}`
  const look = `shepherd jobs -c ${ctx.configFile} ${queue} --state quarantined`
  const lines = [
    `What was wrong: the worker running it (last ${w}) crashed or hung ${crashes} times; it is not retried, so it can no longer take workers down.`,
    error ? `Its last error: ${clip(error, MAX_DETAIL_CHARS)}` : '',
    `What to do: look at its payload (${look}); once the cause is fixed, put it back with ${retry}`,
  ].filter(Boolean)
  const blocks: SlackBlock[] = [
    { type: 'section', text: md(`☣️ *Job ${esc(jobId)} of queue ${esc(queue)} is quarantined*`) },
    { type: 'section', text: md(esc(lines.join('\n'))) },
  ]
  blocks.push({
    type: 'context',
    elements: contextElements(`At ${slackDate(event.at)}`, event.workerId, ctx),
  })
  const plain = [title, ...lines]
  appendSuppressed(plain, event.workerId, ctx)
  return { text: esc(plain.join('\n')), blocks }
}

const SEVERITY_ICONS: Record<EventSeverity, string> = { info: 'ℹ️', warning: '⚠️', critical: '🚨' }

/** Events the dispatcher never sends to Slack still render, so the formatter is total. */
function genericMessage(event: AnyEvent, ctx: SlackFormatContext): SlackMessage {
  const head = `${SEVERITY_ICONS[event.severity]} ${clip(event.message, MAX_DETAIL_CHARS)}`
  const blocks: SlackBlock[] = [{ type: 'section', text: md(esc(head)) }]
  const plain = [head]
  appendLookAt(blocks, plain, event, event.workerId, ctx)
  blocks.push({
    type: 'context',
    elements: contextElements(`${event.type} · ${slackDate(event.at)}`, event.workerId, ctx),
  })
  appendSuppressed(plain, event.workerId, ctx)
  return { text: esc(plain.join('\n')), blocks }
}

function appendLookAt(
  blocks: SlackBlock[],
  plain: string[],
  event: AnyEvent,
  workerId: string | null,
  ctx: SlackFormatContext,
): void {
  const commands = lookAtCommands(workerId, ctx.configFile)
  let text = `*What to look at*\n${commands.map((c) => `\`${esc(c)}\``).join('\n')}`
  const tail = logTailOf(event)
  if (tail.length > 0) text += `\n*Last log lines*\n${codeBlock(tail.map((l) => escClip(l, MAX_LINE_CHARS)))}`
  blocks.push({ type: 'section', text: md(text) })
  plain.push(`Look at: ${commands.join(' ; ')}`)
}

function appendSuppressed(plain: string[], workerId: string | null, ctx: SlackFormatContext): void {
  const note = suppressedNote(workerId, ctx.suppressedBefore)
  if (note !== null) plain.push(note)
}

function contextElements(first: string, workerId: string | null, ctx: SlackFormatContext): SlackText[] {
  const note = suppressedNote(workerId, ctx.suppressedBefore)
  return note === null ? [md(first)] : [md(first), md(esc(note))]
}

function suppressedNote(workerId: string | null, n: number): string | null {
  if (n <= 0) return null
  const what = `${n} similar event${n === 1 ? '' : 's'}${workerId === null ? '' : ` of ${workerId}`}`
  return `${what} suppressed since the last message (dedup_window, rate_limit).`
}

/** The exact commands that show the incident list and the worker's recent output. */
function lookAtCommands(workerId: string | null, configFile: string): string[] {
  const c = shellArg(configFile)
  const out = [`shepherd incidents -c ${c}`]
  if (workerId !== null) out.push(`shepherd logs -c ${c} ${shellArg(workerId)} -n 100`)
  return out
}

/**
 * Log lines travel only when the event carries them (`data.logTail: string[]`); incidents keep
 * theirs in the store, so the message points at `shepherd logs` instead of inventing any.
 */
function logTailOf(event: AnyEvent): string[] {
  const data: object = event.data
  if (!('logTail' in data) || !Array.isArray(data.logTail)) return []
  const lines = data.logTail.filter((l): l is string => typeof l === 'string')
  return lines.slice(-LOG_TAIL_LINES)
}

function timelineLines(inc: Incident): string[] {
  const steps = elide(inc.timeline)
  const rows = steps.map((s) =>
    s === null
      ? null
      : { at: `+${formatDuration(Math.max(0, s.at - inc.detectedAt))}`, step: s.step, detail: s.detail },
  )
  const atWidth = Math.max(...rows.map((r) => (r === null ? 0 : r.at.length)))
  const stepWidth = Math.max(...rows.map((r) => (r === null ? 0 : r.step.length)))
  const omitted = inc.timeline.length - (steps.length - 1)
  return rows.map((r) =>
    r === null
      ? `… ${omitted} more steps (shepherd incidents) …`
      : `${esc(r.at.padEnd(atWidth))}  ${esc(r.step.padEnd(stepWidth))}  ${escClip(r.detail, MAX_LINE_CHARS)}`.trimEnd(),
  )
}

function timelineShort(timeline: readonly IncidentStep[]): string {
  return elide(timeline)
    .map((s) => (s === null ? '…' : s.step))
    .join(' → ')
}

/** The first steps and the last ones, with null where steps were left out. */
function elide(timeline: readonly IncidentStep[]): (IncidentStep | null)[] {
  if (timeline.length <= MAX_TIMELINE_STEPS) return [...timeline]
  const head = 3
  const tail = MAX_TIMELINE_STEPS - head - 1
  return [...timeline.slice(0, head), null, ...timeline.slice(-tail)]
}

function codeBlock(lines: string[]): string {
  return `\`\`\`\n${lines.join('\n')}\n\`\`\``
}

/** Slack shows the time in the reader's zone; the fallback is UTC. */
function slackDate(at: number): string {
  const utc = new Date(at)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' UTC')
  return `<!date^${Math.floor(at / 1000)}^{date_short_pretty} {time_secs}|${utc}>`
}

/** Quotes a shell word only when it needs it, so the common case reads naturally. */
function shellArg(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-][A-Za-z0-9_@%+=:,./#-]*$/.test(s)) return s
  return `'${s.replace(/'/g, `'\\''`)}'`
}

function clip(s: string, max: number): string {
  const one = s.replace(/\s*\n\s*/g, ' ')
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`
}

/**
 * Escapes, then clips to `max` characters of the escaped text, so a string full of `&` cannot blow
 * a section past Slack's 3000-character limit; never cuts an entity in half.
 */
function escClip(s: string, max: number): string {
  const e = escapeSlack(s.replace(/\s*\n\s*/g, ' '))
  return e.length <= max ? e : `${e.slice(0, max - 1).replace(/&[a-z]*$/, '')}…`
}

function esc(s: string): string {
  return escapeSlack(s)
}

function md(text: string): SlackText {
  return { type: 'mrkdwn', text }
}
