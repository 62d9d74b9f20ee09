/**
 * One supervisor per node, on PostgreSQL. Many agents share the database, each the owner of its own
 * node: a lease row keyed by the node (`supervisor_leases`, sql/postgres/0001_init.sql), renewed
 * by its heartbeat. The node is the agent's name (`node.name`, SHEPHERD_NODE, else the host name),
 * so that several agents may run on one host; a second agent that claims a node whose holder runs
 * is refused, as a second supervisor on one SQLite file is.
 *
 * A claim is one transaction: an advisory lock on the node (so two agents starting as the same node
 * take turns even before its row exists), the node's row read FOR UPDATE, the core's decision
 * (`decideLease`), and the row written. Whether the holder runs: on this host, /proc says (the
 * caller's `running`); on another host nothing can tell, so its lease's expiry decides. There is no
 * OS lock: a database shared by hosts has no file to lock.
 * @module
 */
import type pg from 'pg'

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
  type FleetNotificationDbRow,
  fleetNotificationValues,
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
import type { StoreGate } from '../store-gate.js'
import type { PgGuard } from './pg-guard.js'
import { changes, row, rows } from './statements.js'
import { STORE_STATEMENTS as S } from './store-queries.js'

/** The leases of one store's agent. */
export class PostgresOwnership {
  readonly #guard: PgGuard
  readonly #gate: StoreGate
  /** The node this store claimed, once it has. */
  #node: string | null = null

  /** The node this store claimed, or null before it has. */
  get node(): string | null {
    return this.#node
  }

  constructor(guard: PgGuard, gate: StoreGate) {
    this.#guard = guard
    this.#gate = gate
  }

