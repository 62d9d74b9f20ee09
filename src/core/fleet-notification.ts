/**
 * Fleet-wide notifications: in a fleet, every agent runs the same pools from the same config, so
 * one fact (a bad deploy crashing `billing#1` on every host) is seen by every agent at once. Each
 * agent's notification policy (notification-policy.ts) decides alone, per worker; this module
 * decides which of its messages are facts of the fleet rather than of the host, under what key,
 * and which agent sends one: the first to claim the key in the store within the dedup window.
 *
 * The rule:
 * - **Fleet facts** are the worker-scoped notifications ({@link FLEET_FACT_EVENTS}): an incident
 *   opened, recovered or escalated, a worker revived or still failing. Their fleet key is the
 *   destination, the type, the worker id and the cause, without the node. Worker ids come from the
 *   config (`billing#1`), so the same worker slot on every host has the same key, and two
 *   different workers never share one: each worker's escalation is still its own message (restart
 *   budgets and escalations stay per worker), and N hosts escalating `billing#1` for a crash
 *   within the window make one message.
 * - **Not fleet facts**: `store:failed` and `store:recovered` (each agent reports its own store's
 *   outage: a store that is down cannot deduplicate anything), `job:quarantined` (raised once, by
 *   the agent whose worker crashed with the job), and everything only hooks take (`worker:exit`,
 *   `leader:elected`, `job:reclaimed`, …: either a host's own fact or raised by one agent).
 * - **The claim** ({@link decideFleetClaim}): a key is sent by the first agent that claims it while
 *   no other agent's claim is live; the others, within `windowMs` of that send, are suppressed and
 *   counted in the store, and the next message sent for the key says how many and from which
 *   nodes. The agent that holds the key always sends: with one agent nothing changes, the local
 *   policy alone decides. Nothing is held back to gather the other nodes first: an escalation goes
 *   out at once, and a message one agent held while the others stayed quiet would be lost for the
 *   whole fleet if that agent died during the hold.
 *
 * Pure: time comes in as `now`.
 * @module
 */
import type { AnyEvent, EventType } from './events.js'

/** The event types whose notifications are fleet-wide facts (see the module comment). */
export const FLEET_FACT_EVENTS: ReadonlySet<EventType> = new Set<EventType>([
  'incident:opened',
  'incident:recovered',
  'incident:escalated',
  'worker:revived',
  'worker:still-failing',
])

/**
 * Other nodes named in one claim's row. Beyond it only the count grows: a message names at most
 * this many nodes, and the row stays small whatever the fleet's size.
 */
export const MAX_NAMED_NODES = 20

/**
 * Longest fleet key. The parts are a digest, an event type, a config-derived worker id and a
 * cause; a worker id is the pool name and an index, and pool names are short identifiers, but the
 * key is a primary key, so it is bounded whatever the config holds.
 */
export const MAX_FLEET_KEY_CHARS = 400

const SEP = '\u241f'

/**
 * The fleet key of `event` at the destination `destinationId`, or null when it is not a fleet fact
 * (or the destination has no fleet identity). `destinationId` names the destination the same way
 * on every host (a digest of its URL), so two hosts that post to the same Slack share keys.
 */
export function fleetKeyOf(event: AnyEvent, destinationId: string | undefined): string | null {
  if (destinationId === undefined || !FLEET_FACT_EVENTS.has(event.type) || event.workerId === null)
    return null
  const cause = 'incident' in event.data ? event.data.incident.cause : ''
  const key = [destinationId, event.type, event.workerId, cause].join(SEP)
  return key.length <= MAX_FLEET_KEY_CHARS ? key : null
}

/** One agent's claim to send the message of a fleet key. */
export interface FleetNotificationClaim {
  key: string
  /** The claiming agent's node name. */
  node: string
  /** Epoch ms: agents on several hosts compare these. */
  now: number
  /** The destination's dedup window, ms; > 0 (a window of 0 claims nothing). */
  windowMs: number
}

/** What the store keeps per fleet key. */
export interface FleetNotificationRow {
  /** The node that sent the last message of this key. */
  node: string
  sentAt: number
  /** Until when another node's claim is a duplicate. */
  expiresAt: number
  /** Claims suppressed since the last message. */
  suppressed: number
  /** The nodes of those claims, each once, at most {@link MAX_NAMED_NODES}. */
  nodes: string[]
}

/** The outcome of a claim. */
export interface FleetNotificationDecision {
  /** True: this agent sends the message. False: another node sent it within the window. */
  send: boolean
  /** With `send`: claims of other nodes suppressed since the key's last message. Else 0. */
  suppressedBefore: number
  /** With `send`: their nodes (at most {@link MAX_NAMED_NODES}). Else empty. */
  nodes: string[]
}

/**
 * Decides a claim against the key's row (undefined when the key was never claimed) and returns the
 * row to store. The holder of a live row and anyone after its expiry sends, taking the suppressed
 * count along; anyone else is suppressed and counted.
 */
export function decideFleetClaim(
  row: FleetNotificationRow | undefined,
  claim: FleetNotificationClaim,
): { decision: FleetNotificationDecision; row: FleetNotificationRow } {
  if (row === undefined || row.node === claim.node || claim.now >= row.expiresAt) {
    return {
      decision: { send: true, suppressedBefore: row?.suppressed ?? 0, nodes: row?.nodes ?? [] },
      row: {
        node: claim.node,
        sentAt: claim.now,
        expiresAt: claim.now + claim.windowMs,
        suppressed: 0,
        nodes: [],
      },
    }
  }
  const nodes =
    row.nodes.includes(claim.node) || row.nodes.length >= MAX_NAMED_NODES
      ? row.nodes
      : [...row.nodes, claim.node]
  return {
    decision: { send: false, suppressedBefore: 0, nodes: [] },
    row: { ...row, suppressed: row.suppressed + 1, nodes },
  }
}
