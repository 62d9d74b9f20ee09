import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  leafName,
  locateOwnCgroup,
  parseCgroup2Mounts,
  parseOwnCgroup,
  supervisorCgroupName,
} from '../../src/adapters/process/cgroup.js'

/** This machine's layout: v1 controllers, v2 at /sys/fs/cgroup/unified (hybrid). */
const HYBRID = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
/** A systemd host: v2 only, at /sys/fs/cgroup, with optional fields before the separator. */
const UNIFIED = `24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
/** A container's default: its own cgroup mounted read-only. */
const CONTAINER = `700 690 0:30 /docker/abc /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw
`

describe('cgroup v2 discovery', () => {
  it('finds the cgroup2 mounts in mountinfo, with optional fields and read-only flags', () => {
    assert.deepEqual(parseCgroup2Mounts(HYBRID), [
      { root: '/', mountPoint: '/sys/fs/cgroup/unified', readOnly: false },
    ])
    assert.deepEqual(parseCgroup2Mounts(UNIFIED), [
      { root: '/', mountPoint: '/sys/fs/cgroup', readOnly: false },
    ])
    assert.deepEqual(parseCgroup2Mounts(CONTAINER), [
      { root: '/docker/abc', mountPoint: '/sys/fs/cgroup', readOnly: true },
    ])
    assert.deepEqual(parseCgroup2Mounts('garbage\n\n'), [])
  })

  it('unescapes octal escapes in mount paths', () => {
    const line = '41 30 0:37 / /mnt/cg\\040two\\134x rw - cgroup2 cgroup2 rw\n'
    assert.equal(parseCgroup2Mounts(line)[0]!.mountPoint, '/mnt/cg two\\x')
  })

  it('reads the cgroup v2 path from /proc/self/cgroup, and null under v1 alone', () => {
    assert.equal(
      parseOwnCgroup('4:memory:/x\n0::/system.slice/shepherd.service\n'),
      '/system.slice/shepherd.service',
    )
    assert.equal(parseOwnCgroup('0::/\n'), '/')
    assert.equal(parseOwnCgroup('4:memory:/x\n1:name=systemd:/\n'), null)
  })

  it('places the supervisor under its own cgroup in the mount that shows it', () => {
    assert.deepEqual(locateOwnCgroup(HYBRID, '4:memory:/a\n0::/\n'), { dir: '/sys/fs/cgroup/unified' })
    assert.deepEqual(locateOwnCgroup(UNIFIED, '0::/system.slice/shepherd.service\n'), {
      dir: '/sys/fs/cgroup/system.slice/shepherd.service',
    })
    // A bind mount of a subtree: the path is relative to the mount's root.
    const bind = '50 24 0:30 /system.slice /mnt/slice rw - cgroup2 cgroup2 rw\n'
    assert.deepEqual(locateOwnCgroup(bind, '0::/system.slice/a.service\n'), { dir: '/mnt/slice/a.service' })
    assert.deepEqual(locateOwnCgroup(bind, '0::/system.slice\n'), { dir: '/mnt/slice' })
  })

  it('says why cgroups cannot be used', () => {
    assert.match(
      (locateOwnCgroup(HYBRID, '4:memory:/a\n') as { unavailable: string }).unavailable,
      /no cgroup v2 hierarchy/,
    )
    assert.match((locateOwnCgroup('', '0::/\n') as { unavailable: string }).unavailable, /not mounted/)
    assert.match(
      (locateOwnCgroup(CONTAINER, '0::/docker/abc\n') as { unavailable: string }).unavailable,
      /read-only at \/sys\/fs\/cgroup/,
    )
    const other = '50 24 0:30 /system.slice /mnt/slice rw - cgroup2 cgroup2 rw\n'
    assert.match(
      (locateOwnCgroup(other, '0::/user.slice/x\n') as { unavailable: string }).unavailable,
      /no cgroup v2 mount shows .*\/user.slice\/x/,
    )
    // /system.slicex is not inside /system.slice.
    assert.ok('unavailable' in locateOwnCgroup(other, '0::/system.slicex\n'))
  })
})

describe('cgroup names', () => {
  it('names a leaf for its pool and a number, with nothing a cgroup name cannot hold', () => {
    assert.equal(leafName('email', 3), 'email-3')
    assert.equal(leafName('api.v2', 1), 'api_v2-1')
    assert.equal(leafName('cgroup.procs', 7), 'cgroup_procs-7')
    assert.equal(leafName('a/b\nc', 2), 'a_b_c-2')
    assert.equal(leafName('', 4), 'worker-4')
    assert.equal(leafName('x'.repeat(300), 5), `${'x'.repeat(64)}-5`)
  })

  it('names a supervisor’s cgroup by its pid and a token', () => {
    assert.equal(supervisorCgroupName(4242, 'a1b2c3d4'), '4242-a1b2c3d4')
  })
})
