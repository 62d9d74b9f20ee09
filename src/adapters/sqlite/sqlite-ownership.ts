/**
 * One supervisor per store, on SQLite: the OS lock on `<store>.lock` and the lease row in the store
 * (sql/sqlite/0004_supervisor_lease.sql), decided by the core (src/core/supervisor-lease.ts) in one
 * transaction. A supervisor whose lease was taken fences its store off.
 * @module
 */
import type Database from 'better-sqlite3'

import { type FleetNode, type ForgetOutcome, nodeState, type NodeWorkload } from '../../core/fleet-node.js'
import {
  decideFleetClaim,
  type FleetNotificationClaim,
  type FleetNotificationDecision,
} from '../../core/fleet-notification.js'
import {
  decideLeadership,
  type LeaderCandidate,
  type Leadership,
  type LeadershipDecision,
} from '../../core/leadership.js'
import {
  decideLease,
  describeHolder,
  holderLiveness,
  type LeaseClaim,
  type LeaseDecision,
  type Renewal,
  type SupervisorLease,
} from '../../core/supervisor-lease.js'
import type { ProcessRunning } from '../../ports/store.js'
import {
  FLEET_NOTIFICATION_SQL,
  type FleetNotificationDbRow,
  fleetNotificationValues,
  LEADER_SQL,
  type LeaderRow,
  leaderValues,
  type LeaseRow,
  leaseValues,
  type NodeRow,
  storedTime,
  storedWorkload,
  toFleetNode,
  toFleetNotificationRow,
  toLeadership,
  toLease,
} from '../sql/store-sql.js'
import { LEASE_SQL } from './lease-queries.js'
import type { StoreGuard } from './store-guard.js'
import { isStoreLocked, StoreLock } from './store-lock.js'

type Statement<R = unknown> = Database.Statement<unknown[], R>

