/**
 * What can be told about a pool's command before anything runs, for `shepherd validate`: whether
 * its working directory exists, and whether its command is found and executable, looked up as the
 * spawner's exec will look it up: a command with a slash from the pool's cwd; a bare name on the
 * PATH the worker gets (the pool's env.PATH, else the supervisor's), relative entries from cwd. A
 * pool with `shell: true` is not checked: its command is a script for /bin/sh (a builtin, a
 * pipeline), which only the shell can judge. These are warnings: the file is valid, and the
 * program may yet appear (a deploy that installs it before `shepherd start`).
 * @module
 */
import { accessSync, constants, statSync } from 'node:fs'
import path from 'node:path'

import type { ResolvedPool } from './load.js'

/** A warning about one field of a pool. */
export interface CommandWarning {
  /** The field: `['workers', 'email', 'command']`. */
  path: string[]
  message: string
}

/**
 * Warnings about the pools' commands and working directories, in the pools' order.
 * @param basePath - the PATH workers inherit (the supervisor's environment) when a pool sets none
 */
export function commandWarnings(
  pools: readonly ResolvedPool[],
  basePath: string | undefined,
): CommandWarning[] {
  const out: CommandWarning[] = []
  for (const pool of pools) {
    const at = (field: string) => ['workers', pool.name, field]
    if (!isDirectory(pool.cwd)) {
      out.push({ path: at('cwd'), message: `the working directory ${pool.cwd} does not exist` })
      continue
    }
    if (pool.shell) continue
    const problem = commandProblem(pool.command, pool.cwd, pool.env.PATH ?? basePath ?? '')
    if (problem !== null) out.push({ path: at('command'), message: problem })
  }
  return out
}

/** Why `command` would not start from `cwd` with `PATH`, or null when it would. */
function commandProblem(command: string, cwd: string, PATH: string): string | null {
  if (command.includes('/')) {
    const file = path.resolve(cwd, command)
    if (!exists(file)) return `${file} does not exist`
    if (isDirectory(file)) return `${file} is a directory`
    return isExecutable(file) ? null : `${file} is not executable`
  }
  let found: string | null = null
  for (const dir of PATH.split(':')) {
    // An empty entry is the working directory, as exec reads PATH.
    const file = path.resolve(cwd, dir || '.', command)
    if (!exists(file) || isDirectory(file)) continue
    if (isExecutable(file)) return null
    found ??= file
  }
  return found === null
    ? `"${command}" is not found on PATH (${PATH})`
    : `"${command}" is on PATH at ${found} but not executable`
}

function exists(file: string): boolean {
  try {
    statSync(file)
    return true
  } catch {
    return false
  }
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory()
  } catch {
    return false
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}
