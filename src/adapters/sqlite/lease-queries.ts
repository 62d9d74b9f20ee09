/**
 * The SQL of the SQLite supervisor lease (sqlite-ownership.ts): one row at most, `id = 1`, since a
 * SQLite store has one owner. The schema is `sql/sqlite/0004_supervisor_lease.sql` (its epoch and `node_epochs`: 0005_fleet.sql; its node, version and workload: 0008_nodes.sql); the row is read
 * back with `toLease` (../sql/store-sql.ts), as PostgreSQL's per-node rows are.
 * @module
 */
/** Read, write (take, renew or take over), renew and release the one lease. */
export const LEASE_SQL = {
  readLease: `SELECT owner, host, pid, start_ticks, api_url, acquired_at, heartbeat_at, expires_at, epoch
    FROM supervisor_lease WHERE id = 1`,
  // A new owner starts without the last one's workload (0008_nodes.sql); the same owner claiming
  // again (its API address) keeps its own.
  writeLease: `INSERT INTO supervisor_lease (id, owner, host, pid, start_ticks, api_url, acquired_at, heartbeat_at,
      expires_at, epoch, node, version) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid,
      start_ticks = excluded.start_ticks, api_url = excluded.api_url, acquired_at = excluded.acquired_at,
      heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, epoch = excluded.epoch,
      node = excluded.node, version = excluded.version,
      workload = CASE WHEN supervisor_lease.owner = excluded.owner THEN supervisor_lease.workload END`,
  // The one node, for listNodes; a lease written before 0008_nodes.sql has no node: its host names it.
  readNode: `SELECT COALESCE(node, host) AS node, owner, host, pid, start_ticks, api_url, acquired_at, heartbeat_at,
      expires_at, epoch, version, workload
    FROM supervisor_lease WHERE id = 1`,
  // The last epoch of each node, kept past a release so that an epoch is never handed out twice.
  readEpoch: 'SELECT epoch FROM node_epochs WHERE node = ?',
  writeEpoch: `INSERT INTO node_epochs (node, epoch) VALUES (?, ?)
    ON CONFLICT (node) DO UPDATE SET epoch = MAX(node_epochs.epoch, excluded.epoch)`,
  // The heartbeat, with the supervisor's workload when it gives one (NULL keeps the last).
  renewLease: `UPDATE supervisor_lease SET heartbeat_at = ?, expires_at = ?, workload = COALESCE(?, workload)
    WHERE id = 1 AND owner = ?`,
  releaseLease: 'DELETE FROM supervisor_lease WHERE id = 1 AND owner = ?',
  // shepherd nodes --forget: the one lease, whoever held it (the caller checked that it is dead).
  forgetLease: 'DELETE FROM supervisor_lease WHERE id = 1',
} as const
