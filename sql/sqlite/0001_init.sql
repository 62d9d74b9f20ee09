-- 0001_init: incidents, events and saved worker state.
--
-- Append-only: once released, never edit, rename or reorder this file; change the schema with a new
-- numbered file. The migrator runs each file inside one BEGIN IMMEDIATE transaction, so a file must
-- not contain BEGIN, COMMIT or ROLLBACK of its own.
--
-- Portable on purpose: PostgreSQL follows with the same tables. Times are epoch milliseconds in
-- BIGINT columns (INTEGER affinity here; PostgreSQL's INTEGER is 32 bits and would overflow).
-- The `data` columns hold JSON text; the other columns are copies of fields for filtering and
-- ordering.

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
  attempts INTEGER NOT NULL,
  detected_at BIGINT NOT NULL,
  recovered_at BIGINT,
  ended_at BIGINT,
  data TEXT NOT NULL
);

-- listIncidents: newest first, optionally since a time.
CREATE INDEX incidents_detected_at ON incidents (detected_at);
-- listIncidents for one worker (`shepherd incidents email#2`).
CREATE INDEX incidents_worker_detected_at ON incidents (worker_id, detected_at);

-- Immutable records of what happened, in the order they were stored.
-- AUTOINCREMENT (PostgreSQL: GENERATED ALWAYS AS IDENTITY) because a plain rowid is max(seq) + 1:
-- after pruning the newest events a seq would be handed out twice, and a reader that follows the
-- stream with afterSeq would silently miss the new events.
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
