/**
 * The notifiers the config asks for: Slack and webhooks of `notifications`, and the event hooks of
 * `hooks:`, each named so that logs and `notifier:failed` events never show a URL or an argument.
 * @module
 */
import { createHash } from 'node:crypto'
import path from 'node:path'

import { CommandNotifier } from '../adapters/notify/command.js'
import { SlackNotifier } from '../adapters/notify/slack.js'
import { WebhookNotifier } from '../adapters/notify/webhook.js'
import type { Config, HookConfig } from '../config/schema.js'
import { HOOK_NAME_PREFIX } from '../core/notification-policy.js'
import type { Notifier } from './notifier.js'

/** Options of {@link createNotifiers} and {@link createHookNotifiers}. */
export interface CreateNotifiersOptions {
  /** The config file path, quoted in the commands of Slack messages; command hooks run in its directory. */
  configFile: string
  /** @defaultValue the global fetch */
  fetch?: typeof fetch
  /** The clock Retry-After dates are read against. @defaultValue the system clock */
  now?: () => number
  /**
   * The environment command hooks start from.
   * @defaultValue process.env
   */
  env?: Record<string, string | undefined>
}

/**
 * Builds the notifiers the config asks for: Slack (named `slack`) when `notifications.slack` is
 * set, then one per webhook, named `webhook:<host>` (`webhook:<host>#2` for a second one on the same
 * host) so that logs and `notifier:failed` events never show a URL that may carry a token.
 */
export function createNotifiers(n: Config['notifications'], o: CreateNotifiersOptions): Notifier[] {
  const out: Notifier[] = []
  if (n.slack) {
    out.push(
      new SlackNotifier({
        webhookUrl: n.slack.webhook_url,
        minSeverity: n.slack.min_severity,
        configFile: o.configFile,
        fetch: o.fetch,
        now: o.now,
        locale: n.locale,
        fleetId: fleetIdOf('slack', n.slack.webhook_url),
      }),
    )
  }
  const seen = new Map<string, number>()
  for (const w of n.webhooks) {
    const host = new URL(w.url).host
    const count = (seen.get(host) ?? 0) + 1
    seen.set(host, count)
    out.push(
      new WebhookNotifier({
        name: count === 1 ? `webhook:${host}` : `webhook:${host}#${count}`,
        url: w.url,
        minSeverity: w.min_severity,
        headers: w.headers,
        fetch: o.fetch,
        now: o.now,
        fleetId: fleetIdOf('webhook', w.url),
      }),
    )
  }
  return out
}

/**
 * Builds the event hooks of the config's `hooks:` list, in order: a url hook is a
 * {@link WebhookNotifier} named `hook:<host>`, a command hook a {@link CommandNotifier} named
 * `hook:<command's file name>` (`#2`, `#3` for later ones with the same name). Names never carry a
 * URL, its query or the arguments, which may hold secrets. Each hook takes the event types of its
 * `events` filter, and its own timeout, rate limit and dedup window where it sets them.
 */
export function createHookNotifiers(hooks: readonly HookConfig[], o: CreateNotifiersOptions): Notifier[] {
  const seen = new Map<string, number>()
  const nameOf = (base: string): string => {
    const count = (seen.get(base) ?? 0) + 1
    seen.set(base, count)
    return count === 1 ? `${HOOK_NAME_PREFIX}${base}` : `${HOOK_NAME_PREFIX}${base}#${count}`
  }
  return hooks.map((h): Notifier => {
    const common = {
      minSeverity: h.min_severity,
      events: h.events,
      rateLimit: h.rate_limit,
      dedupWindow: h.dedup_window,
      timeoutMs: h.timeout,
    }
    if (h.url !== undefined) {
      return new WebhookNotifier({
        ...common,
        name: nameOf(new URL(h.url).host),
        url: h.url,
        headers: h.headers,
        fetch: o.fetch,
        now: o.now,
        fleetId: fleetIdOf('hook', h.url),
      })
    }
    // The schema guarantees exactly one of url and command. A command runs on its own host: it is
    // no destination of the fleet's (no fleetId), and gets each host's messages.
    const command = h.command!
    return new CommandNotifier({
      ...common,
      name: nameOf(path.basename(command)),
      command,
      args: h.args,
      cwd: path.dirname(o.configFile),
      env: o.env,
    })
  })
}

/**
 * A destination's name in the fleet (Notifier.fleetId): the same on every host whose config posts
 * to the same URL, and no secret (a URL may carry a token): the first 64 bits of a SHA-256 of the
 * kind and the URL, enough to keep a fleet's few destinations apart.
 */
export function fleetIdOf(kind: 'slack' | 'webhook' | 'hook', url: string): string {
  return `${kind}:${createHash('sha256').update(url).digest('hex').slice(0, 16)}`
}
