-- 0007_fleet_notifications: notifications that are facts of the fleet, not of one host (the same
-- worker slot escalating on every host after a bad deploy), sent by one agent
-- (src/core/fleet-notification.ts). One row per fleet key (destination, event type, worker id,
-- cause): which node sent its last message and until when another node's claim is a duplicate,
-- and the claims suppressed since, carried by the key's next message. A claim reads the row FOR
-- UPDATE in one transaction with its write, so two agents claiming at once take turns. Keys come
-- from the config (workers, causes, destinations): the table stays small and is not pruned.
-- Append-only, like every migration.
CREATE TABLE fleet_notifications (
  key TEXT PRIMARY KEY,
  node TEXT NOT NULL,
  sent_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  suppressed BIGINT NOT NULL,
  -- The suppressed claims' nodes, a JSON array of names, each once, at most 20.
  nodes TEXT NOT NULL
);
