/**
 * The behaviour every Store adapter must have. Each adapter's test file calls {@link storeContract}
 * with a factory; the same cases then run against SQLite today and PostgreSQL later.
 * @module
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { AnyEvent, ShepherdEvent } from '../../src/core/events.js'
import type { ExitReport } from '../../src/core/exit-report.js'
import { deadReport } from '../../src/core/health.js'
import {
  advance,
  type Incident,
  type IncidentContext,
  type IncidentInput,
  type IncidentPolicy,
  openIncident,
} from '../../src/core/incident.js'
import type { AnomalyCause } from '../../src/core/restart-policy.js'
import { isShepherdError } from '../../src/errors.js'
import type { LeaseClaim, NodeWorkload, SavedWorkerState, Store } from '../../src/ports/store.js'
import { closeLapsedIncidents } from '../../src/store/lapsed-incidents.js'

/** What an adapter's factory hands the contract: a fresh, empty, migrated store of its own. */
export interface OpenedStore {
  store: Store
  /** Closes every store the factory opened and removes their data. */
  cleanup: () => Promise<void>
  /** Opens the same database again (after close); every adapter must keep its data. */
  reopen: () => Promise<Store>
  /** Opens another Store on the same data while `store` stays open: a second supervisor's. */
  alongside: () => Promise<Store>
  /**
   * Whether several agents share the store (PostgreSQL), a lease lapsing there. SQLite has one
   * supervisor per file, held by its OS lock: its lease never lapses and there is nothing to reclaim.
   */
  sharedByAgents: boolean
}

/**
 * Registers the Store contract as node:test cases under `describe(name)`.
 * @param name - the adapter, e.g. `sqlite`.
 * @param open - gives each case a fresh store; called once per case.
 */
