/**
 * One supervisor per store: the lease a supervisor holds in the store, and the decision a
 * supervisor that starts makes about it. Pure: the adapter reads the current lease and finds out
 * whether its holder still runs (an OS file lock, /proc), inside the transaction that writes the
 * outcome; this module only decides.
 *
 * ```
 * no lease                               ─> take
 * our own lease, live                    ─> renew (a claim repeated, e.g. once the API address is known)
 * our own lease, lapsed                  ─> take (a rejoin: a new epoch)
 * our own lease, of the epoch it rejoins ─> take (a rejoin, though late renewals made it live again)
 * holder alive                           ─> refuse, naming the holder
 * holder dead                            ─> take over (reason "dead")
 * holder unknown, lease expired          ─> take over (reason "expired")
 * holder unknown, lease live             ─> refuse
 * ```
 *
 * "Unknown" is for a holder whose liveness cannot be seen from here (another host, on a shared
 * database): then only the lease's expiry, renewed by the holder's heartbeat, can tell that it is
 * gone. On one host with SQLite the OS lock tells at once.
 *
 * Each node's lease has an epoch: one more than the node's last on every take, take-over and rejoin,
 * the same on a renew. The adapter keeps the node's last epoch even once its lease is released,
 * so that an epoch is never handed out twice.
 * @module
 */

/** The supervisor that owns a store, as the store records it. */
export interface SupervisorLease {
  /** A random id per supervisor run: two runs of the same process are two owners. */
  owner: string
  host: string
  pid: number
  /** Start time of the process in clock ticks after boot (/proc/<pid>/stat): with the pid, one process. */
  startTicks: number | null
  /** Its control API, once bound; null while it starts. */
  apiUrl: string | null
  /** When this owner took the store (epoch ms). */
  acquiredAt: number
  /** Its last heartbeat (epoch ms). */
  heartbeatAt: number
  /** The lease is stale after this (epoch ms) unless renewed. */
  expiresAt: number
  /**
   * The node's lease epoch: higher on every take, take-over and rejoin after a lapse, never lower
   * for one node. Work stamped with an older epoch is its owner's no more.
   */
  epoch: number
}

/**
 * Who asks for the store: a supervisor, and the node it runs as (its name in a fleet: the key of
 * its lease on a shared store; the host name unless configured).
 */
export type LeaseClaim = Pick<SupervisorLease, 'owner' | 'host' | 'pid' | 'startTicks' | 'apiUrl'> & {
  node: string
  /** Shepherd's version on the claiming agent, recorded for `shepherd nodes`. */
  version?: string
  /**
   * A rejoin: the epoch of the claimant's lease that lapsed (by the claimant's own clock). Its own
   * lease still of that epoch is taken anew, with a new epoch, even when it is live again:
   * renewals sent before the lapse and answered after it renewed it, while the fleet's leader may
   * have given its jobs to other agents. A later epoch (a rejoin whose answer was lost) is renewed.
   */
  rejoins?: number
}

/**
 * What the store said to an owner's heartbeat:
 * - `renewed`: the lease was live and is the owner's; its expiry moved on;
 * - `lapsed`: the lease is still the owner's but had expired by the heartbeat (it was cut off, or
 *   stalled, for longer than the lease), or the fleet's leader ended it when it reclaimed its jobs,
 *   whenever the heartbeat was sent: nothing was written. Other agents may have taken its
 *   jobs; it may claim its node again (a rejoin, with a new epoch) if no other agent did;
 * - `taken`: another supervisor holds the lease now: the store refuses this one's writes.
 *
 * A store whose holder can be seen (SQLite's OS lock) never says `lapsed`: nobody else could
 * have taken anything while the lock was held.
 */
export type Renewal = 'renewed' | 'lapsed' | 'taken'

/** Whether the holder of a lease still runs, as far as the adapter can tell. */
export type HolderLiveness = 'alive' | 'dead' | 'unknown'

