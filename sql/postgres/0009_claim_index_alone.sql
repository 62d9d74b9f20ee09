-- 0009_claim_index_alone: a claim reads jobs_claim and nothing else, whatever the statistics say.
--
-- A claim asks for the first few due jobs of a queue in claim order (priority, then seq), and
-- jobs_claim gives them in that order: a few entries read, whatever the backlog. Two other indexes
-- could also serve its conditions (state = 'waiting' AND queue = … AND run_at <= …):
-- jobs_waiting_run_at and jobs_state_queue_seq, each followed by a sort of the whole backlog. The
-- planner weighs them by the table's statistics, and those are stale just when a queue matters
-- most: after a burst of enqueues (the table never analyzed, or analyzed when nothing waited, so
-- 'waiting' looks rare) it guessed one row and chose the sort. Each claim then read and sorted the
-- whole backlog: 15 ms a claim with 60,000 jobs waiting, until autovacuum's analyze came round
-- (measured with EXPLAIN ANALYZE; `npm run bench:fleet` drained 60,000 jobs at a third of its rate
-- for 20,000). Neither index may serve a claim any more:
--
-- - jobs_waiting_run_at becomes jobs_delayed: only the waiting jobs that were put off (run_at after
--   their creation: a delayed enqueue, a retry's backoff, a release). nextDueAt (the earliest run_at
--   after now) looks there alone: run_at > now ≥ created_at for every job made by a clock that does
--   not run backwards, so the statement adds run_at > created_at, and the planner knows the index
--   holds what it asks. A plain backlog adds nothing to it, so an enqueue writes one index fewer.
-- - jobs_state_queue_seq leaves the waiting jobs out: the other states' counts, lists, retries,
--   purges and releaseAllActive use it as before; counting a queue's waiting jobs reads jobs_claim.
--
-- Append-only, like every migration.
DROP INDEX jobs_waiting_run_at;
CREATE INDEX jobs_delayed ON jobs (queue, run_at) WHERE state = 'waiting' AND run_at > created_at;
DROP INDEX jobs_state_queue_seq;
CREATE INDEX jobs_state_queue_seq ON jobs (state, queue, seq) WHERE state <> 'waiting';
