/**
 * The recovery flow of the plan as an explicit state machine. An incident is one recovery of one
 * worker, from detection to `recovered`, `escalated` or `interrupted`.
 *
 * ```
 * open ─> saving ─state-saved─> [backoff ─elapsed─>] attempt
 * attempt (soft_restart | hard_restart):
 *     stopping ─stopped─> starting ─started─> restoring ─restored─> verifying ─ready─> recovered
 * attempt (scale_recovery):
 *     starting (surge) ─started─> restoring ─restored─> verifying ─ready─> retiring ─retired─> recovered
 * verifying ─verify-failed─> backoff ─elapsed─> next attempt (strategies.emergency)   (attempt < max)
 *                          └─> escalated                                           (attempt = max)
 * starting ─start-failed─> as verify-failed
 * any attempt start over the worker's restart budget ─> escalated
 * any non-final phase ─interrupt─> interrupted (its supervisor stopped mid-flow, or its agent died)
 * ```
 *
 * The machine never acts: `openIncident` and `advance` return the next incident and the effects the
 * daemon must carry out; the daemon feeds each effect's outcome back as the next input. Every
 * input becomes a timestamped step in the incident's timeline.
 * @module
 */
import { type ExitReport } from './exit-report.js'
import {
  type AnomalyCause,
  type AnomalySeverity,
  backoffDelay,
  type BackoffSettings,
  chooseStrategy,
  restartBudgetExhausted,
  type RestartLimit,
  severityOf,
  type StrategyChoice,
} from './restart-policy.js'
import type { Strategy } from './strategy.js'

export const INCIDENT_PHASES = {
  saving: 'saving what is known about the worker (logs, last health report, exit, checkpoint)',
  backoff: 'waiting before the next attempt',
  stopping: 'stopping the sick worker',
  starting: 'starting a replacement',
  restoring: 'handing saved state to the replacement',
  verifying: 'waiting for the replacement to be ready',
  retiring: 'retiring the sick worker after its replacement is ready (scale recovery)',
  recovered: 'recovered',
  escalated: 'escalated: retries or restart budget exhausted',
  interrupted: 'interrupted: its supervisor stopped, or its agent died, during the recovery',
} as const

export type IncidentPhase = keyof typeof INCIDENT_PHASES
export type IncidentOutcome = 'recovered' | 'escalated' | 'interrupted'

const FINAL: ReadonlySet<IncidentPhase> = new Set(['recovered', 'escalated', 'interrupted'])

export function isFinal(phase: IncidentPhase): boolean {
  return FINAL.has(phase)
}

export interface IncidentStep {
  at: number
  step: string
  detail: string
}

export interface Incident {
  id: string
  workerId: string
  pool: string
  /**
   * The agent whose supervisor recovers the worker: its node name (`node.name`, `SHEPHERD_NODE` or
   * the host name). Null for incidents stored before nodes were recorded.
   */
  node: string | null
  cause: AnomalyCause
  severity: AnomalySeverity
  /** What was wrong, in a sentence. */
  detail: string
  /** Strategy of the current (or last) attempt. */
  strategy: Strategy
  /** Strategy the incident started with (the one people asked about). */
  firstStrategy: Strategy
  /** 1-based; 0 while saving state before the first attempt. */
  attempt: number
  maxAttempts: number
  phase: IncidentPhase
  outcome: IncidentOutcome | null
  /** Why it escalated, when it did. */
  escalationReason: string | null
  detectedAt: number
  recoveredAt: number | null
  endedAt: number | null
  /** pid of the sick process, and of the one that replaced it. */
  oldPid: number | null
  newPid: number | null
  /** How the sick process ended, once it has. */
  exit: ExitReport | null
  /**
   * For a hang, or a process stopped or in uninterruptible sleep: how long it had shown no sign of
   * health when detected (an upper bound of the time from the fault to its detection); null
   * otherwise. Absent from incidents stored before it existed.
   */
  silentMs?: number | null
  manual: boolean
  timeline: IncidentStep[]
}

export interface IncidentPolicy {
  strategies: StrategyChoice
  max_retries: number
  backoff: BackoffSettings
  restart_limit: RestartLimit
  verify_timeout: number
}

/** The world as the machine needs to know it at one input. */
export interface IncidentContext {
  now: number
  policy: IncidentPolicy
  random: () => number
  /** Restart times of this worker since it last ran for stable_after, for the restart budget. */
  restartTimes: readonly number[]
  /** Restarts of this worker since it was last stable, before this incident. */
  consecutiveRestarts: number
}

export type IncidentEffect =
  | { kind: 'save-state' }
  | { kind: 'wait'; ms: number }
  | { kind: 'stop'; mode: 'graceful' | 'hard' }
  | { kind: 'start'; surge: boolean }
  | { kind: 'restore-state' }
  | { kind: 'verify'; timeoutMs: number }
  | { kind: 'retire'; mode: 'graceful' | 'hard' }
  | { kind: 'escalate'; reason: string }
  | { kind: 'recovered' }

