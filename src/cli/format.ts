/**
 * How the CLI shows things to people: aligned plain-text tables (workers, queues, jobs), incident
 * timelines, the config summary of `validate`. Pure functions of their input; colour only when the caller says the
 * output is a terminal.
 * @module
 */
import type { Config } from '../config/schema.js'
import { formatDuration } from '../config/units.js'
import type { ShepherdEvent } from '../core/events.js'
import type { NodeView, NodeWorker } from '../core/fleet-node.js'
import { type Incident, incidentDuration } from '../core/incident.js'
import type { Job } from '../core/job.js'
import type { QueueCounts } from '../ports/job-store.js'
import type { WorkerView } from '../supervisor/view.js'

/** The few styles the CLI uses. */
export type Style = 'bold' | 'dim' | 'red' | 'yellow' | 'green'

/** Applies a style to a piece of text (or leaves it alone when colour is off). */
export type Styler = (style: Style, text: string) => string

const ANSI: { [S in Style]: [number, number] } = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  yellow: [33, 39],
  green: [32, 39],
}

/** A styler that colours with ANSI escapes when `enabled`, and returns the text as is otherwise. */
export function styler(enabled: boolean): Styler {
  if (!enabled) return (_style, text) => text
  return (style, text) => `\u001b[${ANSI[style][0]}m${text}\u001b[${ANSI[style][1]}m`
}

/** A table cell: its text, and optionally a style applied after alignment. */
export type Cell = string | { text: string; style?: Style | undefined }

/**
 * Renders rows as columns aligned with two spaces between them, header first. The last column is
 * not padded, so no line ends in spaces.
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly Cell[])[],
  style: Styler,
): string {
  const cells = rows.map((row) => row.map((c) => (typeof c === 'string' ? { text: c } : c)))
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]?.text.length ?? 0)))
  const line = (row: readonly { text: string; style?: Style | undefined }[], isHeader: boolean) =>
    row
      .map((cell, i) => {
        const text = i === row.length - 1 ? cell.text : cell.text.padEnd(widths[i] ?? 0)
        if (isHeader) return style('bold', text)
        return cell.style ? style(cell.style, text) : text
      })
      .join('  ')
  return [
    line(
      header.map((text) => ({ text })),
      true,
    ),
    ...cells.map((row) => line(row, false)),
  ].join('\n')
}

/** The worker table of `shepherd status`: one row per slot, spares included. */
export function formatWorkers(workers: readonly WorkerView[], style: Styler): string {
  if (workers.length === 0) return 'no workers'
  const rows = workers.map((w) => workerCells(w, w.uptimeMs))
  return renderTable(WORKER_COLUMNS, rows, style)
}

const WORKER_COLUMNS = ['ID', 'POOL', 'PID', 'STATE', 'HEALTH', 'RESTARTS', 'UPTIME', 'WORST']

/** One worker's row of the `shepherd status` tables, from its id to its worst indicator. */
function workerCells(
  w: Pick<
    NodeWorker,
    'id' | 'pool' | 'pid' | 'state' | 'role' | 'healthScore' | 'restarts' | 'worst' | 'worstDetail'
  >,
  uptimeMs: number | null,
): Cell[] {
  return [
    w.id,
    w.pool,
    w.pid === null ? '-' : String(w.pid),
    { text: w.role === 'spare' ? `${w.state} (spare)` : w.state, style: stateStyle(w.state) },
    { text: String(w.healthScore), style: scoreStyle(w.healthScore) },
    String(w.restarts),
    uptimeMs === null ? '-' : formatDuration(uptimeMs),
    w.worst === null ? '-' : w.worstDetail ? `${w.worst}: ${w.worstDetail}` : w.worst,
  ]
}

/**
 * The table of `shepherd nodes`: one row per agent sharing the store, by name. HEARTBEAT is the
 * age of its last heartbeat; WORKERS is serving/wanted (`-` before its first heartbeat).
 */
export function formatNodes(nodes: readonly NodeView[], style: Styler): string {
  if (nodes.length === 0) return 'no nodes'
  const rows = nodes.map((n): Cell[] => [
    n.name,
    n.host,
    String(n.pid),
    n.version ?? '-',
    { text: n.leader ? `${n.state} (leader)` : n.state, style: n.state === 'alive' ? 'green' : 'red' },
    `${formatDuration(n.heartbeatAgeMs)} ago`,
    n.running === null || n.desired === null ? '-' : `${n.running}/${n.desired}`,
    n.apiUrl ?? '-',
  ])
  return renderTable(['NODE', 'HOST', 'PID', 'VERSION', 'STATE', 'HEARTBEAT', 'WORKERS', 'API'], rows, style)
}

/** A worker as `shepherd status` shows it across nodes: what its agent recorded, with its node's name. */
export type FleetWorker = NodeWorker & { node: string }

/**
 * The worker table of `shepherd status` on a shared store: `formatWorkers`' columns after a NODE
 * column, from what each agent recorded with its last heartbeat. `now` dates the uptimes.
 */
