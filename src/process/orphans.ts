/**
 * Stops worker processes a dead supervisor left behind. Each record names a process by pid and
 * start time, so a pid the kernel has since given to another program is never touched.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises'

import type { WorkerProcessRecord } from '../store/store.js'

export interface OrphanPort {
  /** Start ticks of the live process with this pid, or null when there is none. */
  readStartTicks(pid: number): number | null
}

/**
 * SIGTERM (and SIGCONT) to each orphan's process group, then SIGKILL to the groups still there
 * after `graceMs`. Returns the orphans that were found running.
 */
export async function stopOrphans(
  records: readonly WorkerProcessRecord[],
  port: OrphanPort,
  graceMs: number,
): Promise<WorkerProcessRecord[]> {
  const running = records.filter((r) => port.readStartTicks(r.pid) === r.startTicks)
  for (const r of running) {
    signalGroup(r.pid, 'SIGTERM')
    signalGroup(r.pid, 'SIGCONT')
  }
  const deadline = Date.now() + graceMs
  let left = running
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(20)
    left = left.filter((r) => port.readStartTicks(r.pid) === r.startTicks)
  }
  for (const r of left) signalGroup(r.pid, 'SIGKILL')
  return running
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // Gone already, or no group of that id: nothing to stop.
  }
}
