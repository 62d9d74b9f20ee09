// The Shepherd dashboard: a page over the control API (the same JSON the CLI reads) that stays
// live through the event stream at /api/events.
//
// - Data: GET /api/workers, /api/pools, /api/nodes, /api/queues, /api/history, /api/incidents and
//   the quarantined jobs of each queue that has some. Events mark what they affect; the marks of a
//   burst are gathered for DEBOUNCE_MS and fetched in one refresh. Samples are polled as often as
//   the supervisor takes them (2-10 s). A reconnected stream refetches everything, since events
//   may have been missed meanwhile. The page never reloads.
// - Rendering: every card and row is built once and then updated in place by id; a field is
//   written only when its text changed, so an event that changes one worker touches that card
//   alone. Sparklines are drawn only for cards on screen and only when a new sample arrived.
// - Text: whatever comes from the API is written with textContent or a text node, never parsed as
//   HTML. The page's Content-Security-Policy enforces this with Trusted Types.
// - Actions (restart a worker, retry or purge a quarantined job) go through a modal dialog and
//   show the API's error message when they fail.
import {
  formatClock,
  formatDateTime,
  formatDuration,
  formatMb,
  formatNumber,
  formatOffset,
  formatPercent,
  initialLanguage,
  language,
  plural,
  setLanguage,
  t,
  translateStatic,
  tValue,
} from './i18n.js'

/** Events arriving within this window are answered with one refresh. */
const DEBOUNCE_MS = 250
/** Bounds of the sample polling period, which follows the supervisor's check interval. */
const SAMPLE_MIN_MS = 2000
const SAMPLE_MAX_MS = 10_000
const SAMPLE_DEFAULT_MS = 5000
/** Everything is refetched this often, in case an event was missed. */
const FULL_REFRESH_MS = 30_000
const INCIDENT_LIMIT = 30
/**
 * Recent incidents weigh on the fleet's score as recent restarts weigh on a worker's (the
 * `restarts` indicator of src/core/health.ts, whose figures these are): within 10 minutes
 * (RECENT_RESTARTS_WINDOW_MS), a penalty of 15 for one or two, of 40 from three on
 * (FLAPPING_RESTARTS).
 */
const RECENT_MS = 600_000
const FLAPPING_RESTARTS = 3
const RESTARTS_PENALTY = { warning: 15, unhealthy: 40 }
/** A difference between the server's clock and the browser's below this is ignored. */
const CLOCK_SKEW_MS = 2000
const JOB_LIMIT = 50
/** A sparkline draws at most this many samples (the API keeps 60). */
const SPARK_POINTS = 60
/** Longest payload shown (characters of its JSON); the rest is cut with an ellipsis. */
const PAYLOAD_CHARS = 2000
const TOAST_MS = 6000
const TOKEN_KEY = 'shepherd.token'
const THEME_KEY = 'shepherd.theme'
const SVG = 'http://www.w3.org/2000/svg'

const ALL = ['workers', 'pools', 'nodes', 'queues', 'history', 'incidents', 'jobs']
// The nodes are polled with the samples: another agent's heartbeat, or its death, sends no event here.
const SAMPLES = ['workers', 'pools', 'nodes', 'queues', 'history']
const FLEET = ['workers', 'pools', 'nodes']

/** What each event type (src/core/events.ts) makes stale. Incident events also carry the incident. */
const EVENT_REFRESH = {
  'supervisor:started': ALL,
  'supervisor:stopping': FLEET,
  'supervisor:stopped': FLEET,
  'worker:state': FLEET,
  'worker:spawned': FLEET,
  'worker:exit': FLEET,
  'worker:revived': FLEET,
  'worker:still-failing': FLEET,
  'worker:signal': FLEET,
  'health:changed': FLEET,
  'incident:opened': FLEET,
  'incident:step': FLEET,
  'incident:recovered': FLEET,
  'incident:escalated': FLEET,
  'incident:interrupted': FLEET,
  'node:incidents-closed': ['incidents'],
  'pool:scaled': [...FLEET, 'history'],
  'notifier:failed': [],
  'job:dead-lettered': ['queues'],
  'job:quarantined': ['queues', 'jobs'],
  'job:requeued': ['queues'],
  'job:stale': ['queues'],
  'job:timeout': ['queues'],
}

const data = {
  workers: [],
  pools: [],
  /** The agents sharing the store (one on SQLite), by name. */
  nodes: [],
  queues: [],
  history: { workers: {}, queues: {} },
  /** id → incident; the newest INCIDENT_LIMIT are shown. */
  incidents: new Map(),
  /** queue → its quarantined jobs. */
  jobs: new Map(),
  loaded: new Set(),
}

const $ = (id) => document.getElementById(id)

// ---------------------------------------------------------------------------------------------
// Requests

class ApiError extends Error {
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

/**
 * How a request is authorised: the one place that knows. Without a token (the API is open on
 * loopback) requests go out as they are. Once the API has answered 401 and someone pasted a token
 * (kept in sessionStorage, so for this tab only), fetches carry `Authorization: Bearer <token>`
 * and the event stream, whose EventSource cannot send headers, `?access_token=<token>`.
 * Pass `init` for a fetch; omit it for the EventSource URL.
 */
function authorized(url, init) {
  const token = readToken()
  if (!token) return { url, init }
  if (init === undefined) {
    const u = new URL(url, location.href)
    u.searchParams.set('access_token', token)
    return { url: u.pathname + u.search, init }
  }
  return { url, init: { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } } }
}

async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' }
  // Every POST says JSON, bodiless ones too: the API refuses any other (src/adapters/http/request-guard.ts).
  if (method !== 'GET') headers['Content-Type'] = 'application/json'
  const req = authorized(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  })
  let res
  try {
    res = await fetch(req.url, req.init)
  } catch (err) {
    throw new ApiError(0, 'NETWORK', err instanceof Error ? err.message : String(err))
  }
  let json = null
  try {
    json = await res.json()
  } catch {
    // An answer that is not JSON (a proxy's error page) is described by its status below.
  }
  const serverDate = Date.parse(res.headers.get('date') ?? '')
  if (!Number.isNaN(serverDate)) {
    const skew = serverDate - Date.now()
    clockSkew = Math.abs(skew) > CLOCK_SKEW_MS ? skew : 0
  }
  if (res.status === 401) {
    showAuth(readToken() !== null)
    throw new ApiError(401, json?.error?.code ?? 'UNAUTHORIZED', json?.error?.message ?? t('auth.title'))
  }
  if (!res.ok) {
    throw new ApiError(
      res.status,
      json?.error?.code ?? `HTTP_${res.status}`,
      json?.error?.message ?? `${res.status} ${res.statusText}`,
    )
  }
  return json
}

// ---------------------------------------------------------------------------------------------
// Refreshing: events and timers mark kinds of data stale; one refresh at a time fetches them.

const pending = new Set()
let debounceTimer = 0
let refreshing = false
let incidentsDirty = false
/** When the first event of the batch being gathered arrived (performance.now()), or null. */
let batchStartedAt = null
let lastSampleLoad = 0
let samplePeriod = SAMPLE_DEFAULT_MS
let lastFullLoad = 0
/** When the page last had a complete answer, in the browser's clock. */
let updatedAt = null
/**
 * The server's clock minus the browser's, from the Date header of the API's answers (to the
 * second), when they differ by more than CLOCK_SKEW_MS: "the last 10 minutes" are the server's,
 * whose clock stamped the incidents.
 */