export type LeaseDecision =
  | { kind: 'take'; lease: SupervisorLease }
  | { kind: 'renew'; lease: SupervisorLease }
  | { kind: 'take-over'; lease: SupervisorLease; previous: SupervisorLease; reason: 'dead' | 'expired' }
  /** `holder` is null when the store's OS lock is held by a supervisor that has not written its lease yet. */
  | { kind: 'refuse'; holder: SupervisorLease | null }

/**
 * What a supervisor that asks for the store gets, given the lease there is now.
 * @param current - the lease in the store, or null.
 * @param holder - whether `current`'s holder still runs (ignored when it is ours or there is none).
 * @param ttlMs - how long the new lease lasts without a heartbeat.
 * @param lastEpoch - the node's highest epoch handed out so far (0: none), released leases' too.
 */
export function decideLease(
  current: SupervisorLease | null,
  claim: LeaseClaim,
  now: number,
  holder: HolderLiveness,
  ttlMs: number,
  lastEpoch: number = current?.epoch ?? 0,
): LeaseDecision {
  const next = Math.max(lastEpoch, current?.epoch ?? 0) + 1
  const fresh = (acquiredAt: number, epoch: number = next): SupervisorLease => ({
    owner: claim.owner,
    host: claim.host,
    pid: claim.pid,
    startTicks: claim.startTicks,
    apiUrl: claim.apiUrl,
    acquiredAt,
    heartbeatAt: now,
    expiresAt: now + ttlMs,
    epoch,
  })
  if (current === null) return { kind: 'take', lease: fresh(now) }
  if (current.owner === claim.owner) {
    const over = now >= current.expiresAt || (claim.rejoins !== undefined && current.epoch <= claim.rejoins)
    return over
      ? { kind: 'take', lease: fresh(now) }
      : { kind: 'renew', lease: fresh(current.acquiredAt, current.epoch) }
  }
  switch (holder) {
    case 'alive':
      return { kind: 'refuse', holder: current }
    case 'dead':
      return { kind: 'take-over', lease: fresh(now), previous: current, reason: 'dead' }
    case 'unknown':
      return now >= current.expiresAt
        ? { kind: 'take-over', lease: fresh(now), previous: current, reason: 'expired' }
        : { kind: 'refuse', holder: current }
    default: {
      const never: never = holder
      throw new TypeError(`unknown liveness ${String(never)}`)
    }
  }
}

/**
 * Whether the holder of a lease still runs. `self` is the process asking; `running` says whether
 * the holder's process (pid and start time) runs on this host (null: cannot tell); `exclusive`
 * says whether the asker holds the store's OS lock, which no live supervisor would have let go.
 *
 * A holder on this host whose process runs is alive even when the OS lock was free (its lock file
 * was deleted and made anew): the process is the stronger evidence. Otherwise the OS lock proves
 * the holder dead; without it, a holder on this host is dead when its process is gone, and one
 * elsewhere cannot be seen.
 */
export function holderLiveness(
  holder: Pick<SupervisorLease, 'host' | 'pid'>,
  self: { host: string; pid: number },
  running: boolean | null,
  exclusive: boolean,
): HolderLiveness {
  const here = holder.host === self.host
  // The same pid on the same host is this very process: an earlier owner in it closed its store.
  if (here && holder.pid !== self.pid && running === true) return 'alive'
  if (exclusive) return 'dead'
  if (here && running === false) return 'dead'
  return 'unknown'
}

/**
 * A holder for people: `pid 4242 on host web-1 (API http://127.0.0.1:7717), since
 * 2025-01-31T09:15:02.120Z, last heartbeat 3 s ago`.
 */
export function describeHolder(lease: SupervisorLease, now: number): string {
  const api = lease.apiUrl === null ? 'API not yet serving' : `API ${lease.apiUrl}`
  const ago = Math.max(0, Math.round((now - lease.heartbeatAt) / 1000))
  return (
    `pid ${lease.pid} on host ${lease.host} (${api}), since ${new Date(lease.acquiredAt).toISOString()}, ` +
    `last heartbeat ${ago} s ago`
  )
}
