/**
 * The real Supervisor on fakes, under fake time: a spawner of fake processes whose exits, messages
 * and stops the test drives, a fake /proc table, the in-memory store with a small in-memory job
 * queue, and fake timers. Nothing here waits for real time or starts a process: a test of a
 * recovery that takes minutes of the supervisor's time runs in milliseconds.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'

import { pino } from 'pino'
import { stringify } from 'yaml'

import { loadConfigText } from '../../../src/config/load.js'
import type { AnyEvent, EventType } from '../../../src/core/events.js'
import type { ExitReport } from '../../../src/core/exit-report.js'
import type { Delivery, Job } from '../../../src/core/job.js'
import { FakeClock } from '../../../src/ports/clock.js'
import type {
  ClaimRequest,
  JobStore,
  JobWake,
  JobWatch,
  QueueCounts,
  Settlement,
  SettleResult,
} from '../../../src/ports/job-store.js'
import { zeroCounts } from '../../../src/ports/job-store.js'
import type { ProbeResult, ProcPort, TreeSample } from '../../../src/ports/process.js'
import type { ManagedProcess, ProcessSpawner, StopOptions, WorkerSpec } from '../../../src/ports/process.js'
import type { WorkerMessage } from '../../../src/protocol/messages.js'
import { JobWakes } from '../../../src/store/job-wakes.js'
import { WriteBehind } from '../../../src/store/write-behind.js'
import { Supervisor } from '../../../src/supervisor/supervisor.js'
import type { WorkerView } from '../../../src/supervisor/view.js'
import { FakeTimers } from '../../helpers/fake-timers.js'
import { MemoryStore } from '../../helpers/fakes.js'

export const T0 = 1_700_000_000_000

/** One fake worker process: the test says what it does; the supervisor sees a ManagedProcess. */
export class FakeProcess implements ManagedProcess {
  exit: ExitReport | null = null
  readonly exited: Promise<ExitReport>
  readonly startedAt: number
  /** Messages the supervisor sent it. */
  readonly sent: unknown[] = []
  readonly signals: string[] = []
  readonly stops: StopOptions[] = []
  /** A graceful stop does nothing: SIGKILL follows after the stop timeout. */
  ignoresSigterm = false
  private resolveExit!: (e: ExitReport) => void
  private stopping: Promise<ExitReport> | null = null
  private readonly listeners: Array<(m: unknown) => void> = []

  constructor(
    readonly pid: number,
    readonly spec: WorkerSpec,
    private readonly h: { clock: FakeClock; timers: FakeTimers; proc: FakeProcTable },
    readonly spawnFailed = false,
  ) {
    this.startedAt = h.clock.now()
    this.exited = new Promise((r) => (this.resolveExit = r))
    if (spawnFailed) this.end({ exitCode: null, signal: null, spawnFailed: true, error: 'spawn ENOENT' })
    else h.proc.add(pid)
  }

  get alive(): boolean {
    return this.exit === null
  }

  /** A message from the worker (as the SDK sends it). */
  say(m: WorkerMessage): void {
    assert.ok(this.alive, `pid ${this.pid} is dead and cannot talk`)
    for (const l of this.listeners) l(m)
  }
  hello(): void {
    this.say({ t: 'hello', v: 1, sdk: 'test', pid: this.pid })
  }
  /** The SDK handshake: hello, then ready. */
  ready(): void {
    this.hello()
    this.say({ t: 'ready' })
  }
  heartbeat(): void {
    this.say({ t: 'hb' })
  }
  /** Exits on its own (a crash) `ms` from now, unless it has ended by then. */
  crashAfter(ms: number, code: number | null = 1): void {
    this.h.timers.set(() => this.alive && this.crash(code), ms)
  }
  /** Exits on its own (a crash). */
  crash(code: number | null = 1, signal: NodeJS.Signals | null = null): void {
    this.end({ exitCode: code, signal })
  }

  onMessage(listener: (message: unknown) => void): void {
    this.listeners.push(listener)
  }
  send(message: unknown): boolean {
    if (!this.alive) return false
    this.sent.push(message)
    return true
  }
  stop(options: StopOptions): Promise<ExitReport> {
    this.stops.push(options)
    if (this.exit) return Promise.resolve(this.exit)
    this.stopping ??= new Promise<ExitReport>((resolve) => {
      void this.exited.then(resolve)
      if (options.mode === 'hard') return this.end({ exitCode: null, signal: 'SIGKILL', killedByUs: true })
      this.signals.push('SIGTERM')
      if (!this.ignoresSigterm) return this.end({ exitCode: 0, signal: null, killedByUs: true })
      this.h.timers.set(() => {
        if (this.alive) this.end({ exitCode: null, signal: 'SIGKILL', killedByUs: true, forced: true })
      }, options.timeoutMs)
    })
    return this.stopping
  }
  signal(signal: NodeJS.Signals): void {
    this.signals.push(signal)
    if (signal === 'SIGKILL' && this.alive) this.end({ exitCode: null, signal, killedByUs: true })
  }

