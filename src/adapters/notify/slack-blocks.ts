/**
 * The shape of the Slack messages Shepherd sends (incoming webhook, Block Kit): what the
 * notification and report formatters build and what slack-limits.ts fits within Slack's limits.
 * @module
 */

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
