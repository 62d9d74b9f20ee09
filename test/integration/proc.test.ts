import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { afterEach, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import {
  pageSize,
  parseProcStat,
  readProcStat,
  readProcState,
  sampleTrees,
} from '../../src/adapters/process/proc.js'
import { CLK_TCK, CpuMeter } from '../../src/core/cpu-meter.js'
import { waitFor } from '../helpers/wait.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url))
/** Above the largest pid_max Linux allows (2^22), so never a live process. */
const NO_SUCH_PID = 99_999_999

describe('/proc sampling', () => {
  const started: ChildProcess[] = []
  const strays: number[] = []

  /** Starts a process as its own group leader, as the spawner does; stdout is kept for reading. */
  function start(command: string, args: string[]): ChildProcess {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'inherit'] })
    started.push(child)
    return child
  }

  function firstLine(child: ChildProcess): Promise<string> {
    return new Promise((resolve, reject) => {
      let text = ''
      child.stdout!.setEncoding('utf8')
      child.stdout!.on('data', (chunk: string) => {
        text += chunk
        if (text.includes('\n')) resolve(text.split('\n')[0]!)
      })
      child.once('exit', () => reject(new Error('exited before printing a line')))
    })
  }

  afterEach(() => {
    for (const child of started.splice(0)) {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    for (const pid of strays.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  })

  it('parses a stat line whose comm holds spaces and parentheses', () => {
    const fields = [
      'S',
      '1',
      '42',
      '42',
      '0',
      '-1',
      '4194560',
      '1',
      '0',
      '0',
      '0',
      '7',
      '5',
      '0',
      '0',
      '20',
      '0',
    ]
    const tail = ['1', '0', '12345', '1000000', '321', ...Array(20).fill('0')]
    const stat = parseProcStat(`42 (a) b (c)) ${[...fields, ...tail].join(' ')}\n`)
    assert.deepEqual(stat, {
      pid: 42,
      comm: 'a) b (c)',
      state: 'S',
      ppid: 1,
      pgrp: 42,
      utimeTicks: 7,
      stimeTicks: 5,
      startTimeTicks: 12345,
      rssPages: 321,
    })
    assert.equal(parseProcStat('garbage'), null)
  })

  it('reads its own stat and state', () => {
    const stat = readProcStat(process.pid)
    assert.ok(stat)
    assert.equal(stat.pid, process.pid)
    assert.equal(stat.ppid, process.ppid)
    assert.ok(stat.rssPages > 0)
    assert.ok(stat.startTimeTicks > 0)
    assert.equal(readProcState(process.pid), 'R', 'this process is running while it reads')
  })

  it('returns null for a process that does not exist', () => {
    assert.equal(readProcStat(NO_SUCH_PID), null)
    assert.equal(readProcState(NO_SUCH_PID), null)
    const samples = sampleTrees([NO_SUCH_PID])
    assert.deepEqual(samples.get(NO_SUCH_PID), {
      rootState: null,
      pids: [],
      descendants: [],
      zombies: 0,
      cpuTicks: 0,
      rssBytes: 0,
    })
    assert.equal(sampleTrees([]).size, 0)
  })

  it('sees the stopped state T after SIGSTOP and leaves it after SIGCONT', async () => {
    const child = start('sleep', ['1000'])
    await waitFor(() => readProcState(child.pid!) === 'S', 'sleeping')
    process.kill(child.pid!, 'SIGSTOP')
    await waitFor(() => readProcState(child.pid!) === 'T', 'stopped')
    assert.equal(sampleTrees([child.pid!]).get(child.pid!)?.rootState, 'T')
    process.kill(child.pid!, 'SIGCONT')
    await waitFor(() => readProcState(child.pid!) === 'S', 'running again')
  })

  it('counts zombie children, not the root', async () => {
    const child = start('sh', [`${FIXTURES}zombies.sh`])
    const pid = child.pid!
    const sample = await waitFor(() => {
      const s = sampleTrees([pid]).get(pid)
      return s && s.zombies === 3 && s.rootState === 'S' ? s : undefined
    }, 'three zombies')
    assert.equal(sample.descendants.length, 3)
    assert.deepEqual([...sample.pids].sort(), [pid, ...sample.descendants].sort())
    for (const z of sample.descendants) assert.equal(readProcState(z), 'Z')
    const own = readProcStat(pid)!
    assert.equal(sample.rssBytes, own.rssPages * pageSize(), 'zombies hold no memory')
  })

  it('includes descendants by ppid and group members left by a dead root', async () => {
    const child = start(process.execPath, [`${FIXTURES}spawn-grandchild.mjs`])
    const grandchild = Number(await firstLine(child))
    strays.push(grandchild)
    const root = child.pid!
    const live = sampleTrees([root]).get(root)!
    assert.deepEqual(live.descendants, [grandchild])
    assert.equal(live.pids.length, 2)
    assert.equal(live.rootState !== null, true)

    process.kill(root, 'SIGKILL')
    const orphaned = await waitFor(() => {
      const s = sampleTrees([root]).get(root)!
      return s.rootState === null ? s : undefined
    }, 'root gone')
    assert.deepEqual(orphaned.pids, [grandchild], 'still in the process group of the dead root')
    assert.deepEqual(orphaned.descendants, [grandchild])
  })

  it('samples many roots in one scan, each with its own tree', async () => {
    const children = Array.from({ length: 5 }, () => start('sleep', ['1000']))
    const roots = children.map((c) => c.pid!)
    await waitFor(() => roots.every((pid) => readProcState(pid) === 'S'), 'all started')
    const samples = sampleTrees(roots)
    assert.equal(samples.size, 5)
    for (const pid of roots) {
      const s = samples.get(pid)!
      assert.deepEqual(s.pids, [pid])
      assert.equal(s.rootState, 'S')
      assert.ok(s.rssBytes > 0)
    }
  })

  it('measures the resident memory growth of a leaking tree', async () => {
    const child = start(process.execPath, [`${FIXTURES}leak.mjs`])
    assert.equal(await firstLine(child), 'ready')
    const pid = child.pid!
    const before = sampleTrees([pid]).get(pid)!.rssBytes
    assert.ok(before > 1024 * 1024, 'a node process holds more than a megabyte')
    await waitFor(() => sampleTrees([pid]).get(pid)!.rssBytes - before >= 20 * 1024 * 1024, 'RSS up by 20 MB')
  })

  it('turns CPU ticks of a busy tree into percent of a core', async () => {
    const child = start(process.execPath, ['-e', 'console.log("ready"); for (;;) {}'])
    assert.equal(await firstLine(child), 'ready')
    const pid = child.pid!
    const meter = new CpuMeter()
    assert.equal(meter.sample(pid, sampleTrees([pid]).get(pid)!.cpuTicks, performance.now()), null)
    // A busy loop on a loaded 2-core machine still gets well over a tenth of a core per interval.
    await waitFor(async () => {
      await new Promise((r) => setTimeout(r, 200))
      const pct = meter.sample(pid, sampleTrees([pid]).get(pid)!.cpuTicks, performance.now())
      return pct !== null && pct > 10 && pct < 100 * 64
    }, 'busy above 10%')
    const idle = start('sleep', ['1000'])
    const idleMeter = new CpuMeter()
    idleMeter.sample('idle', sampleTrees([idle.pid!]).get(idle.pid!)!.cpuTicks, performance.now())
    await new Promise((r) => setTimeout(r, 300))
    const idlePct = idleMeter.sample(
      'idle',
      sampleTrees([idle.pid!]).get(idle.pid!)!.cpuTicks,
      performance.now(),
    )
    assert.ok(idlePct !== null && idlePct < 10, `sleep is idle, got ${idlePct}`)
  })
})

