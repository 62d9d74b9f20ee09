/**
 * How the agents of a fleet hear of new jobs at once: every write that puts jobs in the queue
 * (an add, a retry, a crash's or a release's requeue, a failure's retry) sends, in its own
 * transaction, one `pg_notify` on the store's channel with the queues it woke (job-transactions.ts,
 * {@link notifyJobs}); PostgreSQL delivers it at the commit to every connection that listens. Each
 * job store whose wakes someone watches (the supervisor's dispatcher) holds one dedicated connection
 * outside the pool that listens on the channel, and wakes its subscribers with the queue names.
 *
 * The channel is one per schema: `shepherd_jobs.<schema>` (the schema of the `jobs` table: the
 * store URL's `?schema=`, or the first of the search_path), or `shepherd_jobs.<md5 of the schema>`
 * where that would be longer than PostgreSQL's 63 bytes. Its payload is a JSON array of queue
 * names; an empty payload means any queue.
 *
 * The connection may drop (a server restart, a network cut, an administrator's
 * pg_terminate_backend). While it is down, nothing is heard (`listening` is false: the dispatcher
 * polls often meanwhile); it is opened again after 100 ms, then after twice as long each time it
 * fails, up to 5 s; and once it listens again its subscribers are woken for every queue, since
 * what was sent meanwhile is lost. A connection that stops answering without being closed (a cut
 * network leaves no reset) is told by a `SELECT 1` every 5 s that does not answer within 5 s.
 * @module
 */
import pg from 'pg'

import type { Scheduler } from '../../ports/clock.js'
import type { JobWake } from '../../ports/job-store.js'
import { backgroundTimers } from '../timers.js'
import { CHANNEL_SQL, WAKE_PAYLOAD_MAX_BYTES } from './job-queries.js'

/** The payload of a notification that woke these queues (null: any). */
export function wakePayload(queues: readonly string[] | null): string {
  const text = queues === null ? '' : JSON.stringify(queues)
  return Buffer.byteLength(text) <= WAKE_PAYLOAD_MAX_BYTES ? text : ''
}

/** The queues a payload names; null (any queue) for an empty or unreadable one. */
export function wokenBy(payload: string | undefined): string[] | null {
  if (!payload) return null
  try {
    const v: unknown = JSON.parse(payload)
    return Array.isArray(v) && v.every((q) => typeof q === 'string') ? v : null
  } catch {
    return null
  }
}

/** First wait before opening a dropped listening connection again, ms; it doubles up to RETRY_MAX_MS. */
export const RETRY_FIRST_MS = 100
/** Longest wait between two tries to listen again, ms. */
export const RETRY_MAX_MS = 5_000
/** How often the listening connection is asked whether it answers, and how long it has to, ms. */
export const PING_MS = 5_000

/** Options of a {@link JobListener}. */
export interface JobListenerOptions {
  /** As the store's pool connects (pg.ClientConfig: connection string, types, timeouts). */
  client: pg.ClientConfig
  /** Told what the channel says, and `null` once the listener (re)starts listening. */
  wake: JobWake
  /** Told every time the connection starts or stops listening. */
  changed?: (listening: boolean) => void
  /** @defaultValue Node's timers, unref'd */
  timers?: Scheduler
}

/** The listening connection of one job store. */
export class JobListener {
  readonly #o: JobListenerOptions
  readonly #timers: Scheduler
  #client: pg.Client | null = null
  #channel: string | null = null
  #listening = false
  #running = false
  #retryMs = RETRY_FIRST_MS
  #retry: unknown = null
  #ping: unknown = null

  constructor(o: JobListenerOptions) {
    this.#o = o
    this.#timers = o.timers ?? backgroundTimers
  }

  /** Whether the connection listens now: every process's wakes are heard. */
  get listening(): boolean {
    return this.#listening
  }

  /** The server process of the listening connection (pg_stat_activity.pid), while it listens. */
  get pid(): number | null {
    return this.#listening ? ((this.#client as { processID?: number } | null)?.processID ?? null) : null
  }

  /** Starts listening (in the background; a failure is retried, never thrown). */
  start(): void {
    if (this.#running) return
    this.#running = true
    void this.#connect()
  }

  /** Stops listening and closes the connection. */
  async stop(): Promise<void> {
    this.#running = false
    this.#clearTimers()
    const client = this.#client
    this.#client = null
    this.#setListening(false)
    await client?.end().catch(() => undefined)
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ ...this.#o.client, application_name: 'shepherd listen' })
    this.#client = client
    client.on('error', () => this.#lost(client))
    client.on('end', () => this.#lost(client))
    client.on('notification', (n) => {
      if (client === this.#client && n.channel === this.#channel) this.#o.wake(wokenBy(n.payload))
    })
    try {
      await client.connect()
      const { rows } = await client.query<{ channel: string }>(`SELECT ${CHANNEL_SQL} AS channel`)
      this.#channel = rows[0]!.channel
      await client.query(`LISTEN ${quoteIdentifier(this.#channel)}`)
    } catch {
      this.#lost(client)
      return
    }
    if (client !== this.#client) {
      // Stopped, or lost, while connecting.
      await client.end().catch(() => undefined)
      return
    }
    this.#retryMs = RETRY_FIRST_MS
    this.#setListening(true)
    this.#schedulePing(client)
    // What was sent before this connection listened is lost: whoever waits looks again.
    this.#o.wake(null)
  }

  /** The connection failed, ended, or stopped answering: poll meanwhile, and listen again soon. */
  #lost(client: pg.Client): void {
    if (client !== this.#client) return
    this.#client = null
    this.#clearTimers()
    client.end().catch(() => undefined)
    if (this.#listening) {
      this.#setListening(false)
      // Subscribers go back to polling often; a wake makes them look now.
      this.#o.wake(null)
    }
    if (!this.#running) return
    this.#retry = this.#timers.set(() => {
      this.#retry = null
      if (this.#running) void this.#connect()
    }, this.#retryMs)
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS)
  }

  #schedulePing(client: pg.Client): void {
    this.#ping = this.#timers.set(() => {
      this.#ping = null
      if (client !== this.#client) return
      let answered = false
      const deadline = this.#timers.set(() => {
        if (!answered) this.#lost(client)
      }, PING_MS)
      client.query('SELECT 1').then(
        () => {
          answered = true
          this.#timers.clear(deadline)
          if (client === this.#client) this.#schedulePing(client)
        },
        () => {
          answered = true
          this.#timers.clear(deadline)
          this.#lost(client)
        },
      )
    }, PING_MS)
  }

  #setListening(on: boolean): void {
    if (this.#listening === on) return
    this.#listening = on
    this.#o.changed?.(on)
  }

  #clearTimers(): void {
    if (this.#retry !== null) this.#timers.clear(this.#retry)
    if (this.#ping !== null) this.#timers.clear(this.#ping)
    this.#retry = null
    this.#ping = null
  }
}

/** An SQL identifier in double quotes (LISTEN takes no parameter). */
function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}
