//! Offline helpers behind the operator tools in `examples/`: pure functions over bytes, no I/O.

pub mod dump_log;
