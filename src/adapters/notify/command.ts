/**
 * A command event hook: runs a program once per event, without a shell, with the event on stdin.
 * It is a {@link Notifier} like Slack and webhooks, so the dispatcher gives it the same queue,
 * timeout, retries and rate limits; only the transport differs.
 * @module
 */
import type { AnyEvent, EventSeverity } from '../../core/events.js'
import { type DeliveryContext, DeliveryError, Destination } from '../../notify/notifier.js'
import { describeSpawnFailure, runCommand } from '../process/run-command.js'
import { webhookPayload } from './webhook.js'

/**
 * Characters of a failed command's stderr kept in the error message: enough for the line that
 * explains it, short enough for a log line and a `notifier:failed` event.
 */
const STDERR_SNIPPET_CHARS = 200

/** Options of {@link CommandNotifier}. */
export interface CommandNotifierOptions {
  /** Unique among notifiers; logs and `notifier:failed` events name the hook by it. */
  name: string
  /** Executable, found on PATH or relative to `cwd`. Never run through a shell. */
  command: string
  /** Its arguments, passed as they are. @defaultValue [] */
  args?: readonly string[]
  /** Working directory: the config file's directory. */
  cwd: string
  /**
   * The environment the command starts from; the SHEPHERD_EVENT_* variables are added to it.
   * @defaultValue process.env
   */
  env?: Record<string, string | undefined>
  /** @defaultValue 'info' */
  minSeverity?: EventSeverity
  /** Event types taken: `*`, types, prefixes such as `incident:`. */
  events: readonly string[]
  /** @defaultValue `notifications.rate_limit` */
  rateLimit?: { max: number; window: number }
  /** @defaultValue `notifications.dedup_window` */
  dedupWindow?: number
  /** @defaultValue `notifications.timeout` */
  timeoutMs?: number
}

/**
 * The variables a hook command gets besides its inherited environment. Empty ones are left out, so
 * a script can test `[ -n "$SHEPHERD_WORKER_ID" ]`.
 */
export function hookEnv(event: AnyEvent): Record<string, string> {
  const env: Record<string, string> = {
    SHEPHERD_EVENT_TYPE: event.type,
    SHEPHERD_EVENT_SEVERITY: event.severity,
  }
  if (event.workerId !== null) env.SHEPHERD_WORKER_ID = event.workerId
  if (event.pool !== null) env.SHEPHERD_POOL = event.pool
  if (event.incidentId !== null) env.SHEPHERD_INCIDENT_ID = event.incidentId
  return env
}

/**
 * Runs `command args…` per event with the webhook body ({@link webhookPayload}) as one line of JSON
 * on stdin. Exit 0 delivers. Any other exit, or death by a signal, is a retryable failure; a
 * command that cannot be started (not found, not executable) is not retried, as nothing will
 * change until the config does. On timeout or shutdown the command's whole process group is
 * killed, so a hook that forks cannot outlive its delivery.
 */
export class CommandNotifier extends Destination {
  readonly #command: string
  readonly #args: readonly string[]
  readonly #cwd: string
  readonly #env: Record<string, string | undefined>

  constructor(o: CommandNotifierOptions) {
    super(o, 'info')
    this.#command = o.command
    this.#args = o.args ?? []
    this.#cwd = o.cwd
    this.#env = o.env ?? process.env
  }

  /** Runs the command for one event; rejects with a DeliveryError that says whether to retry. */
  async deliver(event: AnyEvent, ctx: DeliveryContext, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new DeliveryError('aborted', { retryable: false })
    const r = await runCommand({
      command: this.#command,
      args: this.#args,
      cwd: this.#cwd,
      env: { ...this.#env, ...hookEnv(event) },
      input: `${JSON.stringify(webhookPayload(event, ctx))}\n`,
      signal,
      // Keep the end: the explanation is usually the last thing a failing program prints.
      stderr: { keep: 'tail', chars: 4 * STDERR_SNIPPET_CHARS },
    })
    switch (r.kind) {
      case 'not-started':
        throw new DeliveryError(`cannot run the hook "${this.#command}": ${describeSpawnFailure(r.error)}`, {
          retryable: false,
          cause: r.error,
        })
      case 'stopped':
        throw new DeliveryError('the hook was stopped (timeout or shutdown)', { retryable: true })
      case 'exited': {
        if (r.code === 0) return
        const said = snippet(r.stderr)
        const how = r.signal !== null ? `was killed by ${r.signal}` : `exited with code ${String(r.code)}`
        throw new DeliveryError(`the hook ${how}${said ? `: ${said}` : ''}`, { retryable: true })
      }
    }
  }
}

function snippet(stderr: string): string {
  const lines = stderr.trim().split('\n')
  const last = lines[lines.length - 1] ?? ''
  return last.length <= STDERR_SNIPPET_CHARS ? last : `${last.slice(0, STDERR_SNIPPET_CHARS - 1)}…`
}