export function storeContract(name: string, open: () => Promise<OpenedStore>): void {
  async function withStore(run: (store: Store, opened: OpenedStore) => Promise<void>): Promise<void> {
    const opened = await open()
    try {
      await run(opened.store, opened)
    } finally {
      await opened.cleanup()
    }
  }

  describe(`Store contract: ${name}`, () => {
    it('can be migrated again at any time', () =>
      withStore(async (store) => {
        await store.migrate()
        await store.migrate()
        const inc = incident({ id: 'inc-1', at: T0, until: 'recovered' })
        await store.saveIncident(inc)
        assert.deepEqual(await store.getIncident('inc-1'), inc)
      }))

    it('saves an incident and reads it back whole, timeline included', () =>
      withStore(async (store) => {
        const inc = incident({ id: 'inc-1', at: T0, until: 'recovered' })
        assert.ok(inc.timeline.length >= 7, 'the fixture walks the whole recovery flow')
        assert.equal(inc.phase, 'recovered')
        await store.saveIncident(inc)
        assert.deepEqual(await store.getIncident('inc-1'), inc)
        assert.equal(await store.getIncident('inc-unknown'), undefined)
      }))

    it('replaces the whole incident on a second save', () =>
      withStore(async (store) => {
        const first = incident({ id: 'inc-1', at: T0, until: 'verifying' })
        await store.saveIncident(first)
        assert.deepEqual(await store.listOpenIncidents(), [first])

        const done = advance(first, { type: 'ready', how: 'sent ready over IPC' }, ctx(T0 + 900)).incident
        await store.saveIncident(done)
        assert.deepEqual(await store.getIncident('inc-1'), done)
        assert.deepEqual(await store.listIncidents(), [done])
        assert.deepEqual(await store.listOpenIncidents(), [])
      }))

    it('lists incidents newest first, then by id among incidents of the same millisecond', () =>
      withStore(async (store) => {
        const old = incident({ id: 'inc-c', at: T0, until: 'recovered' })
        const tieA = incident({ id: 'inc-a', at: T0 + 60_000, until: 'escalated' })
        const tieB = incident({ id: 'inc-b', at: T0 + 60_000, until: 'recovered' })
        const newest = incident({ id: 'inc-0', at: T0 + 120_000, until: 'stopping' })
        for (const inc of [tieA, old, newest, tieB]) await store.saveIncident(inc)
        assert.deepEqual(ids(await store.listIncidents()), ['inc-0', 'inc-b', 'inc-a', 'inc-c'])
      }))

    it('filters incidents by worker, pool and since (inclusive), and limits them', () =>
      withStore(async (store) => {
        const incs = [
          incident({ id: 'i1', workerId: 'email#1', at: T0, until: 'recovered' }),
          incident({ id: 'i2', workerId: 'email#2', at: T0 + 1_000, until: 'recovered' }),
          incident({ id: 'i3', workerId: 'reports#1', at: T0 + 2_000, until: 'escalated', cause: 'hang' }),
          incident({ id: 'i4', workerId: 'email#1', at: T0 + 3_000, until: 'recovered', cause: 'memory' }),
          incident({ id: 'i5', workerId: 'reports#1', at: T0 + 4_000, until: 'stopping' }),
        ]
        for (const inc of incs) await store.saveIncident(inc)
        assert.deepEqual(ids(await store.listIncidents({ workerId: 'email#1' })), ['i4', 'i1'])
        assert.deepEqual(ids(await store.listIncidents({ pool: 'reports' })), ['i5', 'i3'])
        assert.deepEqual(ids(await store.listIncidents({ since: T0 + 2_000 })), ['i5', 'i4', 'i3'])
        assert.deepEqual(ids(await store.listIncidents({ limit: 2 })), ['i5', 'i4'])
        assert.deepEqual(ids(await store.listIncidents({ pool: 'email', since: T0 + 500, limit: 1 })), ['i4'])
        assert.deepEqual(ids(await store.listIncidents({ workerId: 'email#1', pool: 'reports' })), [])
        assert.deepEqual(await store.listIncidents({ limit: 0 }), [])
        assert.deepEqual(await store.listIncidents({ workerId: 'nobody#1' }), [])
      }))

    it('returns at most 50 incidents by default', () =>
      withStore(async (store) => {
        for (let i = 0; i < 53; i++) {
          await store.saveIncident(
            incident({ id: `inc-${String(i).padStart(2, '0')}`, at: T0 + i * 1_000, until: 'recovered' }),
          )
        }
        const listed = await store.listIncidents()
        assert.equal(listed.length, 50)
        assert.equal(listed[0]?.id, 'inc-52')
        assert.equal(listed[49]?.id, 'inc-03')
      }))

    it('lists the incidents that are not over, oldest first', () =>
      withStore(async (store) => {
        const incs = [
          incident({ id: 'verifying', at: T0 + 5_000, until: 'verifying' }),
          incident({ id: 'recovered', at: T0, until: 'recovered' }),
          incident({ id: 'saving', at: T0 + 1_000, until: 'saving' }),
          incident({ id: 'escalated', at: T0 + 2_000, until: 'escalated' }),
          incident({ id: 'stopping', at: T0 + 3_000, until: 'stopping', cause: 'hang' }),
          incident({ id: 'interrupted', at: T0 + 4_000, until: 'interrupted' }),
        ]
        for (const inc of incs) await store.saveIncident(inc)
        const open = await store.listOpenIncidents()
        assert.deepEqual(ids(open), ['saving', 'stopping', 'verifying'])
        assert.deepEqual(open[1], incs[4])
      }))

    it('appends events with increasing seq and reads them back oldest first', () =>
      withStore(async (store) => {
        const events = sampleEvents(T0)
        const seqs: number[] = []
        for (const e of events) seqs.push(await store.appendEvent(e))
        for (let i = 1; i < seqs.length; i++)
          assert.ok(seqs[i]! > seqs[i - 1]!, `seq ${seqs[i]} after ${seqs[i - 1]}`)
        assert.deepEqual(
          await store.listEvents(),
          events.map((e, i) => ({ ...e, seq: seqs[i] })),
        )
      }))

    it('filters events by afterSeq, types and worker, and limits them', () =>
      withStore(async (store) => {
        const events = sampleEvents(T0)
        const seqs: number[] = []
        for (const e of events) seqs.push(await store.appendEvent(e))
        const typesOf = (list: AnyEvent[]) => list.map((e) => e.type)

        assert.deepEqual(
          (await store.listEvents({ afterSeq: seqs[2] })).map((e) => e.seq),
          seqs.slice(3),
        )
        assert.deepEqual(typesOf(await store.listEvents({ types: ['worker:exit', 'incident:opened'] })), [
          'worker:exit',
          'incident:opened',
          'worker:exit',
        ])
        assert.deepEqual(
          (await store.listEvents({ workerId: 'email#1' })).map((e) => e.workerId),
          ['email#1', 'email#1', 'email#1', 'email#1'],
        )
        assert.deepEqual(typesOf(await store.listEvents({ workerId: 'email#1', types: ['worker:exit'] })), [
          'worker:exit',
        ])
        assert.deepEqual(
          (await store.listEvents({ afterSeq: seqs[0], limit: 2 })).map((e) => e.seq),
          seqs.slice(1, 3),
        )
        assert.deepEqual((await store.listEvents({ types: [] })).length, events.length, 'no types: any type')
        assert.deepEqual(await store.listEvents({ afterSeq: seqs.at(-1) }), [])
        assert.deepEqual(await store.listEvents({ limit: 0 }), [])
      }))

    it('keeps the node that recorded each incident and event, and filters by it', () =>
      withStore(async (store) => {
        const incs = [
          incident({ id: 'i1', at: T0, until: 'recovered', node: 'web-1' }),
          incident({ id: 'i2', at: T0 + 1_000, until: 'escalated', node: 'web-2' }),
          incident({ id: 'i3', workerId: 'reports#1', at: T0 + 2_000, until: 'stopping', node: 'web-2' }),
          incident({ id: 'i4', at: T0 + 3_000, until: 'recovered', node: null }),
        ]
        for (const inc of incs) await store.saveIncident(inc)
        assert.equal((await store.getIncident('i2'))?.node, 'web-2')
        assert.equal((await store.getIncident('i4'))?.node, null)
        assert.deepEqual(ids(await store.listIncidents({ node: 'web-2' })), ['i3', 'i2'])
        assert.deepEqual(ids(await store.listIncidents({ node: 'web-1' })), ['i1'])
        assert.deepEqual(ids(await store.listIncidents({ node: 'web-2', pool: 'email' })), ['i2'])
        assert.deepEqual(ids(await store.listIncidents({ node: 'web-2', limit: 1 })), ['i3'])
        assert.deepEqual(await store.listIncidents({ node: 'web-3' }), [])
        assert.deepEqual(
          (await store.listIncidents()).map((i) => i.node),
          [null, 'web-2', 'web-2', 'web-1'],
        )

        const events = [
          exitEvent(T0, 'email#1', 100, 'web-1'),
          exitEvent(T0 + 1, 'email#1', 101, 'web-2'),
          exitEvent(T0 + 2, 'reports#1', 102, 'web-2'),
          exitEvent(T0 + 3, 'email#1', 103, null),
        ]
        const seqs = await store.writeBatch({ events })
        const { node: _absent, ...unrecorded } = exitEvent(T0 + 4, 'email#1', 104)
        seqs.push(await store.appendEvent(unrecorded))
        assert.deepEqual(
          (await store.listEvents()).map((e) => [e.seq, e.node]),
          [
            [seqs[0], 'web-1'],
            [seqs[1], 'web-2'],
            [seqs[2], 'web-2'],
            [seqs[3], null],
            [seqs[4], null],
          ],
        )
        assert.deepEqual(
          (await store.listEvents({ node: 'web-2' })).map((e) => e.seq),
          [seqs[1], seqs[2]],
        )
        assert.deepEqual(
          (await store.listEvents({ node: 'web-2', workerId: 'reports#1', types: ['worker:exit'] })).map(
            (e) => e.seq,
          ),
          [seqs[2]],
        )
        assert.deepEqual(
          (await store.listEvents({ node: 'web-2', afterSeq: seqs[1] })).map((e) => e.seq),
          [seqs[2]],
        )
        assert.deepEqual(await store.listEvents({ node: 'web-3' }), [])
      }))

    it('returns at most 100 events by default', () =>
      withStore(async (store) => {
        const first = await store.appendEvent(exitEvent(T0, 'email#1', 4000))
        for (let i = 1; i < 103; i++) await store.appendEvent(exitEvent(T0 + i, 'email#1', 4000 + i))
        const listed = await store.listEvents()
        assert.equal(listed.length, 100)
        assert.equal(listed[0]?.seq, first)
        assert.equal((await store.listEvents({ afterSeq: listed[99]?.seq })).length, 3)
      }))

    it('prunes events older than a time, keeps incidents, and never reuses a seq', () =>
      withStore(async (store) => {
        const inc = incident({ id: 'inc-1', at: T0, until: 'recovered' })
        await store.saveIncident(inc)
        const seqs: number[] = []
        for (let i = 0; i < 6; i++)
          seqs.push(await store.appendEvent(exitEvent(T0 + i * 1_000, 'email#1', 100 + i)))

        assert.equal(await store.pruneEvents(T0 + 3_000), 3, 'at < before: the event at exactly before stays')
        assert.deepEqual(
          (await store.listEvents()).map((e) => e.seq),
          seqs.slice(3),
        )
        assert.equal(await store.pruneEvents(T0 + 3_000), 0)
        assert.equal(await store.pruneEvents(T0 + 60_000), 3)
        assert.deepEqual(await store.listEvents(), [])

        const next = await store.appendEvent(exitEvent(T0 + 60_000, 'email#1', 200))
        assert.ok(
          next > seqs.at(-1)!,
          `seq ${next} after pruning everything must still grow past ${seqs.at(-1)}`,
        )
        assert.deepEqual(await store.getIncident('inc-1'), inc)
      }))

    it('saves worker state with its checkpoint and reads it back', () =>
      withStore(async (store) => {
        const state = workerState('email#1', T0)
        await store.saveWorkerState(state)
        assert.deepEqual(await store.loadWorkerState('email#1'), state)
        assert.equal(await store.loadWorkerState('email#9'), undefined)

        const replaced: SavedWorkerState = {
          ...workerState('email#1', T0 + 5_000),
          incidentId: null,
          exit: null,
          lastReport: null,
          checkpoint: null,
          logTail: [],
        }
        await store.saveWorkerState(replaced)
        assert.deepEqual(await store.loadWorkerState('email#1'), replaced)

        const other = { ...workerState('reports#1', T0), pool: 'reports' }
        await store.saveWorkerState(other)
        assert.deepEqual(await store.loadWorkerState('reports#1'), other)
        assert.deepEqual(await store.loadWorkerState('email#1'), replaced)
      }))

    it('refuses a negative or fractional limit', () =>
      withStore(async (store) => {
        await assert.rejects(store.listIncidents({ limit: -1 }), (e) =>
          isShepherdError(e, 'SHEPHERD_BAD_REQUEST'),
        )
        await assert.rejects(store.listEvents({ limit: 1.5 }), (e) =>
          isShepherdError(e, 'SHEPHERD_BAD_REQUEST'),
        )
      }))

    it('keeps everything across a reopen', () =>
      withStore(async (store, opened) => {
        const inc = incident({ id: 'inc-1', at: T0, until: 'recovered' })
        const open = incident({ id: 'inc-2', at: T0 + 1_000, until: 'stopping', cause: 'hang' })
        const events = sampleEvents(T0)
        const state = workerState('email#1', T0)
        await store.saveIncident(inc)
        await store.saveIncident(open)
        const seqs: number[] = []
        for (const e of events) seqs.push(await store.appendEvent(e))
        await store.saveWorkerState(state)
        await store.close()

        const again = await opened.reopen()
        await again.migrate()
        assert.deepEqual(await again.listIncidents(), [open, inc])
        assert.deepEqual(await again.listOpenIncidents(), [open])
        assert.deepEqual(
          await again.listEvents(),
          events.map((e, i) => ({ ...e, seq: seqs[i] })),
        )
        assert.deepEqual(await again.loadWorkerState('email#1'), state)
        const next = await again.appendEvent(exitEvent(T0 + 10_000, 'email#2', 777))
        assert.ok(next > seqs.at(-1)!)
      }))

    it('closes idempotently', () =>
      withStore(async (store) => {
        await store.close()
        await store.close()
      }))

    describe('ownership (one supervisor per store)', () => {
      it('takes a free store, renews its own lease, and refuses a second supervisor, naming the holder', () =>
        withStore(async (store, opened) => {
          assert.equal(await store.readOwnership(), null)
          const first = await store.claimOwnership(A, T0, TTL, nobodyRuns)
          assert.equal(first.kind, 'take')
          const { node: _node, ...leaseOfA } = A
          assert.deepEqual(await store.readOwnership(), {
            ...leaseOfA,
            acquiredAt: T0,
            heartbeatAt: T0,
            expiresAt: T0 + TTL,
            epoch: 1,
          })
          // The same supervisor again, now with its API address: renewed, not taken anew.
          const again = await store.claimOwnership(
            { ...A, apiUrl: 'http://127.0.0.1:7717' },
            T0 + 5,
            TTL,
            nobodyRuns,
          )
          assert.equal(again.kind, 'renew')
          assert.equal((await store.readOwnership())?.apiUrl, 'http://127.0.0.1:7717')
          assert.equal((await store.readOwnership())?.acquiredAt, T0)

          const other = await opened.alongside()
          const refused = await other.claimOwnership(B, T0 + 10, TTL, runs(A.pid))
          assert.equal(refused.kind, 'refuse')
          assert.equal(refused.kind === 'refuse' ? refused.holder?.owner : null, A.owner)
          assert.equal((await other.readOwnership())?.owner, A.owner, 'a refusal changes nothing')
          // Reading and enqueueing need no ownership.
          await other.jobs.add([{ queue: 'email', payload: 1 }], T0, () => ({
            maxAttempts: 1,
            timeoutMs: null,
          }))
        }))

      it('renews only its own lease; a supervisor that lost it refuses every write from then on', () =>
        withStore(async (store) => {
          await store.claimOwnership(A, T0, TTL, nobodyRuns)
          assert.equal(await store.renewOwnership(A.owner, T0 + 1_000, TTL), 'renewed')
          assert.equal((await store.readOwnership())?.expiresAt, T0 + 1_000 + TTL)
          assert.equal(await store.renewOwnership('someone-else', T0 + 2_000, TTL), 'taken')
          await assert.rejects(store.appendEvent(sampleEvents(T0)[0]!), (e: unknown) =>
            isShepherdError(e, 'SHEPHERD_STORE_LOCKED'),
          )
        }))

      it('takes over the store of a supervisor that is gone, saying whose it was', () =>
        withStore(async (store, opened) => {
          await store.claimOwnership(A, T0, TTL, nobodyRuns)
          await store.close() // A dies without giving the store up
          const next = await opened.alongside()
          const d = await next.claimOwnership(B, T0 + 1_000, TTL, nobodyRuns)
          assert.equal(d.kind, 'take-over')
          assert.equal(d.kind === 'take-over' ? d.previous.owner : null, A.owner)
          assert.equal(d.kind === 'take-over' ? d.reason : null, 'dead')
          assert.equal((await next.readOwnership())?.owner, B.owner)
        }))

      it('frees the store at release: the next supervisor takes it as new', () =>
        withStore(async (store, opened) => {
          await store.claimOwnership(A, T0, TTL, nobodyRuns)
          await store.releaseOwnership(A.owner)
          assert.equal(await store.readOwnership(), null)
          const next = await opened.alongside()
          assert.equal((await next.claimOwnership(B, T0 + 1, TTL, runs(A.pid))).kind, 'take')
        }))

      it("refuses a renewal sent while its lease was live once the leader reclaimed the node's jobs: it rejoins", () =>
        withStore(async (store, opened) => {
          const [held] = await holdingJobs(store, 'l', 1)
          assert.equal(await store.renewOwnership(A.owner, T0 + 1_000, TTL), 'renewed')
          // The link is cut; the leader (another agent) finds the lease expired and reclaims.
          const leader = await opened.alongside()
          const reclaimed = await leader.jobs.reclaimLapsed(T0 + 1_000 + TTL + 1, 'look')
          // Renewals and claims held up in the dead link, sent before the lease expired by the
          // agent's clock (some even before its last renewal, on another connection), reach the
          // store once the link is back.
          const late = await store.renewOwnership(A.owner, T0 + 1_000 + TTL / 2, TTL)
          const lateClaim = await store.jobs.claim('email', 1, 'email#2', T0 + 1_000 + TTL / 2)
          const older = await store.renewOwnership(A.owner, T0 + 500, TTL)
          const olderClaim = await store.jobs.claim('email', 1, 'email#2', T0 + 500)
          if (!opened.sharedByAgents) {
            assert.equal(reclaimed.size, 0)
            assert.equal(late, 'renewed', 'its OS lock held throughout, nobody could take anything')
            return
          }
          assert.deepEqual([...reclaimed], [[A.node, 1]])
          assert.equal((await store.jobs.getJob(held!.job.id))?.state, 'waiting')
          assert.equal(late, 'lapsed', 'the reclaimed lease is over, whatever the send time')
          assert.deepEqual(lateClaim, [], 'so is its claim')
          assert.deepEqual([older, olderClaim], ['lapsed', []], 'even sent before its last renewal')
          assert.equal(
            await store.renewOwnership(A.owner, T0 + 1_000 + TTL - 1, TTL),
            'lapsed',
            'however many renewals were held up',
          )
          assert.equal(
            await store.appendEvent(sampleEvents(T0)[0]!).then(() => 'written'),
            'written',
            'not fenced',
          )
          const rejoin = await store.claimOwnership(A, T0 + 2_000 + TTL, TTL, nobodyRuns)
          assert.equal(rejoin.kind, 'take')
          assert.equal(rejoin.kind === 'take' ? rejoin.lease.epoch : null, 2, 'a rejoin, with a new epoch')
          assert.equal(await store.renewOwnership(A.owner, T0 + 2_001 + TTL, TTL), 'renewed')
          assert.equal((await store.jobs.claim('email', 1, 'email#2', T0 + 2_001 + TTL)).length, 1)
        }))

      it('takes its own lease anew when a rejoin names its epoch, though renewals answered late made it live again', () =>
        withStore(async (store) => {
          await store.claimOwnership(A, T0, TTL, nobodyRuns)
          const rejoin = await store.claimOwnership({ ...A, rejoins: 1 }, T0 + 1_000, TTL, nobodyRuns)
          assert.equal(rejoin.kind, 'take')
          assert.equal((await store.readOwnership())?.epoch, 2)
          // The same rejoin again (its answer lost with the link): the new epoch is renewed.
          const again = await store.claimOwnership({ ...A, rejoins: 1 }, T0 + 2_000, TTL, nobodyRuns)
          assert.equal(again.kind, 'renew')
          assert.equal((await store.readOwnership())?.epoch, 2)
        }))

      it('raises the lease epoch on every take, take-over and rejoin, never reusing one past a release', () =>
        withStore(async (store, opened) => {
          const epoch = async (s: Store): Promise<number | undefined> => (await s.readOwnership())?.epoch
          await store.claimOwnership(A, T0, TTL, nobodyRuns)
          assert.equal(await epoch(store), 1)
          assert.equal(await store.renewOwnership(A.owner, T0 + 1_000, TTL), 'renewed')
          await store.claimOwnership(A, T0 + 2_000, TTL, nobodyRuns)
          assert.equal(await epoch(store), 1, 'a renew keeps the epoch')
          // Its own lease, lapsed: claimed again, it is a rejoin with a new epoch.
          await store.claimOwnership(A, T0 + 2_000 + TTL, TTL, nobodyRuns)
          assert.equal(await epoch(store), 2)
          await store.releaseOwnership(A.owner)
          const next = await opened.alongside()
          assert.equal((await next.claimOwnership(B, T0 + 2 * TTL, TTL, nobodyRuns)).kind, 'take')
          assert.equal(await epoch(next), 3, 'the released epoch is not handed out again')
          await next.close() // B dies without giving the store up
          const third = await opened.alongside()
          const C = { ...A, owner: 'owner-c', pid: 303 }
          assert.equal((await third.claimOwnership(C, T0 + 2 * TTL + 1, TTL, nobodyRuns)).kind, 'take-over')
          assert.equal(await epoch(third), 4)
        }))

      it('lists its node with its version and the workload of its last heartbeat; a released node is gone', () =>
        withStore(async (store, opened) => {
          assert.deepEqual(await store.listNodes(), [])
          await store.claimOwnership({ ...A, version: '1.2.3' }, T0, TTL, nobodyRuns)
          const node = {
            name: 'host-1',
            host: 'host-1',
            pid: 101,
            version: '1.2.3',
            apiUrl: null,
            acquiredAt: T0,
            heartbeatAt: T0,
            expiresAt: T0 + TTL,
            epoch: 1,
            workload: null,
          }
          assert.deepEqual(await store.listNodes(), [node], 'no workload before the first heartbeat')
          assert.equal(await store.renewOwnership(A.owner, T0 + 1_000, TTL, WORKLOAD), 'renewed')
          const beating = {
            ...node,
            heartbeatAt: T0 + 1_000,
            expiresAt: T0 + 1_000 + TTL,
            workload: WORKLOAD,
          }
          assert.deepEqual(await store.listNodes(), [beating])
          // A heartbeat without a workload keeps the last; so does a repeated claim (the API address).
          assert.equal(await store.renewOwnership(A.owner, T0 + 2_000, TTL), 'renewed')
          await store.claimOwnership(
            { ...A, version: '1.2.3', apiUrl: 'http://127.0.0.1:7717' },
            T0 + 2_500,
            TTL,
            nobodyRuns,
          )
          const [listed] = await store.listNodes()
          assert.deepEqual(listed?.workload, WORKLOAD)
          assert.equal(listed?.apiUrl, 'http://127.0.0.1:7717')
          assert.equal(listed?.heartbeatAt, T0 + 2_500)
          // Any store on the same data sees it (the CLI's, another agent's).
          const reader = await opened.alongside()
          assert.deepEqual(await reader.listNodes(), [listed])
          await store.releaseOwnership(A.owner)
          assert.deepEqual(await reader.listNodes(), [], 'a clean stop takes the node off the list')
        }))

      it("lists a dead supervisor's node until another takes it, without the dead one's workload", () =>
        withStore(async (store, opened) => {
          await store.claimOwnership({ ...A, version: '1.0.0' }, T0, TTL, nobodyRuns)
          await store.renewOwnership(A.owner, T0 + 1_000, TTL, WORKLOAD)
          await store.close() // A dies without giving the store up
          const next = await opened.alongside()
          assert.deepEqual(
            (await next.listNodes()).map((n) => [n.name, n.pid, n.expiresAt]),
            [['host-1', 101, T0 + 1_000 + TTL]],
            'the dead node stays listed: its lease tells when it stopped renewing',
          )
          assert.equal(
            (await next.claimOwnership({ ...B, version: '2.0.0' }, T0 + 2_000, TTL, nobodyRuns)).kind,
            'take-over',
          )
          const [taken] = await next.listNodes()
          assert.deepEqual([taken?.pid, taken?.version, taken?.workload], [202, '2.0.0', null])
        }))

      it("leaves a look that ends no lease to read no job; a sweep takes a forgotten node's jobs", () =>
        withStore(async (store, opened) => {
          const held = await holdingJobs(store, 'f', 2)
          await store.close() // A dies with its jobs
          const leader = await opened.alongside()
          // Forgotten before any leader reclaimed its jobs: its lease is gone, so no look ends it.
          assert.equal((await leader.forgetNode(A.node, T0 + TTL)).kind, 'forgotten')
          const later = T0 + TTL + 1
          assert.deepEqual([...(await leader.jobs.reclaimLapsed(later, 'look'))], [])
          const swept = await leader.jobs.reclaimLapsed(later, 'sweep')
          if (!opened.sharedByAgents) {
            assert.equal(swept.size, 0, 'one supervisor per file: its start puts everything back')
            return
          }
          assert.deepEqual([...swept], [[A.node, 2]])
          for (const d of held) assert.equal((await leader.jobs.getJob(d.job.id))?.state, 'waiting')
          assert.deepEqual([...(await leader.jobs.reclaimLapsed(later + 1, 'sweep'))], [], 'once')
        }))

      it('forgets a dead node: its lease, and its saved worker state where that is its own; never a live one', () =>
        withStore(async (store, opened) => {
          await store.claimOwnership(A, T0, TTL, nobodyRuns)
          await store.saveWorkerState(workerState('email#1', T0))
          assert.deepEqual(await store.forgetNode('host-9', T0), { kind: 'unknown' })
          const alive = await store.forgetNode('host-1', T0 + 1_000)
          assert.equal(alive.kind, 'alive', 'its own live node')
          assert.equal(alive.kind === 'alive' && alive.node.pid, 101)
          await store.close() // A dies without giving the store up
          const next = await opened.alongside()
          assert.equal((await next.forgetNode('host-1', T0 + TTL - 1)).kind, 'alive', 'its lease is live')
          assert.equal((await next.listNodes()).length, 1, 'nothing changed')
          const gone = await next.forgetNode('host-1', T0 + TTL)
          assert.equal(gone.kind, 'forgotten')
          assert.deepEqual(
            gone.kind === 'forgotten' && [gone.node.name, gone.node.expiresAt, gone.workerStates],
            // PostgreSQL: the node's saved state is its own; SQLite: the store's (the next supervisor's).
            ['host-1', T0 + TTL, opened.sharedByAgents ? 1 : 0],
          )
          assert.deepEqual(await next.listNodes(), [])
          assert.deepEqual(await next.forgetNode('host-1', T0 + TTL), { kind: 'unknown' }, 'once')
          // An agent that starts under the name later takes it as new, with an epoch never used.
          const again = await next.claimOwnership(B, T0 + TTL + 1, TTL, nobodyRuns)
          assert.deepEqual([again.kind, again.kind !== 'refuse' && again.lease.epoch], ['take', 2])
          assert.equal(
            (await next.loadWorkerState('email#1')) === undefined,
            opened.sharedByAgents === true,
            'the forgotten node’s saved state went with it (PostgreSQL)',
          )
        }))

      it('lists the open incidents of other nodes whose lease lapsed, for the leader to close', () =>
        withStore(async (store, opened) => {
          const claim = (owner: string, node: string): LeaseClaim => ({ ...A, owner, node, host: node })
          await store.claimOwnership(claim('run-a', 'node-a'), T0, TTL, nobodyRuns)
          const incs = [
            incident({ id: 'a-open', at: T0, until: 'stopping', node: 'node-a' }),
            incident({ id: 'b-open', at: T0 + 1, until: 'verifying', node: 'node-b' }),
            incident({ id: 'b-done', at: T0 + 2, until: 'recovered', node: 'node-b' }),
            incident({ id: 'old-open', at: T0 + 3, until: 'saving', node: null }),
            incident({ id: 'gone-open', at: T0 + 4, until: 'saving', node: 'node-gone' }),
          ]
          for (const inc of incs) await store.saveIncident(inc)
          const lapsed = async (now: number) => ids(await store.listLapsedIncidents(now))
          if (!opened.sharedByAgents) {
            // One supervisor per file: its start closed every open incident; nothing is another's.
            assert.deepEqual(await lapsed(T0 + 2 * TTL), [])
            return
          }
          const b = await opened.alongside()
          await b.claimOwnership(claim('run-b', 'node-b'), T0, TTL, nobodyRuns)
          // node-b is live: only the node that holds no lease at all (forgotten) is nobody's.
          assert.deepEqual(await lapsed(T0 + 10), ['gone-open'])
          // Both leases expired: node-b's open one too, never this store's own nor one of no node.
          assert.deepEqual(await lapsed(T0 + TTL), ['b-open', 'gone-open'])
          const recorded: AnyEvent[] = []
          const closed = await closeLapsedIncidents({
            store,
            leader: 'node-a',
            now: T0 + TTL,
            record: (e) => recorded.push(e),
          })
          assert.equal(closed, 2)
          assert.deepEqual(await lapsed(T0 + TTL + 1), [], 'closed once')
          const b1 = await store.getIncident('b-open')
          assert.deepEqual([b1?.phase, b1?.outcome, b1?.endedAt], ['interrupted', 'interrupted', T0 + TTL])
          assert.match(
            b1?.timeline.at(-1)?.detail ?? '',
            /its agent node-b died .*the leader node-a closed it/,
          )
          assert.deepEqual(
            recorded.map((e) => [e.type, e.severity, e.data]),
            [
              ['node:incidents-closed', 'warning', { node: 'node-b', incidents: ['b-open'] }],
              ['node:incidents-closed', 'warning', { node: 'node-gone', incidents: ['gone-open'] }],
            ],
          )
          assert.deepEqual(
            ids(await store.listOpenIncidents()),
            ['a-open', 'old-open'],
            'its own and those of no node are left to the agents that start',
          )
        }))

      it('tells each write to onWrite, and a healthy store passes its check', () =>
        withStore(async (store) => {
          const seen: unknown[] = []
          const off = store.onWrite((w) => seen.push(w))
          await store.appendEvent(sampleEvents(T0)[0]!)
          await store.check()
          off()
          await store.appendEvent(sampleEvents(T0)[0]!)
          assert.deepEqual(seen, [{ ok: true }])
        }))
    })

    describe('leadership (one leader per fleet)', () => {
      const a = { owner: 'owner-a', node: 'node-a' }
      const b = { owner: 'owner-b', node: 'node-b' }
      const LEAD = 3_000

      it('is free at first; the first candidate takes it, renews it, and the next one follows', () =>
        withStore(async (store) => {
          assert.equal(await store.readLeadership(), null)
          const took = await store.claimLeadership(a, T0, LEAD)
          assert.equal(took.kind, 'take')
          assert.deepEqual(took.leader, { ...a, epoch: 1, acquiredAt: T0, expiresAt: T0 + LEAD })
          const renewed = await store.claimLeadership(a, T0 + 1_000, LEAD)
          assert.deepEqual(renewed, {
            kind: 'renew',
            leader: { ...a, epoch: 1, acquiredAt: T0, expiresAt: T0 + 1_000 + LEAD },
          })
          const followed = await store.claimLeadership(b, T0 + 2_000, LEAD)
          assert.deepEqual(followed, { kind: 'follow', leader: renewed.leader })
          assert.deepEqual(await store.readLeadership(), renewed.leader)
        }))

      it('passes to another candidate once it expires, or at once when its leader resigns, the epoch growing', () =>
        withStore(async (store, opened) => {
          const other = await opened.alongside()
          await store.claimLeadership(a, T0, LEAD)
          const after = await other.claimLeadership(b, T0 + LEAD, LEAD)
          assert.equal(after.kind, 'take')
          assert.equal(after.leader.epoch, 2)
          assert.deepEqual(after.kind === 'take' && after.previous?.owner, 'owner-a')
          // The old leader, late: its lease expired, so it follows rather than renews.
          assert.equal((await store.claimLeadership(a, T0 + LEAD + 10, LEAD)).kind, 'follow')
          // A resignation by someone else changes nothing; the leader's own frees it at once.
          await store.resignLeadership('owner-a', T0 + LEAD + 20)
          assert.equal((await store.claimLeadership(a, T0 + LEAD + 30, LEAD)).kind, 'follow')
          await other.resignLeadership('owner-b', T0 + LEAD + 40)
          const back = await store.claimLeadership(a, T0 + LEAD + 50, LEAD)
          assert.equal(back.kind, 'take')
          assert.equal(back.leader.epoch, 3, 'the epoch is never reused')
          assert.equal((await store.readLeadership())?.owner, 'owner-a')
        }))

      it('gives each run of a scheduled chore to exactly one of the agents that ask', () =>
        withStore(async (store, opened) => {
          const other = await opened.alongside()
          const due = T0 + 60_000
          const HALF = 30_000
          const both = await Promise.all([
            store.claimChoreRun('report', due, 'node-a', HALF),
            other.claimChoreRun('report', due, 'node-b', HALF),
          ])
          assert.deepEqual(both.sort(), [false, true])
          assert.equal(await store.claimChoreRun('report', due, 'node-a', HALF), false, 'asked again')
          assert.equal(await other.claimChoreRun('report', T0, 'node-b', HALF), false, 'an earlier run')
          // An agent whose schedule started 4 s later: the same period's report, made already.
          assert.equal(await other.claimChoreRun('report', due + 4_000, 'node-b', HALF), false)
          assert.equal(await other.claimChoreRun('prune', due, 'node-b', HALF), true, 'another chore')
          assert.equal(
            await other.claimChoreRun('report', due + 60_000, 'node-b', HALF),
            true,
            'the next period',
          )
        }))

      it('sends a fleet-wide notification once per window, counting the nodes it suppressed', () =>
        withStore(async (store, opened) => {
          const other = await opened.alongside()
          const WINDOW = 300_000
          const key = 'dest\u241fincident:escalated\u241fbilling#1\u241fcrash'
          const claim = (s: Store, node: string, now: number, k = key) =>
            s.claimNotification({ key: k, node, now, windowMs: WINDOW })
          const both = await Promise.all([claim(store, 'node-a', T0), claim(other, 'node-b', T0)])
          assert.deepEqual(both.map((d) => d.send).sort(), [false, true], 'one of two at once')
          const first = both[0]?.send === true ? 'node-a' : 'node-b'
          const [winner, loser] = first === 'node-a' ? [store, other] : [other, store]
          const second = first === 'node-a' ? 'node-b' : 'node-a'
          assert.deepEqual(await claim(loser, 'node-c', T0 + 1_000), {
            send: false,
            suppressedBefore: 0,
            nodes: [],
          })
          assert.equal((await claim(loser, 'node-c', T0 + 2_000)).send, false, 'node-c again')
          assert.deepEqual(
            await claim(store, 'node-a', T0 + 3_000, `${key}-other`),
            { send: true, suppressedBefore: 0, nodes: [] },
            'another key',
          )
          // The node that sent sends again, and carries the count of what it suppressed elsewhere.
          assert.deepEqual(await claim(winner, first, T0 + 4_000), {
            send: true,
            suppressedBefore: 3,
            nodes: [second, 'node-c'],
          })
          assert.equal((await claim(loser, second, T0 + 4_000 + WINDOW - 1)).send, false, 'within its window')
          assert.deepEqual(
            await claim(loser, second, T0 + 4_000 + WINDOW),
            { send: true, suppressedBefore: 1, nodes: [second] },
            'once the window has passed',
          )
          assert.equal(
            (await claim(winner, first, T0 + 5_000 + WINDOW)).send,
            false,
            'now the other holds it',
          )
        }))

      it('prunes the claims of fleet-wide notifications past their window, keeping the counts still to tell', () =>
        withStore(async (store) => {
          const WINDOW = 300_000
          const claim = (key: string, node: string, now: number) =>
            store.claimNotification({ key, node, now, windowMs: WINDOW })
          await claim('k1', 'node-a', T0)
          await claim('k2', 'node-a', T0)
          assert.equal((await claim('k2', 'node-b', T0 + 1)).send, false, 'suppressed, and counted')
          await claim('k3', 'node-a', T0 + WINDOW)
          assert.equal(await store.pruneFleetNotifications(T0 + WINDOW - 1, T0), 0, 'all within their window')
          // k1's window ended and it counts nothing: it goes. k2 carries a count; k3 is live.
          assert.equal(await store.pruneFleetNotifications(T0 + WINDOW, T0), 1)
          assert.deepEqual(
            await claim('k1', 'node-b', T0 + WINDOW + 1),
            { send: true, suppressedBefore: 0, nodes: [] },
            'a pruned key decides as a new one',
          )
          assert.deepEqual(
            await claim('k2', 'node-a', T0 + WINDOW + 1),
            { send: true, suppressedBefore: 1, nodes: ['node-b'] },
            'the kept count reaches the next message',
          )
          assert.equal((await claim('k2', 'node-b', T0 + WINDOW + 2)).send, false)
          // k1 and k3 (windows ended, nothing counted) go; k2 counts one, and is kept until its window
          // ended before `before`.
          assert.equal(await store.pruneFleetNotifications(T0 + 2 * WINDOW + 1, T0 + 2 * WINDOW + 1), 2)
          assert.equal(await store.pruneFleetNotifications(T0 + 2 * WINDOW + 1, T0 + 2 * WINDOW + 2), 1)
          assert.equal(
            await store.pruneFleetNotifications(T0 + 10 * WINDOW, T0 + 10 * WINDOW),
            0,
            'none left',
          )
        }))

      it('gives it to one of two candidates that ask at once', () =>
        withStore(async (store, opened) => {
          const other = await opened.alongside()
          const [x, y] = await Promise.all([
            store.claimLeadership(a, T0, LEAD),
            other.claimLeadership(b, T0, LEAD),
          ])
          assert.deepEqual([x.kind, y.kind].sort(), ['follow', 'take'])
          assert.equal(x.leader.owner, y.leader.owner)
          assert.equal(x.leader.epoch, 1)
        }))
    })
  })
}

