//! `serin-controller`: the Serin Rollout controller binary ([`serin_controller::cli`]).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    serin_controller::cli::main().await?;
    Ok(())
}