let clockSkew = 0

function schedule(kinds, delay = DEBOUNCE_MS) {
  for (const k of kinds) pending.add(k)
  if (!debounceTimer) debounceTimer = setTimeout(flush, delay)
}

async function flush() {
  debounceTimer = 0
  if (refreshing) return // the loop below picks up what was marked meanwhile
  refreshing = true
  try {
    while (pending.size > 0 || incidentsDirty) {
      const kinds = new Set(pending)
      pending.clear()
      const startedAt = batchStartedAt
      batchStartedAt = null
      await load(kinds)
      if (startedAt !== null) measure('shepherd:event-update', startedAt)
    }
  } finally {
    refreshing = false
  }
}

async function load(kinds) {
  const now = performance.now()
  if (kinds.has('history')) lastSampleLoad = now
  if (kinds.has('incidents') && kinds.has('jobs')) lastFullLoad = now
  const failures = []
  const fetchInto = (kind, path, take) =>
    kinds.has(kind)
      ? api(path).then(
          (body) => {
            take(body)
            data.loaded.add(kind)
          },
          (err) => {
            kinds.delete(kind)
            failures.push(err)
          },
        )
      : null
  await Promise.all([
    fetchInto('workers', '/api/workers', (b) => (data.workers = b.workers)),
    fetchInto('pools', '/api/pools', (b) => (data.pools = b.pools)),
    fetchInto('nodes', '/api/nodes', (b) => (data.nodes = b.nodes)),
    fetchInto('queues', '/api/queues', (b) => (data.queues = b.queues)),
    fetchInto('history', '/api/history', (b) => {
      data.history = b
      samplePeriod = observedSamplePeriod(b)
    }),
    fetchInto('incidents', `/api/incidents?limit=${INCIDENT_LIMIT}`, (b) => {
      data.incidents = mergeIncidents(data.incidents, b.incidents)
    }),
  ])
  if (kinds.has('jobs')) await loadJobs(kinds, failures)
  if (kinds.has('incidents')) incidentsDirty = false
  render(kinds)
  reportFailures(failures)
}

/**
 * The fetched incidents, except where an event delivered a later state meanwhile: an answer can
 * leave the server before an incident event and arrive after it. Steps only grow, so the copy
 * with the longer timeline is the newer one. Incidents known from events and not in the answer
 * (opened since) are kept; renderIncidents trims the list to the newest.
 */
function mergeIncidents(known, fetched) {
  const next = new Map(fetched.map((i) => [i.id, i]))
  for (const [id, mine] of known) {
    const theirs = next.get(id)
    if (!theirs || mine.timeline.length > theirs.timeline.length) next.set(id, mine)
  }
  return next
}

/** The quarantined jobs of every queue whose counts show some (one request per such queue). */
async function loadJobs(kinds, failures) {
  const wanted = data.queues.filter((q) => q.quarantined > 0).map((q) => q.queue)
  const results = await Promise.allSettled(
    wanted.map((q) =>
      api(`/api/queues/${encodeURIComponent(q)}/jobs?state=quarantined&limit=${JOB_LIMIT}`).then((b) => [
        q,
        b.jobs,
      ]),
    ),
  )
  const next = new Map()
  for (const r of results) {
    if (r.status === 'fulfilled') next.set(r.value[0], r.value[1])
    else failures.push(r.reason)
  }
  if (results.some((r) => r.status === 'rejected')) {
    // Keep what was shown for the queues that could not be read.
    for (const q of wanted) if (!next.has(q) && data.jobs.has(q)) next.set(q, data.jobs.get(q))
  }
  data.jobs = next
  data.loaded.add('jobs')
  kinds.add('jobs')
}

/** The supervisor's check interval as the samples show it, clamped to the polling bounds. */
function observedSamplePeriod(history) {
  for (const samples of Object.values(history.workers)) {
    if (samples.length >= 2) {
      const gap = samples[samples.length - 1].at - samples[samples.length - 2].at
      return Math.min(SAMPLE_MAX_MS, Math.max(SAMPLE_MIN_MS, gap))
    }
  }
  return SAMPLE_DEFAULT_MS
}

function reportFailures(failures) {
  const network = failures.find((e) => e instanceof ApiError && e.status === 0)
  const other = failures.find((e) => !(e instanceof ApiError) || (e.status !== 0 && e.status !== 401))
  if (network) {
    setConnection('offline')
    showBanner(t('error.unreachable', { message: network.message }))
  } else if (other) {
    showBanner(other.message)
  } else if (failures.length === 0) {
    hideBanner()
    updatedAt = Date.now()
    showUpdated()
  }
}

function showUpdated() {
  if (updatedAt !== null) setText($('updated'), t('conn.updated', { time: formatDateTime(updatedAt) }))
}

function tick() {
  if (document.hidden) return
  const now = performance.now()
  if (now - lastFullLoad >= FULL_REFRESH_MS) schedule(ALL, 0)
  else if (now - lastSampleLoad >= samplePeriod) schedule(SAMPLES, 0)
}

// ---------------------------------------------------------------------------------------------
// The event stream

let source = null
let everConnected = false
let reconnectDelay = 1000
let reconnectTimer = 0

function connect() {
  clearTimeout(reconnectTimer)
  if (source) source.close()
  setConnection(everConnected ? 'reconnecting' : 'connecting')
  const es = new EventSource(authorized('/api/events').url)
  source = es
  es.onopen = () => {
    reconnectDelay = 1000
    setConnection('live')
    // Events may have been missed while the stream was down (or the first load failed).
    if (everConnected || data.loaded.size === 0) schedule(ALL, 0)
    everConnected = true
  }
  es.onerror = () => {
    if (es !== source) return
    setConnection('reconnecting')
    if (es.readyState === EventSource.CLOSED) {
      // The browser gives up on an answer that is not a stream (a 401, a 404): retry with
      // backoff, and let a plain request say why (a 401 shows the token field).
      es.close()
      schedule(['workers'], 0)
      reconnectTimer = setTimeout(connect, reconnectDelay)
      reconnectDelay = Math.min(reconnectDelay * 2, 30_000)
    }
  }
  for (const type of Object.keys(EVENT_REFRESH)) es.addEventListener(type, onEvent)
}

function onEvent(message) {
  let event
  try {
    event = JSON.parse(message.data)
  } catch {
    return
  }
  if (batchStartedAt === null) batchStartedAt = performance.now()
  const incident = event.data?.incident
  if (incident && typeof incident.id === 'string') {
    data.incidents.set(incident.id, incident)
    incidentsDirty = true
  }
  const kinds = EVENT_REFRESH[message.type] ?? []
  schedule(kinds)
}

function setConnection(state) {
  const el = $('conn')
  if (el.dataset.conn === state) return
  el.dataset.conn = state
  setText($('conn-text'), t(`conn.${state}`))
}

// ---------------------------------------------------------------------------------------------
// DOM helpers. Text only: nothing here parses HTML.

