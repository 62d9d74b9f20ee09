/**
 * The composition root: builds the adapters (store, spawner, /proc, probes, notifiers, HTTP API),
 * injects them into the supervisor, and owns the process lifecycle (signals, shutdown, exit code).
 * @module
 */
import { apiTokensFor, withoutApiTokens } from './adapters/http/auth.js'
import { serveHttp } from './adapters/http/node-server.js'
import { nodeSignals, type SignalSource } from './adapters/node-signals.js'
import { type Containment, killQuietly, openContainment } from './adapters/process/containment.js'
import { PoolLogWriter } from './adapters/process/log-writer.js'
import { runProbe } from './adapters/process/probes.js'
import { readProcStat, readProcState, sampleTrees } from './adapters/process/proc.js'
import { createProcessSpawner } from './adapters/process/spawner.js'
import { systemClock } from './adapters/system-clock.js'
import { backgroundTimers } from './adapters/timers.js'
import { configuredQueues, loadConfigFile, type LoadedConfig, queueSettings } from './config/load.js'
import type { AnyEvent } from './core/events.js'
import { describeHolder } from './core/supervisor-lease.js'
import { isShepherdError } from './errors.js'
import { createLogger, type Logger } from './logger.js'
import { createMetrics } from './metrics/registry.js'
import { takeFleetSnapshot } from './metrics/snapshot.js'
import { createHookNotifiers, createNotifiers, NotificationDispatcher } from './notify/index.js'
import type { Clock } from './ports/clock.js'
import type { Store } from './ports/store.js'
import { startReportSchedule } from './report/scheduler.js'
import { FleetChores } from './store/fleet-chores.js'
import { FleetMembership } from './store/fleet-membership.js'
import { closeLapsedIncidents } from './store/lapsed-incidents.js'
import { reclaimLapsedJobs } from './store/lapsed-jobs.js'
import { LeaderElection } from './store/leader-election.js'
import { openStore } from './store/open-store.js'
import { HEARTBEAT_MS, LEASE_TTL_MS, takeOwnership } from './store/ownership.js'
import { STORE_CHECK_MS, StoreMonitor } from './store/store-monitor.js'
import { WriteBehind } from './store/write-behind.js'
import { nodeWorkload } from './supervisor/node-workload.js'
import { Supervisor } from './supervisor/supervisor.js'
import { packageVersion } from './version.js'

/** Events are pruned this often; retention itself is `store.event_retention`. */
const PRUNE_EVERY_MS = 3_600_000
/** At shutdown, queued notifications get this long to go out. */
const NOTIFY_DRAIN_MS = 5_000
/**
 * After "shepherd stopped" nothing is left to wait for; if a handle still keeps the process alive
 * this long after, `shepherd start` logs what it is and exits anyway (a stuck supervisor that
 * says it stopped is the worst of both).
 */
const EXIT_AFTER_STOP_MS = 2_000

export interface DaemonOptions {
  clock?: Clock
  signals?: SignalSource
  /** Where the supervisor's log goes (default stdout). */
  logDestination?: NodeJS.WritableStream
  /**
   * The environment: SHEPHERD_API_TOKEN / SHEPHERD_API_READ_TOKEN, and what workers and hook
   * commands inherit (without those two).
   * @defaultValue process.env
   */
  env?: Record<string, string | undefined>
}

export interface Daemon extends AsyncDisposable {
  readonly supervisor: Supervisor
  readonly store: Store
  readonly apiUrl: string
  readonly logger: Logger
  /** Subscribes to every event (tests and benchmarks watch the flow this way). */
  onEvent(listener: (e: AnyEvent) => void): () => void
  /** Graceful stop; `force` kills workers at once. Resolves when everything is closed. */
  stop(reason?: string, force?: boolean): Promise<void>
}

