/**
 * The containment mechanisms against the real kernel: cgroup v2 leaves (this machine has a
 * writable cgroup2 mount), the freeze-and-kill of kernels without cgroup.kill, and the guardian
 * that outlives a supervisor, in both of its modes.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import {
  cgroupPids,
  type CgroupTree,
  freezeAndKill,
  openCgroupTree,
  parseOwnCgroup,
} from '../../src/adapters/process/cgroup.js'
import { openContainment } from '../../src/adapters/process/containment.js'
import { startGuardian } from '../../src/adapters/process/guardian.js'
import { createProcessSpawner } from '../../src/adapters/process/spawner.js'
import { fixture } from '../helpers/daemon.js'
import { isGone, waitFor } from '../helpers/wait.js'

function tmp(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function openTree(t: TestContext): CgroupTree {
  const tree = openCgroupTree()
  if (!('dir' in tree)) throw new Error(`these tests need a writable cgroup v2: ${tree.unavailable}`)
  t.after(() => tree.close())
  return tree
}

/** Starts setsid-children.sh (n setsid children, one in its group) and resolves with every pid. */
async function family(
  cwd: string,
  n: number,
  bear: (spawn: () => ChildProcess) => ChildProcess = (s) => s(),
) {
  const child = bear(() =>
    spawn('sh', [fixture('setsid-children.sh'), String(n)], { cwd, detached: true, stdio: 'ignore' }),
  )
  const pid = child.pid!
  const file = path.join(cwd, `kids-${pid}`)
  await waitFor(() => existsSync(file), 'the children')
  const kids = readFileSync(file, 'utf8').trim().split('\n').map(Number)
  return { child, pids: [pid, ...kids] }
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
}

describe('cgroup leaves', () => {
  it('hold a worker’s whole tree; a kill ends it and a release removes the leaf', async (t) => {
    const tree = openTree(t)
    const leaf = tree.leaf('pool.a')
    const { pids } = await family(tmp(t), 5, (s) => leaf.bear(s))
    t.after(() => killAll(pids))
    assert.equal(path.basename(leaf.dir).startsWith('pool_a-'), true)
    // The script's last short-lived commands (its `mv`) may still be in the leaf for a moment.
    const want = [...pids].sort().join(' ')
    await waitFor(() => cgroupPids(leaf.dir).sort().join(' ') === want, 'every process, setsid or not')
    assert.notEqual(
      parseOwnCgroup(readFileSync('/proc/self/cgroup', 'utf8')),
      leaf.dir,
      'the supervisor moved back out',
    )
    leaf.release()
    await waitFor(() => pids.every(isGone), 'every process of the leaf to be gone', 5_000)
    await waitFor(() => !existsSync(leaf.dir), 'the leaf to be removed', 5_000)
  })

  it('freeze-and-kill (kernels without cgroup.kill) ends every process and thaws the cgroup', async (t) => {
    const tree = openTree(t)
    const leaf = tree.leaf('old-kernel')
    const { pids } = await family(tmp(t), 5, (s) => leaf.bear(s))
    t.after(() => killAll(pids))
    assert.equal(freezeAndKill(leaf.dir), true)
    await waitFor(() => pids.every(isGone), 'every process of the leaf to be gone', 5_000)
    assert.equal(readFileSync(path.join(leaf.dir, 'cgroup.freeze'), 'utf8').trim(), '0')
    leaf.release()
  })

  it('close() kills every leaf and removes the tree', async (t) => {
    const tree = openTree(t)
    const dir = tmp(t)
    const a = await family(dir, 2, (s) => tree.leaf('a').bear(s))
    const b = await family(dir, 2, (s) => tree.leaf('b').bear(s))
    t.after(() => killAll([...a.pids, ...b.pids]))
    await tree.close()
    await waitFor(() => [...a.pids, ...b.pids].every(isGone), 'every process to be gone', 5_000)
    assert.equal(existsSync(tree.dir), false)
  })

  it('keeps a spawn error the real one, and removes the leaf of a command that did not start', async (t) => {
    const containment = openContainment({ mode: 'auto', warn: () => undefined })
    t.after(() => containment.close())
    assert.equal(containment.mechanism, 'cgroup')
    const tree = containment.description.replace(/^cgroup /, '')
    const spawner = createProcessSpawner({
      now: () => performance.now(),
      onOutput: () => undefined,
      containment,
    })
    const report = await spawner.spawn({
      workerId: 'x:1',
      pool: 'x',
      command: 'shepherd-no-such-command',
      args: [],
      cwd: os.tmpdir(),
      env: { PATH: process.env.PATH ?? '' },
    }).exited
    assert.equal(report.spawnFailed, true)
    assert.match(report.error ?? '', /command not found \(ENOENT\)/)
    await waitFor(
      () => readdirSync(tree, { withFileTypes: true }).every((e) => !e.isDirectory()),
      'no leaf left',
      5_000,
    )
  })
})

describe('the guardian', () => {
  it('on end-of-file, stops everything in the cgroup, SIGTERM or not, and removes it', async (t) => {
    const tree = openTree(t)
    const dir = tmp(t)
    const { pids } = await family(dir, 3, (s) => tree.leaf('g').bear(s))
    // One that ignores SIGTERM: it gets SIGKILL after the grace.
    const stubborn = tree
      .leaf('g')
      .bear(() =>
        spawn('sh', ['-c', 'trap "" TERM; while :; do sleep 1; done'], { detached: true, stdio: 'ignore' }),
      )
    t.after(() => killAll([...pids, stubborn.pid!]))
    const guardian = startGuardian({ cgroup: tree.dir }, (m) => assert.fail(m))
    assert.ok(guardian.pid)
    // What the kernel does when the supervisor dies: the write end of the pipe closes.
    guardian.close()
    await waitFor(() => [...pids, stubborn.pid!].every(isGone), 'every process to be gone', 20_000)
    await waitFor(() => !existsSync(tree.dir), 'the supervisor’s cgroup to be removed', 20_000)
  })

  it('on end-of-file, stops the process groups it was told about and no other', async (t) => {
    const dir = tmp(t)
    const kept = await family(dir, 0)
    const gone = await family(dir, 0)
    t.after(() => killAll([...kept.pids, ...gone.pids]))
    const guardian = startGuardian({ groups: true }, (m) => assert.fail(m))
    guardian.watchGroup(gone.child.pid!)
    guardian.watchGroup(kept.child.pid!)
    guardian.forgetGroup(kept.child.pid!)
    guardian.close()
    await waitFor(() => gone.pids.every(isGone), 'the watched group to be gone', 20_000)
    assert.ok(
      kept.pids.every((p) => !isGone(p)),
      'a forgotten group is left alone',
    )
  })

  it('is replaced when it is killed while the supervisor lives, and the new one knows the groups', async (t) => {
    const { pids, child } = await family(tmp(t), 0)
    t.after(() => killAll(pids))
    const warnings: string[] = []
    const guardian = startGuardian({ groups: true }, (m) => warnings.push(m))
    guardian.watchGroup(child.pid!)
    const first = guardian.pid!
    // A guardian that dies within a second of its start is taken as broken, not killed.
    await sleep(1_100)
    process.kill(first, 'SIGKILL')
    await waitFor(() => guardian.pid !== null && guardian.pid !== first, 'a new guardian')
    assert.match(
      warnings.join('\n'),
      new RegExp(`guardian \\(pid ${first}\\) killed by SIGKILL; starting another`),
    )
    guardian.close()
    await waitFor(() => pids.every(isGone), 'the group to be stopped by the new guardian', 20_000)
  })
})
