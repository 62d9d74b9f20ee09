/**
 * Where events go: the `notifications` section (Slack, webhooks, their limits and language), the
 * `reports` section (scheduled reports) and the event hooks of `hooks:`. Sections of the one
 * config schema (schema.ts).
 * @module
 */
import { z } from 'zod'

import { EVENT_TYPES, isEventPattern } from '../core/events.js'
import { LOCALES } from './locales.js'
import { duration, LONG_DURATION_LIMIT } from './units.js'

export const SEVERITIES = ['info', 'warning', 'critical'] as const

const WebhookSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }).describe('URL that receives each event as a JSON POST.'),
    min_severity: z
      .enum(SEVERITIES)
      .prefault('info')
      .describe('Events below this severity are not sent here.'),
    headers: z
      .record(z.string(), z.string())
      .prefault({})
      .describe('Extra HTTP headers, e.g. an Authorization token.'),
  })
  .describe('A generic webhook.')

const eventPattern = z.string().superRefine((pattern, ctx) => {
  if (isEventPattern(pattern)) return
  ctx.addIssue({
    code: 'custom',
    message: `expected "*", an event type or a prefix ending in ":" (${[...new Set(EVENT_TYPES.map((t) => `${t.split(':')[0]!}:`))].join(', ')}), got ${JSON.stringify(pattern)}`,
  })
})

const hookRateLimit = z.strictObject({
  max: z.number().int().min(1).describe('Messages per worker per window.'),
  window: duration({ positive: true }).describe('The window.'),
})

/**
 * One event hook of `hooks:`: which events (by type and severity) and where they go, a URL or a
 * command. The notification dispatcher delivers to it (src/notify/dispatcher.ts).
 */
export const HookSchema = z
  .strictObject({
    events: z
      .array(eventPattern)
      .min(1)
      .describe(
        'Which events: "*" (all), event types ("incident:escalated") or prefixes ("incident:", "job:"). Unlike Slack and webhooks, a hook may take any event type (docs/notifications.md).',
      ),
    min_severity: z
      .enum(SEVERITIES)
      .prefault('info')
      .describe('Events below this severity are not sent to this hook.'),
    url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe(
        'URL that receives each event as a JSON POST (the webhook body). Exactly one of url and command.',
      ),
    headers: z
      .record(z.string(), z.string())
      .optional()
      .describe('Extra HTTP headers of a url hook, e.g. an Authorization token.'),
    command: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Executable run once per event, without a shell, in the config file’s directory: the event JSON on stdin, SHEPHERD_EVENT_TYPE (and _SEVERITY, SHEPHERD_WORKER_ID, SHEPHERD_POOL, SHEPHERD_INCIDENT_ID) in its environment. Exit 0 delivers; anything else is a failed delivery, retried. Exactly one of url and command.',
      ),
    args: z.array(z.string()).optional().describe('Arguments of the command, passed as they are.'),
    timeout: duration({ positive: true })
      .optional()
      .describe(
        'Time limit of one delivery; a command still running then is killed (its process group). Default: notifications.timeout.',
      ),
    rate_limit: hookRateLimit
      .optional()
      .describe(
        'Per worker at this hook; escalations always pass. Default: notifications.rate_limit. A hook on "*" wants more than the default 5 per 10 minutes: one recovery is a dozen events.',
      ),
    dedup_window: duration()
      .optional()
      .describe('The same event is sent once per window at this hook. Default: notifications.dedup_window.'),
  })
  .superRefine((hook, ctx) => {
    const has = (k: 'url' | 'command') => hook[k] !== undefined
    if (has('url') === has('command')) {
      ctx.addIssue({
        code: 'custom',
        message: `expected exactly one of url and command, got ${has('url') ? 'both' : 'neither'}`,
      })
    }
    if (hook.headers !== undefined && !has('url'))
      ctx.addIssue({ code: 'custom', path: ['headers'], message: 'headers go with url, not command' })
    if (hook.args !== undefined && !has('command'))
      ctx.addIssue({ code: 'custom', path: ['args'], message: 'args go with command, not url' })
  })
  .describe('One event hook: a url or a command.')