export function formatFleetWorkers(workers: readonly FleetWorker[], now: number, style: Styler): string {
  if (workers.length === 0) return 'no workers'
  const rows = workers.map((w) => [
    w.node,
    ...workerCells(w, w.startedAt === null ? null : Math.max(0, now - w.startedAt)),
  ])
  return renderTable(['NODE', ...WORKER_COLUMNS], rows, style)
}

function stateStyle(state: WorkerView['state']): Style | undefined {
  switch (state) {
    case 'ready':
      return 'green'
    case 'degraded':
    case 'restarting':
    case 'starting':
    case 'stopping':
      return 'yellow'
    case 'failed':
    case 'exited':
      return 'red'
    default:
      return assertNever(state)
  }
}

function scoreStyle(score: number): Style {
  if (score >= 80) return 'green'
  if (score >= 50) return 'yellow'
  return 'red'
}

/** What an incident came to: its outcome, or `open` while it runs. */
export function incidentOutcome(incident: Incident): 'recovered' | 'escalated' | 'interrupted' | 'open' {
  return incident.outcome ?? 'open'
}

/**
 * The blocks of `shepherd incidents`, newest first as given: the facts of each incident, then its
 * timeline with each step's offset from detection. `now` dates the duration of open incidents.
 */
export function formatIncidents(incidents: readonly Incident[], opts: IncidentFormat): string {
  if (incidents.length === 0) return 'no incidents'
  return incidents.map((inc) => formatIncident(inc, opts)).join('\n\n')
}

/** How {@link formatIncidents} shows incidents. */
export interface IncidentFormat {
  /** Dates the duration of open incidents. */
  now: number
  style: Styler
  timeZone?: string
  /** Shows the node of each incident: on a store that agents share, where it tells them apart. */
  nodes?: boolean
}

/** One incident block (see {@link formatIncidents}). */
export function formatIncident(inc: Incident, opts: IncidentFormat): string {
  const { style } = opts
  const outcome = incidentOutcome(inc)
  const outcomeStyle: Style = outcome === 'recovered' ? 'green' : outcome === 'open' ? 'yellow' : 'red'
  const strategy =
    inc.firstStrategy === inc.strategy ? inc.strategy : `${inc.firstStrategy} → ${inc.strategy}`
  const duration = formatDuration(incidentDuration(inc, opts.now))
  const facts: [string, string][] = [
    ['worker', `${inc.workerId} (pool ${inc.pool})`],
    ...(opts.nodes ? [['node', inc.node ?? '-'] as [string, string]] : []),
    [
      'cause',
      `${inc.cause} (${inc.severity})${inc.manual && inc.cause !== 'manual' ? ', manual' : ''}: ${inc.detail}`,
    ],
    ['strategy', strategy],
    ['attempts', `${inc.attempt} of ${inc.maxAttempts}`],
    [
      'outcome',
      style(
        outcomeStyle,
        outcome === 'escalated' && inc.escalationReason ? `escalated: ${inc.escalationReason}` : outcome,
      ),
    ],
    ['detected at', formatLocalTime(inc.detectedAt, opts.timeZone)],
    ['recovered at', inc.recoveredAt === null ? '-' : formatLocalTime(inc.recoveredAt, opts.timeZone)],
    ['duration', inc.endedAt === null ? `${duration} so far` : duration],
  ]
  const labelWidth = Math.max(...facts.map(([label]) => label.length))
  const offsets = inc.timeline.map((s) => `+${Math.max(0, Math.round(s.at - inc.detectedAt))} ms`)
  const offsetWidth = Math.max(0, ...offsets.map((o) => o.length))
  const stepWidth = Math.max(0, ...inc.timeline.map((s) => s.step.length))
  return [
    style('bold', `incident ${inc.id}`),
    ...facts.map(([label, value]) => `  ${label.padEnd(labelWidth)}  ${value}`),
    '  timeline',
    ...inc.timeline.map((s, i) =>
      `    ${(offsets[i] ?? '').padStart(offsetWidth)}  ${s.step.padEnd(stepWidth)}  ${s.detail}`.trimEnd(),
    ),
  ].join('\n')
}

/**
 * The table of `shepherd events`, oldest first as given: sequence number, time, the node that
 * recorded each event (with `nodes`: on a store that agents share), severity, type, worker and
 * what happened.
 */
export function formatEvents(
  events: readonly Pick<
    ShepherdEvent,
    'seq' | 'at' | 'severity' | 'type' | 'workerId' | 'message' | 'node'
  >[],
  opts: { style: Styler; timeZone?: string; nodes?: boolean },
): string {
  if (events.length === 0) return 'no events'
  const severityStyle = { info: undefined, warning: 'yellow', critical: 'red' } as const
  const rows = events.map((e): Cell[] => [
    String(e.seq ?? '-'),
    formatLocalTime(e.at, opts.timeZone),
    ...(opts.nodes ? [e.node ?? '-'] : []),
    { text: e.severity, style: severityStyle[e.severity] },
    e.type,
    e.workerId ?? '-',
    e.message,
  ])
  const header = ['SEQ', 'TIME', ...(opts.nodes ? ['NODE'] : []), 'SEVERITY', 'TYPE', 'WORKER', 'MESSAGE']
  return renderTable(header, rows, opts.style)
}

