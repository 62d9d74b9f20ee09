/**
 * The slot machine (src/core/slot.ts): every move worker-state.ts allows is made by some event and
 * no other is; events a phase cannot receive and moves the table does not allow throw; the races a
 * supervisor lives with are ignored; revive is a trial inside the machine.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'

import type { ExitReport } from '../../src/core/exit-report.js'
import type { Incident } from '../../src/core/incident.js'
import { stepSlot } from '../../src/core/slot.js'
import {
  canScaleIn,
  isWatched,
  newSlot,
  PHASE_STATES,
  SLOT_PHASES,
  type SlotEffect,
  type SlotEvent,
  type SlotState,
} from '../../src/core/slot-model.js'
import { allowedMoves, WORKER_STATES, type WorkerState } from '../../src/core/worker-state.js'
import { isShepherdError } from '../../src/errors.js'
import { incidentRecord } from '../helpers/fakes.js'

type P = string
const policy = { verify_timeout: 3_000, revive_interval: 60_000, stable_after: 10_000 }

function exit(pid: number, over: Partial<ExitReport> = {}): ExitReport {
  return {
    pid,
    exitCode: 1,
    signal: null,
    killedByUs: false,
    forced: false,
    spawnFailed: false,
    at: 0,
    durationMs: 5,
    ...over,
  }
}

const inc = (id = 'inc-1'): Incident => incidentRecord(id, 'w#1', 1_000, { phase: 'saving', outcome: null })

/** Applies events in order (1 ms apart), collecting every effect. */
function play(
  events: SlotEvent<P>[],
  from: SlotState<P> = newSlot<P>(),
): { slot: SlotState<P>; effects: SlotEffect<P>[]; moves: string[] } {
  let slot = from
  const effects: SlotEffect<P>[] = []
  events.forEach((e, i) => {
    const t = stepSlot(slot, e, { now: 1_000 + i, policy })
    slot = t.slot
    effects.push(...t.effects)
  })
  const moves = effects.flatMap((e) => (e.kind === 'state' ? [`${e.from} → ${e.to}`] : []))
  return { slot, effects, moves }
}

const kinds = (effects: SlotEffect<P>[]) => effects.map((e) => e.kind)

// Building blocks: a slot whose process `a` is ready; an incident opened for it; an escalated slot.
const launched: SlotEvent<P>[] = [
  { type: 'spawned', proc: 'a', pid: 1 },
  { type: 'ready', proc: 'a', how: 'sdk' },
]
const crashed: SlotEvent<P>[] = [
  ...launched,
  { type: 'exit', proc: 'a', exit: exit(1) },
  { type: 'incident-opened', incident: inc(), live: false },
]
const escalated: SlotEvent<P>[] = [
  ...crashed,
  { type: 'escalated', incident: inc(), reason: 'restart_limit' },
]
const onTrial: SlotEvent<P>[] = [
  ...escalated,
  { type: 'timer', timer: 'revive', proc: null },
  { type: 'spawned', proc: 'r', pid: 9 },
]

