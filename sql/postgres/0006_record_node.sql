-- 0006_record_node: which agent recorded each event and incident. Agents sharing this database
-- write `node` (the agent's node.name, SHEPHERD_NODE or host name) with every event and incident;
-- rows from before this migration keep node NULL: nothing tells which agent wrote them.
-- Append-only, like every migration.
ALTER TABLE events ADD COLUMN node TEXT;
ALTER TABLE incidents ADD COLUMN node TEXT;

-- listEvents and listIncidents for one node (`?node=`, `--node`), in their list orders.
CREATE INDEX events_node_seq ON events (node, seq);
CREATE INDEX incidents_node_detected_at ON incidents (node, detected_at);
