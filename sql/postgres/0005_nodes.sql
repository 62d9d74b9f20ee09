-- 0005_nodes: what `shepherd nodes` and `shepherd status` show of each agent of the fleet. An agent
-- records its Shepherd version when it claims its node, and a small summary of its workers (JSON
-- text: counts running and desired, and one entry per worker slot) with each heartbeat, so that
-- any agent can show every node's workers without calling other agents' APIs (usually bound to
-- localhost). NULL for a lease written before this migration, or before the agent's first heartbeat.
-- Append-only, like every migration.
ALTER TABLE supervisor_leases ADD COLUMN version TEXT;
ALTER TABLE supervisor_leases ADD COLUMN workload TEXT;
