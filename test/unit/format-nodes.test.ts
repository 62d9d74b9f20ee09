/**
 * The CLI's incident blocks and event table name the node of each record when the store is shared
 * (`nodes`), `-` for records stored before nodes were recorded, and say nothing of it otherwise.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { formatEvents, formatIncident, styler } from '../../src/cli/format.js'
import { exitEvent } from '../contract/store.contract.js'
import { incidentRecord } from '../helpers/fakes.js'

const style = styler(false)
const T0 = Date.UTC(2026, 11, 5, 7, 24, 43, 351)

describe('the node in CLI output', () => {
  it('adds a node line to an incident on a shared store, - when it has none', () => {
    const inc = incidentRecord('inc-1', 'email#1', T0, { node: 'web-1' })
    const shared = formatIncident(inc, { now: T0, style, timeZone: 'UTC', nodes: true }).split('\n')
    assert.deepEqual(shared.slice(0, 3), [
      'incident inc-1',
      '  worker        email#1 (pool email)',
      '  node          web-1',
    ])
    const old = formatIncident({ ...inc, node: null }, { now: T0, style, timeZone: 'UTC', nodes: true })
    assert.match(old, /^ {2}node {10}-$/m)
    assert.doesNotMatch(formatIncident(inc, { now: T0, style, timeZone: 'UTC' }), /node/)
  })

  it('adds a NODE column to the event table on a shared store', () => {
    const events = [
      { ...exitEvent(T0, 'email#1', 13095, 'web-1'), seq: 8 },
      { ...exitEvent(T0 + 1, 'email#1', 13116, null), seq: 9 },
    ]
    assert.equal(
      formatEvents(events, { style, timeZone: 'UTC', nodes: true }),
      [
        'SEQ  TIME                           NODE   SEVERITY  TYPE         WORKER   MESSAGE',
        '8    2026-12-05T07:24:43.351+00:00  web-1  warning   worker:exit  email#1  email#1 (pid 13095) was killed by SIGKILL after 3600000 ms',
        '9    2026-12-05T07:24:43.352+00:00  -      warning   worker:exit  email#1  email#1 (pid 13116) was killed by SIGKILL after 3600000 ms',
      ].join('\n'),
    )
    assert.doesNotMatch(formatEvents(events, { style, timeZone: 'UTC' }), /NODE|web-1/)
    assert.equal(formatEvents([], { style, nodes: true }), 'no events')
  })
})
