/**
 * Slack through an incoming webhook: one message per notified event, written for the person who
 * reads it on a phone at 3 a.m. It says which worker, what was wrong, what Shepherd did, how long
 * it took, and the exact commands to look further.
 * @module
 */
import type { Locale } from '../../config/locales.js'
import { formatDuration } from '../../config/units.js'
import type { AnyEvent, EventSeverity, ShepherdEvent } from '../../core/events.js'
import type { Incident, IncidentStep } from '../../core/incident.js'
import { messagesFor, type MessageTable } from '../../notify/i18n.js'
import {
  type DeliveryContext,
  DeliveryError,
  Destination,
  type FleetDeliveryContext,
  postJson,
} from '../../notify/notifier.js'
import { shellArg } from '../../shell-words.js'
import type { SlackBlock, SlackMessage, SlackText } from './slack-blocks.js'
import { fitSlackLimits } from './slack-limits.js'

/** What the formatter needs besides the event. */
export interface SlackFormatContext {
  /** Events of the same worker held back since the last message (dedup, rate limit). */
  suppressedBefore: number
  /** For a fleet-wide fact: other nodes' messages not sent since its last one (Notifier DeliveryContext.fleet). */
  fleet?: FleetDeliveryContext
  /** The config file path, as the reader must pass it to the CLI. */
  configFile: string
  /** The language of the message (`notifications.locale`). @defaultValue 'en' */
  locale?: Locale
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
 * calm (✅), openings ⚠️, revivals ♻️. Pure: the same event gives the same message. The words come
 * from the table of `ctx.locale` (i18n.ts); what the supervisor wrote (details, event messages) is
 * quoted as it is.
 *
 * @example
 * ```ts
 * const { text, blocks } = formatSlackMessage(event, { suppressedBefore: 3, configFile: '/etc/shepherd.yaml' })
 * ```
 */
export function formatSlackMessage(event: AnyEvent, ctx: SlackFormatContext): SlackMessage {
  return fitSlackLimits(layoutOf(event, ctx))
}

function layoutOf(event: AnyEvent, ctx: SlackFormatContext): SlackMessage {
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
  /** The clock Retry-After dates are read against. @defaultValue the system clock */
  now?: () => number
  /** @defaultValue `'slack'` */
  name?: string
  /** Language of the messages. @defaultValue 'en' */
  locale?: Locale
  /** See Notifier.fleetId. @defaultValue none */
  fleetId?: string
}

/** Delivers events to a Slack incoming webhook as {@link formatSlackMessage} renders them. */
export class SlackNotifier extends Destination {
  readonly #url: string
  readonly #configFile: string
  readonly #fetch: typeof fetch
  readonly #now: (() => number) | undefined
  readonly #locale: Locale

  constructor(o: SlackNotifierOptions) {
    super({ name: o.name ?? 'slack', minSeverity: o.minSeverity, fleetId: o.fleetId }, 'warning')
    this.#url = o.webhookUrl
    this.#configFile = o.configFile
    this.#fetch = o.fetch ?? fetch
    this.#now = o.now
    this.#locale = o.locale ?? 'en'
  }