describe('CpuMeter', () => {
  it('computes percent of one core between samples of a key', () => {
    const meter = new CpuMeter()
    assert.equal(meter.sample('w#1', 0, 10_000), null)
    assert.equal(meter.sample('w#1', CLK_TCK / 2, 11_000), 50)
    assert.equal(meter.sample('w#1', CLK_TCK / 2 + 2 * CLK_TCK, 12_000), 200, 'two cores busy')
    assert.equal(meter.sample('w#2', 5, 12_000), null, 'keys are independent')
  })

  it('clamps a drop in ticks (a member exited) to 0 and skips a clock that did not move', () => {
    const meter = new CpuMeter()
    meter.sample(7, 500, 1000)
    assert.equal(meter.sample(7, 300, 2000), 0)
    assert.equal(meter.sample(7, 400, 2000), null)
    assert.equal(meter.sample(7, 400, 1500), null, 'a clock that went backwards')
    assert.equal(meter.sample(7, 450, 2500), 50)
  })

  it('forgets a key', () => {
    const meter = new CpuMeter()
    meter.sample('w#1', 0, 0)
    meter.forget('w#1')
    assert.equal(meter.sample('w#1', 100, 1000), null)
  })
})

describe('page size', () => {
  it('matches the kernel (KernelPageSize of this process)', () => {
    const smaps = readFileSync('/proc/self/smaps', 'utf8')
    const kb = Number(/KernelPageSize:\s+(\d+) kB/.exec(smaps)![1])
    assert.equal(pageSize(), kb * 1024)
  })
})
