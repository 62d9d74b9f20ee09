import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { loadConfigText } from '../../src/config/load.js'
import { nodeIdentity, placedOn } from '../../src/config/node-schema.js'
import { isShepherdError } from '../../src/errors.js'

const text = `
node:
  name: agent-a
  labels: { zone: eu-1, disk: ssd }
  lease: 5s
workers:
  everywhere: { command: node }
  by-name: { command: node, nodes: [agent-a] }
  by-label: { command: node, nodes: ['zone=eu-1'] }
  elsewhere: { command: node, nodes: [agent-b, 'zone=us-1'] }
`

describe('node identity and pool placement', () => {
  it('names the node from node.name, with labels and lease, and places pools by name or label', () => {
    const loaded = loadConfigText(text, '/x/c.yaml', {})
    assert.deepEqual(loaded.node, { name: 'agent-a', labels: { zone: 'eu-1', disk: 'ssd' }, leaseMs: 5_000 })
    assert.deepEqual(
      loaded.pools.map((p) => p.name),
      ['everywhere', 'by-name', 'by-label'],
    )
    assert.equal(loaded.allPools.length, 4)
  })

  it('takes SHEPHERD_NODE over node.name, and the host name when neither is given', () => {
    const loaded = loadConfigText(text, '/x/c.yaml', { SHEPHERD_NODE: 'agent-b' })
    assert.equal(loaded.node.name, 'agent-b')
    assert.deepEqual(
      loaded.pools.map((p) => p.name),
      ['everywhere', 'by-label', 'elsewhere'],
    )
    const plain = nodeIdentity({ labels: {}, lease: 3_000 }, {}, 'host-7')
    assert.deepEqual(plain, { name: 'host-7', labels: {}, leaseMs: 3_000 })
  })

  it('defaults the lease to 3 s and refuses a lease under 300 ms or a bad node name', () => {
    assert.equal(loadConfigText('workers:\n  a: { command: node }\n', '/x/c.yaml', {}).node.leaseMs, 3_000)
    assert.throws(
      () => loadConfigText('node: { lease: 100ms }\nworkers:\n  a: { command: node }\n', '/x/c.yaml', {}),
      (e: unknown) =>
        isShepherdError(e) && e.code === 'SHEPHERD_CONFIG_INVALID' && /node\.lease/.test(e.message),
    )
    assert.throws(
      () => loadConfigText('workers:\n  a: { command: node }\n', '/x/c.yaml', { SHEPHERD_NODE: 'a b' }),
      (e: unknown) => isShepherdError(e) && /SHEPHERD_NODE/.test(e.message),
    )
  })

  it('matches selectors: a name, or label=value; none given places everywhere', () => {
    const node = { name: 'n1', labels: { zone: 'eu-1' } }
    assert.equal(placedOn(undefined, node), true)
    assert.equal(placedOn(['n1'], node), true)
    assert.equal(placedOn(['zone=eu-1'], node), true)
    assert.equal(placedOn(['zone=us-1', 'n2'], node), false)
    assert.equal(placedOn(['zone'], node), false)
  })
})