function el(tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

/** A label whose text follows the language (translateStatic finds it by data-i18n). */
function label(tag, key, className) {
  const node = el(tag, className, t(key))
  node.dataset.i18n = key
  return node
}

function setText(node, text) {
  const s = String(text)
  if (node.__text !== s) {
    node.__text = s
    node.textContent = s
  }
}

function setData(node, key, value) {
  const s = String(value)
  if (node.dataset[key] !== s) node.dataset[key] = s
}

function setAttr(node, name, value) {
  const s = String(value)
  if (node.getAttribute(name) !== s) node.setAttribute(name, s)
}

function setHidden(node, hidden) {
  if (node.hidden !== hidden) node.hidden = hidden
}

/**
 * Keeps `container`'s children in `ordered` order, moving nodes only when the order changed. An
 * empty container takes them all at once, through a fragment (the first render of a long list).
 */
function arrange(container, ordered) {
  if (container.children.length === 0) {
    const fragment = document.createDocumentFragment()
    fragment.append(...ordered)
    container.append(fragment)
    return
  }
  let i = 0
  for (const node of ordered) {
    if (container.children[i] !== node) container.insertBefore(node, container.children[i] ?? null)
    i++
  }
  while (container.children.length > ordered.length) container.lastElementChild.remove()
}

/**
 * Shows one card per item in `container`, in `items`' order, the cards kept in `cards` by
 * `key(item)`: a new key gets `create(item)`, every card gets `update(card, item)`, and a card
 * whose key is gone is forgotten (after `remove(card, key)`, when given) and taken off the page.
 * A card is an object whose `root` is its element; cards are updated in place, never rebuilt.
 */
function reconcileCards(container, cards, items, { key, create, update, remove }) {
  const seen = new Set()
  const ordered = []
  for (const item of items) {
    const k = key(item)
    seen.add(k)
    let card = cards.get(k)
    if (!card) {
      card = create(item)
      cards.set(k, card)
    }
    update(card, item)
    ordered.push(card.root)
  }
  for (const [k, card] of cards) {
    if (seen.has(k)) continue
    remove?.(card, k)
    cards.delete(k)
  }
  arrange(container, ordered)
}

/** A dt/dd pair in a div; `value` is the span that holds the value, `dd` takes extra notes. */
function metric(key) {
  const wrap = el('div', 'metric')
  const dd = el('dd')
  const value = el('span', 'value')
  dd.append(value)
  wrap.append(label('dt', key), dd)
  return { wrap, dd, value }
}

function scoreLevel(score) {
  return score >= 80 ? 'good' : score >= 50 ? 'warn' : 'bad'
}

// ---------------------------------------------------------------------------------------------
// Rendering

function render(kinds, force = false) {
  const started = performance.now()
  const all = force || kinds.has('all')
  if (all || kinds.has('workers') || kinds.has('pools')) renderWorkers()
  if (all || kinds.has('history') || kinds.has('workers')) renderSparklines(all)
  if (all || kinds.has('nodes')) renderNodes()
  if (all || kinds.has('pools') || kinds.has('queues')) renderPools()
  if (all || kinds.has('queues') || kinds.has('history')) renderQueues(all)
  if (all || kinds.has('jobs')) renderJobs()
  if (all || kinds.has('incidents') || incidentsDirty) {
    incidentsDirty = false
    renderIncidents()
  }
  renderSummary()
  measure('shepherd:render', started)
  if (!document.documentElement.dataset.ready && data.loaded.has('workers') && data.loaded.has('pools')) {
    document.documentElement.dataset.ready = 'true'
    measure('shepherd:first-render', started)
  }
}

/**
 * Records how long something took as a User Timing measure (DevTools' Performance panel shows
 * them; the browser test reads them). Only the latest of each name is kept, so a page left open
 * for days does not fill the timeline buffer.
 */
function measure(name, start) {
  performance.clearMeasures(name)
  performance.measure(name, { start, end: performance.now() })
}

// Summary ----------------------------------------------------------------------------------------

/**
 * Incidents detected in the last RECENT_MS by the server's clock, among those the page holds (the
 * newest INCIDENT_LIMIT). When every one held is that recent there may be more: `atLeast`.
 */
function recentIncidents() {
  const since = Date.now() + clockSkew - RECENT_MS
  let n = 0
  for (const inc of data.incidents.values()) if (inc.detectedAt > since) n++
  return { n, atLeast: n >= INCIDENT_LIMIT && n === data.incidents.size }
}

/**
 * The fleet's score: the mean of its workers' scores (spares aside), and at most 100 less the
 * restarts penalty a worker would have with its share of the fleet's recent incidents (rounded up)
 * as recent restarts. A worker's own restarts already lower its score; the cap also counts what
 * the workers' scores cannot show: one worker's flapping drowned in a mean, incidents of slots
 * since scaled away.
 */
function fleetScore(workers, recent) {
  const mean = workers.reduce((s, w) => s + w.healthScore, 0) / workers.length
  const share = Math.ceil(recent / workers.length)
  const penalty =
    share >= FLAPPING_RESTARTS ? RESTARTS_PENALTY.unhealthy : share > 0 ? RESTARTS_PENALTY.warning : 0
  const score = Math.min(mean, 100 - penalty)
  return { mean, score, flapping: share >= FLAPPING_RESTARTS, lowered: Math.round(score) < Math.round(mean) }
}

function renderSummary() {
  const workers = data.workers.filter((w) => w.role === 'worker')
  const stat = (id, value, hint, level) => {
    const root = $(id)
    setText(root.querySelector('[data-field=value]'), value)
    setText(root.querySelector('[data-field=hint]'), hint)
    if (level) setData(root, 'level', level)
  }
  const recent = recentIncidents()
  const shownRecent = recent.atLeast
    ? t('summary.incidentsAtLeast', { n: formatNumber(recent.n) })
    : formatNumber(recent.n)
  const fleet = workers.length > 0 ? fleetScore(workers, recent.n) : null
  if (fleet) {
    stat(
      'stat-health',
      formatNumber(fleet.score),
      fleet.lowered
        ? t('summary.healthLowered', {
            mean: formatNumber(fleet.mean),
            incidents: plural('incidents.count', recent.n, { n: shownRecent }),
          })
        : plural('summary.healthHint', workers.length),
      scoreLevel(fleet.score),
    )
  }
  if (data.pools.length > 0) {
    const observed = data.pools.reduce((s, p) => s + p.observedMs, 0)
    const full = data.pools.reduce((s, p) => s + p.fullMs, 0)
    const availability = observed === 0 ? 1 : full / observed
    stat(
      'stat-availability',
      formatPercent(availability),
      t('summary.availabilityHint'),
      availability >= 0.99 ? 'good' : availability >= 0.9 ? 'warn' : 'bad',
    )
    const serving = data.pools.reduce((s, p) => s + p.serving, 0)
    const size = data.pools.reduce((s, p) => s + p.workers, 0)
    stat(
      'stat-serving',
      `${formatNumber(serving)} / ${formatNumber(size)}`,
      plural('summary.servingHint', size),
      serving >= size ? 'good' : serving > 0 ? 'warn' : 'bad',
    )
  }
  if (data.loaded.has('incidents')) {
    const open = [...data.incidents.values()].filter((i) => i.outcome === null).length
    stat(
      'stat-incidents',
      shownRecent,
      open ? t('summary.incidentsOpen', { n: formatNumber(open) }) : t('summary.incidentsNoneOpen'),
      fleet?.flapping ? 'bad' : recent.n > 0 || open > 0 ? 'warn' : 'good',
    )
  }
  if (data.loaded.has('queues')) {
    const quarantined = data.queues.reduce((s, q) => s + q.quarantined, 0)
    stat(
      'stat-quarantined',
      formatNumber(quarantined),
      plural('summary.quarantinedHint', data.queues.length),
      quarantined ? 'bad' : 'good',
    )
  }
}

// Nodes ------------------------------------------------------------------------------------------

const nodeCards = new Map()

function createNodeCard(name) {
  const root = el('article', 'card node')
  root.dataset.nodeName = name
  const head = el('header', 'card-head')
  const title = el('h3', 'card-title', name)
  const state = el('span', 'badge node-state')
  const leader = label('span', 'node.leader', 'tag leader')
  head.append(title, leader, state)
  const dl = el('dl', 'metrics')
  const workers = metric('node.workers')
  const heartbeat = metric('node.heartbeat')
  const host = metric('node.host')
  const version = metric('node.version')
  dl.append(workers.wrap, heartbeat.wrap, host.wrap, version.wrap)
  const pid = el('span', 'note')
  host.dd.append(pid)
  root.append(head, dl)
  return {
    root,
    state,
    leader,
    workers: workers.value,
    heartbeat: heartbeat.value,
    host: host.value,
    pid,
    version: version.value,
  }
}

/**
 * One card per agent sharing the store: alive or dead (its lease lapsed), the leader marked, its
 * workers serving of those its pools want (as it recorded them with its last heartbeat).
 */
function renderNodes() {
  reconcileCards($('nodes'), nodeCards, data.nodes, {
    key: (n) => n.name,
    create: (n) => createNodeCard(n.name),
    update: updateNodeCard,
  })
  const dead = data.nodes.filter((n) => n.state === 'dead').length
  setText(
    $('nodes-count'),
    data.nodes.length === 0
      ? ''
      : dead > 0
        ? t('nodes.countDead', { nodes: plural('nodes.count', data.nodes.length), dead: formatNumber(dead) })
        : plural('nodes.count', data.nodes.length),
  )
  setHidden($('nodes-empty'), !data.loaded.has('nodes') || data.nodes.length > 0)
}

function updateNodeCard(card, n) {
  setData(card.root, 'state', n.state)
  setText(card.state, tValue('nodeState', n.state))
  setHidden(card.leader, !n.leader)
  setText(
    card.workers,
    n.running === null || n.desired === null
      ? '—'
      : `${formatNumber(n.running)} / ${formatNumber(n.desired)}`,
  )
  setText(card.heartbeat, t('node.ago', { age: formatDuration(n.heartbeatAgeMs) }))
  setText(card.host, n.host)
  setText(card.pid, t('node.pid', { pid: n.pid }))
  setText(card.version, n.version ?? '—')
  setData(
    card.root,
    'level',
    n.state === 'dead' ? 'bad' : n.running === null || n.running >= n.desired ? 'good' : 'warn',
  )
}

// Pools ------------------------------------------------------------------------------------------

const poolCards = new Map()

function createPoolCard(name) {
  const root = el('article', 'card pool')
  root.dataset.poolName = name
  const head = el('header', 'card-head')
  const title = el('h3', 'card-title', name)
  const replicas = el('span', 'muted')
  head.append(title, replicas)
  const dl = el('dl', 'metrics')
  const serving = metric('pool.serving')
  const availability = metric('pool.availability')
  const restarts = metric('pool.restarts')
  const queue = metric('pool.queue')
  dl.append(serving.wrap, availability.wrap, restarts.wrap, queue.wrap)
  const spares = el('span', 'note')
  serving.dd.append(spares)
  const causes = el('span', 'note')
  restarts.dd.append(causes)
  const depth = el('span', 'note')
  queue.dd.append(depth)
  root.append(head, dl)
  return {
    root,
    replicas,
    serving: serving.value,
    spares,
    availability: availability.value,
    restarts: restarts.value,
    causes,
    queue: queue.value,
    depth,
  }
}

function renderPools() {
  const queues = new Map(data.queues.map((q) => [q.queue, q]))
  reconcileCards($('pools'), poolCards, data.pools, {
    key: (p) => p.name,
    create: (p) => createPoolCard(p.name),
    update: (card, p) => updatePoolCard(card, p, queues),
  })
  setHidden($('pools-empty'), !data.loaded.has('pools') || data.pools.length > 0)
}

/** `queues`: the queues' counts by name, for the depth of the pool's queue. */
function updatePoolCard(card, p, queues) {
  const { min, max } = p.replicas
  setText(
    card.replicas,
    min === max
      ? t('pool.replicasFixed', { n: formatNumber(min) })
      : t('pool.replicas', { min: formatNumber(min), max: formatNumber(max) }),
  )
  setText(card.serving, `${formatNumber(p.serving)} / ${formatNumber(p.workers)}`)
  setText(card.spares, p.spares ? plural('workers.spares', p.spares) : '')
  setText(card.availability, formatPercent(p.availability))
  const restarts = Object.values(p.restartsByCause).reduce((s, n) => s + n, 0)
  setText(card.restarts, formatNumber(restarts))
  setText(
    card.causes,
    Object.entries(p.restartsByCause)
      .map(([cause, n]) => t('cause.restartsBy', { cause: tValue('cause', cause), n }))
      .join(' · '),
  )
  setText(card.queue, p.queue ?? t('pool.noQueue'))
  const counts = p.queue === null ? undefined : queues.get(p.queue)
  setText(
    card.depth,
    counts ? t('pool.queueDepth', { waiting: counts.waiting, inFlight: counts.inFlight }) : '',
  )
  setData(card.root, 'level', p.serving >= p.replicas.min ? 'good' : p.serving > 0 ? 'warn' : 'bad')
}

// Workers ----------------------------------------------------------------------------------------

const workerCards = new Map()
/** Cards on screen: only these draw sparklines; the others are drawn when they scroll in. */
const visibleWorkers = new Set()
const sparkObserver =
  'IntersectionObserver' in window
    ? new IntersectionObserver(
        (entries) => {
          for (const e of entries) {
            const id = e.target.dataset.workerId
            if (e.isIntersecting) {
              visibleWorkers.add(id)
              const card = workerCards.get(id)
              if (card) drawSparklines(card, false)
            } else {
              visibleWorkers.delete(id)
            }
          }
        },
        { rootMargin: '200px 0px' },
      )
    : null

function sparkline(key) {
  const wrap = el('div', 'spark')
  const name = label('span', key, 'spark-label')
  const svg = document.createElementNS(SVG, 'svg')
  svg.setAttribute('viewBox', '0 0 100 24')
  svg.setAttribute('preserveAspectRatio', 'none')
  svg.setAttribute('aria-hidden', 'true')
  const line = document.createElementNS(SVG, 'polyline')
  line.setAttribute('vector-effect', 'non-scaling-stroke')
  svg.append(line)
  const value = el('span', 'spark-value')
  wrap.append(name, svg, value)
  return { wrap, line, value }
}

function createWorkerCard(id) {
  const root = el('article', 'card worker')
  root.dataset.workerId = id
  const head = el('header', 'card-head')
  const title = el('h3', 'card-title', id)
  const role = label('span', 'worker.spare', 'tag')
  const state = el('span', 'badge state')
  head.append(title, role, state)

  const health = el('div', 'health')
  const score = el('span', 'score')
  const meter = el('meter')
  meter.min = 0
  meter.max = 100
  meter.low = 50
  meter.high = 80
  meter.optimum = 100
  const healthLabel = label('span', 'worker.health', 'muted small')
  health.append(healthLabel, score, meter)

  const worst = el('p', 'worst')
  const worstName = el('strong')
  const worstDetail = el('span', 'detail')
  worst.append(worstName, worstDetail)

  const dl = el('dl', 'metrics compact')
  const restarts = metric('worker.restarts')
  const recentRestarts = el('span', 'note recent-restarts')
  restarts.dd.append(recentRestarts)
  const uptime = metric('worker.uptime')
  const pid = metric('worker.pid')
  dl.append(restarts.wrap, uptime.wrap, pid.wrap)

  const cpu = sparkline('worker.cpu')
  const mem = sparkline('worker.memory')
  const sparks = el('div', 'sparks')
  sparks.append(cpu.wrap, mem.wrap)

  const foot = el('footer', 'card-foot')
  const incident = el('span', 'incident-note')
  const button = label('button', 'worker.restart', 'button small')
  button.type = 'button'
  button.dataset.action = 'restart'
  button.dataset.id = id
  foot.append(incident, button)

  root.append(head, health, worst, dl, sparks, foot)
  sparkObserver?.observe(root)
  return {
    root,
    role,
    state,
    score,
    meter,
    worstName,
    worstDetail,
    restarts: restarts.value,
    recentRestarts,
    uptime: uptime.value,
    pid: pid.value,
    cpu,
    mem,
    incident,
    button,
    /** `at` of the newest sample drawn; undefined until the first draw. */
    drawnAt: undefined,
  }
}

function workerOrder(pools) {
  const poolIndex = new Map(pools.map((p, i) => [p.name, i]))
  const key = (w) => {
    const m = /#(s?)(\d+)$/.exec(w.id)
    return [poolIndex.get(w.pool) ?? 1e9, w.pool, m?.[1] ? 1 : 0, m ? Number(m[2]) : 0, w.id]
  }
  return (a, b) => {
    const ka = key(a)
    const kb = key(b)
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1
    return 0
  }
}

function renderWorkers() {
  reconcileCards($('workers'), workerCards, [...data.workers].sort(workerOrder(data.pools)), {
    key: (w) => w.id,
    create: (w) => createWorkerCard(w.id),
    update: updateWorkerCard,
    remove: (card, id) => {
      sparkObserver?.unobserve(card.root)
      visibleWorkers.delete(id)
    },
  })
  // Spares are counted apart: "Serving 9 / 9" next to "10 workers" would leave one unexplained.
  const spares = data.workers.filter((w) => w.role === 'spare').length
  const serving = plural('workers.count', data.workers.length - spares)
  setText(
    $('workers-count'),
    data.workers.length === 0
      ? ''
      : spares > 0
        ? t('workers.withSpares', { workers: serving, spares: plural('workers.spares', spares) })
        : serving,
  )
  setHidden($('workers-empty'), !data.loaded.has('workers') || data.workers.length > 0)
}

function updateWorkerCard(card, w) {
  setData(card.root, 'state', w.state)
  setData(card.root, 'verdict', w.verdict)
  setHidden(card.role, w.role !== 'spare')
  setText(card.state, tValue('state', w.state))
  setText(card.score, formatNumber(w.healthScore))
  setData(card.score, 'level', scoreLevel(w.healthScore))
  if (card.meter.value !== w.healthScore) card.meter.value = w.healthScore
  setText(card.worstName, w.worst ? tValue('indicator', w.worst) : t('worker.worstNone'))
  setText(card.worstDetail, w.worst && w.worstDetail ? w.worstDetail : '')
  setText(card.restarts, formatNumber(w.restarts))
  setText(
    card.recentRestarts,
    w.recentRestarts > 0 ? t('worker.recentRestarts', { n: formatNumber(w.recentRestarts) }) : '',
  )
  setText(card.uptime, formatDuration(w.uptimeMs))
  setText(card.pid, w.pid ?? t('none'))
  setText(card.incident, w.incidentId ? t('worker.incident', { id: w.incidentId }) : '')
  const canRestart = w.role === 'worker' && w.incidentId === null
  if (card.button.disabled === canRestart) card.button.disabled = !canRestart
  setAttr(card.button, 'aria-label', t('worker.restartLabel', { id: w.id }))
}

function renderSparklines(force) {
  for (const [id, card] of workerCards) {
    if (sparkObserver === null || visibleWorkers.has(id)) drawSparklines(card, force)
  }
}

/** Redraws a card's sparklines when its newest sample is one it has not drawn (or when forced). */
function drawSparklines(card, force) {
  const samples = data.history.workers[card.root.dataset.workerId] ?? []
  const last = samples[samples.length - 1]
  const at = last ? last.at : null
  if (!force && card.drawnAt === at) return
  card.drawnAt = at
  const recent = samples.slice(-SPARK_POINTS)
  drawLine(card.cpu, recent, 'cpuPercent', 100, (v) => `${formatNumber(v, v < 10 ? 1 : 0)}%`)
  drawLine(card.mem, recent, 'rssMb', 1, formatMb)
}

function drawLine(spark, samples, key, floor, format) {
  const values = samples.map((s) => s[key]).filter((v) => typeof v === 'number')
  // Without samples the text takes the line's place, so it fits whole.
  setData(spark.wrap, 'empty', values.length === 0)
  if (values.length === 0) {
    setAttr(spark.line, 'points', '')
    setText(spark.value, t('worker.noSamples'))
    return
  }
  const top = Math.max(floor, ...values) * 1.1
  const step = values.length > 1 ? 100 / (values.length - 1) : 0
  let points = ''
  for (let i = 0; i < values.length; i++) {
    const x = values.length > 1 ? i * step : 50
    const y = 23 - (values[i] / top) * 22
    points += `${x.toFixed(1)},${y.toFixed(1)} `
  }
  setAttr(spark.line, 'points', points.trimEnd())
  setText(spark.value, format(values[values.length - 1]))
}

// Queues -----------------------------------------------------------------------------------------

const queueCards = new Map()
let chartObserver = null

function createQueueCard(name) {
  const root = el('article', 'card queue')
  root.dataset.queueName = name
  const head = el('header', 'card-head')
  head.append(el('h3', 'card-title', name))
  const dl = el('dl', 'metrics counts')
  const fields = {}
  for (const [field, key] of [
    ['waiting', 'queue.waiting'],
    ['inFlight', 'queue.inFlight'],
    ['delayed', 'queue.delayed'],
    ['done', 'queue.done'],
    ['deadLettered', 'queue.dead'],
    ['quarantined', 'queue.quarantined'],
    ['throughputPerMinute', 'queue.throughput'],
    ['oldestWaitingMs', 'queue.oldest'],
  ]) {
    const m = metric(key)
    m.wrap.dataset.field = field
    dl.append(m.wrap)
    fields[field] = m.value
  }
  const charts = el('div', 'charts')
  const depth = chartBox('queue.depthChart')
  const throughput = chartBox('queue.throughputChart')
  charts.append(depth.figure, throughput.figure)
  root.append(head, dl, charts)
  return { root, name, fields, depth, throughput }
}

function chartBox(key) {
  const figure = el('figure', 'chart')
  const caption = label('figcaption', key)
  const box = el('div', 'chart-box')
  box.setAttribute('role', 'img')
  figure.append(caption, box)
  return { figure, box, key, plot: null, size: 0 }
}

function renderQueues(force) {
  reconcileCards($('queues'), queueCards, data.queues, {
    key: (q) => q.queue,
    create: (q) => createQueueCard(q.queue),
    update: updateQueueCard,
    remove: destroyCharts,
  })
  setHidden($('queues-empty'), !data.loaded.has('queues') || data.queues.length > 0)
  for (const card of queueCards.values()) drawQueueCharts(card, force)
}

function updateQueueCard(card, q) {
  for (const [field, node] of Object.entries(card.fields)) {
    const v = q[field]
    setText(
      node,
      field === 'oldestWaitingMs'
        ? v > 0
          ? formatDuration(v)
          : t('none')
        : field === 'throughputPerMinute'
          ? t('queue.perMinute', { n: formatNumber(v) })
          : formatNumber(v),
    )
  }
  setData(card.root, 'level', q.quarantined > 0 || q.deadLettered > 0 ? 'bad' : 'good')
}

function chartColors() {
  const css = getComputedStyle(document.documentElement)
  const v = (name) => css.getPropertyValue(name).trim()
  return { axis: v('--muted'), grid: v('--grid'), a: v('--chart-a'), b: v('--chart-b'), c: v('--chart-c') }
}

function drawQueueCharts(card, force) {
  const samples = data.history.queues[card.name] ?? []
  const x = samples.map((s) => s.at / 1000)
  const latest = samples[samples.length - 1]
  const none = t('queue.noHistory')
  drawChart(
    card.depth,
    [x, samples.map((s) => s.waiting), samples.map((s) => s.inFlight)],
    [
      ['queue.waiting', 'a', true],
      ['queue.inFlight', 'b', false],
    ],
    latest ? `${t('queue.waiting')} ${latest.waiting}, ${t('queue.inFlight')} ${latest.inFlight}` : none,
    card.name,
    force,
  )
  drawChart(
    card.throughput,
    [x, samples.map((s) => s.perMinute)],
    [['queue.throughput', 'c', true]],
    latest ? t('queue.perMinute', { n: formatNumber(latest.perMinute) }) : none,
    card.name,
    force,
  )
}

function drawChart(chart, columns, series, latest, queue, force) {
  setAttr(chart.box, 'aria-label', t('queue.chartLabel', { chart: t(chart.key), queue, latest }))
  const uPlot = globalThis.uPlot
  if (!uPlot) return
  if (chart.plot && force) {
    chart.plot.destroy()
    chart.plot = null
  }
  if (!chart.plot) {
    const colors = chartColors()
    const width = Math.max(200, Math.floor(chart.box.clientWidth || 300))
    chart.plot = new uPlot(
      {
        width,
        height: 140,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        scales: {
          x: { time: true },
          y: { range: (_u, _min, max) => [0, Math.max(1, (Number.isFinite(max) ? max : 0) * 1.1)] },
        },
        axes: [
          {
            stroke: colors.axis,
            grid: { stroke: colors.grid },
            ticks: { stroke: colors.grid },
            // The page's clock (formatClock), with seconds when ticks are less than a minute apart;
            // room for `17:53:58` between ticks.
            space: 64,
            values: (_u, splits, _axis, _space, incr) => splits.map((x) => formatClock(x * 1000, incr < 60)),
          },
          {
            stroke: colors.axis,
            grid: { stroke: colors.grid },
            ticks: { stroke: colors.grid },
            values: (_u, splits) => splits.map((v) => formatNumber(v, 2)),
            size: valueAxisSize,
          },
        ],
        series: [
          {},
          ...series.map(([key, color, fill]) => {
            const s = { label: t(key), stroke: colors[color], width: 2, points: { show: false } }
            // The palette is #rrggbb; 26 is 15% opacity.
            if (fill) s.fill = `${colors[color]}26`
            return s
          }),
        ],
      },
      columns,
      chart.box,
    )
    chart.size = width
    observeChart(chart)
    chart.drawnAt = columns[0][columns[0].length - 1] ?? null
    return
  }
  const at = columns[0][columns[0].length - 1] ?? null
  if (chart.drawnAt === at) return
  chart.drawnAt = at
  chart.plot.setData(columns)
}

/**
 * The width of a value axis: its widest label, measured in the axis's font, plus the ticks and the
 * gap, so that `12,000` is never cut to `,000`. uPlot asks again while the layout settles; after
 * two rounds the width stays.
 */
function valueAxisSize(u, values, axisIndex, cycle) {
  const axis = u.axes[axisIndex]
  if (cycle > 1) return axis._size
  let widest = 0
  if (values) {
    u.ctx.font = axis.font[0]
    for (const v of values) widest = Math.max(widest, u.ctx.measureText(String(v)).width)
  }
  return Math.ceil(widest / devicePixelRatio) + axis.ticks.size + axis.gap + 4
}

function observeChart(chart) {
  if (!('ResizeObserver' in window)) return
  chartObserver ??= new ResizeObserver((entries) => {
    for (const e of entries) {
      const target = e.target.__chart
      const width = Math.floor(e.contentRect.width)
      if (target?.plot && width > 0 && Math.abs(width - target.size) >= 2) {
        target.size = width
        target.plot.setSize({ width, height: 140 })
      }
    }
  })
  chart.box.__chart = chart
  chartObserver.observe(chart.box)
}

function destroyCharts(card) {
  for (const chart of [card.depth, card.throughput]) {
    chartObserver?.unobserve(chart.box)
    chart.plot?.destroy()
    chart.plot = null
  }
}

// Quarantined jobs ---------------------------------------------------------------------------------

const jobRows = new Map()

function payloadText(payload) {
  let text
  try {
    text = JSON.stringify(payload, null, 2) ?? String(payload)
  } catch {
    text = String(payload)
  }
  return text.length > PAYLOAD_CHARS ? `${text.slice(0, PAYLOAD_CHARS)}…` : text
}

function createJobRow(queue, id) {
  const root = el('li', 'card job')
  root.dataset.jobKey = `${queue}\n${id}`
  root.dataset.queue = queue
  root.dataset.jobId = id
  const head = el('header', 'card-head')
  const title = el('h3', 'card-title')
  title.append(el('span', 'muted', `${queue} / `), el('span', 'job-id', id))
  head.append(title)
  const dl = el('dl', 'metrics compact')
  const crashes = metric('job.crashes')
  const attempts = metric('job.attempts')
  const at = metric('job.quarantinedAt')
  dl.append(crashes.wrap, attempts.wrap, at.wrap)
  const errorLabel = label('h4', 'job.error')
  const error = el('pre', 'job-error')
  const payloadLabel = label('h4', 'job.payload')
  const payload = el('pre', 'job-payload')
  const foot = el('footer', 'card-foot')
  const retry = label('button', 'job.retry', 'button small')
  retry.type = 'button'
  retry.dataset.action = 'retry'
  const purge = label('button', 'job.purge', 'button small danger')
  purge.type = 'button'
  purge.dataset.action = 'purge'
  for (const b of [retry, purge]) {
    b.dataset.queue = queue
    b.dataset.id = id
  }
  foot.append(retry, purge)
  root.append(head, dl, errorLabel, error, payloadLabel, payload, foot)
  return {
    root,
    crashes: crashes.value,
    attempts: attempts.value,
    at: at.value,
    error,
    payload,
    retry,
    purge,
    payloadSource: undefined,
  }
}

function renderJobs() {
  const held = [...data.jobs].flatMap(([queue, jobs]) => jobs.map((job) => ({ queue, job })))
  reconcileCards($('jobs'), jobRows, held, {
    key: ({ queue, job }) => `${queue}\n${job.id}`,
    create: ({ queue, job }) => createJobRow(queue, job.id),
    update: (row, { job }) => updateJobRow(row, job),
  })
  setHidden($('jobs-empty'), held.length > 0)
}

function updateJobRow(row, job) {
  setText(row.crashes, formatNumber(job.crashes))
  setText(row.attempts, `${formatNumber(job.attempts)} / ${formatNumber(job.maxAttempts)}`)
  setText(row.at, formatDateTime(job.finishedAt ?? job.updatedAt))
  setText(row.error, job.lastError ?? t('job.noError'))
  setData(row.error, 'empty', job.lastError === null)
  if (row.payloadSource !== job.payload) {
    row.payloadSource = job.payload
    setText(row.payload, payloadText(job.payload))
  }
  setAttr(row.retry, 'aria-label', t('job.retryLabel', { id: job.id }))
  setAttr(row.purge, 'aria-label', t('job.purgeLabel', { id: job.id }))
}

// Incidents --------------------------------------------------------------------------------------

const incidentRows = new Map()

function createIncidentRow(id) {
  const root = el('li', 'incident')
  root.dataset.incidentId = id
  const details = el('details')
  const summary = el('summary')
  const outcome = el('span', 'badge outcome')
  const worker = el('strong', 'incident-worker')
  const cause = el('span', 'incident-cause')
  const strategy = el('span', 'incident-strategy')
  const duration = el('span', 'incident-duration')
  const time = el('time', 'muted')
  summary.append(outcome, worker, cause, strategy, duration, time)

  const body = el('div', 'incident-body')
  const detail = el('p', 'incident-detail')
  const escalation = el('p', 'error')
  const dl = el('dl', 'metrics compact')
  const mCause = metric('incident.cause')
  const mStrategy = metric('incident.strategy')
  const mOutcome = metric('incident.outcome')
  const mDuration = metric('incident.duration')
  dl.append(mCause.wrap, mStrategy.wrap, mOutcome.wrap, mDuration.wrap)
  const attempt = el('p', 'muted small')
  const stepsTitle = el('h4')
  const steps = el('ol', 'steps')
  body.append(detail, escalation, dl, attempt, stepsTitle, steps)
  details.append(summary, body)
  root.append(details)
  return {
    root,
    outcome,
    worker,
    cause,
    strategy,
    duration,
    time,
    detail,
    escalation,
    mCause: mCause.value,
    mStrategy: mStrategy.value,
    mOutcome: mOutcome.value,
    mDuration: mDuration.value,
    attempt,
    stepsTitle,
    steps,
    stepCount: 0,
  }
}

/** A step of an incident's timeline: how long after the detection it came, its moment on hover. */
function stepRow(s, detectedAt) {
  const li = el('li')
  const time = el('time', 'muted')
  time.dateTime = new Date(s.at).toISOString()
  const name = el('strong', 'step-name')
  name.dataset.step = s.step
  const detail = el('span', 'step-detail', s.detail)
  li.append(time, name, detail)
  li.__at = s.at
  li.__detectedAt = detectedAt
  writeStep(li)
  return li
}

/** The texts of a step row that depend on the language. */
function writeStep(li) {
  const time = li.firstElementChild
  setText(time, formatOffset(li.__at - li.__detectedAt))
  setAttr(time, 'title', formatDateTime(li.__at))
  const name = li.querySelector('.step-name')
  setText(name, tValue('step', name.dataset.step))
}

function renderIncidents() {
  const incidents = [...data.incidents.values()].sort((a, b) => b.detectedAt - a.detectedAt)
  const shown = incidents.slice(0, INCIDENT_LIMIT)
  // Forget what falls off the list, so the map does not grow with every event.
  for (const dropped of incidents.slice(INCIDENT_LIMIT)) data.incidents.delete(dropped.id)
  reconcileCards($('incidents'), incidentRows, shown, {
    key: (inc) => inc.id,
    create: (inc) => createIncidentRow(inc.id),
    update: updateIncidentRow,
  })
  setHidden($('incidents-empty'), !data.loaded.has('incidents') || shown.length > 0)
}

function updateIncidentRow(row, inc) {
  const ended = inc.outcome !== null
  const outcomeText = ended
    ? tValue('outcome', inc.outcome)
    : t('incident.inProgress', { phase: tValue('phase', inc.phase) })
  setData(row.root, 'outcome', inc.outcome ?? 'open')
  setText(row.outcome, ended ? tValue('outcome', inc.outcome) : tValue('phase', inc.phase))
  setText(row.worker, inc.workerId)
  const cause = tValue('cause', inc.cause)
  const strategy = tValue('strategy', inc.strategy)
  setText(row.cause, inc.manual && inc.cause !== 'manual' ? `${cause} (${t('incident.manual')})` : cause)
  setText(row.strategy, strategy)
  const end = inc.recoveredAt ?? inc.endedAt
  const duration = end === null ? t('none') : formatDuration(end - inc.detectedAt)
  setText(row.duration, duration)
  setText(row.time, formatDateTime(inc.detectedAt))
  if (row.time.dateTime === '') row.time.dateTime = new Date(inc.detectedAt).toISOString()
  setText(row.detail, inc.detail)
  setText(
    row.escalation,
    inc.escalationReason ? t('incident.escalation', { reason: inc.escalationReason }) : '',
  )
  setHidden(row.escalation, !inc.escalationReason)
  setText(row.mCause, cause)
  setText(
    row.mStrategy,
    inc.firstStrategy !== inc.strategy ? `${tValue('strategy', inc.firstStrategy)} → ${strategy}` : strategy,
  )
  setText(row.mOutcome, outcomeText)
  setText(row.mDuration, duration)
  setText(row.attempt, t('incident.attempt', { n: inc.attempt, max: inc.maxAttempts }))
  setText(row.stepsTitle, t('incident.steps', { n: inc.timeline.length }))
  // Steps only grow: append the new ones.
  if (inc.timeline.length < row.stepCount) {
    row.steps.replaceChildren()
    row.stepCount = 0
  }
  for (let i = row.stepCount; i < inc.timeline.length; i++) {
    row.steps.append(stepRow(inc.timeline[i], inc.detectedAt))
  }
  row.stepCount = inc.timeline.length
}

/** Texts of steps that depend on the language (step names, times), for a language switch. */
function retranslateSteps() {
  for (const row of incidentRows.values()) for (const li of row.steps.children) writeStep(li)
}

// ---------------------------------------------------------------------------------------------
// Actions, through one accessible confirmation dialog

const dialog = $('confirm')
let dialogAction = null
let dialogBusy = false

function confirmAction({ title, body, ok, danger = false, choices = false, run }) {
  setText($('confirm-title'), title)
  setText($('confirm-body'), body)
  $('confirm-choices').hidden = !choices
  dialog.querySelector('input[value=soft]').checked = true
  const okButton = $('confirm-ok')
  okButton.textContent = ok
  okButton.__label = ok
  okButton.className = danger ? 'button danger' : 'button primary'
  okButton.disabled = false
  $('confirm-cancel').disabled = false
  const error = $('confirm-error')
  error.hidden = true
  error.textContent = ''
  dialogAction = run
  dialog.showModal()
  ;(choices ? dialog.querySelector('input[value=soft]') : $('confirm-cancel')).focus()
}

$('confirm-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  if (dialogBusy || !dialogAction) return
  dialogBusy = true
  const okButton = $('confirm-ok')
  okButton.disabled = true
  $('confirm-cancel').disabled = true
  okButton.textContent = t('dialog.working')
  const mode = new FormData(e.target).get('mode')
  try {
    await dialogAction(mode)
    dialog.close()
  } catch (err) {
    const error = $('confirm-error')
    error.textContent = err instanceof Error ? err.message : String(err)
    error.hidden = false
  } finally {
    dialogBusy = false
    okButton.disabled = false
    $('confirm-cancel').disabled = false
    okButton.textContent = okButton.__label
  }
})
$('confirm-cancel').addEventListener('click', () => dialog.close())
dialog.addEventListener('cancel', (e) => {
  if (dialogBusy) e.preventDefault()
})

