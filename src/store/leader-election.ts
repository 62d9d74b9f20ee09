/**
 * The agent's side of the fleet's leadership (src/core/leadership.ts): it asks the store to lead
 * every third of the lease, and says whether it leads now ({@link LeaderElection.leading}, a plain
 * read). The fleet-wide chores check its standing before they run (src/store/fleet-chores.ts),
 * which is when a leadership whose renewals went unanswered is found lapsed. Under the timer port
 * and the agent's clock, so that it runs under fake time in tests.
 *
 * A leader that stops leading (another agent took it, or its claims stopped getting answers for
 * longer than the margin allows) records `leader:lost`; one that takes it, `leader:elected`. A
 * clean stop resigns, so another agent takes over at its next claim instead of after the lease.
 * @module
 */
import type { AnyEvent } from '../core/events.js'
import {
  describeLeader,
  type LastClaim,
  type LeaderCandidate,
  type Leadership,
  type LeadershipLoss,
  leadsNow,
} from '../core/leadership.js'
import type { Logger } from '../logger.js'
import type { TimerPort } from '../ports/clock.js'
import type { Store } from '../ports/store.js'

/** How long after the leader's expiry a follower asks (and the least wait between two asks). */
const FOLLOW_SLACK_MS = 10

export interface LeaderElectionOptions {
  store: Pick<Store, 'claimLeadership' | 'resignLeadership'>
  candidate: LeaderCandidate
  /** The leadership's lease: a dead leader's chores move to another agent within about this long. */
  ttlMs: number
  /** The agent's clock (epoch ms, never backwards). */
  now: () => number
  timers: TimerPort
  record: (e: AnyEvent) => void
  logger: Logger
}

export class LeaderElection {
  readonly #o: LeaderElectionOptions
  #last: LastClaim | null = null
  /** Whether this agent led when it last looked (to tell a change once). */
  #led = false
  #timer: unknown = null
  #claiming = false
  #stopped = false

  constructor(o: LeaderElectionOptions) {
    this.#o = o
  }

  /** Renewals this often: a third of the lease, so one may fail without the leadership lapsing. */
  get everyMs(): number {
    return Math.max(1, Math.floor(this.#o.ttlMs / 3))
  }

  /** Claims now, then every {@link everyMs} until {@link stop}. */
  start(): Promise<void> {
    this.#stopped = false
    return this.#claim()
  }

  /** Whether this agent leads now, by its last answered claim and its clock. Records nothing. */
  get leading(): boolean {
    return leadsNow(this.#last, this.#o.now(), this.#o.ttlMs, this.everyMs)
  }

  /**
   * Whether this agent leads now, recording `leader:lost` once when its standing ran out since it
   * last looked: its renewals went unanswered past the margin. A claim that fails checks; one that
   * hangs never answers, so the chores check before each round (src/store/fleet-chores.ts).
   */
  checkStanding(): boolean {
    const leads = this.leading
    if (this.#led && !leads) this.#lost('lapsed', null)
    return leads
  }

  /** The leader as this agent last heard of it, or null before any answer. */
  get leader(): Leadership | null {
    return this.#last?.decision.leader ?? null
  }

  /** Stops claiming; a leader resigns, so that another agent leads at its next claim. */
  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== null) this.#o.timers.clear(this.#timer)
    this.#timer = null
    const leader = this.leader
    if (!this.#led || leader === null) return
    this.#lost('resigned', null)
    await this.#o.store
      .resignLeadership(this.#o.candidate.owner, this.#o.now())
      .catch((err: unknown) => this.#o.logger.warn({ err }, 'could not resign the fleet leadership'))
  }

  async #claim(): Promise<void> {
    if (this.#claiming || this.#stopped) return
    this.#claiming = true
    const sentAt = this.#o.now()
    try {
      const decision = await this.#o.store.claimLeadership(this.#o.candidate, sentAt, this.#o.ttlMs)
      if (this.#stopped) return
      this.#last = { decision, sentAt }
      if (decision.kind === 'take') this.#elected(decision.leader, decision.previous)
      // Its own leadership renewed after its standing ran out here (answers slower than the
      // margin, the lease itself still live): it leads again, in the same reign.
      else if (decision.kind === 'renew' && !this.#led) this.#elected(decision.leader, null)
      else if (decision.kind === 'follow' && this.#led) this.#lost('taken', decision.leader)
    } catch (err) {
      // The store says why through its own events (store:failed); the standing runs out by itself.
      this.#o.logger.debug({ err }, 'could not claim the fleet leadership')
      this.checkStanding()
    } finally {
      this.#claiming = false
      if (!this.#stopped) this.#timer = this.#o.timers.set(() => void this.#claim(), this.#nextClaimIn())
    }
  }

  /**
   * When to claim next: every {@link everyMs}, but a follower asks again as soon as the leader's
   * lease runs out (by its own clock), so that a dead leader is replaced within its lease and a few
   * milliseconds rather than up to a renewal interval later.
   */
  #nextClaimIn(): number {
    const last = this.#last
    if (last === null || last.decision.kind !== 'follow') return this.everyMs
    const untilExpiry = last.decision.leader.expiresAt - this.#o.now() + FOLLOW_SLACK_MS
    return Math.min(this.everyMs, Math.max(FOLLOW_SLACK_MS, untilExpiry))
  }

  #elected(leader: Leadership, previous: Leadership | null): void {
    this.#led = true
    const from = previous === null ? '' : ` after ${describeLeader(previous)}`
    this.#o.record({
      type: 'leader:elected',
      at: this.#o.now(),
      severity: 'info',
      message: `this agent leads the fleet now: ${describeLeader(leader)}${from}; it runs the fleet-wide chores`,
      pool: null,
      workerId: null,
      incidentId: null,
      data: { leader, previous },
    })
  }

  #lost(reason: LeadershipLoss, now: Leadership | null): void {
    const leader = this.leader
    this.#led = false
    if (leader === null) return
    const why = {
      taken: `another agent leads now${now ? `: ${describeLeader(now)}` : ''}`,
      lapsed: 'its lease may have lapsed (the store did not answer its renewals)',
      resigned: 'it resigned (a clean stop)',
    }[reason]
    this.#o.record({
      type: 'leader:lost',
      at: this.#o.now(),
      severity: reason === 'resigned' ? 'info' : 'warning',
      message: `this agent no longer leads the fleet: ${why}`,
      pool: null,
      workerId: null,
      incidentId: null,
      data: { leader, reason, now },
    })
  }
}
