-- What the order service's events tell this one: each user's orders placed and not cancelled,
-- and the events already applied (by the order service's event id), so that an event delivered
-- again has no second effect.
ALTER TABLE users ADD COLUMN open_orders INTEGER NOT NULL DEFAULT 0;

CREATE TABLE processed_events (
    id TEXT PRIMARY KEY,
    processed_at INTEGER NOT NULL
);
