/**
 * Notifications: Slack and generic webhooks behind a dispatcher that never blocks recovery.
 * @module
 */
export { CommandNotifier, type CommandNotifierOptions, hookEnv } from '../adapters/notify/command.js'
export {
  escapeSlack,
  formatSlackMessage,
  type SlackFormatContext,
  SlackNotifier,
  type SlackNotifierOptions,
} from '../adapters/notify/slack.js'
export type { SlackBlock, SlackMessage, SlackText } from '../adapters/notify/slack-blocks.js'
export {
  WebhookNotifier,
  type WebhookNotifierOptions,
  type WebhookPayload,
  webhookPayload,
} from '../adapters/notify/webhook.js'
export { type Locale, LOCALES } from '../config/locales.js'
export {
  decide,
  type Decision,
  type DecisionReason,
  emptyPolicyState,
  HOOK_NAME_PREFIX,
  isNotifiable,
  isNotifiableAt,
  NOTIFIABLE_EVENTS,
  type NotifiableEventType,
  type PolicyDestination,
  type PolicySettings,
  type PolicyState,
  retryDelay,
} from '../core/notification-policy.js'
export {
  createHookNotifiers,
  createNotifiers,
  type CreateNotifiersOptions,
  fleetIdOf,
} from './create-notifiers.js'
export {
  DEFAULT_RETRY_BASE_MS,
  DEFAULT_RETRY_CAP_MS,
  deliverWithRetries,
  type DeliveryFailure,
  MAX_RETRY_AFTER_MS,
  type RetryOptions,
  type RetryOutcome,
} from './deliver-with-retries.js'
export {
  type DispatcherFleet,
  type DispatcherOptions,
  type DispatcherSettings,
  NotificationDispatcher,
  type NotifierStats,
} from './dispatcher.js'
export { type Emphasis, MESSAGES, messagesFor, type MessageTable } from './i18n.js'
export {
  type DeliveryContext,
  DeliveryError,
  Destination,
  type DestinationOptions,
  type FleetDeliveryContext,
  type Notifier,
  parseRetryAfter,
  postJson,
  type PostJsonOptions,
} from './notifier.js'
