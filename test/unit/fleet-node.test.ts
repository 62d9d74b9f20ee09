import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { formatNodes, styler } from '../../src/cli/format.js'
import { type FleetNode, heartbeatAge, nodeState, viewNode } from '../../src/core/fleet-node.js'

const T0 = 1_700_000_000_000
const web1: FleetNode = {
  name: 'web-1',
  host: 'host-1',
  pid: 4242,
  version: '0.1.0',
  apiUrl: 'http://127.0.0.1:7717',
  acquiredAt: T0 - 60_000,
  heartbeatAt: T0 - 400,
  expiresAt: T0 + 2_600,
  epoch: 3,
  workload: { running: 2, desired: 3, workers: [] },
}

describe('the fleet’s nodes', () => {
  it('are alive until their lease expires, dead from then on', () => {
    assert.equal(nodeState(web1, T0), 'alive')
    assert.equal(nodeState(web1, T0 + 2_599), 'alive')
    assert.equal(nodeState(web1, T0 + 2_600), 'dead')
  })

  it('never have a negative heartbeat age (another host’s clock a little ahead)', () => {
    assert.equal(heartbeatAge(web1, T0), 400)
    assert.equal(heartbeatAge(web1, T0 - 1_000), 0)
  })

  it('lead only while alive, and show a live workload over the recorded one', () => {
    assert.equal(viewNode(web1, T0, 'web-1').leader, true)
    assert.equal(viewNode(web1, T0 + 3_000, 'web-1').leader, false)
    assert.equal(viewNode(web1, T0, 'web-2').leader, false)
    const live = viewNode(web1, T0, null, { running: 3, desired: 3, workers: [] })
    assert.deepEqual([live.running, live.desired], [3, 3])
  })

  it('print as a table: state, heartbeat age, serving/wanted workers', () => {
    const dead: FleetNode = {
      ...web1,
      name: 'web-2',
      host: 'host-2',
      pid: 77,
      version: null,
      apiUrl: null,
      heartbeatAt: T0 - 42_000,
      expiresAt: T0 - 39_000,
      workload: null,
    }
    assert.equal(
      formatNodes([viewNode(web1, T0, 'web-1'), viewNode(dead, T0, 'web-1')], styler(false)),
      [
        'NODE   HOST    PID   VERSION  STATE           HEARTBEAT  WORKERS  API',
        'web-1  host-1  4242  0.1.0    alive (leader)  400ms ago  2/3      http://127.0.0.1:7717',
        'web-2  host-2  77    -        dead            42.0s ago  -        -',
      ].join('\n'),
    )
    assert.equal(formatNodes([], styler(false)), 'no nodes')
  })
})
