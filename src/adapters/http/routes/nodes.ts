/**
 * The fleet: every agent (node) sharing the store, from the lease each holds there and what it
 * recorded about its workers with its last heartbeat. Read from the store, never from the other
 * agents' APIs (usually bound to their own localhost). On SQLite, the one supervisor. A dead node
 * can be forgotten (taken off the list).
 * @module
 */
import { z } from 'zod'

import { formatDuration } from '../../../config/units.js'
import { type FleetNode, heartbeatAge, viewNode } from '../../../core/fleet-node.js'
import { ShepherdError } from '../../../errors.js'
import { nodeWorkload } from '../../../supervisor/node-workload.js'
import { ForgetNodeResponseSchema, NodesResponseSchema } from '../responses.js'
import { type ApiRoute, defineRoute, json, STORE_WRITE_ERRORS } from '../route.js'

/** The `{name}` of a node route. */
const NodeParams = z.strictObject({
  name: z.string().describe('The node’s name (`shepherd nodes` lists them), percent-encoded.'),
})

export const nodeRoutes: readonly ApiRoute[] = [
  defineRoute(
    {
      method: 'get',
      path: '/api/nodes',
      operationId: 'listNodes',
      tag: 'fleet',
      summary: 'Every agent sharing the store: alive or dead, version, workers',
      description:
        'One entry per node that holds a lease, by name: `alive` while its lease is live, `dead` once it expired ' +
        '(a node stopped cleanly gives its lease up and is not listed). Each node’s workers are as it recorded them ' +
        'with its last heartbeat (every third of `node.lease`); the answering agent’s own are as they are now.',
      responses: { 200: json(NodesResponseSchema, 'The nodes.') },
    },
    async (c) => {
      const { store, supervisor, clock, node: self } = c.var.ctx
      const [nodes, leadership] = await Promise.all([store.listNodes(), store.readLeadership()])
      const now = clock.now()
      const leader = leadership !== null && now < leadership.expiresAt ? leadership.node : null
      const own = () => nodeWorkload(supervisor.listWorkers(), supervisor.listPools())
      return c.json(
        { nodes: nodes.map((n) => viewNode(n, now, leader, n.name === self ? own() : undefined)) },
        200,
      )
    },
  ),

  defineRoute(
    {
      method: 'delete',
      path: '/api/nodes/{name}',
      operationId: 'forgetNode',
      tag: 'fleet',
      summary: 'Forget a dead node: take it off the list',
      description:
        'Only a `dead` node (its lease expired) is forgotten; a live one is refused, and is left as it is. Deleted: ' +
        'its lease (its entry in `GET /api/nodes`) and, on PostgreSQL, its workers’ saved state (logs, last report, ' +
        'checkpoint: nobody else reads it). Kept: its incidents and events (the leader closed its open incidents as ' +
        'interrupted), its last lease epoch (an agent that later starts under the name gets a new one), and the ' +
        'records of its worker processes (only an agent of that name on its host can stop any that outlived it). ' +
        'Its jobs in flight are the leader’s to put back, as for any dead node. The agent that answers records a ' +
        '`node:forgotten` event.',
      request: { params: NodeParams },
      responses: { 200: json(ForgetNodeResponseSchema, 'The node was forgotten.') },
      errors: ['SHEPHERD_NODE_NOT_FOUND', 'SHEPHERD_NODE_ALIVE', ...STORE_WRITE_ERRORS],
    },
    async (c) => {
      const { name } = c.req.valid('param')
      const { store, clock, node: self, record } = c.var.ctx
      const now = clock.now()
      const outcome = await store.forgetNode(name, now)
      switch (outcome.kind) {
        case 'forgotten':
          record({
            type: 'node:forgotten',
            at: now,
            severity: 'info',
            message: `node ${name} forgotten: it was dead (${lastHeartbeat(outcome.node, now)}); ${outcome.workerStates} saved worker state(s) went with its lease`,
            pool: null,
            workerId: null,
            incidentId: null,
            data: { node: name, epoch: outcome.node.epoch, workerStates: outcome.workerStates },
          })
          return c.json(
            { forgotten: viewNode(outcome.node, now, null), workerStates: outcome.workerStates },
            200,
          )
        case 'alive':
          throw new ShepherdError('SHEPHERD_NODE_ALIVE', aliveMessage(outcome.node, now, name === self))
        case 'unknown': {
          const names = (await store.listNodes()).map((n) => n.name).join(', ')
          throw new ShepherdError(
            'SHEPHERD_NODE_NOT_FOUND',
            `no node "${name}" holds a lease in the store; the nodes are: ${names === '' ? 'none' : names} (see shepherd nodes)`,
          )
        }
        default: {
          const never: never = outcome
          throw new TypeError(`unknown outcome ${JSON.stringify(never)}`)
        }
      }
    },
  ),
]

/** `last heartbeat 1.00s ago`, as both answers say it. */
function lastHeartbeat(node: FleetNode, now: number): string {
  return `last heartbeat ${formatDuration(heartbeatAge(node, now))} ago`
}

/** Why a live node is not forgotten, and what to do instead. */
function aliveMessage(node: FleetNode, now: number, answering: boolean): string {
  const who = answering
    ? 'it is the agent answering this request'
    : `its lease is live for another ${formatDuration(Math.max(0, node.expiresAt - now))} (${lastHeartbeat(node, now)}; pid ${node.pid} on host ${node.host})`
  return (
    `node "${node.name}" is alive: ${who}. Only a dead node can be forgotten. Stop its agent instead: a clean ` +
    'stop (SIGTERM) gives its lease up and the node leaves the list by itself. An agent that was killed or cut off ' +
    'is listed dead once node.lease has passed without a heartbeat (shepherd nodes); forget it then.'
  )
}
