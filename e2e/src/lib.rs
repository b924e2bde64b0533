pub mod harness;
pub mod scenario;
pub mod sim;
