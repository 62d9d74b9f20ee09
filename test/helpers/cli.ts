/**
 * Runs the `shepherd` CLI from source in a real process, as a user would, and finds free ports
 * for the supervisors tests start.
 */
import { spawn } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

/** The CLI's entry (`node --import tsx <RUN> …`): tests run the source; bin/shepherd.js runs dist. */
export const RUN = fileURLToPath(new URL('../../src/cli/run.ts', import.meta.url))
export const TSX = import.meta.resolve('tsx')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `shepherd <args>` to completion. */
export function runCli(args: string[], o: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, RUN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: o.env ?? process.env,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** A port nobody listens on right now (on `host`). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}
