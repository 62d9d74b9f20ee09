/**
 * Notification policy: whether one event goes to one destination (Slack, a webhook), decided
 * without touching the world. The dispatcher (src/notify/dispatcher.ts) asks once per destination
 * and event, keeps the returned state, and delivers what this module says to send.
 *
 * In order, an event is:
 * 1. `not-notifiable` unless its type is in {@link NOTIFIABLE_EVENTS} or, for a destination with an
 *    event filter (an event hook), unless the filter takes it (see {@link isNotifiableAt}). Never
 *    `notifier:failed` for Slack and webhooks, nor a hook's own failures for anyone, so a failing
 *    destination cannot feed itself;
 * 2. `below-severity` when its severity is under the destination's `minSeverity`;
 * 3. `duplicate` when the same (type, worker, cause) was sent to the destination within
 *    `dedupWindow`; a critical event (an escalation) is keyed by its incident instead, so every
 *    escalation goes out once and only a repeat of the same incident's escalation is a duplicate.
 *    An event outside {@link NOTIFIABLE_EVENTS} (which only hooks take) is a duplicate only when it
 *    says the same thing: same type, worker and message;
 * 4. `rate-limited` when the worker already had `rateLimit.max` messages at the destination in the
 *    sliding `rateLimit.window`; critical events are never rate-limited;
 * 5. otherwise `sent`, carrying `suppressedBefore`: how many of the worker's events were dropped by
 *    rules 3 and 4 at this destination since its last message. A restart loop therefore yields a
 *    few messages that say "N similar events suppressed" instead of hundreds.
 *
 * Pure: time comes in as `now` and randomness as `random`. `now` should be monotonic (the daemon's
 * clock is); after a backwards step, remembered sends count as recent until time catches up, which
 * errs on the side of fewer messages.
 * @module
 */
import { type AnyEvent, eventMatches, type EventSeverity, type EventType, severityRank } from './events.js'

/**
 * The event types that are sent to destinations, with the severity the daemon gives each. Routing
 * uses the event's own `severity`; this table documents the intent and is what docs/notifications.md
 * shows. Everything else (and above all `notifier:failed`) goes only to the log and the store.
 */
export const NOTIFIABLE_EVENTS = {
  'incident:opened': 'warning',
  'incident:recovered': 'info',
  'incident:escalated': 'critical',
  'worker:revived': 'warning',
  'worker:still-failing': 'warning',
  'job:quarantined': 'warning',
  'store:failed': 'critical',
  'store:recovered': 'info',
} as const satisfies Partial<Record<EventType, EventSeverity>>

/** One of the event types that can reach a destination. */
export type NotifiableEventType = keyof typeof NOTIFIABLE_EVENTS

/** True when events of this type may be sent to a destination at all. */
export function isNotifiable(type: EventType): type is NotifiableEventType {
  return Object.hasOwn(NOTIFIABLE_EVENTS, type)
}

/**
 * Names of event-hook destinations start with this (`hook:ops.example.com`, `hook:page-oncall`).
 * The policy keeps a hook's failures from every destination by it: a hook may take
 * `notifier:failed` (to hear that Slack is down), and two failing hooks must not feed each other.
 */
export const HOOK_NAME_PREFIX = 'hook:'

/**
 * Whether `event` may reach `dest` at all, before severity, dedup and rate limits. Without an
 * event filter: the types of {@link NOTIFIABLE_EVENTS}. With one: any type the filter takes
 * (`*`, a type, a prefix such as `incident:`), except a `notifier:failed` about a hook.
 */
export function isNotifiableAt(event: AnyEvent, dest: PolicyDestination): boolean {
  if (dest.events === undefined) return isNotifiable(event.type)
  if (event.type === 'notifier:failed' && event.data.notifier.startsWith(HOOK_NAME_PREFIX)) return false
  return eventMatches(event.type, dest.events)
}

/**
 * Workers remembered per destination. Time-based pruning keeps the state small in practice; this
 * cap makes it bounded whatever the worker ids: 10 000 covers a fleet of thousands of workers, and
 * when it bites the least recently active worker is forgotten, which at worst lets one extra
 * message through or loses one "suppressed" count.
 */
export const MAX_TRACKED_WORKERS = 10_000

/** Share of a retry delay that is randomised either way (0.2: the delay is scaled by 0.8–1.2). */
export const RETRY_JITTER = 0.2

/** A destination as the policy sees it. */
export interface PolicyDestination {
  /** Unique among destinations; the state is keyed by it. */
  name: string
  /** Events below this severity are not sent here. */
  minSeverity: EventSeverity
  /**
   * Event types taken here: `*`, types, or prefixes ending in `:`.
   * @defaultValue the types of {@link NOTIFIABLE_EVENTS} (Slack, webhooks)
   */
  events?: readonly string[]
  /** This destination's own rate limit. @defaultValue {@link PolicySettings.rateLimit} */
  rateLimit?: { max: number; window: number }
  /** This destination's own dedup window, ms. @defaultValue {@link PolicySettings.dedupWindow} */
  dedupWindow?: number
}