function restartWorker(id) {
  confirmAction({
    title: t('confirm.restartTitle', { id }),
    body: t('confirm.restartBody'),
    ok: t('confirm.restart'),
    choices: true,
    run: async (mode) => {
      const { incidentId } = await api(`/api/workers/${encodeURIComponent(id)}/restart`, {
        method: 'POST',
        body: { hard: mode === 'hard' },
      })
      toast(t('toast.restarted', { id, incident: incidentId }))
      schedule(['workers', 'pools', 'incidents'], 0)
    },
  })
}

function retryJob(queue, id) {
  confirmAction({
    title: t('confirm.retryTitle', { id }),
    body: t('confirm.retryBody', { queue }),
    ok: t('confirm.retry'),
    run: async () => {
      const { retried } = await api(`/api/queues/${encodeURIComponent(queue)}/retry`, {
        method: 'POST',
        body: { from: 'quarantined', ids: [id] },
      })
      toast(retried > 0 ? t('toast.retried', { id, queue }) : t('toast.skipped', { id }))
      schedule(['queues', 'jobs'], 0)
    },
  })
}

function purgeJob(queue, id) {
  confirmAction({
    title: t('confirm.purgeTitle', { id }),
    body: t('confirm.purgeBody', { queue }),
    ok: t('confirm.purge'),
    danger: true,
    run: async () => {
      const { purged } = await api(`/api/queues/${encodeURIComponent(queue)}/purge`, {
        method: 'POST',
        body: { state: 'quarantined', ids: [id] },
      })
      toast(purged > 0 ? t('toast.purged', { id }) : t('toast.skipped', { id }))
      schedule(['queues', 'jobs'], 0)
    },
  })
}

