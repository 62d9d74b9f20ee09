/**
 * The supervisor's own log: pino, one JSON object a line on stdout, or a human format.
 * @module
 */
import { pino } from 'pino'
import pretty from 'pino-pretty'

export type Logger = pino.Logger

export interface LoggerOptions {
  level: string
  format: 'json' | 'pretty'
  /** Where to write; stdout by default. Tests pass a stream to read the lines back. */
  destination?: NodeJS.WritableStream
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = { level: opts.level, base: { name: 'shepherd' } }
  if (opts.format === 'pretty') {
    return pino(
      base,
      pretty({
        sync: true,
        colorize: process.stdout.isTTY,
        translateTime: 'HH:MM:ss.l',
        // Events already name their pool, worker and incident in the message.
        ignore: 'pid,hostname,name,event,pool,worker,incident',
        singleLine: true,
        destination: opts.destination ?? 1,
      }),
    )
  }
  return pino(base, opts.destination ?? pino.destination({ sync: true }))
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
