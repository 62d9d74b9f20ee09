-- 0002_jobs: the durable job queue (the JobStore port, src/store/job-store.ts).
--
-- Append-only and portable, as 0001_init.sql explains: times are epoch milliseconds in BIGINT
-- columns; payload, checkpoint, progress and result hold JSON text (NULL: none yet). The other
-- columns are the fields of the core's Job (src/core/job.ts) that the store filters, orders and
-- updates on.

-- One row per job, from enqueue until it is pruned or purged.
-- seq is the enqueue order that claim follows among equal priorities. A plain INTEGER PRIMARY KEY
-- (the rowid; PostgreSQL: BIGINT GENERATED ALWAYS AS IDENTITY) rather than AUTOINCREMENT: a new row
-- gets max(seq) + 1, so it still sorts after every job that exists, which is all that order needs;
-- a seq freed by pruning the newest jobs may come back, and nothing reads seq outside this table
-- (jobs are named by id). That saves AUTOINCREMENT's write to sqlite_sequence on every enqueue.
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('waiting', 'active', 'done', 'dead', 'quarantined')),
  priority INTEGER NOT NULL,
  run_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  finished_at BIGINT,
  attempts INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  crashes INTEGER NOT NULL,
  timeout_ms BIGINT,
  idempotency_key TEXT,
  delivery INTEGER NOT NULL,
  lease_worker TEXT,
  lease_expires BIGINT,
  last_error TEXT,
  last_stack TEXT,
  payload TEXT NOT NULL,
  checkpoint TEXT,
  progress TEXT,
  result TEXT
);

-- The UNIQUE on id (an automatic index) serves getJob, the lookup of every settlement by its
-- token's id, and the duplicate check of add.

-- add: a (queue, idempotency key) that exists already, in any state, makes the add a duplicate.
-- Partial, so jobs without a key cost nothing here (the same form is valid in PostgreSQL).
CREATE UNIQUE INDEX jobs_queue_idempotency_key ON jobs (queue, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- claim: the waiting jobs of a queue in claim order (highest priority, then enqueue order), so
-- claim reads the first `limit` due entries and stops: no sort, no scan of the table, whatever
-- the backlog. run_at is the last column so that the due test is made on the index entry without
-- reading the row: a job that is not due yet (delay, retry backoff) and sits ahead of the due ones
-- costs one index entry skipped. Partial on state = 'waiting', so the index holds only the backlog
-- (done jobs kept for idempotency and throughput add nothing), and a claim removes its entries.
CREATE INDEX jobs_claim ON jobs (queue, priority DESC, seq, run_at, crashes)
  WHERE state = 'waiting';

-- Suspects: waiting jobs that were in flight in a worker crash. The dispatcher delivers them one at
-- a time to a worker that holds nothing else, so that a further crash is the suspect's own and an
-- innocent job that shared the first crash is not quarantined with the poison one. This index holds
-- only suspects (few), so looking for one costs nothing when there are none.
CREATE INDEX jobs_suspects ON jobs (queue, priority DESC, seq)
  WHERE state = 'waiting' AND crashes > 0;

-- nextDueAt: the earliest run_at after now among a queue's waiting jobs (one index seek). Also
-- counts: the delayed jobs (run_at after now) are a range of it, and the age of the oldest due job
-- is the least created_at over the due range, read from the index alone (created_at is there for
-- that; no row is read).
CREATE INDEX jobs_waiting_run_at ON jobs (queue, run_at, created_at)
  WHERE state = 'waiting';

-- Jobs waiting for a retry after an error: counts' `failed` and listJobs' `failed` filter, newest
-- first, without going through the whole backlog to find the few that failed. Only such jobs have
-- an entry, so it costs nothing on the happy path (enqueue, claim, ack).
CREATE INDEX jobs_retrying ON jobs (queue, seq)
  WHERE state = 'waiting' AND attempts > 0;

-- counts per state and queue (a scan of this index alone), listJobs by state newest first,
-- retry and purge of a queue's dead or quarantined jobs, and releaseAllActive (state first, so
-- "every active job" is one seek whatever the queue).
CREATE INDEX jobs_state_queue_seq ON jobs (state, queue, seq);

-- pruneDone (finished_at < before) and counts' throughput (finished_at in the last minute, by
-- queue, which is why queue is in the index). Partial: only done jobs have a place here.
CREATE INDEX jobs_done_finished_at ON jobs (finished_at, queue)
  WHERE state = 'done';
