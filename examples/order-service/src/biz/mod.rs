//! Domain logic, free of transports and storage. Each use case states the repository trait it
//! needs; `data` implements it.

mod order;

pub use order::{
    Caller, DEFAULT_PAGE_SIZE, Item, MAX_PAGE_SIZE, NewOrder, ORDERS_CANCELLED, ORDERS_CREATED,
    Order, OrderError, OrderFilter, OrderRepo, OrderUsecase, Placed, Role, Status,
    StoreUnreachable, UserDirectory,
};