const TTL = 30_000
/** Two supervisors on one host. */
const A: LeaseClaim = {
  owner: 'owner-a',
  node: 'host-1',
  host: 'host-1',
  pid: 101,
  startTicks: 5_000,
  apiUrl: null,
}
const B: LeaseClaim = {
  owner: 'owner-b',
  node: 'host-1',
  host: 'host-1',
  pid: 202,
  startTicks: 6_000,
  apiUrl: null,
}
const nobodyRuns = (): boolean => false

/**
 * Agent A owns the store, two email jobs (`<prefix>1`, `<prefix>2`) are added at T0, and its worker
 * claims `count` of them: what an agent whose lease then lapses leaves for the leader.
 */
async function holdingJobs(store: Store, prefix: string, count: number) {
  await store.claimOwnership(A, T0, TTL, nobodyRuns)
  await store.jobs.add(
    [1, 2].map((n) => ({ queue: 'email', payload: n, id: `${prefix}${n}` })),
    T0,
    () => ({ maxAttempts: 3, timeoutMs: null }),
  )
  return store.jobs.claim('email', count, 'email#1', T0 + 1)
}
const runs =
  (pid: number) =>
  (p: number): boolean =>
    p === pid

/** 2023-11-14T22:13:20Z: a realistic epoch-ms time. */
export const T0 = 1_700_000_000_000

