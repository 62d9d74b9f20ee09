/**
 * The SQL of the PostgreSQL Store adapter (pg-store.ts, pg-ownership.ts), kept apart from the code
 * that runs it: the statements both adapters share (../sql/store-sql.ts), numbered and named, a
 * batch insert of events, and the per-node leases. The schema is `sql/postgres/0001_init.sql` (lease epochs: 0002_fleet.sql).
 * @module
 */
import { LEADER_SQL, SQL } from '../sql/store-sql.js'
import { named } from './statements.js'

const LEASE_COLUMNS = 'owner, host, pid, start_ticks, api_url, acquired_at, heartbeat_at, expires_at, epoch'

const PG_STORE_SQL = {
  // Events of one batch in one statement; the identity numbers them in the order of the arrays.
  insertEvents: `INSERT INTO events (at, type, severity, pool, worker_id, incident_id, message, data)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
      $8::text[])
    RETURNING seq`,
  // Claims of one node wait for each other ($1 the node): two agents starting as the same node
  // cannot both find its row free. The first key spells "shle" (Shepherd lease).
  lockNode: 'SELECT pg_advisory_xact_lock(1936222565, hashtext($1))',
  // The node's lease, locked until the claim's transaction ends.
  readNode: `SELECT ${LEASE_COLUMNS} FROM supervisor_leases WHERE node = $1 FOR UPDATE`,
  // A store that has claimed no node yet names the agent heard from last.
  readLatest: `SELECT ${LEASE_COLUMNS} FROM supervisor_leases ORDER BY heartbeat_at DESC LIMIT 1`,
  readOwn: `SELECT ${LEASE_COLUMNS} FROM supervisor_leases WHERE node = $1`,
  writeNode: `INSERT INTO supervisor_leases (node, ${LEASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (node) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid,
      start_ticks = excluded.start_ticks, api_url = excluded.api_url, acquired_at = excluded.acquired_at,
      heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, epoch = excluded.epoch`,
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
  // A live lease only: one that expired is the owner's to claim again (a rejoin, a new epoch).
  renew:
    'UPDATE supervisor_leases SET heartbeat_at = $1, expires_at = $2 WHERE owner = $3 AND expires_at > $1',
  release: 'DELETE FROM supervisor_leases WHERE owner = $1',
  // The leader's row, locked until the claim's transaction ends (it exists from the migration on).
  readLeaderForUpdate: `${LEADER_SQL.readLeader} FOR UPDATE`,
} as const

/** Every fixed statement of the PostgreSQL store, named. */
export const STORE_STATEMENTS = {
  ...named('store', SQL, true),
  ...named('leader', LEADER_SQL, true),
  ...named('pgstore', PG_STORE_SQL, false),
}
