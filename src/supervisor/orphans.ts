/**
 * Stops worker processes a dead supervisor left behind. Each record names a process by pid and
 * start time, so a pid the kernel has since given to another program is never touched.
 * @module
 */
import type { ProcPort } from '../ports/process.js'
import type { WorkerProcessRecord } from '../ports/store.js'

/** The supervisor's time, for the grace period. */
export interface OrphanTime {
  now(): number
  sleep(ms: number): Promise<void>
}

/** How often a stopping orphan is looked for again. */
const POLL_MS = 20

/**
 * SIGTERM (and SIGCONT) to each orphan's process group, then SIGKILL to the groups still there
 * after `graceMs`. Returns the orphans that were found running.
 */
export async function stopOrphans(
  records: readonly WorkerProcessRecord[],
  port: Pick<ProcPort, 'readStartTicks' | 'signalGroup'>,
  graceMs: number,
  time: OrphanTime,
): Promise<WorkerProcessRecord[]> {
  const running = records.filter((r) => port.readStartTicks(r.pid) === r.startTicks)
  for (const r of running) {
    port.signalGroup(r.pid, 'SIGTERM')
    port.signalGroup(r.pid, 'SIGCONT')
  }
  const deadline = time.now() + graceMs
  let left = running
  while (left.length > 0 && time.now() < deadline) {
    await time.sleep(POLL_MS)
    left = left.filter((r) => port.readStartTicks(r.pid) === r.startTicks)
  }
  for (const r of left) port.signalGroup(r.pid, 'SIGKILL')
  return running
}
