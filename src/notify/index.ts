/**
 * Notifications: Slack and generic webhooks behind a dispatcher that never blocks recovery.
 * @module
 */
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
export { CommandNotifier, type CommandNotifierOptions, hookEnv } from './command.js'
export {
  createHookNotifiers,
  createNotifiers,
  type CreateNotifiersOptions,
  type DeliveryFailure,
  type DispatcherOptions,
  type DispatcherSettings,
  MAX_RETRY_AFTER_MS,
  NotificationDispatcher,
  type NotifierStats,
} from './dispatcher.js'
export { type Emphasis, type Locale, LOCALES, MESSAGES, messagesFor, type MessageTable } from './i18n.js'
export {
  type DeliveryContext,
  DeliveryError,
  type Notifier,
  parseRetryAfter,
  postJson,
  type PostJsonOptions,
} from './notifier.js'
export {
  escapeSlack,
  formatSlackMessage,
  type SlackBlock,
  type SlackFormatContext,
  type SlackMessage,
  SlackNotifier,
  type SlackNotifierOptions,
  type SlackText,
} from './slack.js'
export {
  WebhookNotifier,
  type WebhookNotifierOptions,
  type WebhookPayload,
  webhookPayload,
} from './webhook.js'
