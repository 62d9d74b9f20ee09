/**
 * The SQL of the PostgreSQL Store adapter (pg-store.ts, pg-ownership.ts), kept apart from the code
 * that runs it: the statements both adapters share (../sql/store-sql.ts), numbered and named, a
 * batch insert of events, and the per-node leases. The schema is `sql/postgres/0001_init.sql` (lease epochs: 0002_fleet.sql; versions and workloads: 0005_nodes.sql).
 * @module
 */
import {
  FINAL_PHASES,
  FLEET_NOTIFICATION_SQL,
  LEADER_SQL,
  SQL,
  WORKER_STATE_COLUMNS,
} from '../sql/store-sql.js'
import { named } from './statements.js'

const LEASE_COLUMNS = 'owner, host, pid, start_ticks, api_url, acquired_at, heartbeat_at, expires_at, epoch'

const PG_STORE_SQL = {
  // A worker's saved state is its node's ($1; '' for a store that claimed none): every agent of a
  // fleet has the config's worker ids (0008_worker_state_node.sql).
  upsertNodeWorkerState: `INSERT INTO worker_state (node, ${WORKER_STATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (node, worker_id) DO UPDATE SET pool = excluded.pool, saved_at = excluded.saved_at, data = excluded.data`,
  // Its own node's first, else one of no node (saved before nodes, or copied from an embedded store).
  loadNodeWorkerState: `SELECT data FROM worker_state WHERE worker_id = $1 AND node IN ($2, '')
    ORDER BY node = $2 DESC LIMIT 1`,
  // Event writes of every agent take turns from their insert to their commit: an event's seq is
  // then never visible before every lower one is, so a reader that pages by seq (`after`) misses
  // none. The first key spells "shev" (Shepherd events); the second is the schema.
  lockEvents: 'SELECT pg_advisory_xact_lock(1936221558, hashtext(current_schema()))',
  // Events of one batch in one statement; the identity numbers them in the order of the arrays.
  insertEvents: `INSERT INTO events (at, type, severity, pool, worker_id, incident_id, message, data, node)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
      $8::text[], $9::text[])
    RETURNING seq`,
  // Open incidents are per node, as worker processes are (0006_record_node.sql): an agent that
  // starts closes its own node's (and those of no node), never another live agent's. A store that
  // claimed no node (the last parameter null: a reader) lists every one.
  listOpenNodeIncidents: `SELECT data, node FROM incidents
    WHERE phase NOT IN (${FINAL_PHASES.map((_, i) => `$${i + 1}`).join(', ')})
      AND ($${FINAL_PHASES.length + 1}::text IS NULL OR node = $${FINAL_PHASES.length + 1} OR node IS NULL)
    ORDER BY detected_at, id`,
  // The leader's look ($1 now, $2 its own node): the open incidents of other nodes with no live
  // lease (expired, or none: a node forgotten), oldest first. The final phases are literals, as in
  // the partial index incidents_open_node (0010_open_incidents.sql), which only they let it use.
  listLapsedIncidents: `SELECT data, node FROM incidents
    WHERE phase NOT IN (${FINAL_PHASES.map((p) => `'${p}'`).join(', ')})
      AND node IS NOT NULL AND node IS DISTINCT FROM $2
      AND NOT EXISTS (SELECT 1 FROM supervisor_leases l WHERE l.node = incidents.node AND l.expires_at > $1)
    ORDER BY detected_at, id`,
  // Claims of one node wait for each other ($1 the node): two agents starting as the same node
  // cannot both find its row free. The first key spells "shle" (Shepherd lease).
  lockNode: 'SELECT pg_advisory_xact_lock(1936222565, hashtext($1))',
  // The node's lease, locked until the claim's transaction ends.
  readNode: `SELECT ${LEASE_COLUMNS} FROM supervisor_leases WHERE node = $1 FOR UPDATE`,
  // A store that has claimed no node yet names the agent heard from last.
  readLatest: `SELECT ${LEASE_COLUMNS} FROM supervisor_leases ORDER BY heartbeat_at DESC LIMIT 1`,
  readOwn: `SELECT ${LEASE_COLUMNS} FROM supervisor_leases WHERE node = $1`,
  // A new owner of the node starts without the last one's workload (0005_nodes.sql); the same
  // owner claiming again (its API address) keeps its own.
  writeNode: `INSERT INTO supervisor_leases (node, ${LEASE_COLUMNS}, version)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (node) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid,
      start_ticks = excluded.start_ticks, api_url = excluded.api_url, acquired_at = excluded.acquired_at,
      heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, epoch = excluded.epoch,
      version = excluded.version,
      workload = CASE WHEN supervisor_leases.owner = excluded.owner THEN supervisor_leases.workload END`,
  // Every node of the fleet, live or expired (shepherd nodes).
  listNodes: `SELECT node, ${LEASE_COLUMNS}, version, workload FROM supervisor_leases ORDER BY node`,
  // The last epoch of each node, kept past a release so that an epoch is never handed out twice.
  readEpoch: 'SELECT epoch FROM node_epochs WHERE node = $1',
  writeEpoch: `INSERT INTO node_epochs (node, epoch) VALUES ($1, $2)
    ON CONFLICT (node) DO UPDATE SET epoch = GREATEST(node_epochs.epoch, excluded.epoch)`,
  // Worker processes are per node (0002_fleet.sql): each agent sweeps its own orphans only, so two
  // agents on one host do not stop each other's workers. A store that claimed no node (a reader)
  // lists every node's.
  insertNodeProcess: `INSERT INTO worker_processes (pid, start_ticks, pool, worker_id, spawned_at, node)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (pid, start_ticks) DO NOTHING`,
  listNodeProcesses: `SELECT pid, start_ticks, pool, worker_id, spawned_at FROM worker_processes
    WHERE $1::text IS NULL OR node = $1 ORDER BY spawned_at`,
  clearNodeProcesses: 'DELETE FROM worker_processes WHERE node = $1',
  // A live lease only: one that expired by the renewal's send time ($1), or that the leader ended
  // when it reclaimed the node's jobs (its expiry set to its last heartbeat: job-queries.ts,
  // endLapsedLeases), is the owner's to claim again (a rejoin, a new epoch), whatever the send time
  // of a renewal held up in a link that was cut. With the agent's workload when it gives one ($4
  // NULL keeps the last: 0005_nodes.sql). A renewal answered late (several may be under way) never
  // moves the lease back.
  renew: `UPDATE supervisor_leases SET heartbeat_at = GREATEST(heartbeat_at, $1), expires_at = GREATEST(expires_at, $2),
      workload = COALESCE($4::text, workload)
    WHERE owner = $3 AND expires_at > $1 AND expires_at > heartbeat_at`,
  release: 'DELETE FROM supervisor_leases WHERE owner = $1',
  // shepherd nodes --forget ($1 the node): its lease, locked until the transaction ends (a claim of
  // the node waits for it, under lockNode), then deleted with its workers' saved state.
  readNodeForUpdate: `SELECT node, ${LEASE_COLUMNS}, version, workload FROM supervisor_leases WHERE node = $1 FOR UPDATE`,
  forgetNode: 'DELETE FROM supervisor_leases WHERE node = $1',
  forgetWorkerStates: 'DELETE FROM worker_state WHERE node = $1',
  // The leader's row, locked until the claim's transaction ends (it exists from the migration on).
  readLeaderForUpdate: `${LEADER_SQL.readLeader} FOR UPDATE`,
  // A fleet key's row, locked until the claim's transaction ends (ensureNotification made sure of it).
  readNotificationForUpdate: `${FLEET_NOTIFICATION_SQL.readNotification.replace('?', '$1')} FOR UPDATE`,
  // What vacuum-advice.ts advises on: the server's autovacuum and track_counts, and the tables of the
  // store's schema whose own autovacuum_enabled is off (stored as written: off, false, no, 0…, each
  // read back as PostgreSQL reads a boolean).
  vacuumSettings: `SELECT current_setting('autovacuum') AS autovacuum, current_setting('track_counts') AS track_counts,
      current_schema() AS schema,
      coalesce((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c, unnest(c.reloptions) AS o
        WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND c.relkind = 'r'
          AND o LIKE 'autovacuum\\_enabled=%' AND NOT split_part(o, '=', 2)::boolean), '{}') AS tables_off`,
} as const

/** Every fixed statement of the PostgreSQL store, named. */
export const STORE_STATEMENTS = {
  ...named('store', SQL, true),
  ...named('leader', LEADER_SQL, true),
  ...named('fleetnotify', FLEET_NOTIFICATION_SQL, true),
  ...named('pgstore', PG_STORE_SQL, false),
}