document.addEventListener('click', (e) => {
  const button = e.target instanceof Element ? e.target.closest('button[data-action]') : null
  if (!button || button.disabled) return
  const { action, id, queue } = button.dataset
  if (action === 'restart') restartWorker(id)
  else if (action === 'retry') retryJob(queue, id)
  else if (action === 'purge') purgeJob(queue, id)
})

let toastTimer = 0
function toast(text) {
  const node = $('toast')
  node.textContent = text
  node.hidden = false
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => (node.hidden = true), TOAST_MS)
}

function showBanner(text) {
  const node = $('banner')
  setText(node, text)
  setHidden(node, false)
}

function hideBanner() {
  setHidden($('banner'), true)
}

// ---------------------------------------------------------------------------------------------
// Token (shown only when the API answers 401)

function showAuth(refused) {
  $('auth').hidden = false
  const error = $('auth-error')
  error.textContent = refused ? t('auth.refused') : ''
  error.hidden = !refused
}

$('auth-form').addEventListener('submit', (e) => {
  e.preventDefault()
  const input = $('auth-token')
  const token = input.value.trim()
  if (!token) return
  try {
    sessionStorage.setItem(TOKEN_KEY, token)
  } catch {
    // Without sessionStorage the token cannot be kept; requests will ask again.
  }
  input.value = ''
  $('auth').hidden = true
  connect()
  schedule(ALL, 0)
})

