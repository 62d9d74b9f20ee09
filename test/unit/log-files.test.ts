import assert from 'node:assert/strict'
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'

import { workerIdOf } from '../../src/adapters/process/log-format.js'
import { followLogs, readLogTail } from '../../src/adapters/process/log-reader.js'
import { PoolLogWriter } from '../../src/adapters/process/log-writer.js'
import { LineTail } from '../../src/core/line-tail.js'
import { waitFor } from '../helpers/wait.js'

const T0 = Date.parse('2025-01-02T03:04:05.678Z')

/** A clock that moves one millisecond per reading, so every write gets its own stamp. */
function tickingClock(start = T0): () => number {
  let t = start
  return () => t++
}

describe('PoolLogWriter', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('writes `<time> <worker> <stream>| <line>` into <dir>/<pool>.log, creating the dir', () => {
    const logDir = path.join(dir, 'nested', 'logs')
    const w = new PoolLogWriter({ dir: logDir, pool: 'email', maxSize: 1e6, maxFiles: 2, now: () => T0 })
    w.write('email#1', 'out', ['hello', 'world'])
    w.write('email#2', 'err', ['multi\nline\r\nvalue'])
    w.write('email#2', 'err', [])
    w.close()
    w.write('email#1', 'out', ['after close'])
    assert.equal(
      readFileSync(path.join(logDir, 'email.log'), 'utf8'),
      '2025-01-02T03:04:05.678Z email#1 out| hello\n' +
        '2025-01-02T03:04:05.678Z email#1 out| world\n' +
        '2025-01-02T03:04:05.678Z email#2 err| multi\\nline\\nvalue\n',
    )
  })

  it('appends to an existing file and counts its size toward rotation', () => {
    const file = path.join(dir, 'p.log')
    writeFileSync(file, 'x'.repeat(90) + '\n')
    const w = new PoolLogWriter({ dir, pool: 'p', maxSize: 100, maxFiles: 1, now: () => T0 })
    w.write('p#1', 'out', ['0123456789'])
    w.close()
    assert.equal(readFileSync(`${file}.1`, 'utf8'), 'x'.repeat(90) + '\n')
    assert.match(readFileSync(file, 'utf8'), /^2025-\S+ p#1 out\| 0123456789\n$/)
  })

  it('rotates by size and keeps disk use within maxSize × (maxFiles + 1)', () => {
    writeFileSync(path.join(dir, 'p.log.9'), 'left by a config with max_files 9\n')
    writeFileSync(path.join(dir, 'other.log.9'), 'another pool: not ours to delete\n')
    const maxSize = 2000
    const w = new PoolLogWriter({ dir, pool: 'p', maxSize, maxFiles: 3, now: tickingClock() })
    for (let i = 0; i < 1000; i++) w.write('p#1', 'out', [`message number ${i}`])
    w.close()
    const files = readdirSync(dir)
      .filter((f) => f.startsWith('p.'))
      .sort()
    assert.deepEqual(files, ['p.log', 'p.log.1', 'p.log.2', 'p.log.3'])
    assert.ok(existsSync(path.join(dir, 'other.log.9')))
    let total = 0
    for (const f of files) {
      const size = statSync(path.join(dir, f)).size
      assert.ok(size <= maxSize, `${f} is ${size} bytes`)
      total += size
    }
    assert.ok(total <= maxSize * 4)
    // Oldest kept lines live in .3, newest in the current file, in one unbroken sequence.
    const all = ['p.log.3', 'p.log.2', 'p.log.1', 'p.log']
      .flatMap((f) => readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean))
      .map((l) => Number(/message number (\d+)$/.exec(l)![1]))
    assert.equal(all.at(-1), 999)
    assert.deepEqual(
      all,
      Array.from({ length: all.length }, (_, i) => all[0]! + i),
    )
  })

  it('never throws on a write failure: reports once per code per minute and drops the lines', () => {
    const blocker = path.join(dir, 'a-file')
    writeFileSync(blocker, '')
    let now = T0
    const errors: Error[] = []
    const w = new PoolLogWriter({
      dir: path.join(blocker, 'logs'),
      pool: 'p',
      maxSize: 1000,
      maxFiles: 1,
      now: () => now,
      onError: (e) => errors.push(e),
    })
    w.write('p#1', 'out', ['one'])
    w.write('p#1', 'out', ['two'])
    assert.equal(errors.length, 1)
    assert.match(errors[0]!.message, /cannot write worker log .*a-file\/logs\/p\.log, lines dropped/)
    assert.equal((errors[0]!.cause as NodeJS.ErrnoException).code, 'ENOTDIR')
    now += 61_000
    w.write('p#1', 'out', ['three'])
    assert.equal(errors.length, 2)
  })

  it('recovers when its directory is removed under it', () => {
    const logDir = path.join(dir, 'logs')
    const w = new PoolLogWriter({ dir: logDir, pool: 'p', maxSize: 60, maxFiles: 1, now: () => T0 })
    w.write('p#1', 'out', ['first'])
    rmSync(logDir, { recursive: true })
    // Each line fills a file: every write rotates, which reopens by path and recreates the dir.
    w.write('p#1', 'out', ['second'])
    w.write('p#1', 'out', ['third'])
    w.close()
    assert.match(readFileSync(path.join(logDir, 'p.log.1'), 'utf8'), /\| second\n$/)
    assert.match(readFileSync(path.join(logDir, 'p.log'), 'utf8'), /\| third\n$/)
  })
})

