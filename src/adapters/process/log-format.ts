/**
 * The worker log format, written by log-writer.ts and read by log-reader.ts: one file per pool,
 * `<dir>/<pool>.log` (rotated to `.1`, `.2`, …), one line per line of output:
 * `<ISO-8601 time> <workerId> <out|err>| <text>`, e.g.
 * `2025-01-31T09:15:02.120Z email#2 err| connection lost`.
 * @module
 */
import path from 'node:path'

/** The current log file of a pool. */
export function logFileOf(dir: string, pool: string): string {
  return path.join(dir, `${pool}.log`)
}

/** Lines of one worker's stream as they go into the file, all stamped with `time`. */
export function formatLogLines(
  time: string,
  workerId: string,
  stream: 'out' | 'err',
  lines: string[],
): string {
  let text = ''
  // A stray newline inside a line would forge a log entry; it is escaped instead.
  for (const line of lines) text += `${time} ${workerId} ${stream}| ${line.replace(/\r?\n|\r/g, '\\n')}\n`
  return text
}

/** The worker id field of a log line, or null when the line is not in the log format. */
export function workerIdOf(line: string): string | null {
  const first = line.indexOf(' ')
  const second = first < 0 ? -1 : line.indexOf(' ', first + 1)
  return second < 0 ? null : line.slice(first + 1, second)
}

/** The timestamp of a log line; ISO-8601 UTC stamps of equal width sort as strings. */
function timeOf(line: string): string {
  const space = line.indexOf(' ')
  return space < 0 ? line : line.slice(0, space)
}

/** Log lines of several files in time order. */
export function sortByTime(lines: string[]): string[] {
  // Array.prototype.sort is stable, so lines of one pool keep their file order on equal stamps.
  return lines.sort((a, b) => {
    const ta = timeOf(a)
    const tb = timeOf(b)
    return ta < tb ? -1 : ta > tb ? 1 : 0
  })
}
