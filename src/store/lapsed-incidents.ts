/**
 * A dead agent's open incidents, closed by the fleet's leader. An agent that dies during a
 * recovery (killed, cut off from the store, hung) leaves its incident open, and nobody else can
 * carry that recovery on: recovery is local to its agent. An agent that starts closes its own
 * node's leftovers (Recovery.closeLeftovers); this closes those of a node that does not come back,
 * at the leader's look after its lease lapsed, with the same transition (`interruptIncident`), so
 * that the incident list, reports and MTTR do not count a recovery that nobody runs as under way.
 *
 * An agent that was only cut off and rejoins writes its incident again as its recovery goes on
 * (it holds the whole record): the store then shows its progress, and its outcome, over the close.
 * @module
 */
import type { AnyEvent } from '../core/events.js'
import { type Incident, interruptIncident } from '../core/incident.js'
import type { Store } from '../ports/store.js'

/**
 * Closes as interrupted the open incidents of nodes whose lease is not live at `now`, in one write,
 * and records one `node:incidents-closed` per node. `leader` is this agent's node name. Returns how
 * many it closed. Safe to run twice: a closed incident is no longer listed.
 */
export async function closeLapsedIncidents(o: {
  store: Pick<Store, 'listLapsedIncidents' | 'writeBatch'>
  leader: string
  now: number
  record: (event: AnyEvent) => void
}): Promise<number> {
  const open = await o.store.listLapsedIncidents(o.now)
  if (open.length === 0) return 0
  const byNode = new Map<string, Incident[]>()
  for (const inc of open) {
    // listLapsedIncidents gives incidents of a node only.
    const node = inc.node ?? ''
    byNode.set(node, [...(byNode.get(node) ?? []), inc])
  }
  const closed = open.map((inc) =>
    interruptIncident(
      inc,
      o.now,
      `its agent ${inc.node ?? '?'} died during the recovery (its lease lapsed): the leader ${o.leader} closed it, since nobody carries the recovery on`,
    ),
  )
  await o.store.writeBatch({ incidents: closed })
  for (const [node, incs] of byNode) {
    o.record({
      type: 'node:incidents-closed',
      at: o.now,
      severity: 'warning',
      message: `closed as interrupted ${incs.length} open incident(s) of ${node}, whose lease lapsed during their recovery: ${incs.map((i) => `${i.workerId} (${i.id})`).join(', ')}`,
      pool: null,
      workerId: null,
      incidentId: null,
      data: { node, incidents: incs.map((i) => i.id) },
    })
  }
  return closed.length
}
