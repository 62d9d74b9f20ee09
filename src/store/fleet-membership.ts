/**
 * The agent's side of its membership in a fleet (src/core/membership.ts): it renews its node's
 * lease every third of the lease, knows its standing from its own renewals, and says whether it may
 * claim jobs now. Under the timer port and the agent's clock, so that it runs under fake time.
 *
 * Cut off from the store (or stalled) past its lease, an agent stops claiming as soon as a renewal
 * is overdue (standing `unsure`), keeps its workers supervised, and once its lease may have lapsed
 * records `node:lapsed`: the jobs it holds may be given to other agents by the fleet's leader, and
 * its workers' results for those are refused by the store (their deliveries are over). When the
 * store answers again, it claims its node again with a new epoch (a rejoin, without a restart),
 * whether its renewal is refused (`lapsed`) or, sent before the lapse and answered after it,
 * accepted: the deliveries its workers still hold that nobody else took become the new epoch's,
 * the node's other active jobs from before go back to the queue (JobStore.adopt: claims whose
 * answer was lost with the link), and `node:rejoined` says how many of each.
 * @module
 */
import type { AnyEvent } from '../core/events.js'
import { type Standing, standing, STANDINGS } from '../core/membership.js'
import type { Logger } from '../logger.js'
import type { TimerPort } from '../ports/clock.js'
import type { JobStore } from '../ports/job-store.js'
import type { Heartbeat, Ownership } from './ownership.js'

export interface FleetMembershipOptions {
  ownership: Pick<Ownership, 'heartbeat' | 'rejoin' | 'lease'>
  jobs: Pick<JobStore, 'adopt'>
  /** The delivery tokens this agent's workers hold now, outcomes not yet written included. */
  held: () => readonly string[]
  /**
   * At a lapse, the deliveries held then: the fleet may give them to other agents, and a stale
   * answer for one is no fault of its worker (Supervisor.excuseDeliveries).
   */
  excuse: (tokens: readonly string[]) => void
  node: string
  /** The lease's length; renewals go every third of it. */
  ttlMs: number
  /** When the lease was taken (the agent's clock): its standing counts from there until a renewal. */
  joinedAt: number
  /** The agent's clock (epoch ms, never backwards). */
  now: () => number
  timers: TimerPort
  record: (e: AnyEvent) => void
  logger: Logger
}

export class FleetMembership {
  readonly #o: FleetMembershipOptions
  /** When the last renewal the store accepted was sent. */
  #renewedSentAt: number
  /** The standing when last looked at (to tell a lapse once). */
  #was: Standing = 'member'
  #lapsedAt: number | null = null
  #timer: unknown = null
  /** The rejoin under way, if any. */
  #rejoining: Promise<void> | null = null
  /** When the renewal still unanswered was sent, or null. */
  #pendingSince: number | null = null
  #stopped = true

  constructor(o: FleetMembershipOptions) {
    this.#o = o
    this.#renewedSentAt = o.joinedAt
  }