export type IncidentInput =
  | { type: 'state-saved'; detail: string }
  | { type: 'backoff-elapsed' }
  | { type: 'stopped'; exit: ExitReport }
  | { type: 'started'; pid: number; spare: boolean }
  | { type: 'start-failed'; error: string }
  | { type: 'restored'; detail: string }
  | { type: 'ready'; how: string }
  | { type: 'verify-failed'; reason: string }
  | { type: 'retired'; exit: ExitReport | null }
  | { type: 'interrupt'; reason: string }

export interface Transition {
  incident: Incident
  effects: IncidentEffect[]
}

export interface OpenIncidentParams {
  id: string
  workerId: string
  pool: string
  /** {@link Incident.node}; default null. */
  node?: string | null
  cause: AnomalyCause
  detail: string
  pid: number | null
  exit?: ExitReport | null
  /** {@link Incident.silentMs}. */
  silentMs?: number | null
  /** A manual restart names its strategy. */
  strategy?: Strategy
  manual?: boolean
}

export function openIncident(p: OpenIncidentParams, ctx: IncidentContext): Transition {
  const strategy = chooseStrategy(p.cause, 1, ctx.policy.strategies, p.strategy)
  const severity = p.cause === 'manual' && p.strategy === 'hard_restart' ? 'severe' : severityOf(p.cause)
  const incident: Incident = {
    id: p.id,
    workerId: p.workerId,
    pool: p.pool,
    node: p.node ?? null,
    cause: p.cause,
    severity,
    detail: p.detail,
    strategy,
    firstStrategy: strategy,
    attempt: 0,
    maxAttempts: 1 + ctx.policy.max_retries,
    phase: 'saving',
    outcome: null,
    escalationReason: null,
    detectedAt: ctx.now,
    recoveredAt: null,
    endedAt: null,
    oldPid: p.pid,
    newPid: null,
    exit: p.exit ?? null,
    silentMs: p.silentMs ?? null,
    manual: p.manual ?? false,
    timeline: [{ at: ctx.now, step: 'detected', detail: `${p.cause} (${severity}): ${p.detail}` }],
  }
  return { incident, effects: [{ kind: 'save-state' }] }
}

/**
 * Closes an incident whose recovery nobody carries on as `interrupted`, its last step saying why:
 * its supervisor stopped, restarted, or (in a fleet) died with its lease. An incident that is over
 * is returned as it is. The one way an incident is interrupted: {@link advance} on an `interrupt`
 * input, a supervisor's start for its own leftovers, and the fleet's leader for a dead agent's.
 */
export function interruptIncident(inc: Incident, now: number, reason: string): Incident {
  if (isFinal(inc.phase)) return inc
  return finish(inc, now, 'interrupted', 'interrupted', reason).incident
}

/** Applies one input. An input that does not fit the current phase is recorded and ignored. */
export function advance(inc: Incident, input: IncidentInput, ctx: IncidentContext): Transition {
  if (isFinal(inc.phase)) return { incident: inc, effects: [] }
  if (input.type === 'interrupt')
    return { incident: interruptIncident(inc, ctx.now, input.reason), effects: [] }
  switch (inc.phase) {
    case 'saving':
      if (input.type !== 'state-saved') return ignored(inc, input, ctx.now)
      return waitOrBegin(step(inc, ctx.now, 'state-saved', input.detail), ctx, ctx.consecutiveRestarts)
    case 'backoff':
      if (input.type !== 'backoff-elapsed') return ignored(inc, input, ctx.now)
      return beginAttempt(step(inc, ctx.now, 'backoff-elapsed', 'waited; trying again'), ctx)
    case 'stopping':
      if (input.type !== 'stopped') return ignored(inc, input, ctx.now)
      return startReplacement(
        withExit(step(inc, ctx.now, 'stopped', describeStop(input.exit)), input.exit),
        ctx,
        false,
      )
    case 'starting':
      if (input.type === 'started') {
        const next = step(
          { ...inc, newPid: input.pid },
          ctx.now,
          'started',
          input.spare ? `warm spare pid ${input.pid} took the place` : `pid ${input.pid}`,
        )
        return { incident: { ...next, phase: 'restoring' }, effects: [{ kind: 'restore-state' }] }
      }
      if (input.type === 'start-failed')
        return attemptFailed(step(inc, ctx.now, 'start-failed', input.error), ctx)
      return ignored(inc, input, ctx.now)
    case 'restoring':
      if (input.type !== 'restored') return ignored(inc, input, ctx.now)
      return {
        incident: { ...step(inc, ctx.now, 'state-restored', input.detail), phase: 'verifying' },
        effects: [{ kind: 'verify', timeoutMs: ctx.policy.verify_timeout }],
      }
    case 'verifying':
      if (input.type === 'ready') {
        const next = step(inc, ctx.now, 'ready', input.how)
        if (inc.strategy === 'scale_recovery') {
          return { incident: { ...next, phase: 'retiring' }, effects: [{ kind: 'retire', mode: 'graceful' }] }
        }
        return finish(next, ctx.now, 'recovered', 'recovered', `in ${ctx.now - inc.detectedAt} ms`)
      }
      if (input.type === 'verify-failed')
        return attemptFailed(step(inc, ctx.now, 'verify-failed', input.reason), ctx)
      return ignored(inc, input, ctx.now)
    case 'retiring': {
      if (input.type !== 'retired') return ignored(inc, input, ctx.now)
      const detail = input.exit ? describeStop(input.exit) : 'the sick worker had already exited'
      const next = step(input.exit ? withExit(inc, input.exit) : inc, ctx.now, 'retired', detail)
      return finish(next, ctx.now, 'recovered', 'recovered', `in ${ctx.now - inc.detectedAt} ms`)
    }
    default:
      return assertNever(inc.phase as never)
  }
}

