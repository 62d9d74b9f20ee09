// A graphile-worker agent for bench/fleet.ts: one runner with the settings of graphile-worker's own
// performance page (local queue of 500, completions batched), running a no-op task. It says
// 'ready' once running, sends the start time of each job when BENCH_STAMP is set (the latency
// part), and on 'stop' stops, reports how many jobs it ran and when the last one ended, and exits.
import { Logger, run } from 'graphile-worker'

const concurrency = Number(process.env.BENCH_CONCURRENCY)
const stamp = process.env.BENCH_STAMP === '1'
let ran = 0
let last = null
const runner = await run({
  noHandleSignals: true,
  logger: new Logger(() => () => undefined),
  taskList: {
    noop: async (payload) => {
      if (ran++ === 0) process.send({ first: performance.timeOrigin + performance.now() })
      if (stamp) process.send({ i: payload.i, startedAt: performance.timeOrigin + performance.now() })
      last = performance.timeOrigin + performance.now()
    },
  },
  preset: {
    worker: {
      connectionString: process.env.BENCH_DATABASE_URL,
      concurrentJobs: concurrency,
      maxPoolSize: Number(process.env.BENCH_POOL_SIZE),
      localQueue: { size: 500 },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
    },
  },
})
process.on('message', async (m) => {
  if (m !== 'stop') return
  await runner.stop()
  process.send({ ran, last }, () => process.exit(0))
})
process.send('ready')
