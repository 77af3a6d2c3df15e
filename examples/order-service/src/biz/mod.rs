//! Domain logic, free of transports and storage. Each use case states the repository trait it
//! needs; `data` implements it.

mod order;

pub use order::{
    DEFAULT_PAGE_SIZE, Item, MAX_PAGE_SIZE, NewOrder, Order, OrderError, OrderFilter, OrderRepo,
    OrderUsecase, Status,
};
