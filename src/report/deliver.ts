/**
 * Sends a scheduled report to Slack and the webhooks of `notifications`, through the notifiers'
 * own HTTP path (`postJson`: the same classification of 2xx, 429 with Retry-After, 5xx, network
 * errors and timeouts), with the same `retries`, `timeout` and backoff as notifications. A report
 * is not an event, so it does not go through the NotificationDispatcher's per-worker rate limits;
 * each destination is tried on its own, in parallel, and a failing one never holds up another, nor
 * anything else: the daemon does not wait for deliveries.
 * @module
 */
import { SlackNotifier } from '../adapters/notify/slack.js'
import { WebhookNotifier } from '../adapters/notify/webhook.js'
import { nodeTimers } from '../adapters/timers.js'
import type { Locale } from '../config/locales.js'
import type { Config } from '../config/schema.js'
import { createNotifiers } from '../notify/create-notifiers.js'
import { deliverWithRetries, type DeliveryFailure } from '../notify/deliver-with-retries.js'
import { postJson } from '../notify/notifier.js'
import type { TimerPort } from '../ports/clock.js'
import { renderMarkdown } from './markdown.js'
import { formatReportSlack } from './slack.js'
import type { Report } from './types.js'

/** The JSON body a webhook receives with a scheduled report. */
export interface ReportWebhookPayload {
  type: 'report'
  report: Report
  /** The report as Markdown, in the schedule's locale, with `format: md`; absent with `format: json`. */
  text?: string
}

/** Where a report goes and in which form (`reports.schedule` of the config). */
export interface ReportDelivery {
  format: 'md' | 'json'
  locale: Locale
  slack: boolean
  webhooks: boolean
}

/** Options of {@link deliverReport}. */
export interface DeliverReportOptions {
  report: Report
  delivery: ReportDelivery
  /** `config.notifications`: the destinations, `retries` and `timeout`. */
  notifications: Config['notifications']
  /** The config file, quoted in the Slack message's command. */
  configFile: string
  /** Aborts every delivery under way (daemon shutdown). */
  signal?: AbortSignal
  /** Called once per destination given up; the daemon records it as a `notifier:failed` event. */
  onFailure?: (f: DeliveryFailure) => void
  /** @defaultValue the global fetch */
  fetch?: typeof fetch
  /** @defaultValue Math.random (jitter of retry delays) */
  random?: () => number
  /** @defaultValue 1000, as notifications */
  retryBaseMs?: number
  /** @defaultValue 30000, as notifications */
  retryCapMs?: number
  /** Timers of the time limits and retry waits. @defaultValue `nodeTimers` */
  timers?: TimerPort
  /** The clock Retry-After dates are read against. @defaultValue the system clock */
  now?: () => number
  /** IANA time zone of the times in the Slack message and the Markdown. @defaultValue the process's */
  timeZone?: string
}

/** What became of one destination. */
export interface DeliveryOutcome {
  /** `slack` or `webhook:<host>`, as notifications name them (never the URL: it may carry a token). */
  destination: string
  ok: boolean
  attempts: number
  error: string | null
}

/**
 * Delivers the report to every destination the schedule and the config name, and resolves with
 * each outcome once all are settled (it never rejects).
 * @example
 * ```ts
 * void deliverReport({ report, delivery, notifications: config.notifications, configFile, onFailure })
 * ```
 */
export async function deliverReport(o: DeliverReportOptions): Promise<DeliveryOutcome[]> {
  const n = o.notifications
  // The notifiers' own names, so that logs and notifier:failed events name destinations alike.
  const notifiers = createNotifiers(n, { configFile: o.configFile })
  const slackName = notifiers.find((x) => x instanceof SlackNotifier)?.name ?? 'slack'
  const webhookNames = notifiers.filter((x) => x instanceof WebhookNotifier).map((x) => x.name)
  const targets: { name: string; url: string; headers: Record<string, string>; body: unknown }[] = []
  if (n.slack && o.delivery.slack) {
    const body = formatReportSlack(o.report, {
      locale: o.delivery.locale,
      configFile: o.configFile,
      timeZone: o.timeZone,
    })
    targets.push({ name: slackName, url: n.slack.webhook_url, headers: {}, body })
  }
  if (o.delivery.webhooks) {
    n.webhooks.forEach((w, i) => {
      const body: ReportWebhookPayload = { type: 'report', report: o.report }
      if (o.delivery.format === 'md') {
        body.text = renderMarkdown(o.report, {
          locale: o.delivery.locale,
          configFile: o.configFile,
          timeZone: o.timeZone,
        })
      }
      targets.push({
        name: webhookNames[i] ?? `webhook:${new URL(w.url).host}`,
        url: w.url,
        headers: w.headers,
        body,
      })
    })
  }
  return Promise.all(targets.map((t) => deliverOne(t, o)))
}

async function deliverOne(
  t: { name: string; url: string; headers: Record<string, string>; body: unknown },
  o: DeliverReportOptions,
): Promise<DeliveryOutcome> {
  const outcome = await deliverWithRetries({
    send: (signal) =>
      postJson({ fetch: o.fetch ?? fetch, url: t.url, body: t.body, headers: t.headers, signal, now: o.now }),
    retries: o.notifications.retries,
    timeoutMs: o.notifications.timeout,
    timers: o.timers ?? nodeTimers,
    random: o.random ?? Math.random,
    retryBaseMs: o.retryBaseMs,
    retryCapMs: o.retryCapMs,
    signal: o.signal,
  })
  switch (outcome.kind) {
    case 'delivered':
      return { destination: t.name, ok: true, attempts: outcome.attempts, error: null }
    case 'failed':
      try {
        o.onFailure?.({
          notifier: t.name,
          eventType: 'report',
          error: outcome.error,
          attempts: outcome.attempts,
        })
      } catch {
        // The caller's bookkeeping must not turn a failed delivery into a crash.
      }
      return { destination: t.name, ok: false, attempts: outcome.attempts, error: outcome.error }
    case 'cancelled':
      // Cancelled (shutdown): not a failure of the destination, so nothing is reported.
      return { destination: t.name, ok: false, attempts: outcome.attempts, error: 'cancelled' }
  }
}
