/**
 * Finding every process a test started, however far it went: a pool's `env` gives its workers a
 * unique mark, every descendant inherits it (setsid, double fork and all), and /proc/<pid>/environ
 * shows it. A zombie's environ is empty, so zombies (which run no code) are not counted.
 */
import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import type { TestContext } from 'node:test'

export const MARK_VAR = 'SHEPHERD_TEST_MARK'

/** A new mark, and a cleanup after the test that SIGKILLs whatever still carries it. */
export function newMark(t: TestContext): string {
  const mark = randomUUID()
  t.after(() => {
    for (const pid of markedProcesses(mark)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone in between
      }
    }
  })
  return mark
}

/** Pids of the live processes whose environment has `SHEPHERD_TEST_MARK=<mark>`. */
export function markedProcesses(mark: string): number[] {
  const needle = `\0${MARK_VAR}=${mark}\0`
  const found: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let environ: string
    try {
      environ = readFileSync(`/proc/${name}/environ`, 'latin1')
    } catch {
      continue
    }
    if (`\0${environ}`.includes(needle)) found.push(Number(name))
  }
  return found
}
