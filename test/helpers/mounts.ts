/**
 * Real filesystems that fail the way disks do: a small tmpfs to fill up (ENOSPC → SQLITE_FULL),
 * and a small ext4 image the kernel turns read-only on an error (errors=remount-ro), as it does
 * with a failing disk. Mounting needs root; where it is not permitted the test is skipped with
 * the reason, except under CI=true, where these tests must run.
 */
import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, realpathSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'

import Database from 'better-sqlite3'

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: 'pipe' })
}

/** Mounts with `mount(8)`; on failure skips the test (or fails it under CI). Returns false when skipped. */
function tryMount(t: TestContext, args: string[], dir: string): boolean {
  try {
    run('mount', [...args, dir])
    return true
  } catch (e) {
    const said = String((e as { stderr?: Buffer }).stderr ?? e).trim()
    if (!/permission denied|not permitted|must be superuser|only root/i.test(said)) throw e
    const why = `mounting a test filesystem is not permitted here (${said})`
    if (process.env.CI === 'true') throw new Error(`${why}; under CI these tests must run`, { cause: e })
    t.skip(why)
    return false
  }
}

/** Unmounts lazily (a daemon stopped by a later hook may still hold files) and removes the mount point. */
function unmountAfter(t: TestContext, dir: string, also: string[] = []): void {
  t.after(() => {
    try {
      run('umount', ['-l', dir])
    } finally {
      rmSync(dir, { recursive: true, force: true })
      for (const f of also) rmSync(f, { force: true })
    }
  })
}

/** A tmpfs of `sizeBytes` at a new folder under /tmp, unmounted after the test; null when skipped. */
export function mountTmpfs(t: TestContext, sizeBytes: number): string | null {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shepherd-tmpfs-'))
  if (!tryMount(t, ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs'], dir)) {
    rmSync(dir, { recursive: true, force: true })
    return null
  }
  unmountAfter(t, dir)
  return dir
}

/**
 * Fills the filesystem of `dir` to its last block with `<dir>/filler`; returns a function that
 * frees the space again. `store`, if given, is a SQLite file in WAL mode whose WAL is first folded
 * into the database and truncated, so that the next commit needs new blocks (a WAL that grew
 * earlier would otherwise take a few more commits in the space it already has). Synchronous, so
 * that nothing in this process writes between the truncation and the fill.
 */
export function fillDisk(dir: string, store?: string): () => void {
  if (store) {
    const db = new Database(store)
    try {
      db.pragma('wal_checkpoint(TRUNCATE)')
    } finally {
      db.close()
    }
  }
  const filler = path.join(dir, 'filler')
  const fd = openSync(filler, 'w')
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const chunk = Buffer.alloc(size, 1)
      try {
        for (;;) writeSync(fd, chunk)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e
      }
    }
  } finally {
    closeSync(fd)
  }
  return () => rmSync(filler, { force: true })
}

export interface Ext4Mount {
  dir: string
  /** Makes the kernel remount the filesystem read-only, as after a disk error (ext4 errors=remount-ro). */
  failToReadOnly(): void
}

/** An 8 MiB ext4 image on a loop device with errors=remount-ro, unmounted after the test; null when skipped. */
export function mountExt4(t: TestContext): Ext4Mount | null {
  const base = mkdtempSync(path.join(os.tmpdir(), 'shepherd-ext4-'))
  const image = `${base}.img`
  writeFileSync(image, '')
  run('truncate', ['-s', '8M', image])
  try {
    run('mkfs.ext4', ['-q', '-F', image])
  } catch (e) {
    rmSync(base, { recursive: true, force: true })
    rmSync(image, { force: true })
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || process.env.CI === 'true') throw e
    t.skip('mkfs.ext4 is not installed here (e2fsprogs); under CI these tests must run')
    return null
  }
  if (!tryMount(t, ['-o', 'loop,errors=remount-ro', image], base)) {
    rmSync(base, { recursive: true, force: true })
    rmSync(image, { force: true })
    return null
  }
  unmountAfter(t, base, [image])
  const device = execFileSync('findmnt', ['-n', '-o', 'SOURCE', base], { encoding: 'utf8' }).trim()
  const sys = `/sys/fs/ext4/${path.basename(realpathSync(device))}/trigger_fs_error`
  return {
    dir: base,
    failToReadOnly: () => writeFileSync(sys, 'shepherd test: fail the disk'),
  }
}
