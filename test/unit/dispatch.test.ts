/**
 * The dispatch policy (src/core/dispatch.ts): how many of the due jobs each ready worker of a queue
 * is given in one turn, and which of them may take a suspect.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { averageJobMs, openings, prefetchAllowance, spreadJobs, type Taker } from '../../src/core/dispatch.js'

/** An idle worker of concurrency 1, never given a job, not prefetching. */
const idle: Taker = { inFlight: 0, concurrency: 1, prefetch: 0, lastGiven: 0, holdsSuspect: false }
const w = (o: Partial<Taker>): Taker => ({ ...idle, ...o })

const cases: Array<{ name: string; takers: Taker[]; due: number; take: number[] }> = [
  {
    name: 'one job among idle workers goes to the one given a job least recently',
    takers: [w({ lastGiven: 3 }), w({ lastGiven: 1 }), w({ lastGiven: 4 }), w({ lastGiven: 2 })],
    due: 1,
    take: [0, 1, 0, 0],
  },
  {
    name: 'a worker never given a job comes before any that was',
    takers: [w({ lastGiven: 1 }), w({ lastGiven: 0 })],
    due: 1,
    take: [0, 1],
  },
  {
    name: 'a tie in load and recency goes to the one listed first',
    takers: [w({}), w({}), w({})],
    due: 2,
    take: [1, 1, 0],
  },
  {
    name: 'the least loaded comes first, however recently it was given a job',
    takers: [w({ concurrency: 2, inFlight: 1, lastGiven: 1 }), w({ concurrency: 2, lastGiven: 9 })],
    due: 1,
    take: [0, 1],
  },
  {
    name: 'a burst is spread one job at a time: 2, 1, 1 and never 2, 2, 0',
    takers: [w({ concurrency: 2 }), w({ concurrency: 2 }), w({ concurrency: 2 })],
    due: 4,
    take: [2, 1, 1],
  },
  {
    name: 'loads are evened out before recency counts',
    takers: [
      w({ concurrency: 4, inFlight: 3 }),
      w({ concurrency: 4, inFlight: 1, lastGiven: 5 }),
      w({ concurrency: 4 }),
    ],
    due: 3,
    take: [0, 1, 2],
  },
  {
    name: 'a worker at its concurrency without prefetch gets nothing',
    takers: [w({ inFlight: 1 }), w({})],
    due: 2,
    take: [0, 1],
  },
  {
    name: 'everyone gets what it asks for when enough are due: at most half a batch ahead',
    takers: [w({ concurrency: 2 }), w({ concurrency: 2, inFlight: 1 }), w({ prefetch: 8 })],
    due: 100,
    take: [2, 1, 5],
  },
  {
    name: 'uncounted (Infinity): everyone gets what it asks for',
    takers: [w({ concurrency: 3, inFlight: 1 }), w({})],
    due: Infinity,
    take: [2, 1],
  },
  {
    name: 'nothing due: nothing given',
    takers: [w({}), w({ prefetch: 8 })],
    due: 0,
    take: [0, 0],
  },
  {
    name: 'prefetch only once every worker has its concurrency: 1, 1 and not 2, 0',
    takers: [w({ prefetch: 8 }), w({})],
    due: 2,
    take: [1, 1],
  },
  {
    name: 'prefetch is spread too, after concurrency',
    takers: [w({ prefetch: 8 }), w({ prefetch: 8 }), w({ prefetch: 8 })],
    due: 8,
    take: [3, 3, 2],
  },
  {
    name: 'what is left after concurrency goes to the workers that prefetch',
    takers: [w({ prefetch: 8 }), w({}), w({})],
    due: 6,
    take: [4, 1, 1],
  },
  {
    name: 'a full worker that prefetches asks again once half its batch is used',
    takers: [w({ prefetch: 8, inFlight: 6 }), w({ prefetch: 8, inFlight: 5 })],
    due: 10,
    take: [0, 4],
  },
  {
    name: 'a worker that holds a suspect gets nothing else, even with free slots',
    takers: [w({ concurrency: 4, inFlight: 1, holdsSuspect: true }), w({ concurrency: 4, inFlight: 2 })],
    due: 3,
    take: [0, 2],
  },
]

describe('the dispatch policy', () => {
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(
        spreadJobs(c.takers, c.due).map((s) => s.take),
        c.take,
      )
    })
  }

  it('lets only a worker that holds nothing take a suspect (alone), the others exclude them', () => {
    const shares = spreadJobs([w({}), w({ concurrency: 2, inFlight: 1 })], 2)
    assert.deepEqual(shares, [
      { take: 1, suspects: 'alone' },
      { take: 1, suspects: 'exclude' },
    ])
  })

  it('spreads a trickle evenly: each worker in turn', () => {
    const takers = [w({}), w({}), w({}), w({})]
    const given = [0, 0, 0, 0]
    for (let turn = 1; turn <= 100; turn++) {
      const shares = spreadJobs(takers, 1)
      const i = shares.findIndex((s) => s.take === 1)
      given[i]!++
      takers[i] = { ...takers[i]!, lastGiven: turn }
    }
    assert.deepEqual(given, [25, 25, 25, 25])
  })

  it('says how many jobs a worker asks for', () => {
    assert.equal(openings(w({ concurrency: 4, inFlight: 1 })), 3)
    assert.equal(openings(w({ inFlight: 1 })), 0)
    assert.equal(openings(w({ prefetch: 8 })), 5, 'with free slots: its concurrency and half a batch ahead')
    assert.equal(openings(w({ prefetch: 8, inFlight: 5 })), 4, 'the other half, while it runs the first')
    assert.equal(openings(w({ prefetch: 8, inFlight: 6 })), 0, 'less than half a batch: not yet')
    assert.equal(
      openings(w({ concurrency: 4, prefetch: 8, inFlight: 2 })),
      8,
      'one claim: at most its concurrency and half a batch',
    )
    assert.equal(openings(w({ concurrency: 4, holdsSuspect: true })), 0)
  })
})

describe('prefetch', () => {
  it('applies to short jobs only: under 50 ms on average, a batch of at least 8', () => {
    assert.equal(prefetchAllowance(null, 1), 0, 'no job seen yet')
    assert.equal(prefetchAllowance(49, 1), 8)
    assert.equal(prefetchAllowance(49, 32), 33)
    assert.equal(prefetchAllowance(50, 1), 0)
  })

  it("covers about 50 ms of the worker's work ahead: hundreds of tiny jobs, at most 1,024", () => {
    assert.equal(prefetchAllowance(10, 1), 8, '5 jobs cover 50 ms: still a batch of 8')
    assert.equal(prefetchAllowance(5, 8), 80, '8 at a time, 5 ms each')
    assert.equal(prefetchAllowance(1, 8), 400, '8 at a time, 1 ms each')
    assert.equal(prefetchAllowance(0.1, 8), 1024, '4,000 would cover 50 ms: capped')
    assert.equal(prefetchAllowance(0, 1), 1024, 'a no-op handler (0 ms, taken as 0.01 ms)')
  })

  it('follows the recent job times, one slow job not switching it off alone', () => {
    let avg = averageJobMs(null, 10)
    assert.equal(avg, 10)
    avg = averageJobMs(avg, 200)
    assert.equal(avg, 48)
    assert.equal(prefetchAllowance(avg, 1), 8)
    assert.equal(prefetchAllowance(averageJobMs(avg, 200), 1), 0)
  })
})
