/**
 * One leader per fleet: the agent that runs the fleet-wide chores (pruning finished jobs and old
 * events, the scheduled reports, putting dead agents' jobs back), so that they run once however many
 * agents share the store. The leadership is a lease in the store, one row, decided here and written
 * by the adapter in the transaction that read it:
 *
 * ```
 * no leader, or its lease expired ─> take     (the epoch goes up by one)
 * the candidate leads already      ─> renew    (same epoch, a later expiry)
 * another agent leads, lease live  ─> follow   (nothing written)
 * ```
 *
 * The epoch names one reign: a leader that lost its lease and took it again is a new reign, so a
 * chore that records the epoch it ran under can tell the old leader's late write from the new
 * one's. An agent acts as leader only while its own renewals say so (its standing, counted from
 * when the renewal that succeeded was sent: src/core/membership.ts), so two agents never both
 * believe they lead while their clocks agree to within the margin.
 * @module
 */
import { standing } from './membership.js'

/** The fleet's leader, as the store records it. */
export interface Leadership {
  /** The leading agent's run (a random id per `shepherd start`, as its store lease's owner). */
  owner: string
  /** Its node name, for people. */
  node: string
  /** One per reign: starts at 1 and goes up by one each time the leadership is taken. */
  epoch: number
  /** When this reign began (epoch ms). */
  acquiredAt: number
  /** The leadership is free after this (epoch ms) unless renewed. */
  expiresAt: number
}

/** Who asks to lead. */
export type LeaderCandidate = Pick<Leadership, 'owner' | 'node'>

export type LeadershipDecision =
  | { kind: 'take'; leader: Leadership; previous: Leadership | null }
  | { kind: 'renew'; leader: Leadership }
  | { kind: 'follow'; leader: Leadership }

/**
 * What a candidate gets, given the leadership there is now.
 * @param ttlMs - how long a taken or renewed leadership lasts without another renewal.
 */
export function decideLeadership(
  current: Leadership | null,
  candidate: LeaderCandidate,
  now: number,
  ttlMs: number,
): LeadershipDecision {
  if (current !== null && current.owner === candidate.owner && now < current.expiresAt) {
    return { kind: 'renew', leader: { ...current, expiresAt: now + ttlMs } }
  }
  if (current === null || now >= current.expiresAt) {
    return {
      kind: 'take',
      leader: { ...candidate, epoch: (current?.epoch ?? 0) + 1, acquiredAt: now, expiresAt: now + ttlMs },
      previous: current,
    }
  }
  return { kind: 'follow', leader: current }
}

/** "node-b (epoch 3, since 12:00:01)" for messages. */
export function describeLeader(l: Leadership): string {
  return `${l.node} (epoch ${l.epoch}, since ${new Date(l.acquiredAt).toISOString()})`
}

/** Why an agent stopped leading: another holds it, its renewals stopped succeeding, or it resigned. */
export type LeadershipLoss = 'taken' | 'lapsed' | 'resigned'

/** An agent's last claim the store answered: what it decided, and when the claim was sent. */
export interface LastClaim {
  decision: LeadershipDecision
  /** When the claim was sent (the agent's steady clock). */
  sentAt: number
}

/**
 * Whether the agent leads now: its last answered claim made it the leader, and was sent less than
 * `ttlMs − marginMs` ago (its standing as a member, src/core/membership.ts). The store counts the
 * expiry from no earlier than the send, so the agent stops acting as leader before any other
 * agent may take over.
 */
export function leadsNow(last: LastClaim | null, now: number, ttlMs: number, marginMs: number): boolean {
  if (last === null || last.decision.kind === 'follow') return false
  return standing(last.sentAt, now, ttlMs, marginMs) === 'member'
}
