/**
 * Event hooks, the pure parts: the `hooks:` config, the policy's per-destination event filter
 * (what a hook takes that Slack and webhooks never do, and the loops it must not feed), a hook's
 * own limits, and how hooks are named and built.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { validateConfigText } from '../../src/config/load.js'
import { ConfigSchema } from '../../src/config/schema.js'
import { type AnyEvent, EVENT_TYPES, eventMatches, isEventPattern } from '../../src/core/events.js'
import {
  decide,
  emptyPolicyState,
  isNotifiableAt,
  type PolicyDestination,
  type PolicySettings,
  type PolicyState,
} from '../../src/core/notification-policy.js'
import { CommandNotifier, createHookNotifiers, hookEnv, WebhookNotifier } from '../../src/notify/index.js'

const WORKERS = 'workers:\n  w:\n    command: node\n'
const SETTINGS: PolicySettings = { rateLimit: { max: 3, window: 60_000 }, dedupWindow: 10_000 }
const SLACK: PolicyDestination = { name: 'slack', minSeverity: 'info' }
const ALL: PolicyDestination = { name: 'hook:all', minSeverity: 'info', events: ['*'] }

function event(type: AnyEvent['type'], over: Partial<AnyEvent> = {}): AnyEvent {
  return {
    type,
    at: 1000,
    severity: 'info',
    message: `${type} happened`,
    pool: 'email',
    workerId: 'email#1',
    incidentId: null,
    data: {},
    ...over,
  } as AnyEvent
}

function failed(notifier: string): AnyEvent {
  return event('notifier:failed', {
    severity: 'warning',
    workerId: null,
    pool: null,
    message: `notification to ${notifier} failed`,
    data: { notifier, error: 'HTTP 500', eventType: 'incident:opened', attempts: 4 },
  } as Partial<AnyEvent>)
}

function problemsOf(yaml: string) {
  return validateConfigText(`${yaml}\n${WORKERS}`).problems
}

describe('hooks config', () => {
  it('parses a url hook and a command hook with their defaults', () => {
    const { config } = validateConfigText(
      [
        'hooks:',
        '  - events: ["incident:", worker:exit]',
        '    url: https://ops.example.com/shepherd',
        '    headers: { Authorization: Bearer x }',
        '  - events: ["*"]',
        '    min_severity: warning',
        '    command: ./page.sh',
        '    args: [--team, ops]',
        '    timeout: 30s',
        '    rate_limit: { max: 100, window: 1m }',
        '    dedup_window: 0',
        WORKERS,
      ].join('\n'),
    )
    assert.ok(config)
    assert.deepEqual(config.hooks, [
      {
        events: ['incident:', 'worker:exit'],
        min_severity: 'info',
        url: 'https://ops.example.com/shepherd',
        headers: { Authorization: 'Bearer x' },
      },
      {
        events: ['*'],
        min_severity: 'warning',
        command: './page.sh',
        args: ['--team', 'ops'],
        timeout: 30_000,
        rate_limit: { max: 100, window: 60_000 },
        dedup_window: 0,
      },
    ])
    assert.deepEqual(ConfigSchema.parse({ workers: { w: { command: 'x' } } }).hooks, [])
  })

  it('wants exactly one of url and command', () => {
    const both = problemsOf('hooks:\n  - events: ["*"]\n    url: https://a.example\n    command: x')
    assert.equal(both[0]!.path, 'hooks.0')
    assert.equal(both[0]!.line, 2)
    assert.match(both[0]!.message, /expected exactly one of url and command, got both/)
    assert.match(problemsOf('hooks:\n  - events: ["*"]')[0]!.message, /got neither/)
  })

  it('keeps headers with url and args with command', () => {
    const p = problemsOf('hooks:\n  - events: ["*"]\n    command: x\n    headers: { A: b }')
    assert.equal(p[0]!.path, 'hooks.0.headers')
    assert.match(p[0]!.message, /headers go with url/)
    const q = problemsOf('hooks:\n  - events: ["*"]\n    url: https://a.example\n    args: [x]')
    assert.equal(q[0]!.path, 'hooks.0.args')
  })

  it('refuses an event filter that matches nothing, listing the prefixes', () => {
    for (const bad of ['incident', 'incidents:', 'worker:exited', '']) {
      const p = problemsOf(`hooks:\n  - events: ["${bad}"]\n    command: x`)
      assert.equal(p.length, 1, bad)
      assert.equal(p[0]!.path, 'hooks.0.events.0')
      assert.match(
        p[0]!.message,
        /expected "\*", an event type or a prefix ending in ":" \(supervisor:, worker:/,
      )
    }
    assert.match(problemsOf('hooks:\n  - events: []\n    command: x')[0]!.message, /at least 1 item/)
  })

  it('is strict: an unknown key is named', () => {
    const p = problemsOf('hooks:\n  - events: ["*"]\n    command: x\n    shell: true')
    assert.equal(p[0]!.path, 'hooks.0.shell')
  })

  it('has notifications.locale, en by default, and pools run without a shell by default', () => {
    const config = ConfigSchema.parse({ workers: { w: { command: 'x' } } })
    assert.equal(config.notifications.locale, 'en')
    assert.equal(config.workers.w!.shell, false)
    assert.match(problemsOf('notifications:\n  locale: fr')[0]!.message, /expected one of "en", "ja"/)
  })
})

describe('event filters', () => {
  it('match all, a type, or a prefix', () => {
    assert.ok(eventMatches('worker:exit', ['*']))
    assert.ok(eventMatches('incident:step', ['incident:']))
    assert.ok(eventMatches('job:stale', ['worker:exit', 'job:stale']))
    assert.ok(!eventMatches('incident:step', ['incident']))
    assert.ok(!eventMatches('worker:exit', []))
    assert.ok(isEventPattern('pool:') && isEventPattern('*') && !isEventPattern('pools:'))
    assert.equal(new Set(EVENT_TYPES).size, EVENT_TYPES.length)
    assert.ok(EVENT_TYPES.includes('notifier:failed'))
  })
})

describe('the policy with a per-destination event filter', () => {
  it('sends Slack and webhooks only the notification events; a hook whatever its filter takes', () => {
    for (const type of ['worker:state', 'health:changed', 'job:requeued', 'supervisor:started'] as const) {
      assert.ok(!isNotifiableAt(event(type), SLACK), type)
      assert.ok(isNotifiableAt(event(type), ALL), type)
    }
    const jobs: PolicyDestination = { name: 'hook:jobs', minSeverity: 'info', events: ['job:'] }
    assert.ok(isNotifiableAt(event('job:requeued'), jobs))
    assert.ok(!isNotifiableAt(event('incident:opened'), jobs))
  })

  it('tells a hook that Slack failed, but never passes on a hook’s own failures', () => {
    assert.ok(!isNotifiableAt(failed('slack'), SLACK), 'Slack never hears of notifier:failed')
    assert.ok(isNotifiableAt(failed('slack'), ALL))
    assert.ok(isNotifiableAt(failed('webhook:ops.example.com'), ALL))
    assert.ok(
      !isNotifiableAt(failed('hook:ops.example.com'), ALL),
      'two failing hooks cannot feed each other',
    )
    assert.ok(!isNotifiableAt(failed('hook:page.sh#2'), ALL))
  })

  it('dedups the events only hooks take by what they say, not by their type alone', () => {
    let state: PolicyState = emptyPolicyState()
    const run = (e: AnyEvent, at: number) => {
      const d = decide(state, e, ALL, at, { ...SETTINGS, rateLimit: { max: 100, window: 60_000 } })
      state = d.state
      return d.reason
    }
    const ready = event('worker:state', { message: 'email#1: starting → ready' } as Partial<AnyEvent>)
    const degraded = event('worker:state', { message: 'email#1: ready → degraded' } as Partial<AnyEvent>)
    assert.equal(run(ready, 1000), 'sent')
    assert.equal(run(degraded, 1001), 'sent')
    assert.equal(run(ready, 1002), 'duplicate')
    assert.equal(run(ready, 1000 + SETTINGS.dedupWindow), 'sent')
  })

  it('uses a hook’s own rate limit and dedup window in place of the shared ones', () => {
    const own: PolicyDestination = { ...ALL, rateLimit: { max: 1, window: 60_000 }, dedupWindow: 0 }
    let state = emptyPolicyState()
    const reasons: string[] = []
    for (let i = 0; i < 3; i++) {
      const d = decide(
        state,
        event('worker:exit', { message: `exit ${i}` } as Partial<AnyEvent>),
        own,
        1000 + i,
        SETTINGS,
      )
      state = d.state
      reasons.push(d.reason)
    }
    assert.deepEqual(reasons, ['sent', 'rate-limited', 'rate-limited'])
    // The shared settings (max 3) still apply to a destination without its own.
    state = emptyPolicyState()
    const shared = [0, 1, 2, 3].map((i) => {
      const d = decide(
        state,
        event('worker:exit', { message: `exit ${i}` } as Partial<AnyEvent>),
        ALL,
        1000 + i,
        SETTINGS,
      )
      state = d.state
      return d.reason
    })
    assert.deepEqual(shared, ['sent', 'sent', 'sent', 'rate-limited'])
  })

  it('applies the hook’s min_severity as for any destination', () => {
    const warn: PolicyDestination = { ...ALL, minSeverity: 'warning' }
    assert.equal(decide(emptyPolicyState(), event('worker:exit'), warn, 1, SETTINGS).reason, 'below-severity')
  })
})

describe('createHookNotifiers', () => {
  it('names hooks by host or command file, never by URL or arguments, and passes their settings', () => {
    const hooks = ConfigSchema.parse({
      workers: { w: { command: 'x' } },
      hooks: [
        { events: ['*'], url: 'https://ops.example.com/hook?token=s3cret' },
        { events: ['incident:'], url: 'https://ops.example.com/other', min_severity: 'warning' },
        { events: ['job:'], command: '/opt/hooks/page.sh', args: ['--token', 's3cret'], timeout: 2 },
        { events: ['job:'], command: 'page.sh', rate_limit: { max: 50, window: 60 }, dedup_window: 0 },
      ],
    }).hooks
    const built = createHookNotifiers(hooks, { configFile: '/etc/shepherd/shepherd.yaml' })
    assert.deepEqual(
      built.map((n) => n.name),
      ['hook:ops.example.com', 'hook:ops.example.com#2', 'hook:page.sh', 'hook:page.sh#2'],
    )
    assert.ok(built[0] instanceof WebhookNotifier && built[2] instanceof CommandNotifier)
    assert.deepEqual(built[1]!.events, ['incident:'])
    assert.equal(built[1]!.minSeverity, 'warning')
    assert.equal(built[2]!.timeoutMs, 2000)
    assert.equal(built[2]!.rateLimit, undefined)
    assert.deepEqual(built[3]!.rateLimit, { max: 50, window: 60_000 })
    assert.equal(built[3]!.dedupWindow, 0)
  })

  it('gives a command the event’s type, severity, worker, pool and incident in its environment', () => {
    assert.deepEqual(
      hookEnv(event('incident:opened', { severity: 'warning', incidentId: 'inc-1' } as Partial<AnyEvent>)),
      {
        SHEPHERD_EVENT_TYPE: 'incident:opened',
        SHEPHERD_EVENT_SEVERITY: 'warning',
        SHEPHERD_WORKER_ID: 'email#1',
        SHEPHERD_POOL: 'email',
        SHEPHERD_INCIDENT_ID: 'inc-1',
      },
    )
    assert.deepEqual(hookEnv(failed('slack')), {
      SHEPHERD_EVENT_TYPE: 'notifier:failed',
      SHEPHERD_EVENT_SEVERITY: 'warning',
    })
  })
})