/** What a supervisor records about its workers with a heartbeat. */
const WORKLOAD: NodeWorkload = {
  running: 1,
  desired: 2,
  workers: [
    {
      id: 'email#1',
      pool: 'email',
      pid: 4242,
      state: 'ready',
      role: 'worker',
      healthScore: 100,
      restarts: 0,
      startedAt: T0 - 60_000,
      worst: null,
      worstDetail: null,
    },
    {
      id: 'email#2',
      pool: 'email',
      pid: null,
      state: 'restarting',
      role: 'worker',
      healthScore: 0,
      restarts: 3,
      startedAt: null,
      worst: 'alive',
      worstDetail: 'exited with code 1',
    },
  ],
}

const POLICY: IncidentPolicy = {
  strategies: { default: 'soft_restart', emergency: 'hard_restart' },
  max_retries: 1,
  backoff: { retry_delay: 10_000, max_retry_delay: 300_000, jitter: 0 },
  restart_limit: { max: 10, window: 600_000 },
  verify_timeout: 30_000,
}

function ctx(now: number): IncidentContext {
  return { now, policy: POLICY, random: () => 0.5, restartTimes: [], consecutiveRestarts: 0 }
}

function exitReport(pid: number, at: number, signal: string | null, killedByUs: boolean): ExitReport {
  return {
    pid,
    exitCode: signal ? null : 1,
    signal,
    killedByUs,
    forced: false,
    spawnFailed: false,
    at,
    durationMs: 3_600_000,
  }
}

