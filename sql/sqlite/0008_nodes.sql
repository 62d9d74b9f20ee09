-- 0008_nodes: what `shepherd nodes` and `shepherd status` show of the supervisor, as on PostgreSQL
-- (sql/postgres/0005_nodes.sql): its node name (PostgreSQL keys its lease rows by it), its
-- Shepherd version, and a small summary of its workers (JSON text) written with each heartbeat.
-- NULL for a lease written before this migration.
-- Append-only, like every migration.
ALTER TABLE supervisor_lease ADD COLUMN node TEXT;
ALTER TABLE supervisor_lease ADD COLUMN version TEXT;
ALTER TABLE supervisor_lease ADD COLUMN workload TEXT;