/**
 * An epoch-ms time as a local ISO 8601 string with its UTC offset, e.g.
 * `2025-03-01T14:05:09.120+09:00`. `timeZone` (IANA name) overrides the process's zone.
 */
export function formatLocalTime(ms: number, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    fractionalSecondDigits: 3,
  }).formatToParts(new Date(ms))
  const get = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '00'
  const local = `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}:${get('second')}.${get('fractionalSecond')}`
  const asUtc = Date.UTC(
    Number(get('year')),
    Number(get('month')) - 1,
    Number(get('day')),
    Number(get('hour')),
    Number(get('minute')),
    Number(get('second')),
    Number(get('fractionalSecond')),
  )
  const offsetMin = Math.round((asUtc - ms) / 60_000)
  const sign = offsetMin < 0 ? '-' : '+'
  const abs = Math.abs(offsetMin)
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}

/** The second line of `shepherd validate`: the pools and how many workers each starts. */
export function formatConfigSummary(config: Config): string {
  const pools = Object.entries(config.workers)
  const workers = pools.reduce((n, [, p]) => n + p.replicas.min, 0)
  const spares = pools.reduce((n, [, p]) => n + p.spares, 0)
  const list = pools
    .map(([name, p]) => {
      const size =
        p.replicas.min === p.replicas.max ? `${p.replicas.min}` : `${p.replicas.min}..${p.replicas.max}`
      return `${name} (${size}${p.spares > 0 ? ` + ${p.spares} spare${p.spares === 1 ? '' : 's'}` : ''})`
    })
    .join(', ')
  const head = `${plural(pools.length, 'pool')}, ${plural(workers, 'worker')}${spares > 0 ? ` + ${plural(spares, 'spare')}` : ''}`
  return `${head}: ${list}`
}

/**
 * The queue table of `shepherd queues`: one row per queue with its counts, the jobs finished in
 * the last minute, and the age of the oldest job that is due (`-` when none waits).
 */
export function formatQueues(queues: readonly QueueCounts[], style: Styler): string {
  if (queues.length === 0) return 'no queues'
  const count = (n: number, bad?: Style): Cell => ({ text: String(n), style: n > 0 ? bad : undefined })
  const rows = queues.map((q): Cell[] => [
    q.queue,
    String(q.waiting),
    String(q.delayed),
    String(q.inFlight),
    String(q.done),
    count(q.failed, 'yellow'),
    count(q.deadLettered, 'red'),
    count(q.quarantined, 'red'),
    String(q.throughputPerMinute),
    q.oldestWaitingMs > 0 ? formatDuration(q.oldestWaitingMs) : '-',
  ])
  return renderTable(
    [
      'QUEUE',
      'WAITING',
      'DELAYED',
      'IN FLIGHT',
      'DONE',
      'FAILED',
      'DEAD',
      'QUARANTINED',
      'PER MIN',
      'OLDEST WAITING',
    ],
    rows,
    style,
  )
}

/** Longest last error `shepherd jobs` shows; the whole one is in `--json` and `GET /api/jobs/:id`. */
export const LAST_ERROR_WIDTH = 60

/**
 * A job's state for people: a waiting job that is not due yet is `delayed`, or `retrying` when it
 * waits out the backoff after an error; any other state is itself.
 */
export function jobStateLabel(job: Job, now: number): string {
  if (job.state !== 'waiting' || job.runAt <= now) return job.state
  return job.attempts > 0 ? 'retrying' : 'delayed'
}

/**
 * The job table of `shepherd jobs`: id, state, priority, attempts of the maximum, crashes it was
 * in flight for, deliveries, age, and the first line of the last error (truncated).
 */
export function formatJobs(jobs: readonly Job[], opts: { now: number; style: Styler }): string {
  if (jobs.length === 0) return 'no jobs'
  const rows = jobs.map((j): Cell[] => [
    j.id,
    { text: jobStateLabel(j, opts.now), style: jobStateStyle(j.state) },
    String(j.priority),
    `${j.attempts}/${j.maxAttempts}`,
    { text: String(j.crashes), style: j.crashes > 0 ? 'yellow' : undefined },
    String(j.delivery),
    formatDuration(Math.max(0, opts.now - j.createdAt)),
    j.lastError === null ? '-' : truncate(j.lastError.split('\n')[0] ?? '', LAST_ERROR_WIDTH),
  ])
  return renderTable(
    ['ID', 'STATE', 'PRIORITY', 'ATTEMPTS', 'CRASHES', 'DELIVERY', 'AGE', 'LAST ERROR'],
    rows,
    opts.style,
  )
}

function jobStateStyle(state: Job['state']): Style | undefined {
  switch (state) {
    case 'done':
      return 'green'
    case 'active':
    case 'waiting':
      return undefined
    case 'dead':
    case 'quarantined':
      return 'red'
    default:
      return assertNever(state)
  }
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${String(x)}`)
}