/** Scenarios that, together, make every move the table allows. */
const SCENARIOS: Record<string, SlotEvent<P>[]> = {
  'crash, restart, recover': [
    ...crashed,
    { type: 'restarting', reason: 'stopped', live: false },
    { type: 'spawned', proc: 'b', pid: 2 },
    { type: 'recovered', incident: inc() },
  ],
  'degraded and back': [
    ...launched,
    { type: 'health', proc: 'a', ailing: 'cpu 95%' },
    { type: 'health', proc: 'a', ailing: null },
  ],
  'soft restart of a degraded worker': [
    ...launched,
    { type: 'health', proc: 'a', ailing: 'memory' },
    { type: 'incident-opened', incident: inc(), live: true },
    { type: 'stopping', reason: 'soft_restart' },
    { type: 'stopped', reason: 'exited with code 0' },
    { type: 'restarting', reason: 'stopped for incident', live: false },
    { type: 'spawned', proc: 'b', pid: 2 },
    { type: 'exit', proc: 'b', exit: exit(2) },
    { type: 'restarting', reason: 'backoff', live: false },
    { type: 'escalated', incident: inc(), reason: 'retries' },
  ],
  'a start that fails to be ready, stopped hard': [
    { type: 'spawned', proc: 'a', pid: 1 },
    { type: 'incident-opened', incident: inc(), live: true },
    { type: 'stopping', reason: 'hard_restart' },
  ],
  'a process gone before its incident saw the exit': [
    { type: 'spawned', proc: 'a', pid: 1 },
    { type: 'incident-opened', incident: inc(), live: false },
    { type: 'interrupted', incident: inc(), reason: 'internal error' },
  ],
  'a ready worker gone before its incident saw the exit, then escalated from exited': [
    ...launched,
    { type: 'incident-opened', incident: inc(), live: false },
    { type: 'spawned', proc: 'b', pid: 2 },
    { type: 'stopping', reason: 'escalated' },
    { type: 'stopped', reason: 'killed' },
    { type: 'escalated', incident: inc(), reason: 'retries' },
  ],
  'scale recovery whose sick worker dies while its replacement starts': [
    ...launched,
    { type: 'incident-opened', incident: inc(), live: true },
    { type: 'spawned', proc: 'b', pid: 2, surge: true },
    { type: 'exit', proc: 'a', exit: exit(1) },
    { type: 'retired' },
    { type: 'recovered', incident: inc() },
  ],
  'a degraded worker gone before its incident saw the exit': [
    ...launched,
    { type: 'health', proc: 'a', ailing: 'cpu' },
    { type: 'incident-opened', incident: inc(), live: false },
  ],
  'revive attempts: failed before ready, failed when ready, failed when degraded': [
    ...onTrial,
    { type: 'timer', timer: 'trial-verify', proc: 'r' },
    { type: 'timer', timer: 'revive', proc: null },
    { type: 'spawned', proc: 's', pid: 10 },
    { type: 'ready', proc: 's', how: 'uptime' },
    { type: 'exit', proc: 's', exit: exit(10) },
    { type: 'timer', timer: 'revive', proc: null },
    { type: 'spawned', proc: 't', pid: 11 },
    { type: 'ready', proc: 't', how: 'uptime' },
    { type: 'health', proc: 't', ailing: 'cpu' },
    { type: 'anomaly', proc: 't', anomaly: { cause: 'hang', detail: 'no heartbeat' } },
  ],
  'a manual restart of a failed worker': [
    ...escalated,
    { type: 'incident-opened', incident: inc('inc-2'), live: false },
  ],
  'shutdown of a failed worker': [...escalated, { type: 'shutdown', reason: 'stop', live: false }],
  'shutdown during a backoff': [
    ...crashed,
    { type: 'shutdown', reason: 'stop', live: false },
    { type: 'interrupted', incident: inc(), reason: 'stop' },
  ],
  'shutdown while restarting, with a straggler alive': [
    ...crashed,
    { type: 'shutdown', reason: 'stop', live: true },
  ],
  'shutdown of a running worker': [
    ...launched,
    { type: 'shutdown', reason: 'stop', live: true },
    { type: 'shut', reason: 'stopped' },
  ],
  'a crash at once': [
    { type: 'spawned', proc: 'a', pid: 1 },
    { type: 'exit', proc: 'a', exit: exit(1) },
  ],
  'a failed start escalated at once': [
    { type: 'spawned', proc: 'a', pid: 1 },
    { type: 'incident-opened', incident: inc(), live: true },
    { type: 'escalated', incident: inc(), reason: 'restart_limit' },
  ],
  'a ready worker escalated before its exit was seen': [
    ...launched,
    { type: 'incident-opened', incident: inc(), live: true },
    { type: 'escalated', incident: inc(), reason: 'restart_limit' },
  ],
  'a degraded worker escalated before its exit was seen': [
    ...launched,
    { type: 'health', proc: 'a', ailing: 'cpu' },
    { type: 'incident-opened', incident: inc(), live: true },
    { type: 'escalated', incident: inc(), reason: 'restart_limit' },
  ],
  'a degraded worker stopped': [
    ...launched,
    { type: 'health', proc: 'a', ailing: 'cpu' },
    { type: 'shutdown', reason: 'stop', live: true },
  ],
  'a degraded worker exits': [
    ...launched,
    { type: 'health', proc: 'a', ailing: 'cpu' },
    { type: 'exit', proc: 'a', exit: exit(1) },
  ],
}