/** The limits of `notifications` in the config, in milliseconds. */
export interface PolicySettings {
  /** At most `max` messages per worker per destination in any sliding `window` (ms). */
  rateLimit: { max: number; window: number }
  /** The same (type, worker, cause) is sent once per this many ms per destination. */
  dedupWindow: number
  /** @defaultValue {@link MAX_TRACKED_WORKERS} */
  maxTrackedWorkers?: number
}

/** When a key was last sent, and until when a repeat of it counts as a duplicate. */
export interface SentMark {
  readonly at: number
  readonly expiresAt: number
}

/** What one destination remembers about one worker. */
export interface WorkerMemory {
  /** Dedup key (type and cause, or an escalated incident) → its last send. */
  readonly marks: ReadonlyMap<string, SentMark>
  /** Send times inside the rate window, oldest first. */
  readonly sendTimes: readonly number[]
  /** Events suppressed since the last message. */
  readonly suppressed: number
  /** When anything last happened for this worker here; the least recent is evicted first. */
  readonly lastAt: number
}

/**
 * What the policy remembers between decisions. Treat it as opaque and immutable: pass the state a
 * decision returned to the next decision. Each decision copies one destination's map of workers,
 * never the whole state, so its cost grows with the fleet, not with the event history.
 */
export interface PolicyState {
  /** Destination name → worker id (`''` for events without one) → memory. */
  readonly destinations: ReadonlyMap<string, ReadonlyMap<string, WorkerMemory>>
}

/** Why a decision came out as it did. */
export type DecisionReason = 'sent' | 'below-severity' | 'not-notifiable' | 'duplicate' | 'rate-limited'

/** The outcome of {@link decide}. */
export interface Decision {
  send: boolean
  reason: DecisionReason
  /** With `send`: events of this worker suppressed at this destination since its last message. Else 0. */
  suppressedBefore: number
  state: PolicyState
}

/** The state before any decision. */
export function emptyPolicyState(): PolicyState {
  return { destinations: new Map() }
}

const SEP = '\u241f'
const NO_MEMORY: WorkerMemory = {
  marks: new Map(),
  sendTimes: [],
  suppressed: 0,
  lastAt: Number.NEGATIVE_INFINITY,
}

/**
 * Decides whether `event` goes to `dest` at `now`, and returns the state to use next time.
 *
 * @example
 * ```ts
 * let state = emptyPolicyState()
 * const d = decide(state, event, { name: 'slack', minSeverity: 'warning' }, clock.now(), {
 *   rateLimit: { max: 5, window: 600_000 },
 *   dedupWindow: 300_000,
 * })
 * state = d.state
 * if (d.send) queue.push({ event, suppressedBefore: d.suppressedBefore })
 * ```
 */
export function decide(
  state: PolicyState,
  event: AnyEvent,
  dest: PolicyDestination,
  now: number,
  shared: PolicySettings,
): Decision {
  if (!isNotifiableAt(event, dest))
    return { send: false, reason: 'not-notifiable', suppressedBefore: 0, state }
  if (severityRank(event.severity) < severityRank(dest.minSeverity)) {
    return { send: false, reason: 'below-severity', suppressedBefore: 0, state }
  }
  // A destination's own limits (a hook's) replace the shared ones.
  const s: PolicySettings = {
    ...shared,
    rateLimit: dest.rateLimit ?? shared.rateLimit,
    dedupWindow: dest.dedupWindow ?? shared.dedupWindow,
  }

  const critical = event.severity === 'critical'
  const workers = sweep(state.destinations.get(dest.name), now, s)
  const workerId = event.workerId ?? ''
  const mem = workers.get(workerId) ?? NO_MEMORY
  const key = dedupKeyOf(event, critical)

  let reason: DecisionReason = 'sent'
  const mark = key === null ? undefined : mem.marks.get(key)
  if (mark !== undefined && now < mark.expiresAt) reason = 'duplicate'
  else if (!critical && mem.sendTimes.length >= s.rateLimit.max) reason = 'rate-limited'

  if (reason !== 'sent') {
    workers.set(workerId, { ...mem, suppressed: mem.suppressed + 1, lastAt: now })
    return {
      send: false,
      reason,
      suppressedBefore: 0,
      state: withDestination(state, dest.name, workers, workerId, s),
    }
  }

  const marks = new Map(mem.marks)
  // An escalation is remembered for the longer window so that a replayed one stays a duplicate
  // even with dedup_window 0; the rate window is always > 0.
  const ttl = critical ? Math.max(s.dedupWindow, s.rateLimit.window) : s.dedupWindow
  if (key !== null) marks.set(key, { at: now, expiresAt: now + ttl })
  // Escalations pass the rate limit but still count towards it: they are messages people read.
  workers.set(workerId, { marks, sendTimes: [...mem.sendTimes, now], suppressed: 0, lastAt: now })
  return {
    send: true,
    reason: 'sent',
    suppressedBefore: mem.suppressed,
    state: withDestination(state, dest.name, workers, workerId, s),
  }
}

