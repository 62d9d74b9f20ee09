/**
 * How slots and spares are shown to the API and the CLI (the WorkerView shape of view.ts).
 * @module
 */
import { describeExit } from '../core/exit-report.js'
import { deadReport, recentRestartTimes } from '../core/health.js'
import type { PoolRuntime, Slot, Spare } from './pool-runtime.js'
import type { WorkerView } from './view.js'

export function viewSlot(slot: Slot, now: number): WorkerView {
  const wp = slot.status.proc?.alive ? slot.status.proc : null
  const report = slot.report
  const exit = slot.lastExit
  return {
    id: slot.id,
    pool: slot.pool.cfg.name,
    pid: wp?.pid ?? null,
    state: slot.status.state,
    role: 'worker',
    healthScore: wp ? (report?.score ?? 100) : 0,
    verdict: wp ? (report?.verdict ?? 'healthy') : 'unhealthy',
    worst: wp ? (report?.worst ?? null) : 'alive',
    worstDetail: wp
      ? (report?.indicators.find((i) => i.name === report.worst)?.detail ?? null)
      : exit
        ? describeExit(exit)
        : 'no process',
    restarts: slot.restarts,
    recentRestarts: recentRestartTimes(slot.recentRestarts, now).length,
    cpuSeconds: slot.cpuSeconds,
    startedAt: wp?.startedAt ?? null,
    uptimeMs: wp ? now - wp.startedAt : null,
    incidentId: slot.status.incident?.id ?? null,
    lastExit: exit ? { exitCode: exit.exitCode, signal: exit.signal, at: exit.at } : null,
    sdk: wp?.sdk ?? false,
    report: wp ? report : deadReport(now, slot.status.state),
  }
}

export function viewSpare(pool: PoolRuntime, spare: Spare, now: number): WorkerView {
  const wp = spare.proc
  const report = spare.report
  return {
    id: spare.id,
    pool: pool.cfg.name,
    pid: wp.pid,
    state: wp.readyAt === null ? 'starting' : 'ready',
    role: 'spare',
    healthScore: report?.score ?? 100,
    verdict: report?.verdict ?? 'healthy',
    worst: report?.worst ?? null,
    worstDetail: report?.indicators.find((i) => i.name === report.worst)?.detail ?? null,
    restarts: 0,
    recentRestarts: 0,
    cpuSeconds: spare.cpuSeconds,
    startedAt: wp.startedAt,
    uptimeMs: now - wp.startedAt,
    incidentId: null,
    lastExit: null,
    sdk: wp.sdk,
    report,
  }
}