// ---------------------------------------------------------------------------------------------
// Theme and language

const darkQuery = matchMedia('(prefers-color-scheme: dark)')

function storedTheme() {
  try {
    const v = localStorage.getItem(THEME_KEY)
    return v === 'dark' || v === 'light' ? v : null
  } catch {
    return null
  }
}

function applyTheme() {
  const stored = storedTheme()
  const root = document.documentElement
  if (stored) root.dataset.theme = stored
  else delete root.dataset.theme
  const dark = stored ? stored === 'dark' : darkQuery.matches
  $('theme-toggle').setAttribute('aria-pressed', String(dark))
  rebuildCharts()
}

$('theme-toggle').addEventListener('click', () => {
  const dark = $('theme-toggle').getAttribute('aria-pressed') === 'true'
  try {
    localStorage.setItem(THEME_KEY, dark ? 'light' : 'dark')
  } catch {
    document.documentElement.dataset.theme = dark ? 'light' : 'dark'
  }
  applyTheme()
})
darkQuery.addEventListener('change', () => {
  if (!storedTheme()) applyTheme()
})

function rebuildCharts() {
  for (const card of queueCards.values()) drawQueueCharts(card, true)
}

$('lang-select').addEventListener('change', (e) => {
  setLanguage(e.target.value, true)
  translateStatic()
  const conn = $('conn')
  setText($('conn-text'), t(`conn.${conn.dataset.conn}`))
  if (data.loaded.size) render(new Set(), true)
  retranslateSteps()
  showUpdated()
})

// ---------------------------------------------------------------------------------------------
// Start

function start() {
  setLanguage(initialLanguage())
  $('lang-select').value = language()
  translateStatic()
  applyTheme()
  connect()
  schedule(ALL, 0)
  setInterval(tick, 1000)
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) schedule(ALL, 0)
  })
}

start()