type Until = 'saving' | 'stopping' | 'verifying' | 'recovered' | 'escalated' | 'interrupted'

/**
 * A real incident, built by driving the core's state machine from detection to `until`, one
 * input every 100 ms (and the backoff's 10 s before a retry).
 */
export function incident(o: {
  id: string
  at: number
  until: Until
  workerId?: string
  cause?: AnomalyCause
  /** The agent that recorded it; default `web-1`. */
  node?: string | null
}): Incident {
  const workerId = o.workerId ?? 'email#1'
  const pool = workerId.split('#')[0] ?? workerId
  const cause = o.cause ?? 'crash'
  const oldPid = 41_000 + (o.at % 1_000)
  let t = o.at
  let inc = openIncident(
    {
      id: o.id,
      workerId,
      pool,
      node: o.node === undefined ? NODE : o.node,
      cause,
      detail: cause === 'crash' ? 'exited with code 1' : `${cause} detected`,
      pid: oldPid,
      exit: cause === 'crash' ? exitReport(oldPid, o.at, null, false) : null,
    },
    ctx(t),
  ).incident
  const feed = (input: IncidentInput, after = 100) => {
    t += after
    inc = advance(inc, input, ctx(t)).incident
  }
  if (o.until === 'saving') return inc
  feed({ type: 'state-saved', detail: 'saved 50 log lines, the last health report and a checkpoint' })
  if (o.until === 'stopping') return inc
  if (o.until === 'interrupted') {
    feed({ type: 'interrupt', reason: 'the supervisor received SIGTERM' })
    return inc
  }
  feed({ type: 'stopped', exit: exitReport(oldPid, t, 'SIGTERM', true) })
  feed({ type: 'started', pid: oldPid + 1, spare: false })
  feed({ type: 'restored', detail: 'checkpoint handed to the replacement' })
  if (o.until === 'verifying') return inc
  if (o.until === 'recovered') {
    feed({ type: 'ready', how: 'sent ready over IPC' })
    return inc
  }
  // escalated: the first attempt fails, the retry (after a backoff) fails too.
  feed({ type: 'verify-failed', reason: 'not ready within 30000 ms' })
  feed({ type: 'backoff-elapsed' }, POLICY.backoff.retry_delay)
  feed({ type: 'stopped', exit: exitReport(oldPid + 1, t, 'SIGKILL', true) })
  feed({ type: 'started', pid: oldPid + 2, spare: false })
  feed({ type: 'restored', detail: 'checkpoint handed to the replacement' })
  feed({ type: 'verify-failed', reason: 'exited with code 1 while verifying' })
  assert.equal(inc.phase, 'escalated')
  return inc
}

