/**
 * One turn's claims: the dispatch policy (core/dispatch.ts) applied to the ready workers of each
 * queue, written as the JobStore's claim requests; and, once they are answered, which queues ran
 * dry.
 * @module
 */
import { openings, spreadJobs } from '../core/dispatch.js'
import type { Delivery } from '../core/job.js'
import type { ClaimRequest } from '../ports/job-store.js'
import type { JobWorker, Subscription } from './subscription.js'

/** A claim for one worker. */
export interface Claim<W extends JobWorker> {
  sub: Subscription<W>
  request: ClaimRequest
}

export interface ClaimPlan<W extends JobWorker> {
  /** One per worker given jobs this turn. */
  claims: Claim<W>[]
  /** How many jobs the workers of each queue asked for, all told. */
  asked: Map<string, number>
}

/**
 * The claims of one turn for `subs` (the workers that may take jobs now). The due jobs of a queue
 * are counted (up to what its workers ask for) only when more than one worker asks: one worker
 * alone is given all it asks for, and the store answers with what there is.
 */
export async function planClaims<W extends JobWorker>(
  subs: Iterable<Subscription<W>>,
  countDue: (queue: string, atMost: number) => Promise<number>,
): Promise<ClaimPlan<W>> {
  const byQueue = new Map<string, Subscription<W>[]>()
  for (const sub of subs) {
    const list = byQueue.get(sub.queue)
    if (list) list.push(sub)
    else byQueue.set(sub.queue, [sub])
  }
  const claims: Claim<W>[] = []
  const asked = new Map<string, number>()
  for (const [queue, list] of byQueue) {
    const takers = list.map((s) => s.taker())
    const open = takers.map(openings)
    const total = open.reduce((a, b) => a + b, 0)
    if (total === 0) continue
    asked.set(queue, total)
    const askers = open.filter((n) => n > 0).length
    const due = askers > 1 ? await countDue(queue, total) : total
    spreadJobs(takers, due).forEach(({ take, suspects }, i) => {
      const sub = list[i]!
      if (take > 0)
        claims.push({ sub, request: { queue, limit: take, worker: sub.worker.currentId, suspects } })
    })
  }
  return { claims, asked }
}

/** The queues whose workers were given fewer jobs than they asked for: nothing more is due there now. */
export function starvedQueues<W extends JobWorker>(plan: ClaimPlan<W>, claimed: Delivery[][]): Set<string> {
  const given = new Map<string, number>()
  plan.claims.forEach(({ request }, i) =>
    given.set(request.queue, (given.get(request.queue) ?? 0) + claimed[i]!.length),
  )
  const starved = new Set<string>()
  for (const [queue, n] of plan.asked) if ((given.get(queue) ?? 0) < n) starved.add(queue)
  return starved
}
