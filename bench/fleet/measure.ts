/**
 * What the fleet benchmark measures, the same way for every system: throughput of a backlog of
 * no-op jobs drained by N agents, and the latency from an enqueue in one process to the job's start
 * in another.
 */
import { performance } from 'node:perf_hooks'

import { type Agent, sleep, waitFor } from './agents.js'

export interface Setting {
  agents: number
  concurrency: number
}

/** Where the jobs are after the agents stopped. */
export interface Tally {
  done: number
  /** Not yet done (waiting, or still held by a stopped agent). */
  open: number
  /** Failed, dead-lettered or quarantined: a no-op job should never be. */
  failed: number
}

/** N jobs waiting in a database of the system's own, for one run of agents. */
export interface Backlog {
  /** How long the bulk enqueue took, ms. */
  enqueueMs: number
  /** Spawns the agents for the setting; returns at once. */
  start(s: Setting): Agent[]
  /** Whether some job is not done yet: cheap, polled every 20 ms while the agents run. */
  pending(): Promise<boolean>
  /** Jobs done so far. */
  done(): Promise<number>
  /** When the first job was done (epoch ms), where the store says; else the agents are asked. */
  firstDoneAt(): Promise<number | null>
  /** When the last job was done (epoch ms), where the store says; else the agents are asked. */
  lastDoneAt(): Promise<number | null>
  tally(): Promise<Tally>
  /**
   * Deliveries of done jobs beyond their first, where the system lets one see them (Shepherd:
   * `delivery`; pg-boss: `retry_count`), else from what the agents said they ran (`ran`, one
   * figure per agent, null where unknown), else null.
   */
  duplicates(ran: Array<number | null>): Promise<number | null>
  /** Drops the database. */
  close(): Promise<void>
}

export interface System {
  key: string
  /** Name and version, as the table heads it. */
  label: string
  /** A fresh database with `n` jobs enqueued in bulk. */
  backlog(n: number): Promise<Backlog>
  /** Single jobs enqueued one at a time; for each, its start minus the moment before its enqueue. */
  latency?(count: number): Promise<LatencyResult[]>
}

export interface LatencyResult {
  /** What was measured, e.g. "library enqueue in another process". */
  how: string
  ms: number[]
  /** Why nothing could be measured this way. */
  failure?: string
}

export interface ThroughputResult {
  jobsPerSecond: number
  done: number
  elapsedMs: number
  /** The bulk enqueue before the run, ms (not in the figure). */
  enqueueMs: number
  /** Every job done before the cap. */
  complete: boolean
  /** Agents that exited before they were asked to stop, and how ("agent 2: exit code 1"). */
  agentFailures: string[]
  /** From the first agent's start to the first job started or done: the start-up inside elapsedMs. */
  firstJobMs: number | null
  /** From the first agent's start to the last job done. */
  lastJobMs: number | null
  /**
   * The drain rate: jobs done from the first job to the last over that time, start-up left out
   * (null where a time is unknown or the run was capped).
   */
  drainPerSecond: number | null
  tally: Tally
  duplicates: number | null
}

/**
 * Enqueues `n` jobs, starts the agents and times from the first start until every job is done,
 * or until `capMs`: throughput is done / elapsed either way.
 */
export async function throughput(
  system: System,
  s: Setting,
  n: number,
  capMs: number,
): Promise<ThroughputResult> {
  const backlog = await system.backlog(n)
  try {
    const t0 = performance.now()
    const epoch0 = performance.timeOrigin + t0
    const agents = backlog.start(s)
    const allGone = () => agents.every((a) => a.exitedEarly() !== null)
    const complete = await waitFor(async () => allGone() || !(await backlog.pending()), t0 + capMs, 20)
    const elapsedMs = performance.now() - t0
    const done = await backlog.done()
    const ran = await Promise.all(agents.map((a) => a.stop()))
    const agentFailures = agents.flatMap((a, k) => {
      const how = a.exitedEarly()
      return how === null ? [] : [`agent ${k + 1}: ${how}`]
    })
    const tally = await backlog.tally()
    const firsts = agents.map((a) => a.firstJobAt()).filter((t) => t !== null)
    const first = firsts.length > 0 ? Math.min(...firsts) : await backlog.firstDoneAt()
    const lasts = agents.map((a) => a.lastJobAt()).filter((t) => t !== null)
    const last = lasts.length > 0 ? Math.max(...lasts) : await backlog.lastDoneAt()
    const drained = complete && first !== null && last !== null && last > first
    return {
      enqueueMs: backlog.enqueueMs,
      firstJobMs: first === null ? null : first - epoch0,
      lastJobMs: last === null ? null : last - epoch0,
      drainPerSecond: drained ? done / ((last - first) / 1000) : null,
      jobsPerSecond: done / (elapsedMs / 1000),
      done,
      elapsedMs,
      complete: complete && !allGone(),
      agentFailures,
      tally,
      duplicates: await backlog.duplicates(ran),
    }
  } finally {
    await backlog.close()
  }
}

/**
 * `count` single jobs, one at a time: each enqueued once the last has started, after a random pause
 * of 10–510 ms, so that the enqueues do not keep step with a system that polls (pg-boss: every
 * 500 ms at best; a fixed pause after each start would always land at the same point of its cycle).
 */
export async function trickle(
  count: number,
  enqueue: (i: number) => Promise<void>,
  startedAt: (i: number) => Promise<number>,
): Promise<number[]> {
  const ms: number[] = []
  for (let i = 0; i < count; i++) {
    await sleep(10 + Math.random() * 500)
    const before = performance.timeOrigin + performance.now()
    await enqueue(i)
    ms.push((await startedAt(i)) - before)
  }
  return ms
}

/** Start times reported by agents (`{ i, startedAt }` messages), awaited by job number. */
export class Stamps {
  readonly #seen = new Map<number, number>()
  readonly #waiting = new Map<number, (t: number) => void>()

  readonly record = (i: number, startedAt: number): void => {
    if (this.#seen.has(i)) return
    this.#seen.set(i, startedAt)
    this.#waiting.get(i)?.(startedAt)
  }

  startedAt = (i: number, timeoutMs = 30_000): Promise<number> => {
    const t = this.#seen.get(i)
    if (t !== undefined) return Promise.resolve(t)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`job ${i} did not start within ${timeoutMs} ms`)),
        timeoutMs,
      )
      this.#waiting.set(i, (at) => {
        clearTimeout(timer)
        resolve(at)
      })
    })
  }
}
