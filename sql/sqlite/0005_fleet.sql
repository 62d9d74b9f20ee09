-- 0005_fleet: lease epochs, as on PostgreSQL (sql/postgres/0002_fleet.sql). The lease's epoch is one
-- more than the node's last on every take, take-over and rejoin after a lapse; node_epochs keeps the
-- last past a release (which deletes the lease row), so that no epoch is handed out twice.
-- Append-only, like every migration.
ALTER TABLE supervisor_lease ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;

CREATE TABLE node_epochs (
  node TEXT PRIMARY KEY,
  epoch INTEGER NOT NULL
);
