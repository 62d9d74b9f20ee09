/**
 * The fleet: every agent (node) sharing the store, from the lease each holds there and what it
 * recorded about its workers with its last heartbeat. Read from the store, never from the other
 * agents' APIs (usually bound to their own localhost). On SQLite, the one supervisor.
 * @module
 */
import { viewNode } from '../../../core/fleet-node.js'
import { nodeWorkload } from '../../../supervisor/node-workload.js'
import { NodesResponseSchema } from '../responses.js'
import { type ApiRoute, defineRoute, json } from '../route.js'

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
]
