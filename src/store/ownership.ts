/**
 * One supervisor per store, from the daemon's side: before it touches anything in the store
 * (orphans, open incidents, jobs in flight), a supervisor takes ownership of it, and a second one
 * is refused, naming the first. The rules are the core's (src/core/supervisor-lease.ts); the
 * store adapter applies them atomically and says whether a holder still runs (see docs/store.md).
 * @module
 */
import { randomUUID } from 'node:crypto'
import os from 'node:os'

import { readProcStat } from '../adapters/process/proc.js'
import type { NodeWorkload } from '../core/fleet-node.js'
import { describeHolder, type LeaseClaim, type SupervisorLease } from '../core/supervisor-lease.js'
import { ShepherdError } from '../errors.js'
import type { Store } from '../ports/store.js'
import { packageVersion } from '../version.js'

/**
 * How long a lease lasts without a heartbeat. On SQLite the OS lock tells at once whether the
 * holder runs, so this only matters where that cannot be seen (a store shared by hosts); there, a
 * supervisor that died is taken over within this long. 30 s is three missed heartbeats: a
 * supervisor under load, or stopped for a moment (SIGSTOP, a VM paused), is not taken over.
 * @defaultValue 30000
 */
export const LEASE_TTL_MS = 30_000

/** The owner renews its lease this often: a third of the TTL, so two heartbeats may be missed. */
export const HEARTBEAT_MS = 10_000

/** What a heartbeat did (see {@link Ownership.heartbeat}). */
export type Heartbeat =
  | { kind: 'renewed' }
  | { kind: 'rejoined'; previous: SupervisorLease; lease: SupervisorLease }
  | { kind: 'lapsed' }
  | { kind: 'taken' }

/** The store as this supervisor holds it. */
export interface Ownership {
  readonly lease: SupervisorLease
  /** The supervisor whose store this one took, when it took one over. */
  readonly takenOver: { previous: SupervisorLease; reason: 'dead' | 'expired' } | null
  /** Records the API address in the lease once the API is bound: a refused start names it. */
  serving(apiUrl: string, now: number): Promise<void>
  /**
   * Renews the lease: `renewed`; `lapsed` when it had expired by `now` (the store unreachable, or
   * this process stalled, for longer than the lease: see {@link Ownership.rejoin}); `taken` when
   * another supervisor owns the node now, and the store is fenced. Each renewal records the
   * workers' workload, once told where to read it ({@link Ownership.recordWorkload}).
   */
  heartbeat(now: number): Promise<Heartbeat>
  /**
   * Claims the node again after its lease lapsed: a rejoin, with a new epoch (`rejoined`, the lease
   * as it is now), even when renewals answered late renewed the lapsed one (`LeaseClaim.rejoins`).
   * `now` must be the time of the call, not of the renewal that found the lapse (an answer that
   * came late would rejoin with a lease already expired). `rejoined` too when a rejoin whose answer
   * was lost took the new epoch already; `taken` when another supervisor took the node.
   */
  rejoin(now: number): Promise<Heartbeat>
  /**
   * From now on each heartbeat records `workload()` in the lease (`shepherd nodes`, `status` of
   * other hosts): the supervisor's workers, once it has them.
   */
  recordWorkload(workload: () => NodeWorkload): void
  /** Gives the store up (a clean stop). */
  release(): Promise<void>
}

/**
 * Takes ownership of the store for this process.
 * @throws ShepherdError `SHEPHERD_STORE_LOCKED` when another supervisor that runs owns it; the
 *   message names it (host, pid, API, since when). Nothing in the store was changed.
 */
export async function takeOwnership(
  store: Store,
  storePath: string,
  now: number,
  node: string = os.hostname(),
  ttlMs: number = LEASE_TTL_MS,
): Promise<Ownership> {
  const claim: LeaseClaim = {
    owner: randomUUID(),
    node,
    host: os.hostname(),
    pid: process.pid,
    startTicks: readProcStat(process.pid)?.startTimeTicks ?? null,
    apiUrl: null,
    version: packageVersion(),
  }
  const decision = await store.claimOwnership(claim, now, ttlMs, processRunning)
  if (decision.kind === 'refuse') {
    const who = decision.holder
      ? `another supervisor owns it: ${describeHolder(decision.holder, now)}`
      : 'another supervisor is starting on it'
    throw new ShepherdError(
      'SHEPHERD_STORE_LOCKED',
      `Cannot start on the store ${storePath} as node ${node}: ${who}. Nothing was touched. ` +
        'Stop that supervisor first, or give this config a store of its own (store.path; on a PostgreSQL store, one supervisor per node name: give each agent its own with SHEPHERD_NODE or node.name).',
      { details: { holder: decision.holder } },
    )
  }
  let lease = decision.lease
  let workload: (() => NodeWorkload) | null = null
  return {
    get lease() {
      return lease
    },
    takenOver:
      decision.kind === 'take-over' ? { previous: decision.previous, reason: decision.reason } : null,
    async serving(apiUrl, at) {
      const again = await store.claimOwnership({ ...claim, apiUrl }, at, ttlMs, processRunning)
      if (again.kind !== 'refuse') lease = again.lease
    },
    async heartbeat(at) {
      return { kind: await store.renewOwnership(claim.owner, at, ttlMs, workload?.()) }
    },
    async rejoin(at) {
      const previous = lease
      const again = await store.claimOwnership(
        { ...claim, apiUrl: lease.apiUrl, rejoins: previous.epoch },
        at,
        ttlMs,
        processRunning,
      )
      // Another supervisor took the node between the two: the renewal says so, and fences the store.
      if (again.kind === 'refuse') return { kind: await store.renewOwnership(claim.owner, at, ttlMs) }
      lease = again.lease
      return { kind: 'rejoined', previous, lease }
    },
    recordWorkload(read) {
      workload = read
    },
    release: () => store.releaseOwnership(claim.owner),
  }
}

/** Whether the process with this pid and start time runs here; null without a start time. */
function processRunning(pid: number, startTicks: number | null): boolean | null {
  if (startTicks === null) return null
  return readProcStat(pid)?.startTimeTicks === startTicks
}
