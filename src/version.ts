/**
 * The version of the installed package, as package.json states it.
 * @module
 */
import { readFileSync } from 'node:fs'

import { packageFile } from './package-root.js'

/** What {@link packageVersion} answers when package.json cannot be read or has no version. */
export const UNKNOWN_VERSION = '0.0.0'

let cached: string | undefined

/**
 * The `version` of the package's package.json (src/package-root.ts finds it); read once.
 * A package.json that cannot be read, or has no string version, gives {@link UNKNOWN_VERSION}: a
 * valid semver, so that the OpenAPI document and the metrics' `version` label stay well formed.
 */
export function packageVersion(): string {
  if (cached !== undefined) return cached
  try {
    const pkg = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as {
      version?: unknown
    }
    cached = typeof pkg.version === 'string' ? pkg.version : UNKNOWN_VERSION
  } catch {
    cached = UNKNOWN_VERSION
  }
  return cached
}