  private end(o: Partial<ExitReport>): void {
    if (this.exit) return
    const at = this.h.clock.now()
    this.exit = {
      pid: this.pid,
      exitCode: null,
      signal: null,
      killedByUs: false,
      forced: false,
      spawnFailed: false,
      at,
      durationMs: at - this.startedAt,
      ...o,
    }
    this.h.proc.remove(this.pid)
    this.resolveExit(this.exit)
  }
}

/** The /proc the supervisor reads: every live fake process, in a state the test sets. */
export class FakeProcTable implements ProcPort {
  private readonly rows = new Map<
    number,
    { state: string; rssMb: number; cpuTicks: number; zombies: number }
  >()
  add(pid: number): void {
    this.rows.set(pid, { state: 'S', rssMb: 40, cpuTicks: 0, zombies: 0 })
  }
  remove(pid: number): void {
    this.rows.delete(pid)
  }
  set(pid: number, o: Partial<{ state: string; rssMb: number; cpuTicks: number; zombies: number }>): void {
    const row = this.rows.get(pid)
    assert.ok(row, `no live process ${pid}`)
    Object.assign(row, o)
  }
  sampleTrees(roots: readonly number[]): Map<number, TreeSample> {
    const out = new Map<number, TreeSample>()
    for (const pid of roots) {
      const r = this.rows.get(pid)
      out.set(
        pid,
        r
          ? {
              rootState: r.state,
              pids: [pid],
              descendants: [],
              zombies: r.zombies,
              cpuTicks: r.cpuTicks,
              rssBytes: r.rssMb * 1024 * 1024,
            }
          : { rootState: null, pids: [], descendants: [], zombies: 0, cpuTicks: 0, rssBytes: 0 },
      )
    }
    return out
  }
  readProcState(pid: number): string | null {
    return this.rows.get(pid)?.state ?? null
  }
  readStartTicks(pid: number): number | null {
    return this.rows.has(pid) ? pid * 10 : null
  }
  /** Signals sent to process groups, as `pgid SIGNAL`. */
  readonly groupSignals: string[] = []
  /** Groups that ignore SIGTERM (a process still there after a graceful stop). */
  readonly stubborn = new Set<number>()
  signalGroup(pgid: number, signal: NodeJS.Signals): void {
    if (!this.rows.has(pgid)) return
    this.groupSignals.push(`${pgid} ${signal}`)
    if (signal === 'SIGKILL' || (signal === 'SIGTERM' && !this.stubborn.has(pgid))) this.rows.delete(pgid)
  }
}

export class FakeSpawner implements ProcessSpawner {
  readonly all: FakeProcess[] = []
  private nextPid = 1000
  /** The next spawns fail (the command cannot be started). */
  failing = 0
  /** Applied to each new process before the supervisor sees it. */
  onSpawn: ((p: FakeProcess) => void) | null = null

  constructor(private readonly h: { clock: FakeClock; timers: FakeTimers; proc: FakeProcTable }) {}

  spawn(spec: WorkerSpec): ManagedProcess {
    const failed = this.failing > 0
    if (failed) this.failing--
    const p = new FakeProcess(this.nextPid++, spec, this.h, failed)
    this.onSpawn?.(p)
    this.all.push(p)
    return p
  }
}

/** A job queue in memory: enough of the JobStore for deliveries, acks and a crash's returns. */
export class MemoryJobs implements JobStore {
  readonly jobs = new Map<string, Job>()
  /** What a queue's counts say besides the jobs here (for a backlog without jobs to deliver). */
  readonly backlog = new Map<string, number>()
  private seq = 0

  constructor(private readonly now: () => number) {}

  put(queue: string, n: number): string[] {
    const ids: string[] = []
    for (let i = 0; i < n; i++) {
      const id = `job-${++this.seq}`
      const t = this.now()
      this.jobs.set(id, {
        id,
        queue,
        payload: { i },
        state: 'waiting',
        priority: 0,
        runAt: t,
        createdAt: t,
        updatedAt: t,
        finishedAt: null,
        attempts: 0,
        maxAttempts: 3,
        crashes: 0,
        timeoutMs: null,
        idempotencyKey: null,
        delivery: 0,
        leaseWorker: null,
        leaseExpires: null,
        ownerNode: null,
        ownerEpoch: null,
        lastError: null,
        lastStack: null,
        checkpoint: null,
        progress: null,
        result: null,
      } as Job)
      ids.push(id)
    }
    return ids
  }

