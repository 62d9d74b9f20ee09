-- 0003_leader: the fleet's leader, the agent that runs the fleet-wide chores (pruning, reports,
-- reclaiming dead agents' jobs) once for the fleet (src/core/leadership.ts). One row at most,
-- read FOR UPDATE and written in the claim's transaction, so two candidates take turns.
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
