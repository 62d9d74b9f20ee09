/**
 * Membership of a fleet: agents (one `shepherd start` each) that share one store, each holding a
 * lease that it renews. Pure: the store keeps the leases; this module decides what an agent may do
 * from what it knows of its own renewals.
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
 * clock. The expiry the store keeps is counted from a moment no earlier than that send, so the
 * agent thinks its lease over no later than the expiry says. Other agents compare that expiry with
 * their own clocks: the hosts' clocks must agree to within the margin (NTP keeps them far closer).
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
  return age >= ttlMs - Math.min(Math.max(marginMs, 0), ttlMs) ? 'unsure' : 'member'
}
