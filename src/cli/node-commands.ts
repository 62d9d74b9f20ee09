/**
 * The fleet from the command line: `shepherd nodes` (every agent sharing the store) and
 * `shepherd status` (every worker: this supervisor's on SQLite, every live node's on PostgreSQL,
 * one node's with `--node`). Both ask the local agent's API (`GET /api/nodes`, `GET /api/workers`),
 * which reads the other agents from the store: their APIs are usually bound to their own localhost.
 * @module
 */
import type { Command } from 'commander'

import type { ApiClient } from '../adapters/http/client.js'
import { formatDuration } from '../config/units.js'
import type { NodeView } from '../core/fleet-node.js'
import { ShepherdError } from '../errors.js'
import { type FleetWorker, formatFleetWorkers, formatNodes, formatWorkers, type Styler } from './format.js'

/** What the fleet commands need from the program that registers them. */
export interface NodeCommandContext {
  /** Writes one block of standard output (a newline is added). */
  out(text: string): void
  /** The API client of the config a command names, and whether its store is shared (PostgreSQL). */
  target(cmd: Command): { client: Pick<ApiClient, 'nodes' | 'workers' | 'forgetNode'>; shared: boolean }
  style: Styler
  /** The time uptimes are dated at. */
  now(): number
}

/**
 * Adds `shepherd status [--json] [--node NAME]` and `shepherd nodes [--json] [--forget NAME]` to the
 * program.
 * @example
 * ```ts
 * addNodeCommands(program, { out: io.out, target, style, now: () => Date.now() })
 * ```
 */
export function addNodeCommands(program: Command, ctx: NodeCommandContext): void {
  program
    .command('status')
    .description(
      'show every worker: pid, state, health score, restarts, uptime, worst indicator (on PostgreSQL, of every live node)',
    )
    .option('--json', 'print {"workers":[...]} as JSON')
    .option('--node <name>', "only this node's workers (shepherd nodes lists them)")
    .action(async (opts: { json?: boolean; node?: string }, cmd: Command) => {
      const { client, shared } = ctx.target(cmd)
      if (!shared && opts.node === undefined) {
        // One supervisor per SQLite store: its workers, as they are now, in full.
        const workers = await client.workers()
        ctx.out(opts.json ? JSON.stringify({ workers }) : formatWorkers(workers, ctx.style))
        return
      }
      const nodes = await client.nodes()
      const wanted = opts.node
      if (wanted !== undefined && !nodes.some((n) => n.name === wanted)) {
        const names = nodes.map((n) => n.name).join(', ')
        throw new ShepherdError(
          'SHEPHERD_NODE_NOT_FOUND',
          `no node "${wanted}" holds a lease in the store; the nodes are: ${names === '' ? 'none' : names} (see shepherd nodes)`,
        )
      }
      if (!shared) {
        // --node naming the one node of a SQLite store: the usual table.
        const workers = await client.workers()
        ctx.out(opts.json ? JSON.stringify({ workers }) : formatWorkers(workers, ctx.style))
        return
      }
      const shown = nodes.filter((n) => (wanted === undefined ? n.state === 'alive' : n.name === wanted))
      const workers: FleetWorker[] = shown.flatMap((n) => n.workers.map((w) => ({ node: n.name, ...w })))
      if (opts.json) {
        ctx.out(JSON.stringify({ workers }))
        return
      }
      const notes = nodes.flatMap((n) => noteAbout(n, wanted))
      ctx.out(
        [formatFleetWorkers(workers, ctx.now(), ctx.style), ...(notes.length > 0 ? ['', ...notes] : [])].join(
          '\n',
        ),
      )
    })

  program
    .command('nodes')
    .description(
      'show every agent sharing the store: node, host, pid, version, state (alive or dead), heartbeat, workers, API',
    )
    .option('--json', 'print {"nodes":[...]} as JSON (with --forget: {"forgotten":{...},"workerStates":N})')
    .option(
      '--forget <name>',
      'take a dead node off the list: deletes its lease and, on PostgreSQL, its workers’ saved state ' +
        '(checkpoints); keeps its incidents (the leader closed its open ones), its events, its lease epoch ' +
        'and the records of its worker processes. Refused while the node is alive (stop its agent instead)',
    )
    .action(async (opts: { json?: boolean; forget?: string }, cmd: Command) => {
      const { client } = ctx.target(cmd)
      if (opts.forget !== undefined) {
        const done = await client.forgetNode(opts.forget)
        ctx.out(opts.json ? JSON.stringify(done) : describeForgotten(done.forgotten, done.workerStates))
        return
      }
      const nodes = await client.nodes()
      ctx.out(opts.json ? JSON.stringify({ nodes }) : formatNodes(nodes, ctx.style))
    })
}

/** What `shepherd nodes --forget` did, in a line. */
function describeForgotten(node: NodeView, workerStates: number): string {
  const states = workerStates === 0 ? '' : ` and the saved state of ${workerStates} worker(s)`
  return (
    `forgot node ${node.name} (dead, last heartbeat ${formatDuration(node.heartbeatAgeMs)} ago): ` +
    `its lease${states} deleted; its incidents and events kept`
  )
}

/** What the status table of a shared store does not show about a node, in a line; none when it shows it all. */
function noteAbout(n: NodeView, wanted: string | undefined): string[] {
  const ago = formatDuration(n.heartbeatAgeMs)
  if (wanted !== undefined && n.name !== wanted) return []
  if (n.state === 'dead') {
    return wanted === undefined
      ? [
          `${n.name} is dead (no heartbeat for ${ago}): shepherd status --node ${n.name} shows its workers as last recorded`,
        ]
      : [`${n.name} is dead (no heartbeat for ${ago}): its workers as it last recorded them`]
  }
  if (n.running === null) return [`${n.name} has not recorded its workers yet: it has just started`]
  return []
}
