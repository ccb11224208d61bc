//! Test-only support shared by the in-crate tests: the real test broker.

#[path = "../tests/common/broker.rs"]
pub(crate) mod broker;
