// A pg-boss agent for bench/fleet.ts: one PgBoss instance with one polling worker that fetches up to
// BENCH_CONCURRENCY jobs at a time (so at most that many are in this process's hands, as with the
// other systems) every half second (the least pg-boss allows), and does nothing with them. It says
// 'ready' once working, sends the start time of each job when BENCH_STAMP is set (the latency
// part), and on 'stop' stops, reports how many jobs it ran and when the last one ended, and exits.
import PgBoss from 'pg-boss'

const stamp = process.env.BENCH_STAMP === '1'
let ran = 0
let last = null
const boss = new PgBoss({ connectionString: process.env.BENCH_DATABASE_URL, schedule: false, migrate: false })
boss.on('error', (e) => console.error(e))
await boss.start()
await boss.work(
  'q',
  { batchSize: Number(process.env.BENCH_CONCURRENCY), pollingIntervalSeconds: 0.5 },
  async (jobs) => {
    const startedAt = performance.timeOrigin + performance.now()
    if (ran === 0) process.send({ first: startedAt })
    ran += jobs.length
    if (stamp) for (const job of jobs) process.send({ i: job.data.i, startedAt })
    last = performance.timeOrigin + performance.now()
  },
)
process.on('message', async (m) => {
  if (m !== 'stop') return
  await boss.stop({ graceful: true, wait: true, timeout: 10_000 })
  process.send({ ran, last }, () => process.exit(0))
})
process.send('ready')