  /** Renewals this often: a third of the lease, so one may fail without the lease lapsing. */
  get everyMs(): number {
    return Math.max(1, Math.floor(this.#o.ttlMs / 3))
  }

  /** Its standing now: `member` until a renewal is overdue (one renewal interval before the end). */
  get standing(): Standing {
    return standing(this.#renewedSentAt, this.#o.now(), this.#o.ttlMs, this.everyMs)
  }

  /** Whether it may claim jobs now: only while its lease is surely live. */
  mayClaim(): boolean {
    return this.standing === 'member'
  }

  /** Renews every {@link everyMs} until {@link stop}; looks at its standing at each turn. */
  start(): void {
    if (!this.#stopped) return
    this.#stopped = false
    this.#arm()
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer !== null) this.#o.timers.clear(this.#timer)
    this.#timer = null
  }

  /**
   * One renewal (the timer's; tests call it). While one is unanswered no other is sent, unless it
   * has waited a renewal's interval: a connection cut while it was in flight may answer only when
   * TCP gives up, and the next renewal, on another connection, must not wait for that. (The store
   * gives up on a renewal after the lease, so at most three wait at once.)
   */
  async renew(): Promise<void> {
    this.#look()
    const sentAt = this.#o.now()
    if (this.#pendingSince !== null && sentAt - this.#pendingSince < this.everyMs) return
    this.#pendingSince = sentAt
    const { epoch } = this.#o.ownership.lease
    try {
      const beat = await this.#o.ownership.heartbeat(sentAt)
      await this.#heard(beat, sentAt, epoch)
    } catch (err) {
      // The store says why through its own events (store:failed); the standing runs out by itself.
      this.#o.logger.debug({ err }, 'could not renew the lease of this agent')
    } finally {
      if (this.#pendingSince === sentAt) this.#pendingSince = null
      this.#look()
    }
  }

  /** The next renewal; armed before this one is sent, so that one left unanswered stops nothing. */
  #arm(): void {
    this.#timer = this.#o.timers.set(() => {
      if (this.#stopped) return
      this.#arm()
      void this.renew()
    }, this.everyMs)
  }

  /**
   * The store's answer to a renewal sent at `sentAt` under the lease of `epoch`. After a lapse seen
   * here, a renewal of that lease is no proof that nobody took anything: sent while the lease was
   * live and answered once the link was back, it renewed a lease that had expired meanwhile, and
   * the fleet's leader may have given its jobs to other agents. So a lapse, the store's or this
   * agent's, is followed by a rejoin, never by the old lease renewed.
   */
  async #heard(beat: Heartbeat, sentAt: number, epoch: number): Promise<void> {
    // An answer to a renewal sent before the last rejoin is old news.
    if (epoch !== this.#o.ownership.lease.epoch) return
    // A lapse by this agent's clock is told before the answer counts: the answer may come late.
    this.#look()
    if (beat.kind === 'renewed' && this.#lapsedAt === null) {
      this.#renewedSentAt = Math.max(this.#renewedSentAt, sentAt)
      return
    }
    if (beat.kind === 'renewed' || beat.kind === 'lapsed') await this.#rejoin()
  }

  /** Claims the node again, once however many renewals found the lapse, at the time of the claim. */
  #rejoin(): Promise<void> {
    this.#rejoining ??= this.#claimAgain().finally(() => (this.#rejoining = null))
    return this.#rejoining
  }

  async #claimAgain(): Promise<void> {
    const at = this.#o.now()
    const beat = await this.#o.ownership.rejoin(at)
    if (beat.kind !== 'rejoined') return
    this.#renewedSentAt = at
    const { kept, released } = await this.#o.jobs.adopt(this.#o.held(), this.#o.now())
    const away = this.#lapsedAt === null ? null : this.#o.now() - this.#lapsedAt
    this.#lapsedAt = null
    this.#was = this.standing
    this.#o.record({
      type: 'node:rejoined',
      at: this.#o.now(),
      severity: 'info',
      message:
        `this agent (node ${this.#o.node}) holds its lease again, epoch ${beat.lease.epoch} after ${beat.previous.epoch}` +
        `${away === null ? '' : `, ${Math.round(away / 1000)} s after it lapsed`}: ` +
        `it kept ${kept} job(s) its workers still run and put back ${released} it no longer held; ` +
        'the others it held were given to other agents',
      pool: null,
      workerId: null,
      incidentId: null,
      data: {
        node: this.#o.node,
        epoch: beat.lease.epoch,
        previousEpoch: beat.previous.epoch,
        kept,
        released,
      },
    })
  }

  /** Tells a lapse once, when the standing first says so. */
  #look(): void {
    const now = this.standing
    if (now === 'lapsed' && this.#was !== 'lapsed') {
      this.#lapsedAt = this.#o.now()
      const tokens = this.#o.held()
      this.#o.excuse(tokens)
      const held = tokens.length
      this.#o.record({
        type: 'node:lapsed',
        at: this.#lapsedAt,
        severity: 'warning',
        message:
          `this agent (node ${this.#o.node}) has had no renewal of its lease for ${this.#o.ttlMs} ms: ${STANDINGS.lapsed}. ` +
          `It claims nothing and its workers run on; the ${held} job(s) they hold count only if no other agent took them meanwhile. ` +
          'It rejoins by itself once the store answers',
        pool: null,
        workerId: null,
        incidentId: null,
        data: { node: this.#o.node, epoch: this.#o.ownership.lease.epoch, held },
      })
    }
    this.#was = now
  }
}