  async exchange(settlements: Settlement[], claims: ClaimRequest[]) {
    const settled = this.settleNow(settlements)
    const claimed: Delivery[][] = claims.map((c) => {
      const out: Delivery[] = []
      for (const job of this.jobs.values()) {
        if (out.length >= c.limit) break
        if (job.queue !== c.queue || job.state !== 'waiting') continue
        job.state = 'active'
        job.delivery++
        job.leaseWorker = c.worker
        out.push({ job: { ...job }, token: `${job.id}:${job.delivery}` })
      }
      return out
    })
    return { settled, claimed }
  }
  async settle(items: Settlement[]): Promise<SettleResult[]> {
    return this.settleNow(items)
  }
  private settleNow(items: Settlement[]): SettleResult[] {
    return items.map((s) => {
      const id = s.token.slice(0, s.token.lastIndexOf(':'))
      const job = this.jobs.get(id)
      if (!job || `${job.id}:${job.delivery}` !== s.token || job.state !== 'active')
        return { token: s.token, kind: s.kind, outcome: 'stale' as const, job }
      switch (s.kind) {
        case 'ack':
          job.state = 'done'
          return { token: s.token, kind: s.kind, outcome: 'done' as const }
        case 'crash':
        case 'release':
          job.state = 'waiting'
          if (s.kind === 'crash') job.crashes++
          return {
            token: s.token,
            kind: s.kind,
            outcome: s.kind === 'crash' ? ('requeued' as const) : ('released' as const),
            job: { ...job },
          }
        default:
          return { token: s.token, kind: s.kind, outcome: 'saved' as const, job: { ...job } }
      }
    })
  }
  async releaseAllActive(): Promise<number> {
    return 0
  }
  async reclaimLapsed(): Promise<ReadonlyMap<string, number>> {
    return new Map()
  }
  async adopt(): Promise<{ kept: number; released: number }> {
    return { kept: 0, released: 0 }
  }
  async nextDueAt(): Promise<number | null> {
    return null
  }
  async countDue(queue: string, _now: number, atMost: number): Promise<number> {
    let n = 0
    for (const job of this.jobs.values()) if (job.queue === queue && job.state === 'waiting') n++
    return Math.min(n, atMost)
  }
  async counts(_now: number, queue?: string): Promise<QueueCounts[]> {
    const q = queue ?? 'work'
    const c = zeroCounts(q)
    for (const j of this.jobs.values()) {
      if (j.queue !== q) continue
      if (j.state === 'waiting') c.waiting++
      if (j.state === 'active') c.inFlight++
      if (j.state === 'done') c.done++
    }
    c.waiting += this.backlog.get(q) ?? 0
    return [c]
  }
  /** Whether the wakes stand for every process's adds (PostgreSQL listening), as the test sets it. */
  everywhere = false
  /** The wakes the dispatcher watches: a test tells them what another process added. */
  readonly wakes = new JobWakes({ everywhere: () => this.everywhere })
  watch(wake: JobWake): JobWatch {
    return this.wakes.watch(wake)
  }
  add = unused
  claim = unused
  getJob = unused
  listJobs = unused
  retry = unused
  purge = unused
  pruneDone = unused
}

async function unused(): Promise<never> {
  throw new Error('not used by the supervisor')
}

/** MemoryStore with the in-memory job queue. */
class SupervisorStore extends MemoryStore {
  override readonly jobs: MemoryJobs
  constructor(now: () => number) {
    super([])
    this.jobs = new MemoryJobs(now)
  }
}

/** What a test config may say: the workers section, and defaults for the rest. */
export interface HarnessConfig {
  recovery?: Record<string, unknown>
  thresholds?: Record<string, unknown>
  strategies?: Record<string, unknown>
  workers: Record<string, Record<string, unknown>>
}

export interface Harness {
  supervisor: Supervisor
  clock: FakeClock
  timers: FakeTimers
  spawner: FakeSpawner
  proc: FakeProcTable
  store: SupervisorStore
  events: AnyEvent[]
  /** Error-level lines the supervisor logged (an illegal slot move, a failed flow). */
  errors: string[]
  /** Probe results by worker id; a probe of a worker not listed passes. */
  probes: Map<string, ProbeResult>
  /** Starts the supervisor (done already unless `start: false` was given). */
  start(): Promise<void>
  /** Moves fake time on, letting every promise chain run between timers. */
  run(ms: number): Promise<void>
  eventsOf<T extends EventType>(type: T, workerId?: string): Extract<AnyEvent, { type: T }>[]
  /** The `from → to` moves of a worker's state, in order. */
  moves(workerId: string): string[]
  worker(id: string): WorkerView
  /** The live process of a worker (its slot's), which the test drives. */
  process(id: string): FakeProcess
  /** Runs fake time on in steps until `cond` holds, failing after `withinMs` of fake time. */
  until(cond: () => boolean, what: string, withinMs?: number, stepMs?: number): Promise<void>
}

