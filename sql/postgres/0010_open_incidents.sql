-- 0010_open_incidents: the open incidents, by node. The fleet's leader looks at every tenth of a
-- lease for the open incidents of agents whose lease lapsed, to close them as interrupted
-- (listLapsedIncidents in src/adapters/postgres/store-queries.ts, whose WHERE names the same three
-- phases, as literals, so that the planner can use this index). Incidents are kept once over, so
-- the table only grows; the open ones are a handful at any time, and this index holds only those.
-- Append-only, like every migration.
CREATE INDEX incidents_open_node ON incidents (node)
  WHERE phase NOT IN ('recovered', 'escalated', 'interrupted');
