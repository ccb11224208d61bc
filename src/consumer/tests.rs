//! In-crate consumer tests (the integration suite is tests/consumer.rs).
