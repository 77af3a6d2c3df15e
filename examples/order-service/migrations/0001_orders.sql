-- Who may order, what they may order, and the orders themselves. Times are milliseconds since the
-- Unix epoch and ids are text, so the same statements run on SQLite and PostgreSQL.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE products (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- In cents.
    price BIGINT NOT NULL,
    stock BIGINT NOT NULL CHECK (stock >= 0)
);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    total_amount BIGINT NOT NULL,
    -- The `order.v1.OrderStatus` number.
    status INTEGER NOT NULL,
    address TEXT NOT NULL,
    remark TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A user's orders newest first, with and without a status filter.
CREATE INDEX orders_by_user_created ON orders (user_id, created_at);
CREATE INDEX orders_by_user_status ON orders (user_id, status);

CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders (id),
    position INTEGER NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    product_name TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price BIGINT NOT NULL,
    PRIMARY KEY (order_id, position)
);

-- Demo data, so a fresh service answers the README's requests.
INSERT INTO users (id, name) VALUES
    ('user_123', 'Demo user'),
    ('user_456', 'Another demo user');

INSERT INTO products (id, name, price, stock) VALUES
    ('prod_001', 'iPhone 15', 599900, 1000),
    ('prod_002', 'AirPods Pro', 189900, 500),
    ('prod_003', 'MacBook Air', 899900, 10);