describe('the slot machine', () => {
  it('makes every move worker-state.ts allows, and no other', () => {
    const made = new Set<string>()
    for (const events of Object.values(SCENARIOS)) for (const m of play(events).moves) made.add(m)
    const allowed = new Set(allowedMoves().map(([from, to]) => `${from} → ${to}`))
    assert.deepEqual(
      [...allowed].filter((m) => !made.has(m)),
      [],
      'allowed moves no scenario makes',
    )
    assert.deepEqual(
      [...made].filter((m) => !allowed.has(m)),
      [],
      'moves made that the table does not allow',
    )
  })

  it('shows in each phase only the states of that phase', () => {
    for (const events of Object.values(SCENARIOS)) {
      let slot = newSlot<P>()
      events.forEach((e, i) => {
        slot = stepSlot(slot, e, { now: i, policy }).slot
        assert.ok(PHASE_STATES[slot.phase].includes(slot.state), `${slot.phase} shows ${slot.state}`)
      })
    }
    const shown = new Set(Object.values(PHASE_STATES).flat())
    assert.deepEqual(
      (Object.keys(WORKER_STATES) as WorkerState[]).filter((s) => !shown.has(s)),
      [],
    )
  })

  it('throws on an event a phase cannot receive', () => {
    const illegal: Array<[string, SlotEvent<P>[], SlotEvent<P>]> = [
      ['a second first process', launched, { type: 'spawned', proc: 'x', pid: 5 }],
      [
        'an incident over an incident',
        crashed,
        { type: 'incident-opened', incident: inc('inc-2'), live: true },
      ],
      ['a stop outside a recovery', launched, { type: 'stopping', reason: 'x' }],
      ['a retire without a replacement', crashed, { type: 'retired' }],
      ['the end of another incident', crashed, { type: 'recovered', incident: inc('inc-9') }],
      ['a scale-in of a slot being recovered', crashed, { type: 'scale-in', reason: 'low backlog' }],
      [
        'an incident for a slot that is leaving',
        [...launched, { type: 'shutdown', reason: 's', live: true }],
        {
          type: 'incident-opened',
          incident: inc(),
          live: true,
        },
      ],
      [
        'a process started for a slot that is leaving',
        [{ type: 'shutdown', reason: 's', live: false }],
        {
          type: 'spawned',
          proc: 'x',
          pid: 5,
        },
      ],
    ]
    for (const [what, before, event] of illegal) {
      const { slot } = play(before)
      assert.throws(
        () => stepSlot(slot, event, { now: 0, policy }),
        (e: unknown) =>
          isShepherdError(e, 'SHEPHERD_INTERNAL') && /illegal slot event/.test((e as Error).message),
        what,
      )
    }
  })

  it('throws on a move the table does not allow', () => {
    // A slot whose state disagrees with its events (a bug elsewhere): recovered from exited.
    const { slot } = play(crashed)
    const broken: SlotState<P> = { ...slot, state: 'exited' }
    assert.throws(
      () => stepSlot(broken, { type: 'recovered', incident: inc() }, { now: 0, policy }),
      /illegal worker state move exited → ready in phase running/,
    )
  })

  it('opens an incident for a crash, a spawn failure, an anomaly, a stale answer and a start timeout', () => {
    assert.deepEqual(play(crashed.slice(0, 3)).effects.at(-1), {
      kind: 'open-incident',
      anomaly: { cause: 'crash', detail: 'exited with code 1' },
      exit: exit(1),
    })
    const failed = play([
      { type: 'spawned', proc: 'a', pid: 1 },
      { type: 'exit', proc: 'a', exit: exit(1, { spawnFailed: true, error: 'spawn ENOENT' }) },
    ])
    assert.equal((failed.effects.at(-1) as { anomaly: { cause: string } }).anomaly.cause, 'spawn-failed')
    const hang = play([
      ...launched,
      { type: 'anomaly', proc: 'a', anomaly: { cause: 'hang', detail: 'silent' } },
    ])
    assert.deepEqual(kinds(hang.effects).at(-1), 'open-incident')
    const stale = play([...launched, { type: 'stale', proc: 'a', detail: 'answered late' }])
    assert.deepEqual(stale.effects.at(-1), {
      kind: 'open-incident',
      anomaly: { cause: 'stale-delivery', detail: 'answered late' },
    })
    const slow = play([
      { type: 'spawned', proc: 'a', pid: 1 },
      { type: 'timer', timer: 'start-verify', proc: 'a' },
    ])
    assert.equal(kinds(slow.effects).join(), 'arm,open-incident')
  })

  it('judges a starting process only by its probes and stale answers', () => {
    const starting: SlotEvent<P>[] = [{ type: 'spawned', proc: 'a', pid: 1 }]
    const memory = play([
      ...starting,
      { type: 'anomaly', proc: 'a', anomaly: { cause: 'memory', detail: 'big' } },
    ])
    assert.deepEqual(kinds(memory.effects), ['arm'])
    const probe = play([
      ...starting,
      { type: 'anomaly', proc: 'a', anomaly: { cause: 'probe', detail: 'fails' } },
    ])
    assert.deepEqual(kinds(probe.effects), ['arm', 'open-incident'])
  })

  it('ignores what comes too late: an old process, a timer of a past start, an exit the incident handles', () => {
    const { slot } = play([...crashed, { type: 'spawned', proc: 'b', pid: 2 }])
    for (const late of [
      { type: 'ready', proc: 'a', how: 'sdk' },
      { type: 'anomaly', proc: 'a', anomaly: { cause: 'memory', detail: 'x' } },
      { type: 'health', proc: 'a', ailing: 'x' },
      { type: 'exit', proc: 'a', exit: exit(1) },
      { type: 'timer', timer: 'start-verify', proc: 'a' },
      { type: 'timer', timer: 'trial-stable', proc: 'a' },
      { type: 'timer', timer: 'revive', proc: null },
      { type: 'ready', proc: 'b', how: 'sdk' },
      { type: 'anomaly', proc: 'b', anomaly: { cause: 'hang', detail: 'x' } },
    ] as SlotEvent<P>[]) {
      const t = stepSlot(slot, late, { now: 0, policy })
      assert.deepEqual(t, { slot, effects: [] }, late.type)
    }
  })

  it('an exit during a recovery shows the process gone; with a replacement starting beside it, the slot is starting', () => {
    const r = play(
      SCENARIOS['scale recovery whose sick worker dies while its replacement starts']!.slice(0, 5),
    )
    assert.deepEqual(r.moves.slice(-2), ['ready → exited', 'exited → starting'])
    assert.equal(r.slot.proc, 'a')
    assert.equal(r.slot.surge, 'b')
  })

  it('a stale answer from a process the slot does not count on is killed at once', () => {
    const { effects } = play([...crashed, { type: 'stale', proc: 'a', detail: 'late' }])
    assert.deepEqual(effects.at(-1), { kind: 'kill', proc: 'a', reason: 'late' })
  })

  it('escalation: failed, out of service since the fault, the revive timer armed', () => {
    const { slot, effects } = play(escalated)
    assert.equal(slot.phase, 'failed')
    assert.equal(slot.incident, null)
    assert.deepEqual(slot.outage, {
      since: 1_000,
      incidentId: 'inc-1',
      attempts: 0,
      lastFailure: 'restart_limit',
    })
    assert.deepEqual(effects.at(-1), { kind: 'arm', timer: 'revive', ms: 60_000, proc: null })
  })

  it('revive: a trial that passes announces the worker once it has run stable_after', () => {
    const r = play([
      ...onTrial,
      { type: 'ready', proc: 'r', how: 'sdk' },
      { type: 'timer', timer: 'trial-stable', proc: 'r' },
    ])
    assert.equal(r.slot.phase, 'running')
    assert.equal(r.slot.outage, null)
    const readyAt = 1_000 + onTrial.length
    assert.deepEqual(
      r.effects.slice(-5).map((e) => e.kind),
      ['arm', 'state', 'reset-backoff', 'arm', 'revived'],
    )
    assert.deepEqual(r.effects.at(-1), {
      kind: 'revived',
      attempts: 1,
      afterMs: readyAt - 1_000,
      incidentId: 'inc-1',
    })
  })

  it('revive: a trial that fails is quiet, kills its process, and digests come at attempts 2, 4, 8', () => {
    let events: SlotEvent<P>[] = []
    const digests: number[] = []
    for (let attempt = 1; attempt <= 9; attempt++) {
      events = [
        ...events,
        { type: 'timer', timer: 'revive', proc: null },
        { type: 'spawned', proc: `r${attempt}`, pid: 100 + attempt },
        { type: 'exit', proc: `r${attempt}`, exit: exit(100 + attempt) },
      ]
    }
    const { slot, effects } = play(events, play(escalated).slot)
    for (const e of effects) if (e.kind === 'still-failing') digests.push(e.outage.attempts)
    assert.deepEqual(digests, [2, 4, 8])
    assert.equal(slot.phase, 'failed')
    assert.equal(slot.outage?.attempts, 9)
    assert.equal(slot.outage?.lastFailure, 'exited with code 1')
    assert.ok(!kinds(effects).includes('open-incident'), 'no incident')
    assert.equal(effects.filter((e) => e.kind === 'kill').length, 9)
  })

  it('a manual restart during a revive attempt ends the trial: its timers come to nothing', () => {
    const { slot } = play([...onTrial, { type: 'incident-opened', incident: inc('inc-2'), live: true }])
    assert.equal(slot.phase, 'recovering')
    assert.equal(slot.trial, null)
    for (const timer of ['trial-verify', 'trial-stable', 'revive'] as const) {
      assert.deepEqual(stepSlot(slot, { type: 'timer', timer, proc: 'r' }, { now: 0, policy }).effects, [])
    }
    assert.deepEqual(
      stepSlot(slot, { type: 'exit', proc: 'r', exit: exit(9) }, { now: 0, policy }).effects.map(
        (e) => e.kind,
      ),
      ['state'],
    )
  })

  it('the outage of a failed worker outlasts a manual restart that fails too, and ends with one that works', () => {
    const again = play([
      ...escalated,
      { type: 'incident-opened', incident: inc('inc-2'), live: false },
      { type: 'escalated', incident: inc('inc-2'), reason: 'retries' },
    ])
    assert.equal(again.slot.outage?.incidentId, 'inc-1', 'the outage began with the first escalation')
    const back = play([
      ...escalated,
      { type: 'incident-opened', incident: inc('inc-2'), live: false },
      { type: 'spawned', proc: 'b', pid: 2 },
      { type: 'recovered', incident: inc('inc-2') },
    ])
    assert.equal(back.slot.outage, null)
    assert.equal(back.slot.phase, 'running')
  })

  it('watches for hangs only a serving slot with nothing under way; scales in only those', () => {
    assert.ok(isWatched(play(launched).slot))
    assert.ok(canScaleIn(play(launched).slot))
    assert.ok(!isWatched(play(crashed).slot))
    assert.ok(!canScaleIn(play([...onTrial, { type: 'ready', proc: 'r', how: 'sdk' }]).slot))
    assert.ok(isWatched(play([...onTrial, { type: 'ready', proc: 'r', how: 'sdk' }]).slot))
  })
})

