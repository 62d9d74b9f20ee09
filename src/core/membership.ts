/**
 * Membership of a fleet: agents (one `shepherd start` each) that share one store, each holding a
 * lease that it renews. Pure: the store keeps the leases and judges their expiry by its own clock;
 * this module decides what an agent may do from what it knows of its own renewals, and what the
 * fleet makes of each member.
 *
 * An agent's standing, from its side (self-fencing):
 *
 * | standing | when                                                      | the agent                                            |
 * | -------- | --------------------------------------------------------- | ---------------------------------------------------- |
 * | member   | its last renewal that succeeded was sent < ttl − margin ago | claims jobs, reports results                         |
 * | unsure   | between ttl − margin and ttl                              | claims nothing more; jobs in flight run on            |
 * | lapsed   | ttl or more since that renewal was sent (or none yet)      | holds nothing: its jobs in flight may run elsewhere   |
 *
 * The time that counts is when the renewal that succeeded was *sent*, on the agent's own steady
 * clock. The store set that lease's expiry at or after the moment it received the renewal, so an
 * agent counting from the send always thinks its lease over no later than the store does, however
 * far the hosts' wall clocks disagree: a lapsed agent has stopped before anyone reclaims its work.
 * @module
 */

export const STANDINGS = {
  member: 'its lease is renewed: it claims jobs and reports their results',
  unsure: 'its lease may lapse soon: it claims nothing more, jobs in flight run on',
  lapsed: 'its lease may have lapsed: the jobs it held may have been given to another agent',
} as const

export type Standing = keyof typeof STANDINGS

/**
 * An agent's standing now.
 * @param renewedSentAt - when the agent sent its last renewal that the store accepted (steady
 *   clock), or null when it has none.
 * @param ttlMs - the lease's length.
 * @param marginMs - how long before the end the agent stops claiming: a claim must leave time to
 *   report its result. Clamped to `[0, ttlMs]`.
 */
export function standing(
  renewedSentAt: number | null,
  now: number,
  ttlMs: number,
  marginMs: number,
): Standing {
  if (renewedSentAt === null) return 'lapsed'
  const age = now - renewedSentAt
  if (age >= ttlMs) return 'lapsed'
  if (age >= ttlMs - Math.min(Math.max(marginMs, 0), ttlMs)) return 'unsure'
  return 'member'
}

/** When `standing` changes next (the agent re-checks then), or null when it is lapsed for good. */
export function nextStandingChange(
  renewedSentAt: number | null,
  now: number,
  ttlMs: number,
  marginMs: number,
): number | null {
  if (renewedSentAt === null) return null
  const unsureAt = renewedSentAt + ttlMs - Math.min(Math.max(marginMs, 0), ttlMs)
  const lapsedAt = renewedSentAt + ttlMs
  if (now < unsureAt) return unsureAt
  if (now < lapsedAt) return lapsedAt
  return null
}

/** A member as the store lists it. */
export interface MemberRecord {
  node: string
  /** The member's lease ends then (store time, epoch ms) unless renewed. */
  expiresAt: number
  /** Set when the agent left cleanly. */
  leftAt: number | null
}

export const MEMBER_STATES = {
  alive: 'its lease is current',
  dead: 'its lease expired: its jobs go back to the queue',
  left: 'it stopped cleanly and gave its jobs back',
} as const

export type MemberState = keyof typeof MEMBER_STATES

/** What the fleet makes of a member at store time `now`. */
export function memberState(m: MemberRecord, now: number): MemberState {
  if (m.leftAt !== null) return 'left'
  return now < m.expiresAt ? 'alive' : 'dead'
}

/**
 * The members whose work is to be reclaimed: dead ones, oldest expiry first. A member that left
 * gave its jobs back itself, and an alive one holds its own.
 */
export function membersToReclaim<M extends MemberRecord>(members: readonly M[], now: number): M[] {
  return members
    .filter((m) => memberState(m, now) === 'dead')
    .sort((a, b) => a.expiresAt - b.expiresAt || a.node.localeCompare(b.node))
}
