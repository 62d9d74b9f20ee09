-- 0006_leader: the fleet's leader, the agent that runs the fleet-wide chores (src/core/leadership.ts).
--
-- One row at most. A SQLite store has one supervisor, which therefore leads; the row is the same
-- as PostgreSQL's so that one code path decides, and so that a copy to PostgreSQL has nothing to
-- translate. Append-only, like every migration.
CREATE TABLE fleet_leader (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  -- The leading agent's run: its store lease's owner.
  owner TEXT NOT NULL,
  node TEXT NOT NULL,
  -- One per reign, only ever growing.
  epoch BIGINT NOT NULL,
  acquired_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
-- The row is there from the start (no leader yet: no owner, expired at 0), so a claim always
-- finds a row to lock and two first candidates cannot both insert one.
INSERT INTO fleet_leader (id, owner, node, epoch, acquired_at, expires_at) VALUES (1, '', '', 0, 0, 0);

-- Runs of scheduled chores that must happen once for the fleet however many agents keep the
-- schedule (a scheduled report): an agent runs the one due at `due_at` only if it moved this row's
-- `due_at` forward to it, in one statement, so exactly one agent of those that ask does.
CREATE TABLE fleet_chores (
  name TEXT PRIMARY KEY,
  due_at BIGINT NOT NULL,
  node TEXT NOT NULL
);
