/**
 * A dead or cut-off agent's jobs, put back in the queue by the fleet's leader once its lease lapsed
 * (`JobStore.reclaimLapsed`), and the `job:reclaimed` event that says so. The leader looks at every
 * look of its chores (a tenth of the lease), which reads the jobs only when it ended a lease, and
 * sweeps once a lease for what a look left behind.
 * @module
 */
import type { AnyEvent } from '../core/events.js'
import type { JobStore, ReclaimScope } from '../ports/job-store.js'

/**
 * Reclaims (see JobStore.reclaimLapsed for `scope`) and records one `job:reclaimed` for what it put
 * back, if anything. Returns how many jobs, by node. Safe to run twice, and a look and a sweep at
 * once: a job is put back by one of them (the other skips or no longer finds it).
 */
export async function reclaimLapsedJobs(o: {
  jobs: Pick<JobStore, 'reclaimLapsed'>
  now: number
  scope: ReclaimScope
  record: (event: AnyEvent) => void
}): Promise<ReadonlyMap<string, number>> {
  const byNode = await o.jobs.reclaimLapsed(o.now, o.scope)
  if (byNode.size === 0) return byNode
  const count = [...byNode.values()].reduce((a, b) => a + b, 0)
  o.record({
    type: 'job:reclaimed',
    at: o.now,
    severity: 'warning',
    message: `put back in the queue ${count} job(s) held by agents whose lease lapsed: ${[...byNode].map(([n, c]) => `${n} (${c})`).join(', ')}`,
    pool: null,
    workerId: null,
    incidentId: null,
    data: { count, nodes: Object.fromEntries(byNode) },
  })
  return byNode
}
