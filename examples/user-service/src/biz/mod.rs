//! Domain logic, free of transports and storage. Each use case states the repository trait it
//! needs; `data` implements it.

mod user;

pub use user::{OrderEvent, User, UserError, UserRepo, UserUsecase};
