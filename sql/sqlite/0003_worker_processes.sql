-- 0003_worker_processes: the worker processes a supervisor started and has not yet seen exit.
--
-- A supervisor killed with SIGKILL cannot stop its workers. SDK workers exit by themselves when
-- its IPC channel closes, but any other program would run on, unwatched. The next supervisor on
-- this store reads this table at start and stops every process in it that is still the same
-- process (same pid and same start time, so a pid the kernel has since reused is left alone).
-- Append-only, like every migration.
CREATE TABLE worker_processes (
  pid INTEGER NOT NULL,
  -- /proc/<pid>/stat field 22 (clock ticks after boot): with the pid, it names one process.
  start_ticks BIGINT NOT NULL,
  pool TEXT NOT NULL,
  worker_id TEXT NOT NULL,
  spawned_at BIGINT NOT NULL,
  PRIMARY KEY (pid, start_ticks)
);
