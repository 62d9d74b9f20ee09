-- 0008_worker_state_node: a worker's saved state is its node's. Worker ids come from the config
-- (`billing#1`), so in a fleet that runs one config on every host each agent has a `billing#1`:
-- keyed by the id alone, one agent's saved state overwrote another's, and a restarted worker could
-- be handed a stranger's checkpoint. Rows from before (and rows copied from an embedded store) have
-- node '': an agent reads its own node's state first, then those.
-- Append-only, like every migration.
ALTER TABLE worker_state ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE worker_state DROP CONSTRAINT worker_state_pkey;
ALTER TABLE worker_state ADD PRIMARY KEY (node, worker_id);
