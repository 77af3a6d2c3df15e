-- The people who may place orders.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

-- Demo data: the guide's test user and a second one, so a fresh service answers the README's
-- requests and the order service's examples.
INSERT INTO users (id, name) VALUES
    ('user_123', 'Demo user'),
    ('user_456', 'Another demo user');