function ids(incidents: Incident[]): string[] {
  return incidents.map((i) => i.id)
}

/** The node name the fixtures record events and incidents as (the daemon's record() sets it). */
export const NODE = 'web-1'

/** A `worker:exit` event of the kind the supervisor records for every exit. */
export function exitEvent(
  at: number,
  workerId: string,
  pid: number,
  node: string | null = NODE,
): ShepherdEvent<'worker:exit'> {
  return {
    type: 'worker:exit',
    at,
    severity: 'warning',
    message: `${workerId} (pid ${pid}) was killed by SIGKILL after 3600000 ms`,
    pool: workerId.split('#')[0] ?? null,
    workerId,
    incidentId: null,
    node,
    data: { pid, exitCode: null, signal: 'SIGKILL', killedByUs: false, forced: false, durationMs: 3_600_000 },
  }
}

/** Seven events of six types, as a start, one crash and its recovery produce them. */
export function sampleEvents(t0: number): AnyEvent[] {
  const inc = incident({ id: 'inc-ev', at: t0 + 20, until: 'saving' })
  const done = incident({ id: 'inc-ev', at: t0 + 20, until: 'recovered' })
  const started: ShepherdEvent<'supervisor:started'> = {
    type: 'supervisor:started',
    at: t0,
    severity: 'info',
    message: 'Shepherd started 2 pools, 3 workers; API on http://127.0.0.1:7717',
    pool: null,
    workerId: null,
    incidentId: null,
    node: NODE,
    data: { pools: ['email', 'reports'], workers: 3, apiUrl: 'http://127.0.0.1:7717' },
  }
  const opened: ShepherdEvent<'incident:opened'> = {
    type: 'incident:opened',
    at: t0 + 20,
    severity: 'warning',
    message: 'email#1 crashed (exit code 1); recovering with soft_restart',
    pool: 'email',
    workerId: 'email#1',
    incidentId: 'inc-ev',
    node: NODE,
    data: { incident: inc },
  }
  const state: ShepherdEvent<'worker:state'> = {
    type: 'worker:state',
    at: t0 + 30,
    severity: 'info',
    message: 'email#1: exited → restarting (crash)',
    pool: 'email',
    workerId: 'email#1',
    incidentId: 'inc-ev',
    node: NODE,
    data: { from: 'exited', to: 'restarting', reason: 'crash', pid: null },
  }
  const health: ShepherdEvent<'health:changed'> = {
    type: 'health:changed',
    at: t0 + 40,
    severity: 'warning',
    message: 'reports#1 is “warning” (score 80): memory 1100 MiB > 1024 MiB for 3 checks',
    pool: 'reports',
    workerId: 'reports#1',
    incidentId: null,
    node: NODE,
    data: {
      from: 'healthy',
      to: 'warning',
      score: 80,
      worst: 'memory',
      detail: 'memory 1100 MiB > 1024 MiB',
    },
  }
  const recovered: ShepherdEvent<'incident:recovered'> = {
    type: 'incident:recovered',
    at: t0 + 700,
    severity: 'info',
    message: `email#1 recovered in ${done.recoveredAt! - done.detectedAt} ms`,
    pool: 'email',
    workerId: 'email#1',
    incidentId: 'inc-ev',
    node: NODE,
    data: { incident: done },
  }
  return [
    started,
    exitEvent(t0 + 10, 'email#1', 41_010),
    opened,
    state,
    health,
    recovered,
    exitEvent(t0 + 800, 'reports#1', 52_001),
  ]
}

/** What the recovery flow saves about a crashed worker, with a nested checkpoint. */
export function workerState(workerId: string, at: number): SavedWorkerState {
  return {
    workerId,
    pool: workerId.split('#')[0] ?? workerId,
    savedAt: at,
    incidentId: 'inc-1',
    logTail: [
      'out| processing job 1042 (welcome email to a@example.com)',
      'err| TypeError: Cannot read properties of undefined (reading "to")',
      'err|     at send (/srv/workers/email.js:42:17)',
    ],
    lastReport: deadReport(at - 5, 'the process is not running'),
    exit: exitReport(41_001, at - 5, null, false),
    checkpoint: {
      cursor: 'job-1042',
      processed: 1041,
      batch: [1040, 1041, 1042],
      retry: { attempt: 2, lastError: 'SMTP 451 “try again later”' },
      flags: { dryRun: false, locale: 'ja-JP' },
      note: null,
    },
  }
}
