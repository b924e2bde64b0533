#![allow(clippy::doc_markdown)] // the doc comments are --help text
//! `serin-image`: writes `serin-controller-<version>.oci.tar` and its `.digest` from built binaries (`make image`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use jiff::Timestamp;
use serin_image::{ImageSpec, build, runtime_files};

/// Builds Serin's container image as an OCI archive, without a container engine.
#[derive(Debug, Parser)]
#[command(name = "serin-image", version)]
struct Args {
    /// The serin-controller binary (the entrypoint).
    #[arg(long)]
    controller: PathBuf,
    /// The kubectl-serin binary, shipped beside it.
    #[arg(long)]
    plugin: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "target/image")]
    out: PathBuf,
    /// Image version (tag).
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    version: String,
    /// Source revision (git commit).
    #[arg(long, default_value = "unknown")]
    revision: String,
    /// Creation time in Unix seconds (the commit's time makes the image reproducible); SOURCE_DATE_EPOCH works too.
    #[arg(long, env = "SOURCE_DATE_EPOCH", default_value_t = 0)]
    created: i64,
    /// CA certificates bundle to ship (HTTPS of the metric providers).
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    ca_certificates: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binaries = vec![
        (args.controller.clone(), "/usr/local/bin/serin-controller".to_owned()),
        (args.plugin.clone(), "/usr/local/bin/kubectl-serin".to_owned()),
    ];
    let files = runtime_files(&binaries, &args.ca_certificates)?;
    let spec = ImageSpec {
        title: "serin-controller".into(),
        version: args.version.clone(),
        revision: args.revision,
        source: env!("CARGO_PKG_REPOSITORY").into(),
        description: "Serin: progressive delivery for Kubernetes, wire-compatible with Argo Rollouts (serin-controller and kubectl-serin)"
            .into(),
        licenses: env!("CARGO_PKG_LICENSE").into(),
        created: Timestamp::from_second(args.created).context("--created is out of range")?,
        entrypoint: vec!["/usr/local/bin/serin-controller".into()],
        env: vec!["PATH=/usr/local/bin:/usr/bin:/bin".into(), "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".into()],
        files,
    };
    let archive = args.out.join(format!("serin-controller-{}.oci.tar", args.version));
    let built = build(&spec, &archive)?;
    std::fs::write(args.out.join(format!("serin-controller-{}.digest", args.version)), format!("{}\n", built.manifest_digest))?;
    println!("{}", archive.display());
    println!("{}", built.manifest_digest);
    Ok(())
}
