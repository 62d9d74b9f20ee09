// A BullMQ worker process for the comparison: does nothing with its jobs, as noop-jobs.mjs.
import { Worker } from 'bullmq'
const worker = new Worker(process.env.BULL_QUEUE, async () => undefined, {
  connection: { host: '127.0.0.1', port: 6379 },
  concurrency: Number(process.env.BULL_CONCURRENCY),
})
await worker.waitUntilReady()
process.send('ready')
