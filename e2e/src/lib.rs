pub mod bench;
/// The cluster harness of every scenario (kube-sim in-process, or the real cluster of `SERIN_E2E_REAL=1`).
pub use kube_sim::harness;
pub mod process;
pub mod prometheus;
pub mod routers;
pub mod scenario;
pub mod traffic;
pub mod workload;