  /**
   * POSTs `{ text, blocks }`; rejects with a DeliveryError that says whether to retry. A 400 is
   * Slack refusing the blocks (`invalid_blocks`, a limit this version of Shepherd does not know):
   * the alert then goes out as its plain-text fallback alone rather than not at all.
   */
  async deliver(event: AnyEvent, ctx: DeliveryContext, signal: AbortSignal): Promise<void> {
    const message = formatSlackMessage(event, {
      suppressedBefore: ctx.suppressedBefore,
      fleet: ctx.fleet,
      configFile: this.#configFile,
      locale: this.#locale,
    })
    try {
      await postJson({ fetch: this.#fetch, url: this.#url, body: message, signal, now: this.#now })
    } catch (e) {
      if (!(e instanceof DeliveryError) || e.status !== 400) throw e
      await postJson({
        fetch: this.#fetch,
        url: this.#url,
        body: { text: message.text },
        signal,
        now: this.#now,
      }).catch((fallback: unknown) => {
        throw fallback instanceof DeliveryError
          ? new DeliveryError(`${e.message}; the plain-text fallback: ${fallback.message}`, {
              retryable: fallback.retryable,
              status: fallback.status,
            })
          : fallback
      })
    }
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
  const t = tableOf(ctx)
  const l = t.labels
  const w = inc.workerId
  const p = inc.pool
  const took = t.duration(Math.max(0, (inc.endedAt ?? event.at) - inc.detectedAt))
  const strategy =
    inc.strategy === inc.firstStrategy ? inc.strategy : t.strategyThen(inc.firstStrategy, inc.strategy)
  const attempts =
    inc.attempt === 0 ? t.attemptsNone(inc.maxAttempts) : t.attemptsOf(inc.attempt, inc.maxAttempts)
  const wrongRaw = `${inc.cause}: ${inc.detail}`
  const wrong = clip(wrongRaw, MAX_DETAIL_CHARS)

  const titleOf = (ww: string, pp: string, b: (s: string) => string): string => {
    switch (event.type) {
      case 'incident:opened':
        return t.recovering(ww, pp, inc.cause, b)
      case 'incident:recovered':
        return t.recovered(ww, pp, took, b)
      case 'incident:escalated':
        return t.escalated(ww, pp, took, b)
    }
  }
  const title = { md: titleOf(esc(w), esc(p), bold), plain: titleOf(w, p, plainText) }

  const fields: SlackText[] = [
    md(`*${l.worker}*\n${esc(w)}`),
    md(`*${l.pool}*\n${esc(p)}`),
    md(`*${l.cause}*\n${inc.cause} (${inc.severity})`),
    md(`*${l.strategy}*\n${strategy}`),
    md(`*${l.attempts}*\n${attempts}`),
    event.type === 'incident:opened'
      ? md(`*${l.detected}*\n${slackDate(inc.detectedAt)}`)
      : md(`*${l.took}*\n${took}`),
  ]

  const blocks: SlackBlock[] = [
    { type: 'section', text: md(title.md), fields },
    { type: 'section', text: md(`*${l.whatWasWrong}:* ${escClip(wrongRaw, MAX_DETAIL_CHARS)}`) },
  ]
  const plain = [title.plain, `${l.whatWasWrong}: ${wrong}`]

  if (escalationReason !== null) {
    const reason = clip(escalationReason, MAX_DETAIL_CHARS)
    blocks.push({
      type: 'section',
      text: md(`*${l.whyHuman}:* ${escClip(escalationReason, MAX_DETAIL_CHARS)}\n${t.markedFailed}`),
    })
    plain.push(`${l.whyHuman}: ${reason}`)
  }

  if (event.type === 'incident:opened' && inc.attempt === 0) {
    // Nothing has been done yet but saving state; say what will be.
    const plan = t.plan(strategy, inc.maxAttempts)
    blocks.push({ type: 'section', text: md(`*${l.whatIsBeingDone}:* ${plan}`) })
    plain.push(`${l.whatIsBeingDone}: ${plan}`)
  } else {
    blocks.push({ type: 'section', text: md(`*${l.whatWasDone}*\n${codeBlock(timelineLines(inc, t))}`) })
    plain.push(`${l.whatWasDone}: ${t.doneShort(strategy, attempts, timelineShort(inc.timeline))}`)
  }

  appendLookAt(blocks, plain, event, w, ctx)
  blocks.push({
    type: 'context',
    elements: contextElements(t.contextIncident(esc(inc.id), slackDate(inc.detectedAt)), w, ctx),
  })
  appendSuppressed(plain, w, ctx)
  return { text: esc(plain.join('\n')), blocks }
}

function revivedMessage(event: ShepherdEvent<'worker:revived'>, ctx: SlackFormatContext): SlackMessage {
  const t = tableOf(ctx)
  const l = t.labels
  const w = event.workerId ?? t.unknownWorker
  const p = event.pool ?? t.unknownPool
  const out = t.duration(event.data.afterMs)
  const incidentId = event.data.incidentId ?? event.incidentId
  const fields: SlackText[] = [
    md(`*${l.worker}*\n${esc(w)}`),
    md(`*${l.pool}*\n${esc(p)}`),
    md(`*${l.outOfService}*\n${out}`),
    md(`*${l.escalatedIncident}*\n${incidentId === null ? t.none : esc(incidentId)}`),
  ]
  const blocks: SlackBlock[] = [
    { type: 'section', text: md(t.revived(esc(w), esc(p), out, bold)), fields },
    { type: 'section', text: md(`*${l.whatHappened}:* ${escClip(event.message, MAX_DETAIL_CHARS)}`) },
  ]
  const plain = [
    t.revived(w, p, out, plainText),
    `${l.whatHappened}: ${clip(event.message, MAX_DETAIL_CHARS)}`,
  ]
  appendLookAt(blocks, plain, event, w, ctx)
  blocks.push({ type: 'context', elements: contextElements(t.contextAt(slackDate(event.at)), w, ctx) })
  appendSuppressed(plain, w, ctx)
  return { text: esc(plain.join('\n')), blocks }
}

function quarantinedMessage(event: ShepherdEvent<'job:quarantined'>, ctx: SlackFormatContext): SlackMessage {
  const t = tableOf(ctx)
  const l = t.labels
  const { jobId, queue, crashes, error } = event.data
  const title = `${t.quarantined(jobId, queue, plainText)}${t.quarantinedWhy(crashes)}`
  // Commands to paste: every word shell-quoted (a job id is whatever the producer chose), and in
  // code formatting in the blocks, so that nothing in them reads as markup.
  const c = shellArg(ctx.configFile)
  const retry = `shepherd retry -c ${c} ${shellArg(queue)} --quarantined ${jobId.startsWith('-') ? '-- ' : ''}${shellArg(jobId)}`
  const look = `shepherd jobs -c ${c} ${shellArg(queue)} --state quarantined`
  const wrongLine = `${l.whatWasWrong}: ${t.quarantineWrong(event.workerId, crashes)}`
  const lines = [
    wrongLine,
    error ? `${l.lastError}: ${clip(error, MAX_DETAIL_CHARS)}` : '',
    `${l.whatToDo}: ${t.quarantineToDo(look, retry)}`,
  ].filter(Boolean)
  const mdLines = [
    escClip(wrongLine, MAX_DETAIL_CHARS),
    error ? `${l.lastError}: ${escClip(error, MAX_DETAIL_CHARS)}` : '',
    `${l.whatToDo}: ${t.quarantineToDo(`\`${esc(look)}\``, `\`${esc(retry)}\``)}`,
  ].filter(Boolean)
  const blocks: SlackBlock[] = [
    { type: 'section', text: md(t.quarantined(escClip(jobId, MAX_DETAIL_CHARS), esc(queue), bold)) },
    { type: 'section', text: md(mdLines.join('\n')) },
  ]
  blocks.push({
    type: 'context',
    elements: contextElements(t.contextAt(slackDate(event.at)), event.workerId, ctx),
  })
  const plain = [title, ...lines]
  appendSuppressed(plain, event.workerId, ctx)
  return { text: esc(plain.join('\n')), blocks }
}

const SEVERITY_ICONS: Record<EventSeverity, string> = { info: 'ℹ️', warning: '⚠️', critical: '🚨' }

/** Events the dispatcher never sends to Slack still render, so the formatter is total. */
function genericMessage(event: AnyEvent, ctx: SlackFormatContext): SlackMessage {
  // The supervisor writes event messages in English; they are quoted as they are.
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
  const l = tableOf(ctx).labels
  const commands = lookAtCommands(workerId, ctx.configFile)
  let text = `*${l.whatToLookAt}*\n${commands.map((c) => `\`${esc(c)}\``).join('\n')}`
  const tail = logTailOf(event)
  if (tail.length > 0)
    text += `\n*${l.lastLogLines}*\n${codeBlock(tail.map((line) => escClip(line, MAX_LINE_CHARS)))}`
  blocks.push({ type: 'section', text: md(text) })
  plain.push(`${l.lookAt}: ${commands.join(' ; ')}`)
}

function appendSuppressed(plain: string[], workerId: string | null, ctx: SlackFormatContext): void {
  const note = suppressedNote(workerId, ctx)
  if (note !== null) plain.push(note)
}

function contextElements(first: string, workerId: string | null, ctx: SlackFormatContext): SlackText[] {
  const note = suppressedNote(workerId, ctx)
  return note === null ? [md(first)] : [md(first), md(esc(note))]
}

function suppressedNote(workerId: string | null, ctx: SlackFormatContext): string | null {
  const t = tableOf(ctx)
  const n = ctx.suppressedBefore
  const notes = n <= 0 ? [] : [t.suppressed(n, workerId)]
  const f = ctx.fleet
  if (f !== undefined) notes.push(t.fleetSuppressed(f.node, f.suppressedBefore, f.nodes))
  return notes.length === 0 ? null : notes.join(' ')
}

function tableOf(ctx: SlackFormatContext): MessageTable {
  return messagesFor(ctx.locale ?? 'en')
}

function bold(s: string): string {
  return `*${s}*`
}

function plainText(s: string): string {
  return s
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

function timelineLines(inc: Incident, t: MessageTable): string[] {
  const steps = elide(inc.timeline)
  // Offsets stay compact (+4.21s) in every language: they line up in a code block.
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
      ? t.moreSteps(omitted)
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
