/**
 * The `node` section: who this agent is in a fleet. Its name (the key of its lease in a shared
 * store: two agents may run on one host under two names), its labels (which pools' `nodes`
 * selectors match it), and its lease length on a shared store. And the placement of pools on
 * nodes: `workers.<pool>.nodes`.
 * @module
 */
import os from 'node:os'

import { z } from 'zod'

import { duration } from './units.js'

/** The environment variable that names the node, over `node.name`. */
export const NODE_ENV = 'SHEPHERD_NODE'

/** A node name: what a lease row, a selector and a message carry. */
export const NODE_NAME = /^[A-Za-z0-9_.-]{1,128}$/

const nodeName = z
  .string()
  .regex(NODE_NAME, 'expected a node name of letters, digits, "_", "." or "-" (at most 128)')

export const NodeSchema = z
  .strictObject({
    name: nodeName
      .optional()
      .describe(
        `This agent's name in a fleet: the key of its lease in the store. Default: the ${NODE_ENV} environment variable, else the host name. Two agents may run on one host under two names; two agents with one name are refused while the first lives.`,
      ),
    labels: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a label key of letters, digits, "_", "." or "-"'),
        z.string(),
      )
      .prefault({})
      .describe("Labels of this node (zone: eu-1), matched by the pools' nodes selectors (label=value)."),
    lease: duration({ min: 300 })
      .prefault(3)
      .describe(
        'Lease length of an agent on a shared (PostgreSQL) store: an agent that stops renewing (dead, cut off) is taken for gone after this, and its jobs are put back. It renews every third of it. The embedded SQLite store keeps a 30 s lease (its OS lock tells at once).',
      ),
  })
  .prefault({})
  .describe('This agent in a fleet: its name, labels and lease. See docs/store.md.')

export type NodeConfig = z.output<typeof NodeSchema>

/** `workers.<pool>.nodes`: node names or `label=value` selectors; a pool without it runs on every node. */
export const PoolNodesSchema = z
  .array(z.string().regex(/^[A-Za-z0-9_.-]+(=[^=]*)?$/, 'expected a node name or a label=value selector'))
  .min(1)
  .optional()
  .describe(
    'Nodes this pool runs on: node names, or label=value selectors matched against node.labels; any match places it. Default: every node.',
  )

/** This agent as a fleet knows it. */
export interface NodeIdentity {
  name: string
  labels: Record<string, string>
  /** Lease length on a shared store (ms). */
  leaseMs: number
}

/** The node of a config: `SHEPHERD_NODE`, else `node.name`, else the host name. */
export function nodeIdentity(
  node: NodeConfig,
  env: Record<string, string | undefined>,
  hostname: string = os.hostname(),
): NodeIdentity | { problem: string } {
  const fromEnv = env[NODE_ENV]
  if (fromEnv !== undefined && fromEnv !== '' && !NODE_NAME.test(fromEnv)) {
    return {
      problem: `expected ${NODE_ENV} to be a node name of letters, digits, "_", "." or "-", got ${JSON.stringify(fromEnv)}`,
    }
  }
  const name = fromEnv !== undefined && fromEnv !== '' ? fromEnv : (node.name ?? hostname)
  return { name, labels: node.labels, leaseMs: node.lease }
}

/** Whether a pool with these `nodes` selectors runs on this node. */
export function placedOn(
  selectors: readonly string[] | undefined,
  node: Pick<NodeIdentity, 'name' | 'labels'>,
): boolean {
  if (selectors === undefined) return true
  return selectors.some((s) => {
    const eq = s.indexOf('=')
    if (eq < 0) return s === node.name
    return node.labels[s.slice(0, eq)] === s.slice(eq + 1)
  })
}
