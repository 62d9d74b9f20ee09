/**
 * Shared by the benchmarks: percentiles, machine description, and writing a section of
 * docs/benchmarks.md between markers so that each benchmark owns its part of the page.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

export interface Summary {
  n: number
  p50: number
  p95: number
  max: number
}

export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b)
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1] ?? NaN }
}

export function fmtMs(v: number): string {
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)
}

export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  let kernel = os.release()
  try {
    kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim()
  } catch {
    // uname is missing: os.release() will do.
  }
  const mem = `${Math.round(os.totalmem() / 1024 ** 3)} GiB`
  return `${os.cpus().length} × ${cpu}, ${mem} RAM, ${kernel}, Node ${process.version}`
}

/** Replaces the section between `<!-- BEGIN name -->` and `<!-- END name -->` (appending it if new). */
export function writeSection(name: string, body: string): void {
  const file = new URL('../docs/benchmarks.md', import.meta.url)
  const begin = `<!-- BEGIN ${name} -->`
  const end = `<!-- END ${name} -->`
  let doc = existsSync(file)
    ? readFileSync(file, 'utf8')
    : '# Benchmarks\n\nEvery figure here is written by a benchmark script; the command that made it is given with it.\n'
  const block = `${begin}\n${body.trim()}\n${end}`
  const i = doc.indexOf(begin)
  const j = doc.indexOf(end)
  doc =
    i >= 0 && j > i ? doc.slice(0, i) + block + doc.slice(j + end.length) : `${doc.trimEnd()}\n\n${block}\n`
  writeFileSync(file, doc)
}
