/**
 * The SQL of the PostgreSQL Store adapter (pg-store.ts, pg-ownership.ts), kept apart from the code
 * that runs it: the statements both adapters share (../sql/store-sql.ts), numbered and named, a
 * batch insert of events, and the per-node leases. The schema is `sql/postgres/0001_init.sql`.
 * @module
 */
import { LEADER_SQL, SQL } from '../sql/store-sql.js'
import { named } from './statements.js'

const LEASE_COLUMNS = 'owner, host, pid, start_ticks, api_url, acquired_at, heartbeat_at, expires_at'

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
  writeNode: `INSERT INTO supervisor_leases (node, ${LEASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (node) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid,
      start_ticks = excluded.start_ticks, api_url = excluded.api_url, acquired_at = excluded.acquired_at,
      heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at`,
  renew: 'UPDATE supervisor_leases SET heartbeat_at = $1, expires_at = $2 WHERE owner = $3',
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
