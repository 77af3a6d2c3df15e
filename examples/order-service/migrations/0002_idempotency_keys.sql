-- The `Idempotency-Key` a client sent with CreateOrder, per user, and the order it created: a
-- retried call finds its key here and gets the first call's order back.
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    order_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);
