-- 0011_state_index_without_done: an ack writes one index entry fewer.
--
-- Every state change writes the job's row again with an entry in each index that takes the new
-- state (a state change is never a HOT update: the indexes' predicates read the state). An ack
-- made entries in the primary key, the id, jobs_state_queue_seq and jobs_done_finished_at: a perf
-- profile of PostgreSQL draining a backlog put index inserts at about half of its CPU. Done jobs
-- are the bulk of the table (kept keep_done, 24 h by default) and jobs_done_finished_at holds them
-- already, so jobs_state_queue_seq now keeps the states that are few or looked at by state alone:
-- active (releaseAllActive, the leader's reclaim, in-flight counts), dead and quarantined (lists,
-- retries and purges). Done jobs are counted, listed and purged through jobs_done_finished_at (or,
-- newest first, the primary key backwards). `npm run bench:fleet` measures the whole exchange.
--
-- Append-only, like every migration.
DROP INDEX jobs_state_queue_seq;
CREATE INDEX jobs_state_queue_seq ON jobs (state, queue, seq) WHERE state IN ('active', 'dead', 'quarantined');