describe('LineTail', () => {
  it('keeps the last lines, oldest first', () => {
    const tail = new LineTail(3)
    tail.push(['a', 'b'])
    assert.deepEqual(tail.lines(), ['a', 'b'])
    tail.push(['c', 'd', 'e'])
    assert.deepEqual(tail.lines(), ['c', 'd', 'e'])
    tail.push(['f'])
    assert.deepEqual(tail.lines(), ['d', 'e', 'f'])
    tail.clear()
    assert.deepEqual(tail.lines(), [])
    tail.push(['g'])
    assert.deepEqual(tail.lines(), ['g'])
  })

  it('keeps nothing with capacity 0', () => {
    const tail = new LineTail(0)
    tail.push(['a'])
    assert.deepEqual(tail.lines(), [])
  })
})

describe('readLogTail', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  /** Two pools written alternately with one shared ticking clock, so stamps interleave. */
  function writeTwoPools(count: number, maxSize = 1e6, maxFiles = 5): void {
    const now = tickingClock()
    const a = new PoolLogWriter({ dir, pool: 'a', maxSize, maxFiles, now })
    const b = new PoolLogWriter({ dir, pool: 'b', maxSize, maxFiles, now })
    for (let i = 0; i < count; i++) {
      ;(i % 2 === 0 ? a : b).write(i % 2 === 0 ? `a#${(i % 3) + 1}` : 'b#1', 'out', [`n=${i}`])
    }
    a.close()
    b.close()
  }

  const numbers = (lines: string[]): number[] => lines.map((l) => Number(/n=(\d+)$/.exec(l)![1]))

  it('merges all pools by time when there is no selector', async () => {
    writeTwoPools(20)
    const lines = await readLogTail({ dir, lines: 5, pools: ['a', 'b'] })
    assert.deepEqual(numbers(lines), [15, 16, 17, 18, 19])
  })

  it('reads one pool, or one worker of a pool', async () => {
    writeTwoPools(30)
    assert.deepEqual(
      numbers(await readLogTail({ dir, selector: 'b', lines: 3, pools: ['a', 'b'] })),
      [25, 27, 29],
    )
    const worker = await readLogTail({ dir, selector: 'a#2', lines: 100, pools: ['a', 'b'] })
    assert.deepEqual(numbers(worker), [4, 10, 16, 22, 28])
    assert.ok(worker.every((l) => workerIdOf(l) === 'a#2'))
  })

  it('gives an empty list for an unknown pool or worker, or zero lines', async () => {
    writeTwoPools(4)
    for (const selector of ['zzz', 'zzz#1', 'a#9']) {
      assert.deepEqual(await readLogTail({ dir, selector, lines: 10, pools: ['a', 'b'] }), [])
    }
    assert.deepEqual(await readLogTail({ dir, lines: 0, pools: ['a', 'b'] }), [])
    assert.deepEqual(await readLogTail({ dir, selector: 'c', lines: 10, pools: ['c'] }), [], 'no file yet')
  })

  it('reads as many rotated files as the count needs', async () => {
    writeTwoPools(400, 300, 20)
    assert.ok(existsSync(path.join(dir, 'a.log.20')), 'many rotations happened')
    assert.ok(!existsSync(path.join(dir, 'a.log.21')))
    const lines = await readLogTail({ dir, selector: 'a#1', lines: 40, pools: ['a', 'b'] })
    const expected = Array.from({ length: 400 }, (_, i) => i).filter((i) => i % 2 === 0 && i % 3 === 0)
    assert.deepEqual(numbers(lines), expected.slice(-40))
    const everything = await readLogTail({ dir, lines: 1e6, pools: ['a', 'b'] })
    assert.ok(everything.length < 400, 'the oldest files were deleted past maxFiles')
    const n = numbers(everything)
    assert.equal(n.at(-1), 399)
    assert.ok(
      n.every((v, i) => i === 0 || v > n[i - 1]!),
      'oldest first, merged by time',
    )
  })

  it('reads backwards across chunk boundaries without breaking multi-byte characters', async () => {
    const w = new PoolLogWriter({ dir, pool: 'p', maxSize: 1e9, maxFiles: 1, now: tickingClock() })
    for (let i = 0; i < 6000; i++) w.write(`p#${i % 4}`, 'out', [`日本語 é ${'·'.repeat(i % 37)} n=${i}`])
    w.close()
    assert.ok(statSync(path.join(dir, 'p.log')).size > 4 * 64 * 1024)
    const lines = await readLogTail({ dir, selector: 'p', lines: 5000, pools: ['p'] })
    assert.deepEqual(
      numbers(lines),
      Array.from({ length: 5000 }, (_, i) => 1000 + i),
    )
    assert.ok(lines.every((l) => l.includes(' 日本語 é ')))
  })

  it('skips a trailing fragment without a newline', async () => {
    writeFileSync(
      path.join(dir, 'p.log'),
      '2025-01-01T00:00:00.000Z p#1 out| n=1\n2025-01-01T00:00:00.001Z p#1 out| n=',
    )
    assert.deepEqual(numbers(await readLogTail({ dir, lines: 10, pools: ['p'] })), [1])
    writeFileSync(path.join(dir, 'p.log'), 'no newline at all')
    assert.deepEqual(await readLogTail({ dir, lines: 10, pools: ['p'] }), [])
  })
})

