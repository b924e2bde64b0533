pub mod bench;
pub mod harness;
pub mod prometheus;
pub mod routers;
pub mod scenario;
pub mod sim;
pub mod traffic;
pub mod workload;