function waitOrBegin(inc: Incident, ctx: IncidentContext, consecutive: number): Transition {
  const delay = backoffDelay(consecutive, ctx.policy.backoff, ctx.random)
  if (delay <= 0) return beginAttempt(inc, ctx)
  const next = step(
    inc,
    ctx.now,
    'backoff',
    `waiting ${delay} ms (restart ${consecutive + 1} since the worker was last stable)`,
  )
  return { incident: { ...next, phase: 'backoff' }, effects: [{ kind: 'wait', ms: delay }] }
}

function beginAttempt(inc: Incident, ctx: IncidentContext): Transition {
  const attempt = inc.attempt + 1
  const strategy =
    attempt === 1 ? inc.firstStrategy : chooseStrategy(inc.cause, attempt, ctx.policy.strategies)
  const next = step(
    { ...inc, attempt, strategy },
    ctx.now,
    'attempt',
    `attempt ${attempt} of ${inc.maxAttempts}: ${strategy}`,
  )
  switch (strategy) {
    case 'soft_restart':
      return { incident: { ...next, phase: 'stopping' }, effects: [{ kind: 'stop', mode: 'graceful' }] }
    case 'hard_restart':
      return { incident: { ...next, phase: 'stopping' }, effects: [{ kind: 'stop', mode: 'hard' }] }
    case 'scale_recovery':
      return startReplacement(next, ctx, true)
    default:
      return assertNever(strategy)
  }
}

function startReplacement(inc: Incident, ctx: IncidentContext, surge: boolean): Transition {
  const { restart_limit } = ctx.policy
  if (restartBudgetExhausted(ctx.restartTimes, ctx.now, restart_limit)) {
    return escalate(
      inc,
      ctx.now,
      `${inc.workerId} restarted ${restart_limit.max} times within ${restart_limit.window} ms without running stable_after (restart_limit)`,
    )
  }
  return { incident: { ...inc, phase: 'starting' }, effects: [{ kind: 'start', surge }] }
}

function attemptFailed(inc: Incident, ctx: IncidentContext): Transition {
  if (inc.attempt >= inc.maxAttempts) {
    return escalate(inc, ctx.now, `not recovered after ${inc.attempt} attempt${inc.attempt === 1 ? '' : 's'}`)
  }
  // Every attempt so far was a restart that did not hold: back off further each time.
  return waitOrBegin(inc, ctx, ctx.consecutiveRestarts + inc.attempt)
}

function escalate(inc: Incident, now: number, reason: string): Transition {
  const t = finish({ ...inc, escalationReason: reason }, now, 'escalated', 'escalated', reason)
  return { incident: t.incident, effects: [{ kind: 'escalate', reason }] }
}

function finish(
  inc: Incident,
  now: number,
  phase: 'recovered' | 'escalated' | 'interrupted',
  stepName: string,
  detail: string,
): Transition {
  const next = step(inc, now, stepName, detail)
  const incident: Incident = {
    ...next,
    phase,
    outcome: phase,
    endedAt: now,
    recoveredAt: phase === 'recovered' ? now : null,
  }
  return { incident, effects: phase === 'recovered' ? [{ kind: 'recovered' }] : [] }
}

function step(inc: Incident, at: number, name: string, detail: string): Incident {
  return { ...inc, timeline: [...inc.timeline, { at, step: name, detail }] }
}

function withExit(inc: Incident, exit: ExitReport): Incident {
  // The first exit seen is the sick process's; later ones are failed replacements.
  return inc.exit ? inc : { ...inc, exit }
}

function ignored(inc: Incident, input: IncidentInput, now: number): Transition {
  return { incident: step(inc, now, 'ignored', `${input.type} while ${inc.phase}`), effects: [] }
}

function describeStop(exit: ExitReport): string {
  const how = exit.signal ? `ended by ${exit.signal}` : `exit code ${exit.exitCode ?? '?'}`
  return `pid ${exit.pid} ${how}${exit.forced ? ', forced with SIGKILL after the stop timeout' : ''}`
}

/** Duration of an incident so far, or in total. */
export function incidentDuration(inc: Incident, now: number): number {
  return Math.max(0, (inc.endedAt ?? now) - inc.detectedAt)
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${String(x)}`)
}
