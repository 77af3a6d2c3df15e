//! `micro proto …`: contracts in, code out.

pub mod add;
pub mod client;
pub mod lint;
pub mod server;
