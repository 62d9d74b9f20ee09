// For the redelivery benchmark: the first delivery of a job holds on (it is about to lose its
// worker); a later one returns at once, saying when it started (epoch ms).
import { work } from 'shepherd/worker'
work(async (job) => {
  const startedAt = performance.timeOrigin + performance.now()
  if (job.delivery === 1) await new Promise((r) => setTimeout(r, 60_000))
  return { startedAt }
})