/** The rows of the markdown table between `<!-- name:begin … -->` and `<!-- name:end -->`, as cells. */
function docTable(name: string): string[][] {
  const doc = readFileSync(new URL('../../docs/recovery.md', import.meta.url), 'utf8')
  const from = doc.indexOf(`<!-- ${name}:begin`)
  const to = doc.indexOf(`<!-- ${name}:end -->`)
  assert.ok(from >= 0 && to > from, `docs/recovery.md has the ${name} table`)
  return doc
    .slice(from, to)
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim().replaceAll('`', '')),
    )
}

const list = (cell: string) => cell.split(',').map((x) => x.trim())

describe('docs/recovery.md', () => {
  it('lists the slot phases, the states each shows and what it means, as src/core/slot.ts has them', () => {
    const rows = docTable('slot-phases')
    assert.deepEqual(
      rows.map(([phase, states, meaning]) => [phase, list(states!), meaning]),
      Object.entries(SLOT_PHASES).map(([phase, meaning]) => [
        phase,
        [...PHASE_STATES[phase as keyof typeof SLOT_PHASES]],
        meaning,
      ]),
    )
  })
  it('lists the worker state moves as src/core/worker-state.ts allows them', () => {
    const rows = docTable('worker-moves')
    const documented = rows.flatMap(([from, to]) => list(to!).map((t) => `${from} → ${t}`))
    assert.deepEqual(
      documented,
      allowedMoves().map(([from, to]) => `${from} → ${to}`),
    )
  })
})