describe('followLogs', () => {
  let dir: string
  let abort: AbortController
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-'))
    abort = new AbortController()
  })
  afterEach(() => {
    abort.abort()
    rmSync(dir, { recursive: true, force: true })
  })

  function follow(selector: string | undefined, pools: string[]): { lines: string[]; done: Promise<void> } {
    const lines: string[] = []
    const done = followLogs({
      dir,
      selector,
      pools,
      onLines: (l) => lines.push(...l),
      signal: abort.signal,
      pollMs: 10,
    })
    return { lines, done }
  }

  it('shows only lines appended after the start, across rotations, in order', async () => {
    const w = new PoolLogWriter({ dir, pool: 'p', maxSize: 200, maxFiles: 2, now: tickingClock() })
    w.write('p#1', 'out', ['old line'])
    const f = follow('p', ['p'])
    // Give the follower its starting point before anything new is written.
    await new Promise((r) => setTimeout(r, 50))
    for (let i = 0; i < 30; i++) {
      w.write('p#1', 'out', [`n=${i}`])
      // One line at a time, each seen before the next: a rotation between polls is then single.
      await waitFor(() => f.lines.length === i + 1, `line ${i}`)
    }
    w.close()
    assert.ok(existsSync(path.join(dir, 'p.log.2')), 'rotated several times')
    assert.deepEqual(
      f.lines.map((l) => l.replace(/^\S+ /, '')),
      Array.from({ length: 30 }, (_, i) => `p#1 out| n=${i}`),
    )
    abort.abort()
    await f.done
  })

  it('reads a file created after the start from its beginning, and continues after truncation', async () => {
    const file = path.join(dir, 'p.log')
    const f = follow(undefined, ['p'])
    appendFileSync(file, 'x p#1 out| one\nx p#1 out| tw')
    await waitFor(() => f.lines.length === 1, 'one')
    appendFileSync(file, 'o\n')
    await waitFor(() => f.lines.length === 2, 'two')
    truncateSync(file, 0)
    appendFileSync(file, 'x p#1 out| three\n')
    await waitFor(() => f.lines.length === 3, 'three')
    assert.deepEqual(f.lines, ['x p#1 out| one', 'x p#1 out| two', 'x p#1 out| three'])
  })

  it('filters by worker and merges pools by time', async () => {
    const now = tickingClock()
    const a = new PoolLogWriter({ dir, pool: 'a', maxSize: 1e6, maxFiles: 1, now })
    const b = new PoolLogWriter({ dir, pool: 'b', maxSize: 1e6, maxFiles: 1, now })
    a.write('a#1', 'out', ['start'])
    b.write('b#1', 'out', ['start'])
    const one = follow('a#2', ['a', 'b'])
    const all = follow(undefined, ['a', 'b'])
    await new Promise((r) => setTimeout(r, 50))
    // Alternating files: one poll reads both, and the batch must come out in time order.
    a.write('a#1', 'out', ['1'])
    b.write('b#1', 'out', ['2'])
    a.write('a#2', 'out', ['3'])
    b.write('b#1', 'err', ['4'])
    await waitFor(() => all.lines.length === 4, 'all four')
    await waitFor(() => one.lines.length === 1, 'a#2')
    assert.deepEqual(
      all.lines.map((l) => l.slice(l.indexOf('|') + 2)),
      ['1', '2', '3', '4'],
    )
    assert.match(one.lines[0]!, / a#2 out\| 3$/)
    a.close()
    b.close()
  })

  it('resolves at once for an unknown selector, and on abort otherwise', async () => {
    await follow('nope', ['p']).done
    await follow('nope#1', ['p']).done
    const f = follow('p', ['p'])
    abort.abort()
    await f.done
  })

  it('keeps following when onLines throws', async () => {
    let calls = 0
    const file = path.join(dir, 'p.log')
    const done = followLogs({
      dir,
      pools: ['p'],
      pollMs: 10,
      signal: abort.signal,
      onLines: () => {
        calls++
        throw new Error('stdout closed')
      },
    })
    appendFileSync(file, 'x p#1 out| a\n')
    await waitFor(() => calls === 1, 'first call')
    appendFileSync(file, 'x p#1 out| b\n')
    await waitFor(() => calls === 2, 'second call')
    abort.abort()
    await done
  })
})