/** The `notifications` section. */
export const NotificationsSchema = z
  .strictObject({
    slack: z
      .strictObject({
        webhook_url: z.url({ protocol: /^https?$/ }).describe('Slack incoming-webhook URL.'),
        min_severity: z
          .enum(SEVERITIES)
          .prefault('warning')
          .describe(
            'Events below this severity are not sent to Slack. warning (the default) sends openings, revivals and escalations: what someone may need to act on; info sends every recovery too; critical only escalations.',
          ),
      })
      .optional()
      .describe('Slack incoming webhook.'),
    webhooks: z.array(WebhookSchema).prefault([]).describe('Generic webhooks.'),
    rate_limit: z
      .strictObject({
        max: z.number().int().min(1).prefault(5).describe('Messages per worker per window.'),
        window: duration({ positive: true }).prefault('10m').describe('The window.'),
      })
      .prefault({})
      .describe(
        'Per worker and destination; escalations always pass. Suppressed messages are counted in the next one.',
      ),
    dedup_window: duration()
      .prefault('5m')
      .describe('The same event (type, worker, cause) is sent once per window per destination.'),
    retries: z
      .number()
      .int()
      .min(0)
      .prefault(3)
      .describe('Retries of a failed delivery, with exponential backoff.'),
    timeout: duration({ positive: true }).prefault(5).describe('Timeout of one delivery.'),
    locale: z
      .enum(LOCALES)
      .prefault('en')
      .describe(
        'Language of Slack messages: en (English) or ja (Japanese). Worker ids, causes, strategies and commands stay as they are.',
      ),
  })
  .prefault({})
  .describe('Where incidents, recoveries and escalations are sent. The JSON log always receives them.')

/** The `reports` section. */
export const ReportsSchema = z
  .strictObject({
    schedule: z
      .strictObject({
        every: duration({ min: 1000, max: LONG_DURATION_LIMIT })
          .prefault('24h')
          .describe(
            'Time between two reports (at least 1s; reports are meant for hours or days). With at, a whole number of days keeps each report at that local time of day across daylight-saving changes.',
          ),
        at: z
          .string()
          .regex(/^([01]?\d|2[0-3]):[0-5]\d$/, 'expected a local time of day "HH:MM", e.g. "09:00"')
          .optional()
          .describe(
            'Local time of day ("HH:MM", the supervisor’s time zone) the reports are anchored to. With every of a day or more, the first report comes at the next such time; shorter cycles run through it (every: 6h, at: "09:00" runs at 03:00, 09:00, 15:00, 21:00). Default: the first report comes `every` after the supervisor starts.',
          ),
        since: duration({ positive: true, max: LONG_DURATION_LIMIT })
          .optional()
          .describe('Period each report covers, ending when it is made. Default: every.'),
        format: z
          .enum(['md', 'json'])
          .prefault('md')
          .describe(
            'md: webhooks get the report as Markdown in `text` beside the JSON `report` (for chat bridges); json: the JSON report alone. Slack always gets a Slack message.',
          ),
        locale: z
          .enum(LOCALES)
          .optional()
          .describe(
            'Language of the Slack message and the Markdown: en or ja. Default: notifications.locale.',
          ),
        slack: z
          .boolean()
          .prefault(true)
          .describe('Send each report to notifications.slack (when it is set) as one Slack message.'),
        webhooks: z
          .boolean()
          .prefault(true)
          .describe('POST each report to every notifications.webhooks URL as { type: "report", report }.'),
      })
      .optional()
      .describe(
        'Reports the supervisor makes and sends on a schedule, with the retries and timeout of notifications. Absent: none (`shepherd report` works either way).',
      ),
  })
  .prefault({})
  .describe('Availability and incident reports (docs/reports.md).')