  /** See Store.claimOwnership. */
  async claim(
    claim: LeaseClaim,
    now: number,
    ttlMs: number,
    running: ProcessRunning,
  ): Promise<LeaseDecision> {
    const node = claim.node
    const decision = await this.#guard.write(`claim node ${node} for this supervisor`, async (c) => {
      await c.query({ ...S.lockNode, values: [node] })
      const r = await row<LeaseRow>(c, S.readNode, [node])
      const current = r ? toLease(r) : null
      const here = current !== null && current.host === claim.host
      const liveness = current
        ? holderLiveness(current, claim, here ? running(current.pid, current.startTicks) : null, false)
        : 'unknown'
      const last = Number((await row<{ epoch: string }>(c, S.readEpoch, [node]))?.epoch ?? 0)
      const d = decideLease(current, claim, now, liveness, ttlMs, Math.max(last, current?.epoch ?? 0))
      if (d.kind !== 'refuse') {
        await c.query({ ...S.writeNode, values: [node, ...leaseValues(d.lease), claim.version ?? null] })
        await c.query({ ...S.writeEpoch, values: [node, d.lease.epoch] })
      }
      return d
    })
    if (decision.kind !== 'refuse') this.#node = node
    return decision
  }

  /** See Store.renewOwnership: a lease taken by another agent fences the store off. */
  async renew(owner: string, now: number, ttlMs: number, workload?: NodeWorkload): Promise<Renewal> {
    // One statement; an answer that takes longer than the lease is no renewal (a link cut while it
    // was in flight): the connection is closed rather than left waiting for TCP to give up.
    const renewed = await this.#guard.writeOne('renew the lease of this supervisor', async (q) => {
      const values = [storedTime(now), storedTime(now + ttlMs), owner, storedWorkload(workload)]
      const r = await q.query({ ...S.renew, values, query_timeout: ttlMs } as pg.QueryConfig)
      return r.rowCount === 1
    })
    if (renewed) return 'renewed'
    const holder = await this.read()
    // Still its own, expired: cut off or stalled past the lease. It may claim its node again. So
    // may an agent whose node was forgotten meanwhile (shepherd nodes --forget deletes a dead
    // node's lease, and only that): nobody else holds it.
    if (holder === null || holder.owner === owner) return 'lapsed'
    this.#gate.fence({
      problem: 'taken',
      what: `is owned by another supervisor for node ${this.#node ?? '(none)'} now (${describeHolder(holder, now)})`,
      advice:
        'This supervisor no longer owns its node and writes nothing more; its workers keep running. Stop it: ' +
        'the other supervisor takes over its work.',
    })
    return 'taken'
  }

  /** See Store.releaseOwnership. */
  async release(owner: string): Promise<void> {
    if (this.#gate.fenced) return
    await this.#guard.write('release the lease of this supervisor', (c) => changes(c, S.release, [owner]))
  }

  /** The lease of this store's node once it claimed one; before that, the agent heard from last. */
  async read(): Promise<SupervisorLease | null> {
    const node = this.#node
    return this.#guard.read('read the supervisor lease', async (q) => {
      const r =
        node === null ? await row<LeaseRow>(q, S.readLatest) : await row<LeaseRow>(q, S.readOwn, [node])
      return r ? toLease(r) : null
    })
  }

  /** See Store.listNodes: every node's lease row, by name. */
  async nodes(): Promise<FleetNode[]> {
    return this.#guard.read('list the nodes of the fleet', async (q) =>
      (await rows<NodeRow>(q, S.listNodes)).map(toFleetNode),
    )
  }

  /**
   * See Store.forgetNode: under the node's advisory lock (a claim of the node waits), its lease read
   * FOR UPDATE, judged by the core's `nodeState`, and if dead deleted with its workers' saved state.
   */
  async forget(name: string, now: number): Promise<ForgetOutcome> {
    return this.#guard.write(`forget node ${name}`, async (c): Promise<ForgetOutcome> => {
      await c.query({ ...S.lockNode, values: [name] })
      const r = await row<NodeRow>(c, S.readNodeForUpdate, [name])
      if (!r) return { kind: 'unknown' }
      const node = toFleetNode(r)
      if (nodeState(node, now) === 'alive') return { kind: 'alive', node }
      await changes(c, S.forgetNode, [name])
      return { kind: 'forgotten', node, workerStates: await changes(c, S.forgetWorkerStates, [name]) }
    })
  }

  /** See Store.claimLeadership: the leader's row locked, decided by the core, written. */
  async lead(candidate: LeaderCandidate, now: number, ttlMs: number): Promise<LeadershipDecision> {
    return this.#guard.write('claim the fleet leadership', async (c) => {
      const current = toLeadership(await row<LeaderRow>(c, S.readLeaderForUpdate))
      const d = decideLeadership(current, candidate, now, ttlMs)
      if (d.kind !== 'follow') await changes(c, S.writeLeader, leaderValues(d.leader))
      return d
    })
  }

  /** See Store.resignLeadership. */
  async resign(owner: string, now: number): Promise<void> {
    if (this.#gate.fenced) return
    const at = storedTime(now)
    await this.#guard.write('resign the fleet leadership', (c) => changes(c, S.resignLeader, [at, owner, at]))
  }

  /** See Store.claimChoreRun. */
  async claimChoreRun(name: string, dueAt: number, node: string, spacingMs: number): Promise<boolean> {
    return this.#guard.write(
      `claim the run of ${name} due at ${new Date(dueAt).toISOString()}`,
      async (c) =>
        (await changes(c, S.claimChoreRun, [name, storedTime(dueAt), node, storedTime(spacingMs)])) === 1,
    )
  }

  /** See Store.claimNotification: the key's row made sure of, locked, decided by the core, written. */
  async claimNotification(claim: FleetNotificationClaim): Promise<FleetNotificationDecision> {
    return this.#guard.write('claim a fleet-wide notification', async (c) => {
      let found: FleetNotificationDbRow | undefined
      // A row the leader's retention deletes between the two statements is not there to lock: made
      // sure of again, in a new snapshot, it is ours, or a claim's that began meanwhile (READ
      // COMMITTED: the insert waits for that one's commit and finds it). Twice at most: nobody
      // else can delete a row this transaction inserted.
      while (found === undefined) {
        await changes(c, S.ensureNotification, [claim.key])
        found = await row<FleetNotificationDbRow>(c, S.readNotificationForUpdate, [claim.key])
      }
      const d = decideFleetClaim(toFleetNotificationRow(found), claim)
      await changes(c, S.writeNotification, fleetNotificationValues(claim.key, d.row))
      return d.decision
    })
  }

  /** See Store.pruneFleetNotifications: one statement. */
  async pruneNotifications(now: number, before: number): Promise<number> {
    return this.#guard.write('prune fleet-wide notifications past their window', (c) =>
      changes(c, S.pruneNotifications, [storedTime(now), storedTime(before)]),
    )
  }

  /** See Store.readLeadership. */
  async leader(): Promise<Leadership | null> {
    return this.#guard.read('read the fleet leader', async (q) =>
      toLeadership(await row<LeaderRow>(q, S.readLeader)),
    )
  }
}
