/**
 * A process exit is data, not an exception (after execa's result flags).
 * @module
 */
export interface ExitReport {
  pid: number
  /** Exit code, or null when a signal ended the process. */
  exitCode: number | null
  /** The signal that ended the process, or null. */
  signal: string | null
  /** Shepherd asked it to stop (a recovery, a scale-in, or shutdown). */
  killedByUs: boolean
  /** It had to be SIGKILLed after ignoring SIGTERM past the stop timeout. */
  forced: boolean
  /** It could not be started at all (e.g. ENOENT); `error` says why. */
  spawnFailed: boolean
  error?: string
  /** Epoch ms when the exit was observed. */
  at: number
  /** How long the process ran. */
  durationMs: number
}

export function describeExit(e: ExitReport): string {
  if (e.spawnFailed) return `could not start: ${e.error ?? 'unknown error'}`
  const how = e.signal ? `killed by ${e.signal}` : `exited with code ${e.exitCode ?? '?'}`
  return `${how}${e.forced ? ' (forced after the stop timeout)' : ''}${e.killedByUs ? ' (stopped by Shepherd)' : ''}`
}