/** Starts a supervisor on `config`; it is stopped (and must have logged no error) after the test. */
export async function startHarness(
  t: TestContext,
  config: HarnessConfig,
  o: { spawn?: (p: FakeProcess) => void; start?: boolean } = {},
): Promise<Harness> {
  const clock = new FakeClock(T0)
  const timers = new FakeTimers(clock)
  const proc = new FakeProcTable()
  const spawner = new FakeSpawner({ clock, timers, proc })
  spawner.onSpawn = o.spawn ?? null
  const store = new SupervisorStore(() => clock.now())
  const events: AnyEvent[] = []
  const errors: string[] = []
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const line of chunk.toString().split('\n')) {
          if (!line) continue
          const rec = JSON.parse(line) as { level: number; msg: string; err?: { message?: string } }
          if (rec.level >= 50) errors.push(`${rec.msg}${rec.err?.message ? `: ${rec.err.message}` : ''}`)
        }
        cb()
      },
    }),
  )
  const probes = new Map<string, ProbeResult>()
  const loaded = loadConfigText(
    stringify({ log: { level: 'warn' }, recovery: { jitter: 0, ...config.recovery }, ...config }),
    '/nonexistent/shepherd-unit/shepherd.yaml',
  )
  let seq = 0
  const supervisor = new Supervisor({
    loaded,
    spawner,
    store,
    writer: new WriteBehind(store, (err) => errors.push(`write-behind: ${String(err)}`), timers),
    clock,
    timers,
    proc,
    runProbe: async (_probe, target) => probes.get(target.id) ?? { ok: true, detail: 'ok', durationMs: 1 },
    openLog: () => ({ write() {}, close() {} }),
    emit: (e) => events.push(e),
    logger,
    baseEnv: {},
    random: () => 0.5,
    newId: () => `inc-${++seq}`,
  })
  const h: Harness = {
    supervisor,
    clock,
    timers,
    spawner,
    proc,
    store,
    events,
    errors,
    probes,
    async start() {
      const started = supervisor.start()
      await h.run(0)
      await started
    },
    run: (ms) => timers.run(ms),
    eventsOf: <T extends EventType>(type: T, workerId?: string) =>
      events.filter(
        (e): e is Extract<AnyEvent, { type: T }> =>
          e.type === type && (workerId === undefined || e.workerId === workerId),
      ),
    moves: (workerId) => h.eventsOf('worker:state', workerId).map((e) => `${e.data.from} → ${e.data.to}`),
    worker: (id) => {
      const w = supervisor.getWorker(id)
      assert.ok(w, `no worker ${id}`)
      return w
    },
    process: (id) => {
      const pid = h.worker(id).pid
      const p = spawner.all.find((x) => x.pid === pid)
      assert.ok(p && pid !== null, `${id} has no live process`)
      return p
    },
    async until(cond, what, withinMs = 600_000, stepMs = 50) {
      const end = clock.now() + withinMs
      while (!cond()) {
        if (clock.now() >= end) assert.fail(`${what}: not within ${withinMs} ms of fake time`)
        await h.run(stepMs)
      }
    },
  }
  t.after(async () => {
    const stopping = supervisor.stop('test over')
    await h.run(60_000)
    await stopping
    assert.deepEqual(errors, [], 'the supervisor logged no error')
  })
  if (o.start !== false) await h.start()
  return h
}

/** A config of one pool, `w`, with `replicas` workers, short recovery times and no jitter. */
export function onePool(
  pool: Record<string, unknown> = {},
  recovery: Record<string, unknown> = {},
  more: Omit<HarnessConfig, 'workers' | 'recovery'> = {},
): HarnessConfig {
  return {
    recovery: {
      check_interval: '1s',
      retry_delay: '100ms',
      max_retry_delay: '1s',
      verify_timeout: '5s',
      min_uptime: '500ms',
      stable_after: '10s',
      revive_interval: '60s',
      ...recovery,
    },
    ...more,
    workers: { w: { command: 'node', args: ['worker.js'], stop_timeout: '2s', ...pool } },
  }
}
