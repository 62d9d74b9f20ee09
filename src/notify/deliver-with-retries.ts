/**
 * One delivery to one destination, with a time limit per attempt and retries with backoff: the
 * loop that notifications (dispatcher.ts) and scheduled reports (report/deliver.ts) both run. An
 * attempt that fails retryably (429, 5xx, network failure, timeout) is tried again after
 * {@link retryDelay} (exponential, jittered, capped), never sooner than a Retry-After asks; one
 * that cannot succeed by repeating it (4xx, a command that cannot start) is given up at once, as is
 * a Retry-After longer than {@link MAX_RETRY_AFTER_MS}.
 *
 * Every wait (the time limit, the backoff) is armed on the {@link TimerPort} it is given, so tests
 * run it under fake time.
 * @module
 */
import { formatDuration } from '../config/units.js'
import { retryDelay } from '../core/notification-policy.js'
import { coerceError } from '../errors.js'
import type { TimerPort } from '../ports/clock.js'
import { DeliveryError, isTimeout } from './notifier.js'

/** A delivery that was given up: the daemon turns it into a `notifier:failed` event. */
export interface DeliveryFailure {
  notifier: string
  eventType: string
  error: string
  /** Attempts made, the first included. */
  attempts: number
}

/**
 * A Retry-After longer than this is not waited for: the delivery is given up and reported. Every
 * later message of the destination waits behind the one being retried, and one that is more than
 * five minutes late is rarely worth holding the queue for.
 */
export const MAX_RETRY_AFTER_MS = 300_000

/** First retry delay: a Slack or proxy hiccup is usually over within a second or two. */
export const DEFAULT_RETRY_BASE_MS = 1000

/**
 * Longest retry delay: with the default 3 retries the backoff never reaches it (≈1 s, 2 s, 4 s);
 * it bounds larger `retries` so a message is never held back for minutes between attempts.
 */
export const DEFAULT_RETRY_CAP_MS = 30_000

/** Options of {@link deliverWithRetries}. */
export interface RetryOptions {
  /**
   * One attempt. Settles when the destination has taken it; rejects with a {@link DeliveryError}
   * that says whether to retry (anything else counts as retryable); should stop when `signal`
   * aborts (an attempt that does not is abandoned all the same).
   */
  send: (signal: AbortSignal) => Promise<void>
  /** Attempts after the first. */
  retries: number
  /** Time limit of one attempt, ms. */
  timeoutMs: number
  timers: TimerPort
  /** Jitter of the retry delays, in [0, 1). */
  random: () => number
  /** @defaultValue {@link DEFAULT_RETRY_BASE_MS} */
  retryBaseMs?: number
  /** @defaultValue {@link DEFAULT_RETRY_CAP_MS} */
  retryCapMs?: number
  /** Cancels: the attempt in flight is abandoned and a retry wait cut short (shutdown). */
  signal?: AbortSignal
  /** Told before each wait for a retry. */
  onRetry?: (r: { attempt: number; delayMs: number; error: string }) => void
}

/** What became of a delivery. */
export type RetryOutcome =
  | { kind: 'delivered'; attempts: number }
  | { kind: 'failed'; attempts: number; error: string }
  /** Ended by the caller's signal: not a failure of the destination. */
  | { kind: 'cancelled'; attempts: number }

/** Why one attempt failed. */
interface AttemptFailure {
  message: string
  retryable: boolean
  retryAfterMs: number | null
}

/**
 * Runs `send` until it succeeds, fails for good, runs out of retries or is cancelled; never
 * rejects.
 * @example
 * ```ts
 * const outcome = await deliverWithRetries({
 *   send: (signal) => postJson({ fetch, url, body, signal }),
 *   retries: 3, timeoutMs: 10_000, timers: nodeTimers, random: Math.random,
 * })
 * if (outcome.kind === 'failed') report(outcome.error)
 * ```
 */
export async function deliverWithRetries(o: RetryOptions): Promise<RetryOutcome> {
  const maxAttempts = 1 + Math.max(0, o.retries)
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) return { kind: 'cancelled', attempts: attempt - 1 }
    const failure = await attemptOnce(o)
    if (failure === null) return { kind: 'delivered', attempts: attempt }
    if (o.signal?.aborted) return { kind: 'cancelled', attempts: attempt }
    const error = failure.message
    if (!failure.retryable || attempt >= maxAttempts) return { kind: 'failed', attempts: attempt, error }
    if (failure.retryAfterMs !== null && failure.retryAfterMs > MAX_RETRY_AFTER_MS) {
      const asked = `Retry-After ${formatDuration(failure.retryAfterMs)} is longer than ${formatDuration(MAX_RETRY_AFTER_MS)}`
      return { kind: 'failed', attempts: attempt, error: `${error}; ${asked}` }
    }
    const backoff = retryDelay(
      attempt,
      o.retryBaseMs ?? DEFAULT_RETRY_BASE_MS,
      o.retryCapMs ?? DEFAULT_RETRY_CAP_MS,
      o.random,
    )
    // Honour Retry-After: never sooner than asked; the backoff still spreads several hosts.
    const delayMs = Math.max(backoff, failure.retryAfterMs ?? 0)
    o.onRetry?.({ attempt, delayMs, error })
    if (!(await wait(delayMs, o.timers, o.signal))) return { kind: 'cancelled', attempts: attempt }
  }
}

/** One attempt under the time limit; null when delivered, else why not. */
async function attemptOnce(o: RetryOptions): Promise<AttemptFailure | null> {
  const ctrl = new AbortController()
  const timedOut = `timed out after ${formatDuration(o.timeoutMs)}`
  // Armed on the port and cleared as soon as the attempt settles (AbortSignal.timeout would run on
  // real time, and live for the whole time limit after every delivery).
  const timer = o.timers.set(() => ctrl.abort(new DOMException(timedOut, 'TimeoutError')), o.timeoutMs)
  const onCancel = (): void =>
    ctrl.abort(new DeliveryError('the delivery was cancelled', { retryable: false }))
  o.signal?.addEventListener('abort', onCancel, { once: true })
  try {
    const sent = Promise.resolve().then(() => o.send(ctrl.signal))
    await untilAborted(sent, ctrl.signal)
    return null
  } catch (e) {
    if (ctrl.signal.aborted && isTimeout(ctrl.signal.reason)) {
      return { message: timedOut, retryable: true, retryAfterMs: null }
    }
    if (e instanceof DeliveryError)
      return { message: e.message, retryable: e.retryable, retryAfterMs: e.retryAfterMs }
    // A destination should reject with DeliveryError; anything else is most likely a transport failure.
    return { message: coerceError(e).message, retryable: true, retryAfterMs: null }
  } finally {
    o.timers.clear(timer)
    o.signal?.removeEventListener('abort', onCancel)
  }
}

/**
 * Settles like `p`, or rejects with the signal's reason as soon as it aborts, so a destination
 * that ignores its signal cannot hold its queue past the time limit.
 */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    if (signal.aborted) {
      onAbort()
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

/** Waits `ms` on `timers`; resolves false at once when `signal` aborts. */
function wait(ms: number, timers: TimerPort, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false)
    const done = (ok: boolean): void => {
      timers.clear(timer)
      signal?.removeEventListener('abort', onAbort)
      resolve(ok)
    }
    const onAbort = (): void => done(false)
    const timer = timers.set(() => done(true), ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
