/**
 * The store and the worker logs hold payloads, results and whatever workers print (tokens
 * included): files Shepherd creates are the supervisor user's alone (0600), and so are the folders
 * it creates (0700). Folders that were there already keep their mode.
 */
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

import { Queue } from '../../src/queue/queue.js'
import { fixture, NODE, startTestDaemon } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

function mode(file: string): string {
  return (statSync(file).mode & 0o777).toString(8).padStart(4, '0')
}

describe('files Shepherd creates', () => {
  it('are 0600 in 0700 folders: the store with its -wal, -shm and lock, the worker logs and their rotations', async (t) => {
    // Whatever the umask of whoever starts the supervisor: the usual 022 gives 0644 files.
    const umask = process.umask(0o022)
    t.after(() => process.umask(umask))
    const td = await startTestDaemon(t, {
      store: { path: 'state/deep/shepherd.db' },
      logs: { dir: 'var/logs', max_size: 200, max_files: 2 },
      workers: {
        chatty: { command: NODE, args: [fixture('chatty.mjs'), '20'], replicas: 1 },
        jobs: { command: NODE, args: [fixture('sdk-jobs.mjs')], queue: 'work', replicas: 1 },
      },
    })
    const store = path.join(td.dir, 'state/deep/shepherd.db')
    const logs = path.join(td.dir, 'var/logs')
    // A job done is a write through the WAL, so that -wal and -shm exist.
    const queue = await Queue.open(td.configFile)
    t.after(() => queue.close())
    const { id } = await queue.add('work', { op: 'ok' })
    await waitFor(async () => (await queue.getJob(id))?.state === 'done', 'the job to be done')
    await waitFor(() => existsSync(`${logs}/chatty.log.1`), 'a rotated log file')

    for (const f of [store, `${store}-wal`, `${store}-shm`, `${store}.lock`])
      assert.equal(mode(f), '0600', `${path.relative(td.dir, f)} is 0600`)
    for (const d of ['state', 'state/deep', 'var', 'var/logs'])
      assert.equal(mode(path.join(td.dir, d)), '0700', `${d}/ is 0700`)
    const logFiles = readdirSync(logs)
    assert.ok(logFiles.includes('chatty.log') && logFiles.includes('chatty.log.1'), logFiles.join(', '))
    for (const f of logFiles) assert.equal(mode(path.join(logs, f)), '0600', `logs/${f} is 0600`)
    // The config's own folder was there before: Shepherd does not touch it.
    assert.equal(mode(td.dir), '0700', 'mkdtemp made it 0700, and so it stays')
  })

  it('leaves the mode of folders that were there already', async (t) => {
    const umask = process.umask(0o022)
    t.after(() => process.umask(umask))
    const td = await startTestDaemon(t, {
      store: { path: 'shared/shepherd.db' },
      logs: { dir: 'shared/logs' },
      workers: { chatty: { command: NODE, args: [fixture('chatty.mjs'), '3'], replicas: 1 } },
    })
    // shared/ was created by the daemon above (0700); make it the user's own 0755 and start again.
    await td.daemon.stop('restart with a folder of the user')
    const shared = path.join(td.dir, 'shared')
    chmodSync(shared, 0o755)
    mkdirSync(path.join(td.dir, 'other'), { mode: 0o750 })
    chmodSync(path.join(td.dir, 'other'), 0o750)
    const again = await startTestDaemon(t, {
      store: { path: `${shared}/shepherd.db` },
      logs: { dir: `${td.dir}/other/logs` },
      workers: { chatty: { command: NODE, args: [fixture('chatty.mjs'), '3'], replicas: 1 } },
    })
    await waitFor(() => existsSync(`${td.dir}/other/logs/chatty.log`), 'the log file')
    assert.equal(mode(shared), '0755')
    assert.equal(mode(path.join(td.dir, 'other')), '0750')
    assert.equal(mode(`${td.dir}/other/logs`), '0700')
    assert.equal(mode(`${td.dir}/other/logs/chatty.log`), '0600')
    assert.ok(again.daemon.apiUrl)
  })
})
