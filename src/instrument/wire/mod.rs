//! `dualscope-wire/1` (CONTRACTS §1): framing, arrays, messages, the
//! instrument side and a server loop for ptys and ports.

pub mod array;
pub mod frame;
pub mod message;
pub mod serve;
pub mod server;
