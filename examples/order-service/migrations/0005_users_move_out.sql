-- Users now live in the user service, which the order service asks over gRPC; its own copy goes.
-- `orders.user_id` keeps the id but no longer references a local table. SQLite cannot drop a
-- foreign key, so `orders` and `order_items` (which references it) are rebuilt and renamed into
-- place: statements both SQLite and PostgreSQL run as written.
CREATE TABLE orders_rebuilt (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    total_amount BIGINT NOT NULL,
    status INTEGER NOT NULL,
    address TEXT NOT NULL,
    remark TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO orders_rebuilt
    SELECT id, user_id, total_amount, status, address, remark, created_at, updated_at FROM orders;

CREATE TABLE order_items_rebuilt (
    order_id TEXT NOT NULL REFERENCES orders_rebuilt (id),
    position INTEGER NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    product_name TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price BIGINT NOT NULL,
    PRIMARY KEY (order_id, position)
);
INSERT INTO order_items_rebuilt
    SELECT order_id, position, product_id, product_name, quantity, unit_price FROM order_items;

DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE users;
ALTER TABLE orders_rebuilt RENAME TO orders;
ALTER TABLE order_items_rebuilt RENAME TO order_items;

CREATE INDEX orders_by_user_created ON orders (user_id, created_at);
CREATE INDEX orders_by_user_status ON orders (user_id, status);
CREATE INDEX orders_by_created ON orders (created_at, id);
