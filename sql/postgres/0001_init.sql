-- 0001_init: the PostgreSQL store, table for table the SQLite one (sql/sqlite/0001 to 0004), with
-- PostgreSQL's forms where they differ and one lease row per node instead of one per store.
--
-- Append-only: once released, never edit, rename or reorder this file; change the schema with a new
-- numbered file. The migrator runs every pending file in one transaction under an advisory lock, so
-- a file must not contain BEGIN, COMMIT or ROLLBACK of its own. Tables are created unqualified, in
-- the schema the store's connections have first in their search_path (`?schema=` in store.url).
--
-- Times are epoch milliseconds in BIGINT columns. Every integer a caller gives (priority,
-- max_attempts) is BIGINT too: the port takes any safe integer, and INTEGER is 32 bits here. The
-- `data`, payload, checkpoint, progress and result columns hold JSON as TEXT, exactly as written,
-- as SQLite does: jsonb would refuse a string holding \u0000, and would give numbers and keys back
-- in its own form.

-- One recovery of one worker, timeline included (`data` is the whole Incident).
CREATE TABLE incidents (
  id TEXT PRIMARY KEY,
  worker_id TEXT NOT NULL,
  pool TEXT NOT NULL,
  cause TEXT NOT NULL,
  severity TEXT NOT NULL,
  strategy TEXT NOT NULL,
  phase TEXT NOT NULL,
  outcome TEXT,
  attempts BIGINT NOT NULL,
  detected_at BIGINT NOT NULL,
  recovered_at BIGINT,
  ended_at BIGINT,
  data TEXT NOT NULL
);

-- listIncidents: newest first, optionally since a time.
CREATE INDEX incidents_detected_at ON incidents (detected_at);
-- listIncidents for one worker (`shepherd incidents email#2`).
CREATE INDEX incidents_worker_detected_at ON incidents (worker_id, detected_at);

-- Immutable records of what happened, in the order they were stored. An identity never hands a
-- number out twice, even after the newest events are pruned, so a reader that follows the stream
-- with afterSeq never misses one.
CREATE TABLE events (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  type TEXT NOT NULL,
  severity TEXT NOT NULL,
  pool TEXT,
  worker_id TEXT,
  incident_id TEXT,
  message TEXT NOT NULL,
  data TEXT NOT NULL
);

-- pruneEvents deletes by time.
CREATE INDEX events_at ON events (at);
-- listEvents filtered by type.
CREATE INDEX events_type ON events (type);
-- listEvents for one worker (the dashboard's worker page), in seq order.
CREATE INDEX events_worker_seq ON events (worker_id, seq);

-- What the recovery flow saved about a worker for its replacement; one row per worker slot.
CREATE TABLE worker_state (
  worker_id TEXT PRIMARY KEY,
  pool TEXT NOT NULL,
  saved_at BIGINT NOT NULL,
  data TEXT NOT NULL
);

-- One row per job, from enqueue until it is pruned or purged (the JobStore port). seq is the enqueue
-- order that claim follows among equal priorities.
CREATE TABLE jobs (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('waiting', 'active', 'done', 'dead', 'quarantined')),
  priority BIGINT NOT NULL,
  run_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  finished_at BIGINT,
  attempts BIGINT NOT NULL,
  max_attempts BIGINT NOT NULL,
  crashes BIGINT NOT NULL,
  timeout_ms BIGINT,
  idempotency_key TEXT,
  delivery BIGINT NOT NULL,
  lease_worker TEXT,
  lease_expires BIGINT,
  last_error TEXT,
  last_stack TEXT,
  payload TEXT NOT NULL,
  checkpoint TEXT,
  progress TEXT,
  result TEXT
);

-- The UNIQUE on id serves getJob, the lookup of every settlement by its token's id, and the
-- duplicate check of add.

-- add: a (queue, idempotency key) that exists already, in any state, makes the add a duplicate.
CREATE UNIQUE INDEX jobs_queue_idempotency_key ON jobs (queue, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- claim: the waiting jobs of a queue in claim order (highest priority, then enqueue order), so a
-- claim reads the first `limit` due entries and stops, whatever the backlog. run_at and crashes
-- are in the index so that the due test and the suspect filter are made on the entry. Partial on
-- state = 'waiting': the index holds only the backlog, and a claim removes its entries.
CREATE INDEX jobs_claim ON jobs (queue, priority DESC, seq, run_at, crashes)
  WHERE state = 'waiting';

-- Suspects: waiting jobs that were in flight in a worker crash, delivered one at a time (see
-- sql/sqlite/0002_jobs.sql). Few, so looking for one costs nothing when there are none.
CREATE INDEX jobs_suspects ON jobs (queue, priority DESC, seq)
  WHERE state = 'waiting' AND crashes > 0;

-- nextDueAt, and counts' delayed jobs and oldest due job.
CREATE INDEX jobs_waiting_run_at ON jobs (queue, run_at, created_at)
  WHERE state = 'waiting';

-- Jobs waiting for a retry after an error: counts' and listJobs' `failed`.
CREATE INDEX jobs_retrying ON jobs (queue, seq)
  WHERE state = 'waiting' AND attempts > 0;

-- counts per state and queue, listJobs by state newest first, retry and purge of a queue's dead or
-- quarantined jobs, and releaseAllActive.
CREATE INDEX jobs_state_queue_seq ON jobs (state, queue, seq);

-- pruneDone (finished_at < before) and counts' throughput (finished_at in the last minute).
CREATE INDEX jobs_done_finished_at ON jobs (finished_at, queue)
  WHERE state = 'done';

-- The worker processes a supervisor started and has not yet seen exit (sql/sqlite/0003 says why).
CREATE TABLE worker_processes (
  pid BIGINT NOT NULL,
  -- /proc/<pid>/stat field 22 (clock ticks after boot): with the pid, it names one process.
  start_ticks BIGINT NOT NULL,
  pool TEXT NOT NULL,
  worker_id TEXT NOT NULL,
  spawned_at BIGINT NOT NULL,
  PRIMARY KEY (pid, start_ticks)
);

-- The supervisors (agents) that use this database, one lease per node. A database shared by many
-- hosts has one agent per node: a second agent that claims the same node while the first one's
-- lease is live (or its process runs, on this host) is refused, as a second supervisor on one
-- SQLite file is. The node is the agent's identity: today its host name (LeaseClaim.host), so one
-- agent per host. Each agent renews its own row (heartbeat); one whose row expired is taken over by
-- the next agent that claims its node.
CREATE TABLE supervisor_leases (
  node TEXT PRIMARY KEY,
  -- A random id per supervisor run.
  owner TEXT NOT NULL UNIQUE,
  host TEXT NOT NULL,
  pid BIGINT NOT NULL,
  -- /proc/<pid>/stat field 22 (NULL where there is no /proc).
  start_ticks BIGINT,
  api_url TEXT,
  acquired_at BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