/**
 * Delay before retry number `attempt` (1 for the first retry) of a failed delivery:
 * `baseMs × 2^(attempt-1)`, capped at `capMs`, scaled by a random factor in [0.8, 1.2] and capped
 * again.
 *
 * Why ±20% rather than full jitter (a uniform delay in [0, backoff]): a delivery has only a few
 * retries (3 by default), and full jitter can spend them all within milliseconds of each other,
 * inside the very outage they are meant to outlast. ±20% keeps the exponential spacing (≈1 s, 2 s,
 * 4 s by default) while still spreading the retries of several Shepherd hosts that lost the same
 * Slack at the same moment. It is also the jitter the restart backoff uses (`recovery.jitter`).
 */
export function retryDelay(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  const exp = Math.min(Math.max(1, Math.floor(attempt)) - 1, 30)
  const base = Math.min(capMs, baseMs * 2 ** exp)
  const factor = 1 + RETRY_JITTER * (2 * random() - 1)
  return Math.max(0, Math.round(Math.min(capMs, base * factor)))
}

/**
 * (type, cause) for ordinary events, (type, job) for job events (the worker is the memory's key). A critical event is keyed by
 * its incident; one without an incident is never a duplicate.
 */
function dedupKeyOf(event: AnyEvent, critical: boolean): string | null {
  const incidentId = 'incident' in event.data ? event.data.incident.id : event.incidentId
  if (critical) return incidentId === null ? null : `${event.type}${SEP}incident${SEP}${incidentId}`
  // Only hooks take these; they are many and varied (every step of an incident, every state
  // change), so one is a duplicate only when it says exactly the same thing.
  if (!isNotifiable(event.type)) return `${event.type}${SEP}message${SEP}${event.message}`
  // A job event is about its job: two poison jobs are two messages, one job's repeat is a duplicate.
  const cause =
    'incident' in event.data ? event.data.incident.cause : 'jobId' in event.data ? event.data.jobId : ''
  return `${event.type}${SEP}${cause}`
}

/**
 * A copy of one destination's workers without what no window can use again: dedup marks past
 * their expiry and send times older than the rate window. A worker with nothing left is forgotten.
 * Suppressed counts stay until a message carries them, so a burst is never silently lost; they are
 * one number per worker, and the worker cap bounds them.
 */
function sweep(
  workers: ReadonlyMap<string, WorkerMemory> | undefined,
  now: number,
  s: PolicySettings,
): Map<string, WorkerMemory> {
  const out = new Map<string, WorkerMemory>()
  if (workers === undefined) return out
  const from = now - s.rateLimit.window
  for (const [id, mem] of workers) {
    let marks = mem.marks
    for (const m of mem.marks.values()) {
      if (now >= m.expiresAt) {
        marks = new Map([...mem.marks].filter(([, v]) => now < v.expiresAt))
        break
      }
    }
    const first = mem.sendTimes[0]
    const sendTimes =
      first !== undefined && first <= from ? mem.sendTimes.filter((t) => t > from) : mem.sendTimes
    if (marks.size === 0 && sendTimes.length === 0 && mem.suppressed === 0) continue
    out.set(id, marks === mem.marks && sendTimes === mem.sendTimes ? mem : { ...mem, marks, sendTimes })
  }
  return out
}

/** The state with one destination's workers replaced, evicting the least recently active beyond the cap. */
function withDestination(
  state: PolicyState,
  dest: string,
  workers: Map<string, WorkerMemory>,
  keep: string,
  s: PolicySettings,
): PolicyState {
  const cap = Math.max(1, s.maxTrackedWorkers ?? MAX_TRACKED_WORKERS)
  while (workers.size > cap) {
    let oldest: string | null = null
    let oldestAt = Number.POSITIVE_INFINITY
    for (const [id, mem] of workers) {
      if (id !== keep && mem.lastAt < oldestAt) {
        oldest = id
        oldestAt = mem.lastAt
      }
    }
    if (oldest === null) break
    workers.delete(oldest)
  }
  return { destinations: new Map(state.destinations).set(dest, workers) }
}
