-- Events written in the same transaction as the change they describe, and relayed to NATS
-- JetStream afterwards: an order and its event are stored together or not at all, and an event
-- stays here until JetStream has acknowledged it.
CREATE TABLE outbox (
    -- Also the message's `Nats-Msg-Id`, so JetStream and consumers can drop duplicates.
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    published_at BIGINT
);

CREATE INDEX outbox_unpublished ON outbox (created_at) WHERE published_at IS NULL;