/** Starts a daemon on a loaded config; resolves once the API answers and workers are spawned. */
export async function startDaemon(loaded: LoadedConfig, opts: DaemonOptions = {}): Promise<Daemon> {
  const clock = opts.clock ?? systemClock
  const { config } = loaded
  const env = opts.env ?? process.env
  // Before anything is opened: a supervisor that would expose an open API does not start.
  const apiTokens = apiTokensFor(loaded, env)
  // Workers and hook commands get the daemon's environment without its secrets: the API tokens,
  // and the variable that holds the store's URL (its password).
  const childEnv = withoutApiTokens(env)
  if (config.store.url_env !== undefined) delete childEnv[config.store.url_env]
  const logger = createLogger({
    level: config.log.level,
    format: config.log.format,
    destination: opts.logDestination,
  })
  const store = await openStore(loaded.store)
  await store.migrate()
  // Before anything in the store is touched: a second supervisor on this store stops here.
  // On a shared store (PostgreSQL) the lease is the fleet's: node.lease long, renewed every third
  // of it. On SQLite the OS lock tells at once whether the holder runs: the long lease stays.
  const fleet = loaded.store.kind === 'postgres'
  const leaseMs = fleet ? loaded.node.leaseMs : LEASE_TTL_MS
  const joinedAt = clock.now()
  const ownership = await takeOwnership(store, loaded.storePath, joinedAt, loaded.node.name, leaseMs).catch(
    async (e: unknown) => {
      await store.close()
      throw e
    },
  )
  // What the store's server is set to that works against it (autovacuum off): said, never fatal.
  for (const advice of await store.advise().catch(() => [])) logger.warn({ store: loaded.storePath }, advice)

  const listeners = new Set<(e: AnyEvent) => void>()
  // Gauges are read from the supervisor at each scrape; the API (and so a scrape) starts after it.
  const notifiers = [
    ...createNotifiers(config.notifications, { configFile: loaded.file }),
    ...createHookNotifiers(config.hooks, { configFile: loaded.file, env: childEnv }),
  ]
  const metrics = createMetrics({
    snapshot: () => takeFleetSnapshot(supervisor!, store.jobs, clock.now(), configuredQueues(config)),
    version: packageVersion(),
    node: loaded.node.name,
    pools: loaded.pools.map((p) => ({ name: p.name, queue: p.queue ?? null })),
    queues: configuredQueues(config),
    notifiers: notifiers.map((n) => n.name),
  })
  const dispatcher = new NotificationDispatcher({
    notifiers,
    settings: config.notifications,
    now: () => clock.now(),
    logger,
    // On a shared store the fleet-wide facts are sent by one agent (docs/notifications.md, "In a fleet").
    fleet: fleet ? { node: loaded.node.name, claim: (c) => store.claimNotification(c) } : undefined,
    onDeliveryFailed: (f) =>
      record({
        type: 'notifier:failed',
        at: clock.now(),
        severity: 'warning',
        message: `notification to ${f.notifier} failed after ${f.attempts} attempts: ${f.error}`,
        pool: null,
        workerId: null,
        incidentId: null,
        data: f,
      }),
  })
  const writer = new WriteBehind(store, (err, detail) =>
    logger.error({ err, detail }, 'could not write to the store'),
  )
  function record(event: AnyEvent): void {
    // Every event carries the agent that recorded it: into the store, the stream and notifications.
    const e: AnyEvent = { ...event, node: loaded.node.name }
    logEvent(logger, e)
    writer.appendEvent(e)
    metrics.observeEvent(e)
    dispatcher.publish(e)
    for (const l of listeners) {
      try {
        l(e)
      } catch (err) {
        logger.error({ err }, 'event listener failed')
      }
    }
  }

  const storeMonitor = new StoreMonitor({
    store,
    storePath: loaded.storePath,
    now: () => clock.now(),
    record,
    logger,
    // In a fleet the membership renews the lease, on a timer of its own.
    heartbeat: fleet ? undefined : (now) => ownership.heartbeat(now),
    heartbeatEveryMs: HEARTBEAT_MS,
    dropped: () => writer.dropped,
  })
  storeMonitor.start()
  // In a fleet: the lease renewed every third of it, jobs claimed only while it is surely live, and
  // a rejoin after it lapsed (src/store/fleet-membership.ts).
  const membership = fleet
    ? new FleetMembership({
        ownership,
        jobs: store.jobs,
        held: () => supervisor?.heldDeliveries() ?? [],
        excuse: (tokens) => supervisor?.excuseDeliveries(tokens),
        node: loaded.node.name,
        ttlMs: leaseMs,
        joinedAt,
        now: () => clock.now(),
        timers: backgroundTimers,
        record,
        logger,
      })
    : null
  membership?.start()

  let supervisor: Supervisor | null = null
  const containment = openContainment({
    mode: config.containment,
    warn: (message) => logger.warn(message),
  })
  const spawner = createProcessSpawner({
    now: () => clock.now(),
    onOutput: (key, stream, lines) => supervisor?.handleOutput(key, stream, lines),
    containment,
  })
  supervisor = new Supervisor({
    loaded,
    spawner,
    store,
    writer,
    clock,
    // Unref'd: the API server keeps the daemon alive; a pending timer alone never does.
    timers: backgroundTimers,
    proc: {
      sampleTrees,
      readProcState,
      readStartTicks: (pid) => readProcStat(pid)?.startTimeTicks ?? null,
      signalGroup: (pgid, signal) => killQuietly(-pgid, signal),
    },
    runProbe,
    openLog: (pool) =>
      new PoolLogWriter({
        dir: loaded.logDir,
        pool,
        maxSize: config.logs.max_size,
        maxFiles: config.logs.max_files,
        // Log lines carry the wall-clock time people read them by.
        now: () => Date.now(),
        onError: (e) => logger.warn({ pool, err: e.message }, 'worker log write failed'),
      }),
    emit: record,
    baseEnv: childEnv,
    onJobs: (pool, queue, jobs) => metrics.observeJobs(pool, queue, jobs.ok, jobs.failed, jobs.ms),
    logger,
    version: packageVersion(),
    takeover: ownership.takenOver ? describeHolder(ownership.takenOver.previous, clock.now()) : undefined,
    mayClaimJobs: membership ? () => membership.mayClaim() : undefined,
  })
  const sup = supervisor
  // Each heartbeat records the workers, so that any agent shows this node's (shepherd nodes, status).
  ownership.recordWorkload(() => nodeWorkload(sup.listWorkers(), sup.listPools()))
  // Whatever ends this process, no worker outlives it unwatched.
  const killAll = (): void => spawner.killAllSync()
  process.on('exit', killAll)

  let server: Awaited<ReturnType<typeof serveHttp>>
  try {
    // The API binds before anything is spawned (a second supervisor was refused by the store already).
    // The app (its routes, schemas and OpenAPI document) is loaded and made at the first request.
    server = await serveHttp(
      async () =>
        (await import('./adapters/http/app.js')).createHttpApp({
          supervisor: sup,
          store,
          config: loaded.config,
          node: loaded.node.name,
          auth: apiTokens,
          hosts: { bindHost: loaded.config.api.host, allowedHosts: loaded.config.api.allowed_hosts },
          metrics,
          storeHealth: () => storeMonitor.health,
          onInternalError: (err, request) => logger.error({ err, ...request }, 'API request failed'),
          record,
          onEventClientDropped: (reason, clients) =>
            logger.warn({ reason, clients }, 'dropped an event stream client that stopped reading'),
          events: (listener) => {
            listeners.add(listener)
            return () => listeners.delete(listener)
          },
        }),
      { host: config.api.host, port: config.api.port },
    )
  } catch (e) {
    process.off('exit', killAll)
    await spawner.close()
    storeMonitor.stop()
    membership?.stop()
    await ownership.release().catch(() => undefined)
    await store.close()
    throw e
  }
  sup.apiUrl = server.url
  await ownership.serving(server.url, clock.now())
  if (ownership.takenOver) {
    const { previous, reason } = ownership.takenOver
    record({
      type: 'supervisor:takeover',
      at: clock.now(),
      severity: 'warning',
      message: `took the store over from the supervisor ${describeHolder(previous, clock.now())}: ${reason === 'dead' ? 'its process is gone' : 'its lease expired'}`,
      pool: null,
      workerId: null,
      incidentId: null,
      data: { previous, reason },
    })
  }
  const storeCheck = setInterval(() => void storeMonitor.tick(clock.now()), STORE_CHECK_MS)
  storeCheck.unref()
  await sup.start()
  const reports = startReportSchedule({
    loaded,
    store,
    flush: () => writer.flush(),
    current: () =>
      new Map(
        sup.listPools().map((p) => [p.name, { workers: p.workers, serving: p.serving, spares: p.spares }]),
      ),
    now: () => clock.now(),
    logger,
    record,
    claimRun: (dueAt, spacingMs) => store.claimChoreRun('report', dueAt, loaded.node.name, spacingMs),
  })

  // The fleet-wide chores run on the leader alone (on SQLite, this supervisor: the only one).
  const election = new LeaderElection({
    store,
    candidate: { owner: ownership.lease.owner, node: loaded.node.name },
    // As long as a node's lease: a dead leader's chores move within about the time its jobs do.
    ttlMs: loaded.node.leaseMs,
    now: () => clock.now(),
    timers: backgroundTimers,
    record,
    logger,
  })
  await election.start()
  const chores = new FleetChores({
    leading: () => election.checkStanding(),
    now: () => clock.now(),
    timers: backgroundTimers,
    logger,
    // A tenth of the lease: the reclaim of a dead agent's jobs runs that soon after its lease lapsed.
    lookEveryMs: Math.max(50, Math.floor(loaded.node.leaseMs / 10)),
    chores: [
      // A dead or cut-off agent's jobs, back in the queue once its lease lapsed: on the leader, at
      // every look, so within a tenth of the lease of its lapse (a leader that died with it is
      // replaced as its own leadership runs out, which is no later). A look reads the jobs only
      // when it ended a lease; the sweep, once a lease, takes what a look left (JobStore says what).
      {
        name: 'reclaim the jobs of agents whose lease lapsed',
        everyMs: 0,
        run: (now) => reclaimLapsedJobs({ jobs: store.jobs, now, scope: 'look', record }),
      },
      {
        name: 'sweep for the jobs of agents without a live lease',
        everyMs: loaded.node.leaseMs,
        run: (now) => reclaimLapsedJobs({ jobs: store.jobs, now, scope: 'sweep', record }),
      },
      // A dead agent's open incidents, closed as interrupted: nothing waits on them, so once a lease
      // is soon enough (the store's partial index makes each look a handful of rows).
      {
        name: 'close the open incidents of agents whose lease lapsed',
        everyMs: loaded.node.leaseMs,
        run: (now) => closeLapsedIncidents({ store, leader: loaded.node.name, now, record }),
      },
      {
        name: 'prune events',
        everyMs: PRUNE_EVERY_MS,
        run: (now) => store.pruneEvents(now - config.store.event_retention),
      },
      // The dedup claims of fleet-wide notifications, once past their window (and the counts they
      // carry once as old as the events kept).
      {
        name: 'prune fleet-wide notifications past their window',
        everyMs: PRUNE_EVERY_MS,
        run: (now) => store.pruneFleetNotifications(now, now - config.store.event_retention),
      },
      // Finished jobs are kept keep_done per queue (for counts, throughput and idempotency keys).
      ...configuredQueues(config).map((q) => ({
        name: `prune finished jobs of ${q}`,
        everyMs: PRUNE_EVERY_MS,
        run: (now: number) => store.jobs.pruneDone(now - queueSettings(config, q).keep_done, q),
      })),
    ],
  })
  chores.start()
  // Last: "shepherd started" tells that everything of the start is done (tests wait for it).
  logger.info({ api: server.url, config: loaded.file, store: loaded.storePath }, 'shepherd started')
  logContainment(logger, containment)

  let stopping: Promise<void> | null = null
  const daemon: Daemon = {
    supervisor: sup,
    store,
    apiUrl: server.url,
    logger,
    onEvent(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    stop(reason = 'stop requested', force = false) {
      if (force) void sup.stop(reason, true)
      stopping ??= (async () => {
        await chores.stop()
        clearInterval(storeCheck)
        await reports?.stop()
        await sup.stop(reason, force)
        await spawner.close()
        await server.close()
        await dispatcher.drain(NOTIFY_DRAIN_MS)
        dispatcher.close()
        await writer.close()
        storeMonitor.stop()
        membership?.stop()
        await election.stop()
        await ownership.release().catch((err: unknown) => logger.warn({ err }, 'could not release the store'))
        await store.close()
        process.off('exit', killAll)
        logger.info({ reason }, 'shepherd stopped')
      })()
      return stopping
    },
    async [Symbol.asyncDispose]() {
      await daemon.stop('disposed')
    },
  }
  return daemon
}

/**
 * `shepherd start`: runs in the foreground until SIGINT/SIGTERM (a second one forces), then stops
 * every worker and returns the exit code: 0 after a clean stop, 2 for an invalid config, 1 otherwise.
 */
export async function runDaemon(configFile: string, opts: DaemonOptions = {}): Promise<number> {
  let loaded: LoadedConfig
  try {
    loaded = loadConfigFile(configFile)
  } catch (e) {
    // As every command prints a config error: the first line carries the code, the problems follow.
    const [head = '', ...rest] = (e as Error).message.split('\n')
    const code = isShepherdError(e) ? ` [${e.code}]` : ''
    process.stderr.write(`${[`shepherd: ${head}${code}`, ...rest].join('\n')}\n`)
    return isShepherdError(e) ? 2 : 1
  }
  // Listened to before the start, not after: a SIGTERM while starting (a service manager's stop,
  // a ^C) would otherwise kill the process by the signal's default action, its workers left to
  // the guardian. The first one stops the daemon as soon as it has started; a second one, still
  // starting, exits at once (the exit handler kills the workers spawned so far).
  const signals = opts.signals ?? nodeSignals
  let daemon: Daemon | null = null
  // Set by the listener (so `as`, not an annotation, which TypeScript would narrow to null here).
  let early = null as { signal: NodeJS.Signals; count: number } | null
  let stopped!: (code: number) => void
  const exitCode = new Promise<number>((resolve) => (stopped = resolve))
  const stopOn = (d: Daemon, signal: NodeJS.Signals, count: number): void => {
    d.logger.info({ signal, count }, count === 1 ? 'stopping gracefully' : 'stopping now (second signal)')
    void d.stop(`received ${signal}`, count > 1).then(() => {
      off()
      exitEvenIfHeld(d.logger, 0)
      stopped(0)
    })
  }
  const off = signals.onShutdown((signal, count) => {
    if (daemon !== null) return stopOn(daemon, signal, count)
    if (count > 1) {
      process.stderr.write(`shepherd: ${signal} again while starting; exiting now\n`)
      process.exit(1)
    }
    early = { signal, count }
    process.stderr.write(`shepherd: ${signal} while starting; stopping once started (again: exit now)\n`)
  })
  try {
    daemon = await startDaemon(loaded, opts)
  } catch (e) {
    off()
    const code = isShepherdError(e) ? ` [${e.code}]` : ''
    process.stderr.write(`shepherd: ${(e as Error).message}${code}\n`)
    // A token required by api.host, or a malformed one in the environment, is a config problem.
    return isShepherdError(e, 'SHEPHERD_API_TOKEN_REQUIRED') || isShepherdError(e, 'SHEPHERD_CONFIG_INVALID')
      ? 2
      : 1
  }
  if (early !== null) stopOn(daemon, early.signal, early.count)
  return exitCode
}

/** The containment in force, and why not cgroups when they were wanted (docs/recovery.md#containment). */
function logContainment(logger: Logger, c: Containment): void {
  const fields = { containment: c.description, guardian: c.guardianPid ?? undefined }
  if (c.fallbackReason === null) logger.info(fields, `containment: ${c.description}`)
  else
    logger.warn(
      { ...fields, cgroups: c.fallbackReason },
      `containment: ${c.description} (no cgroups: ${c.fallbackReason}); a descendant that leaves its worker's process group can outlive it`,
    )
}

/** The last resort of {@link EXIT_AFTER_STOP_MS}; the timer itself keeps nothing alive. */
function exitEvenIfHeld(logger: Logger, code: number): void {
  setTimeout(() => {
    logger.warn(
      { resources: process.getActiveResourcesInfo() },
      'handles still open after shepherd stopped; exiting anyway',
    )
    process.exit(code)
  }, EXIT_AFTER_STOP_MS).unref()
}

function logEvent(logger: Logger, e: AnyEvent): void {
  const fields = {
    event: e.type,
    pool: e.pool ?? undefined,
    worker: e.workerId ?? undefined,
    incident: e.incidentId ?? undefined,
  }
  // Steps are in the incident's timeline (shepherd incidents); the log keeps the opening and the outcome.
  if (e.type === 'incident:step') logger.debug(fields, e.message)
  else if (e.severity === 'critical') logger.error(fields, e.message)
  else if (e.severity === 'warning') logger.warn(fields, e.message)
  else logger.info(fields, e.message)
}
