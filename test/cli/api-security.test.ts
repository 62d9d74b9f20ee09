/**
 * `shepherd start` and the API's address: on 0.0.0.0 without a token it refuses to start and says
 * why; with SHEPHERD_API_TOKEN it starts, answers 401 to a request without the token (on every
 * interface), lets the CLI in with it, and keeps it from its workers.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it, type TestContext } from 'node:test'

import { stringify } from 'yaml'

import { CLI_ENV, freePort, runCli, startCli } from '../helpers/cli.js'
import { fixture, NODE, tempDir } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait.js'

const cli = (args: string[], extraEnv: Record<string, string> = {}) => runCli(args, { env: env(extraEnv) })
const TOKEN = 'cli-test-token-0123456789abcdef'

/** The CLI's usual environment without any API token, plus `extra`. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e = { ...CLI_ENV, ...extra }
  if (!('SHEPHERD_API_TOKEN' in extra)) delete e.SHEPHERD_API_TOKEN
  delete e.SHEPHERD_API_READ_TOKEN
  return e
}

async function writeConfig(t: TestContext, port: number): Promise<{ dir: string; file: string }> {
  const dir = tempDir(t)
  const file = path.join(dir, 'shepherd.yaml')
  writeFileSync(
    file,
    stringify({
      api: { host: '0.0.0.0', port },
      workers: {
        web: {
          // The worker writes down whether it can see the token, then becomes the real worker.
          command: 'echo "token=${SHEPHERD_API_TOKEN:-none}" > token.txt && exec "$@"',
          args: [NODE, fixture('forever.mjs')],
          shell: true,
          stop_timeout: 5,
        },
      },
    }),
  )
  return { dir, file }
}

/** An address of this machine other than loopback, if it has one. */
function externalIPv4(): string | undefined {
  for (const addrs of Object.values(os.networkInterfaces()))
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  return undefined
}

describe('shepherd start on a non-loopback address', () => {
  it('refuses to start on 0.0.0.0 without a token, says why, and opens nothing', async (t) => {
    const { dir, file } = await writeConfig(t, await freePort('0.0.0.0'))
    const r = await cli(['start', '-c', file])
    assert.equal(r.code, 2, r.stderr)
    assert.match(
      r.stderr,
      /^shepherd: api\.host in .*shepherd\.yaml is 0\.0\.0\.0, which other machines can reach, and no API token is set\./,
    )
    assert.match(r.stderr, /Set SHEPHERD_API_TOKEN \(or api\.token\)/)
    assert.match(r.stderr, /\[SHEPHERD_API_TOKEN_REQUIRED\]\n$/)
    assert.deepEqual(readdirSync(dir), ['shepherd.yaml'], 'no store, no logs, no worker')
  })

  it('refuses a token in the environment that is too short, naming the variable only', async (t) => {
    const { file } = await writeConfig(t, await freePort('0.0.0.0'))
    const r = await cli(['start', '-c', file], { SHEPHERD_API_TOKEN: 'letmein' })
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      /SHEPHERD_API_TOKEN \(which overrides api\.token\): expected a token of at least 24/,
    )
    assert.ok(!r.stderr.includes('letmein'))
  })

  it('starts with SHEPHERD_API_TOKEN: 401 without it, the CLI gets in with it, workers never see it', async (t) => {
    const port = await freePort('0.0.0.0')
    const { dir, file } = await writeConfig(t, port)
    const sup = startCli(t, ['start', '-c', file], { env: env({ SHEPHERD_API_TOKEN: TOKEN }) })
    const base = `http://127.0.0.1:${port}`
    await waitFor(
      async () => {
        try {
          const r = await fetch(`${base}/api/workers`, { headers: { authorization: `Bearer ${TOKEN}` } })
          const { workers } = (await r.json()) as { workers: { state: string }[] }
          return workers[0]?.state === 'ready'
        } catch {
          return false
        }
      },
      'the supervisor to answer with a ready worker',
      30_000,
      100,
    )

    for (const host of ['127.0.0.1', externalIPv4()].filter((h) => h !== undefined)) {
      const anon = await fetch(`http://${host}:${port}/api/workers`)
      assert.equal(anon.status, 401, host)
      assert.equal(anon.headers.get('www-authenticate'), 'Bearer realm="shepherd"')
      assert.equal(((await anon.json()) as { error: { code: string } }).error.code, 'SHEPHERD_UNAUTHORIZED')
      const wrong = await fetch(`http://${host}:${port}/api/workers/web%231/restart`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN.replace(/f$/, 'e')}` },
      })
      assert.equal(wrong.status, 401, host)
    }
    assert.equal((await fetch(`${base}/metrics`)).status, 401)

    const ok = await cli(['status', '-c', file, '--json'], { SHEPHERD_API_TOKEN: TOKEN })
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal((JSON.parse(ok.stdout) as { workers: { id: string }[] }).workers[0]!.id, 'web#1')
    const refused = await cli(['status', '-c', file])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /this API requires a token.*\[SHEPHERD_UNAUTHORIZED\]/)

    assert.equal(readFileSync(path.join(dir, 'token.txt'), 'utf8'), 'token=none\n')

    sup.child.kill('SIGTERM')
    assert.equal(await sup.exited, 0, sup.log())
    assert.ok(existsSync(path.join(dir, 'shepherd.db')))
  })
})
