-- 0004_job_owner: who holds an active job. A claim stamps the job with the claiming agent's node and
-- its lease epoch (sql/postgres/0002_fleet.sql); both are cleared when the job leaves the active
-- state. An agent that starts puts back in the queue only its own node's active jobs (and those of
-- no owner: rows from before this migration), never another agent's.
-- Append-only, like every migration.
ALTER TABLE jobs ADD COLUMN owner_node TEXT;
ALTER TABLE jobs ADD COLUMN owner_epoch BIGINT;
