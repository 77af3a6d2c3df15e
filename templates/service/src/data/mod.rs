//! Storage: implementations of the repository traits `biz` declares.

mod greeter;

pub use greeter::GreeterStore;
