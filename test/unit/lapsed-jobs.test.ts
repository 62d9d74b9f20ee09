/**
 * The leader's reclaim of lapsed agents' jobs (src/store/lapsed-jobs.ts): the scope passed on to
 * the store, and one `job:reclaimed` for what came back, none for nothing.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { AnyEvent } from '../../src/core/events.js'
import type { ReclaimScope } from '../../src/ports/job-store.js'
import { reclaimLapsedJobs } from '../../src/store/lapsed-jobs.js'

const T0 = 1_700_000_000_000

function storeAnswering(byNode: Map<string, number>) {
  const asked: Array<[number, string]> = []
  return {
    asked,
    jobs: {
      reclaimLapsed: async (now: number, scope: ReclaimScope) => {
        asked.push([now, scope])
        return byNode
      },
    },
  }
}

describe('reclaimLapsedJobs', () => {
  it('records one job:reclaimed with the count by node', async () => {
    const { jobs, asked } = storeAnswering(
      new Map([
        ['agent-1', 3],
        ['agent-2', 1],
      ]),
    )
    const events: AnyEvent[] = []
    const byNode = await reclaimLapsedJobs({ jobs, now: T0, scope: 'look', record: (e) => events.push(e) })
    assert.deepEqual(asked, [[T0, 'look']])
    assert.equal(byNode.size, 2)
    assert.equal(events.length, 1)
    const [e] = events
    assert.equal(e?.type, 'job:reclaimed')
    assert.equal(e?.severity, 'warning')
    assert.deepEqual(e?.data, { count: 4, nodes: { 'agent-1': 3, 'agent-2': 1 } })
    assert.match(e?.message ?? '', /4 job\(s\) .*agent-1 \(3\), agent-2 \(1\)/)
  })

  it('records nothing when nothing came back, and passes the sweep on', async () => {
    const { jobs, asked } = storeAnswering(new Map())
    const events: AnyEvent[] = []
    await reclaimLapsedJobs({ jobs, now: T0 + 1, scope: 'sweep', record: (e) => events.push(e) })
    assert.deepEqual(asked, [[T0 + 1, 'sweep']])
    assert.deepEqual(events, [])
  })
})
