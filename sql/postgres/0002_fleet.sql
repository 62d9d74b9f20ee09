-- 0002_fleet: lease epochs. Each node's lease has an epoch, one more than the node's last on every
-- take, take-over and rejoin after a lapse (src/core/supervisor-lease.ts), so that work stamped with
-- an older epoch can be told from its owner's current work. node_epochs keeps each node's last
-- epoch past a release (which deletes the lease row), so that no epoch is handed out twice.
-- Append-only, like every migration.
ALTER TABLE supervisor_leases ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;

CREATE TABLE node_epochs (
  node TEXT PRIMARY KEY,
  epoch BIGINT NOT NULL
);

-- Worker processes are per node: each agent records, lists and sweeps as orphans its own only, so
-- that two agents on one host (or two hosts with colliding pids) do not stop each other's workers.
-- Rows written before this migration have node '' and belong to no named agent.
ALTER TABLE worker_processes ADD COLUMN node TEXT NOT NULL DEFAULT '';
