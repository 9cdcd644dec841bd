//! Background loops started by the application. Each loop body is a function tests can call.

pub mod key_refresh;
pub mod logout_sender;
pub mod rotation;
pub mod sweeper;
