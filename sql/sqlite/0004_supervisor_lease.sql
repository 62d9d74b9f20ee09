-- 0004_supervisor_lease: the supervisor that owns this store.
--
-- One supervisor per store: a second one would take the first one's live workers for orphans,
-- release its jobs and run a second set of pools on the same queue. A supervisor takes this lease
-- before it touches anything and renews it (heartbeat) while it runs; a supervisor that starts
-- while a live one holds it is refused and names the holder from this row. On SQLite an OS lock
-- on `<store>.lock` says whether the holder still runs (see docs/store.md); the lease is what a
-- database shared by many hosts has instead, so the same row and rules serve PostgreSQL.
-- Append-only, like every migration.
CREATE TABLE supervisor_lease (
  -- One row at most: the store has one owner.
  id INTEGER PRIMARY KEY CHECK (id = 1),
  -- A random id per supervisor run.
  owner TEXT NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  -- /proc/<pid>/stat field 22: with the pid, it names one process (NULL where there is no /proc).
  start_ticks BIGINT,
  api_url TEXT,
  acquired_at BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
