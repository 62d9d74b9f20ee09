/**
 * Slack's documented limits on a message, and the one pass that keeps every message Shepherd
 * sends within them, measured on the text as sent (after escaping). A message over a limit is
 * refused whole (400 `invalid_blocks`), and an alert that is refused is an alert nobody reads.
 *
 * Limits (api.slack.com/reference/block-kit/blocks, /composition-objects#text,
 * /reference/messaging/payload): at most 50 blocks; a section's text at most 3,000 characters, its
 * fields at most 10 of at most 2,000 each; a context at most 10 elements; the top-level `text`
 * (the fallback shown in notifications) is cut by Slack after 40,000 characters.
 * @module
 */
import type { SlackBlock, SlackMessage, SlackText } from './slack-blocks.js'

export const SLACK_LIMITS = {
  blocks: 50,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  contextText: 3000,
  text: 40_000,
} as const

const FENCE = '```'
const MARK = '…'

/**
 * Cuts mrkdwn to at most `max` characters: never inside an entity (`&amp;`), and a code block left
 * open by the cut is closed, within the limit.
 */
export function truncateMrkdwn(text: string, max: number): string {
  if (text.length <= max) return text
  let cut = text.slice(0, max - MARK.length).replace(/&[a-z]*$/, '')
  if (countFences(cut) % 2 === 1) {
    const closing = `\n${FENCE}`
    cut = cut.slice(0, max - MARK.length - closing.length).replace(/&[a-z]*$/, '')
    // The cut may have fallen inside the opening fence itself; then there is nothing to close.
    if (countFences(cut) % 2 === 1) return `${cut}${MARK}${closing}`
  }
  return `${cut}${MARK}`
}

function countFences(s: string): number {
  return s.split(FENCE).length - 1
}

/** The message with every block, field, element and the fallback text within Slack's limits. */
export function fitSlackLimits(message: SlackMessage): SlackMessage {
  const blocks = message.blocks.slice(0, SLACK_LIMITS.blocks).map(fitBlock)
  return { text: truncateMrkdwn(message.text, SLACK_LIMITS.text), blocks }
}

function fitBlock(block: SlackBlock): SlackBlock {
  switch (block.type) {
    case 'section': {
      const out: SlackBlock = { type: 'section', text: fitText(block.text, SLACK_LIMITS.sectionText) }
      if (block.fields)
        out.fields = block.fields.slice(0, SLACK_LIMITS.fields).map((f) => fitText(f, SLACK_LIMITS.fieldText))
      return out
    }
    case 'context':
      return {
        type: 'context',
        elements: block.elements
          .slice(0, SLACK_LIMITS.contextElements)
          .map((e) => fitText(e, SLACK_LIMITS.contextText)),
      }
    case 'divider':
      return block
  }
}

function fitText(t: SlackText, max: number): SlackText {
  return t.text.length <= max ? t : { ...t, text: truncateMrkdwn(t.text, max) }
}
