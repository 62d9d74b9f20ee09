/**
 * Waiting in tests: polling for a condition with a generous deadline (so a busy 2-core machine
 * does not flake), and the one check of whether a process is gone.
 */
import { readFileSync } from 'node:fs'

/**
 * Polls `check` until it returns something other than `false` or `undefined`, and resolves with
 * that; fails naming `what` after `timeoutMs` (a function: what it says then, such as a log).
 */
export async function waitFor<T>(
  check: () => T | false | undefined | Promise<T | false | undefined>,
  what: string | (() => string),
  timeoutMs = 20_000,
  pollMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== false && value !== undefined) return value
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      )
    await new Promise((r) => setTimeout(r, pollMs))
  }
}

/**
 * True when the process is gone, or a zombie: an orphan is reparented to PID 1, and in some
 * containers PID 1 never reaps, so a killed process can stay a zombie there; it runs no code and
 * holds nothing but its pid.
 */
export function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat[stat.lastIndexOf(')') + 2] === 'Z'
  } catch {
    return true
  }
}
