-- 0007_job_owner: who holds an active job, as on PostgreSQL (sql/postgres/0004_job_owner.sql): the
-- claiming agent's node and lease epoch, stamped at claim, cleared when the job leaves active.
-- Append-only, like every migration.
ALTER TABLE jobs ADD COLUMN owner_node TEXT;
ALTER TABLE jobs ADD COLUMN owner_epoch INTEGER;
