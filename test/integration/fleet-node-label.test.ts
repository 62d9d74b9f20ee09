/**
 * Who did what in a fleet: two real agents on one PostgreSQL schema. A worker of agent-a crashes;
 * its incident and events, read through agent-b's API and CLI, name agent-a; agent-a's event
 * stream carries its node, and every series of its /metrics has `node="agent-a"`. Skipped where no
 * PostgreSQL answers at 127.0.0.1:5432, never under CI=true.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

import { parse } from 'yaml'

import type { RecordedEvent } from '../../src/adapters/http/client.js'
import type { Incident } from '../../src/core/incident.js'
import type { WorkerView } from '../../src/supervisor/view.js'
import { CLI_ENV, runCli } from '../helpers/cli.js'
import { startAgents } from '../helpers/fleet.js'
import { postgresSkipReason } from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'

const skip = await postgresSkipReason()

describe('a fleet records which agent did what', () => {
  it(
    "shows a crash on one agent, with that agent's node, in the other agent's API, CLI and in the metrics",
    { skip: skip ?? false },
    async (t) => {
      const { url, dir } = await startAgents(t, ['agent-a', 'agent-b'], {
        recovery: { check_interval: '200ms', min_uptime: '300ms', retry_delay: '50ms' },
      })
      const configOf = (node: string) => path.join(dir, `${node}.yaml`)
      const apiOf = (node: string) => {
        const { api } = parse(readFileSync(configOf(node), 'utf8')) as { api: { port: number } }
        return `http://127.0.0.1:${api.port}`
      }
      const a = apiOf('agent-a')
      const b = apiOf('agent-b')
      const get = async <T>(base: string, p: string): Promise<T> => {
        const res = await fetch(`${base}${p}`)
        assert.equal(res.status, 200, `${p}: ${await res.clone().text()}`)
        return (await res.json()) as T
      }

      // agent-a's event stream, open before the crash.
      const ac = new AbortController()
      t.after(() => ac.abort())
      const stream = await fetch(`${a}/api/events?types=worker:exit`, { signal: ac.signal })
      const reader = stream.body!.getReader()

      const worker = async () => (await get<{ workers: WorkerView[] }>(a, '/api/workers')).workers[0]!
      await waitFor(async () => (await worker()).state === 'ready', "agent-a's worker ready", 20_000)
      const { id, pid } = await worker()
      process.kill(pid!, 'SIGKILL')

      // The stream: the exit, as agent-a recorded it.
      let buffer = ''
      const decoder = new TextDecoder()
      while (!/^data: .*$/m.test(buffer)) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += decoder.decode(value)
      }
      const streamed = JSON.parse(/^data: (.*)$/m.exec(buffer)![1]!) as RecordedEvent
      assert.equal(streamed.type, 'worker:exit')
      assert.equal(streamed.node, 'agent-a')

      // agent-b's API: agent-a's incident, recovered, and its events, each naming agent-a.
      const incidentsOf = async (node: string) =>
        (await get<{ incidents: Incident[] }>(b, `/api/incidents?node=${node}`)).incidents
      await waitFor(
        async () => (await incidentsOf('agent-a')).some((i) => i.outcome === 'recovered'),
        "agent-a's incident recovered, seen from agent-b",
        20_000,
      )
      const [incident] = await incidentsOf('agent-a')
      assert.equal(incident!.node, 'agent-a')
      assert.equal(incident!.workerId, id)
      assert.deepEqual(await incidentsOf('agent-b'), [], 'agent-b had no incident')
      const all = (await get<{ incidents: Incident[] }>(b, '/api/incidents')).incidents
      assert.deepEqual(
        all.map((i) => [i.id, i.node]),
        [[incident!.id, 'agent-a']],
      )

      const eventsOf = async (query: string) =>
        (await get<{ events: RecordedEvent[] }>(b, `/api/events/recorded?${query}`)).events
      await waitFor(
        async () => (await eventsOf('node=agent-a&types=incident:recovered')).length === 1,
        "agent-a's incident:recovered in the store",
        20_000,
      )
      const exits = await eventsOf('node=agent-a&types=worker:exit')
      assert.deepEqual(
        exits.map((e) => [e.workerId, e.node, (e.data as { pid: number }).pid]),
        [[id, 'agent-a', pid]],
      )
      assert.ok(
        (await eventsOf('node=agent-a&types=incident:')).every(
          (e) => e.node === 'agent-a' && e.incidentId === incident!.id,
        ),
      )
      assert.deepEqual(await eventsOf('node=agent-b&types=worker:exit,incident:'), [])
      const started = await eventsOf('types=supervisor:started')
      assert.deepEqual(started.map((e) => e.node).sort(), ['agent-a', 'agent-b'], 'every agent’s start')

      // agent-b's CLI: the shared store shows each incident's node and a NODE column of events.
      const cli = (args: string[]) =>
        runCli([...args, '-c', configOf('agent-b')], {
          env: { ...CLI_ENV, SHEPHERD_TEST_STORE_URL: url },
          built: true,
        })
      const incidents = await cli(['incidents', '--node', 'agent-a'])
      assert.equal(incidents.code, 0, incidents.stderr)
      assert.match(
        incidents.stdout,
        new RegExp(`^incident ${incident!.id}\\n {2}worker .*\\n {2}node +agent-a$`, 'm'),
      )
      const events = await cli(['events', '--node', 'agent-a', '--type', 'worker:exit'])
      assert.equal(events.code, 0, events.stderr)
      const [header, row, ...rest] = events.stdout.trimEnd().split('\n')
      assert.match(header!, /^SEQ +TIME +NODE +SEVERITY +TYPE +WORKER +MESSAGE$/)
      assert.match(row!, new RegExp(`^\\d+ +\\S+ +agent-a +warning +worker:exit +${id.replace('#', '\\#')} `))
      assert.deepEqual(rest, [])

      // agent-a's /metrics: every series names its node.
      const metrics = await (await fetch(`${a}/metrics`)).text()
      const series = metrics.split('\n').filter((l) => l !== '' && !l.startsWith('#'))
      assert.ok(series.length > 50)
      for (const line of series) assert.match(line, /[{,]node="agent-a"[,}]/, line)
      assert.match(
        metrics,
        /\nshepherd_incidents_recovered_total\{pool="api",cause="crash",node="agent-a"\} 1\n/,
      )
    },
  )
})
