-- 0009_record_node: which agent recorded each event and incident, as on PostgreSQL
-- (sql/postgres/0006_record_node.sql). Rows from before this migration keep node NULL, as on
-- PostgreSQL: the file does not say which node name wrote them (a container's host name changes at
-- every start), and a guess would be shown as a fact.
-- Append-only, like every migration.
ALTER TABLE events ADD COLUMN node TEXT;
ALTER TABLE incidents ADD COLUMN node TEXT;

-- listEvents and listIncidents for one node (`?node=`, `--node`), in their list orders.
CREATE INDEX events_node_seq ON events (node, seq);
CREATE INDEX incidents_node_detected_at ON incidents (node, detected_at);
