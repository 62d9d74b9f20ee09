// Demo job worker (queue "mail"): sends each job's emails one by one, checkpointing as it goes.
// Now and then it crashes mid-job; the job goes back to the queue at once and its next delivery
// resumes from the checkpoint. A job marked poison crashes every worker it meets: after three
// crashes Shepherd quarantines it instead of letting it take workers down forever.
import { work, workerId } from 'shepherd/worker'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

work(async (job, ctx) => {
  const { to = [], poison = false } = job.payload
  if (poison) {
    ctx.logger.error(`poison job ${job.id} takes ${workerId} down (delivery ${job.delivery})`)
    process.exit(134)
  }
  const start = ctx.restoredState?.sent ?? 0
  if (start > 0) ctx.logger.info(`resuming at email ${start + 1} of ${to.length} (delivery ${job.delivery})`)
  for (let i = start; i < to.length; i++) {
    await sleep(30 + Math.random() * 70)
    if (Math.random() < 0.0005) {
      ctx.logger.error(`${workerId} crashes while sending to ${to[i]}`)
      process.exit(1)
    }
    ctx.checkpoint({ sent: i + 1 })
  }
  return { sent: to.length }
})
