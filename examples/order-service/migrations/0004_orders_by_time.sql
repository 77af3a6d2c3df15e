-- An admin's list names no user: everyone's orders, newest first, served by this index instead
-- of a sort of the whole table. (A user's list uses orders_by_user_created.)
CREATE INDEX orders_by_created ON orders (created_at, id);
