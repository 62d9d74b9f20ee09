/**
 * Files that ship beside the code (package.json, sql/, dashboard/), found from wherever the code
 * runs: a module of src/ (under tsx), of dist/ (the build), or the CLI's bundle
 * (dist/shepherd-cli.cjs, one file for every module: see scripts/bundle-cli.mjs). Each sits at its
 * own depth below the package root, so no one relative URL serves them all: the root is the nearest
 * folder above this code that holds a package.json.
 * @module
 */
import { existsSync } from 'node:fs'

let root: URL | undefined

/** The package root's folder, as a URL ending in `/`; looked up once. */
export function packageRoot(): URL {
  if (root !== undefined) return root
  for (let dir = new URL('./', import.meta.url); ;) {
    if (existsSync(new URL('package.json', dir))) return (root = dir)
    const up = new URL('../', dir)
    if (up.href === dir.href) throw new Error(`no package.json above ${import.meta.url}`)
    dir = up
  }
}

/** A file or folder of the package, by its path from the root (`sql/postgres/`, `package.json`). */
export function packageFile(relative: string): URL {
  return new URL(relative, packageRoot())
}
