//! The `serin-controller` program, built inside the e2e package so its scenario tests can run it as a separate
//! process (Cargo hands a package's tests the paths of that package's binaries only): leader failover, SIGKILL and
//! SIGSTOP need a process of its own. Same code as `controller/src/main.rs`: [`serin_controller::cli::main`].

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    serin_controller::cli::main().await?;
    Ok(())
}
