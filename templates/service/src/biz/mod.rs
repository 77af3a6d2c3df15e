//! Domain logic, free of transports and storage. Each use case states the repository trait it
//! needs; `data` implements it.

mod greeter;

pub use greeter::{GreetError, GreeterRepo, GreeterUsecase, Greeting};
