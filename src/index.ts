/**
 * Shepherd as a library: enqueue jobs, load and validate configs, or run the supervisor in-process.
 * @module
 */
export { loadConfigFile, loadConfigText, type LoadedConfig, validateConfigText } from './config/load.js'
export type { Config } from './config/schema.js'
export type { Job, JobState } from './core/job.js'
export { type Daemon, startDaemon } from './daemon.js'
export { type ErrorCode, isShepherdError, ShepherdError } from './errors.js'
export {
  type AddResult,
  checkQueueName,
  type EnqueueOptions,
  Queue,
  type QueueCounts,
} from './queue/queue.js'