/** The ownership of one store: its lock and its lease. */
export class SqliteOwnership {
  readonly #file: string
  readonly #guard: StoreGuard
  readonly #s: {
    readLease: Statement<LeaseRow>
    readNode: Statement<NodeRow>
    writeLease: Statement
    renewLease: Statement
    releaseLease: Statement
    forgetLease: Statement
    readEpoch: Statement<{ epoch: number }>
    writeEpoch: Statement
    readLeader: Statement<LeaderRow>
    writeLeader: Statement
    resignLeader: Statement
    claimChoreRun: Statement
    ensureNotification: Statement
    readNotification: Statement<FleetNotificationDbRow>
    writeNotification: Statement
    pruneNotifications: Statement
  }
  readonly #notify: Database.Transaction<(claim: FleetNotificationClaim) => FleetNotificationDecision>
  readonly #lead: Database.Transaction<
    (candidate: LeaderCandidate, now: number, ttlMs: number) => LeadershipDecision
  >
  readonly #claim: Database.Transaction<
    (claim: LeaseClaim, now: number, ttlMs: number, running: ProcessRunning) => LeaseDecision
  >
  readonly #forget: Database.Transaction<(name: string, now: number, locked: boolean) => ForgetOutcome>
  /** The OS lock, while this store's supervisor owns it. */
  #lock: StoreLock | null = null

  constructor(db: Database.Database, file: string, guard: StoreGuard) {
    this.#file = file
    this.#guard = guard
    this.#s = {
      readLease: db.prepare(LEASE_SQL.readLease) as Statement<LeaseRow>,
      readNode: db.prepare(LEASE_SQL.readNode) as Statement<NodeRow>,
      writeLease: db.prepare(LEASE_SQL.writeLease),
      renewLease: db.prepare(LEASE_SQL.renewLease),
      releaseLease: db.prepare(LEASE_SQL.releaseLease),
      forgetLease: db.prepare(LEASE_SQL.forgetLease),
      readEpoch: db.prepare(LEASE_SQL.readEpoch) as Statement<{ epoch: number }>,
      writeEpoch: db.prepare(LEASE_SQL.writeEpoch),
      readLeader: db.prepare(LEADER_SQL.readLeader) as Statement<LeaderRow>,
      writeLeader: db.prepare(LEADER_SQL.writeLeader),
      resignLeader: db.prepare(LEADER_SQL.resignLeader),
      claimChoreRun: db.prepare(LEADER_SQL.claimChoreRun),
      ensureNotification: db.prepare(FLEET_NOTIFICATION_SQL.ensureNotification),
      readNotification: db.prepare(
        FLEET_NOTIFICATION_SQL.readNotification,
      ) as Statement<FleetNotificationDbRow>,
      writeNotification: db.prepare(FLEET_NOTIFICATION_SQL.writeNotification),
      pruneNotifications: db.prepare(FLEET_NOTIFICATION_SQL.pruneNotifications),
    }
    this.#forget = db.transaction((name: string, now: number, locked: boolean): ForgetOutcome => {
      const r = this.#s.readNode.get()
      if (!r || r.node !== name) return { kind: 'unknown' }
      const node = toFleetNode(r)
      if (locked || nodeState(node, now) === 'alive') return { kind: 'alive', node }
      this.#s.forgetLease.run()
      return { kind: 'forgotten', node, workerStates: 0 }
    })
    this.#notify = db.transaction((claim: FleetNotificationClaim) => {
      this.#s.ensureNotification.run(claim.key)
      const d = decideFleetClaim(toFleetNotificationRow(this.#s.readNotification.get(claim.key)), claim)
      this.#s.writeNotification.run(...fleetNotificationValues(claim.key, d.row))
      return d.decision
    })
    this.#lead = db.transaction((candidate: LeaderCandidate, now: number, ttlMs: number) => {
      const d = decideLeadership(toLeadership(this.#s.readLeader.get()), candidate, now, ttlMs)
      if (d.kind !== 'follow') this.#s.writeLeader.run(...leaderValues(d.leader))
      return d
    })
    this.#claim = db.transaction((claim: LeaseClaim, now: number, ttlMs: number, running: ProcessRunning) => {
      const current = this.#readLease()
      // This connection holds the OS lock (claimOwnership takes it first): no live supervisor
      // elsewhere would have let it go.
      const liveness = current
        ? holderLiveness(current, claim, running(current.pid, current.startTicks), true)
        : 'unknown'
      const last = this.#s.readEpoch.get(claim.node)?.epoch ?? 0
      const decision = decideLease(current, claim, now, liveness, ttlMs, Math.max(last, current?.epoch ?? 0))
      if (decision.kind !== 'refuse') {
        this.#s.writeLease.run(...leaseValues(decision.lease), claim.node, claim.version ?? null)
        this.#s.writeEpoch.run(claim.node, decision.lease.epoch)
      }
      return decision
    })
  }

  /** See Store.claimOwnership. */
  async claim(
    claim: LeaseClaim,
    now: number,
    ttlMs: number,
    running: ProcessRunning,
  ): Promise<LeaseDecision> {
    if (this.#lock === null) {
      const lock = StoreLock.tryAcquire(this.#file)
      if (lock === null) return { kind: 'refuse', holder: this.read() }
      this.#lock = lock
    }
    const decision = this.#guard.write('claim the store for this supervisor', () =>
      this.#claim.immediate(claim, now, ttlMs, running),
    )
    if (decision.kind === 'refuse') this.unlock()
    return decision
  }

  /** See Store.renewOwnership: a lease taken by another supervisor fences the store off. */
  renew(owner: string, now: number, ttlMs: number, workload?: NodeWorkload): Renewal {
    const renewed = this.#guard.write(
      'renew the lease of this supervisor',
      () =>
        this.#s.renewLease.run(storedTime(now), storedTime(now + ttlMs), storedWorkload(workload), owner)
          .changes === 1,
    )
    if (!renewed) {
      const holder = this.read()
      this.#guard.fence({
        problem: 'taken',
        what: `is owned by another supervisor now${holder ? ` (${describeHolder(holder, now)})` : ''}`,
        advice:
          'This supervisor no longer owns it and writes nothing more; its workers keep running. Stop it: ' +
          'the other supervisor takes over its work.',
      })
    }
    return renewed ? 'renewed' : 'taken'
  }

  /** See Store.releaseOwnership. */
  release(owner: string): void {
    try {
      if (!this.#guard.fenced)
        this.#guard.write('release the lease of this supervisor', () => this.#s.releaseLease.run(owner))
    } finally {
      this.unlock()
    }
  }

  /** The lease in the store, or null when no supervisor owns it. */
  read(): SupervisorLease | null {
    return this.#guard.read('read the supervisor lease', () => this.#readLease())
  }

  /** See Store.listNodes: the one supervisor's node, or none. */
  nodes(): FleetNode[] {
    return this.#guard.read('list the nodes of the fleet', () => {
      const r = this.#s.readNode.get()
      return r ? [toFleetNode(r)] : []
    })
  }

  /**
   * See Store.forgetNode: the one lease, if it is `name`'s and dead, and no supervisor holds the
   * file's lock (one that holds it runs, however late its heartbeat). Saved worker states are the
   * store's, not a node's (the next supervisor takes them, whatever its name): they stay.
   */
  forget(name: string, now: number): ForgetOutcome {
    const locked = this.#lock !== null || isStoreLocked(this.#file)
    return this.#guard.write(`forget node ${name}`, () => this.#forget.immediate(name, now, locked))
  }

  /** See Store.claimLeadership: one immediate transaction, so two candidates take turns. */
  lead(candidate: LeaderCandidate, now: number, ttlMs: number): LeadershipDecision {
    return this.#guard.write('claim the fleet leadership', () => this.#lead.immediate(candidate, now, ttlMs))
  }

  /** See Store.resignLeadership. */
  resign(owner: string, now: number): void {
    const at = storedTime(now)
    this.#guard.write('resign the fleet leadership', () => this.#s.resignLeader.run(at, owner, at))
  }

  /** See Store.claimChoreRun. */
  claimChoreRun(name: string, dueAt: number, node: string, spacingMs: number): boolean {
    return this.#guard.write(
      `claim the run of ${name} due at ${new Date(dueAt).toISOString()}`,
      () => this.#s.claimChoreRun.run(name, storedTime(dueAt), node, storedTime(spacingMs)).changes === 1,
    )
  }

  /** See Store.claimNotification: one immediate transaction. */
  claimNotification(claim: FleetNotificationClaim): FleetNotificationDecision {
    return this.#guard.write('claim a fleet-wide notification', () => this.#notify.immediate(claim))
  }

  /** See Store.pruneFleetNotifications. */
  pruneNotifications(now: number, before: number): number {
    return this.#guard.write(
      'prune fleet-wide notifications past their window',
      () => this.#s.pruneNotifications.run(storedTime(now), storedTime(before)).changes,
    )
  }

  /** See Store.readLeadership. */
  leader(): Leadership | null {
    return this.#guard.read('read the fleet leader', () => toLeadership(this.#s.readLeader.get()))
  }

  /** Lets the OS lock go (a refusal, a release, the store closed). */
  unlock(): void {
    this.#lock?.release()
    this.#lock = null
  }

  #readLease(): SupervisorLease | null {
    const r = this.#s.readLease.get()
    return r ? toLease(r) : null
  }
}
