//! The container image, built without a container engine (`serin-image`, what `make image` runs) and checked as a
//! container runtime would see it: the archive read back with every digest verified, its configuration (entrypoint,
//! user 65532, OCI labels), no shell inside, `skopeo` accepting it when installed, and the controller run from the
//! unpacked root filesystem alone (chroot as UID 65532 when the test runs as root, else through the image's own
//! dynamic loader and libraries) reconciling a Rollout to Healthy.
//!
//! The binary is the e2e package's copy of `serin-controller` (the same program); `make image` packs the release
//! build of the real one.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Result, bail};
use jiff::Timestamp;
use serin_api::rollout::status::RolloutPhase;
use serin_e2e::harness::TempDir;
use serin_e2e::process::free_port;
use serin_e2e::scenario::{Scenario, rollout_manifest};
use serin_image::{ImageSpec, NONROOT, build, extract, runtime_files, unpack};

const CONTROLLER: &str = "/usr/local/bin/serin-controller";

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The command that runs `args` of the image's controller from `root` and nothing else of this machine.
fn in_image(root: &Path, args: &[&str]) -> Command {
    if running_as_root() {
        let mut cmd = Command::new("chroot");
        cmd.arg(format!("--userspec={NONROOT}:{NONROOT}")).arg(root).arg(CONTROLLER).args(args);
        cmd
    } else {
        let mut cmd = Command::new(root.join("lib64/ld-linux-x86-64.so.2"));
        cmd.arg("--inhibit-cache")
            .arg("--library-path")
            .arg(root.join("lib/x86_64-linux-gnu"))
            .arg(root.join(CONTROLLER.trim_start_matches('/')))
            .args(args);
        cmd
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_the_controller_from_its_own_root_filesystem() -> Result<()> {
    let dir = TempDir::new("image")?;
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_serin-controller-e2e"));
    let files = runtime_files(&[(binary, CONTROLLER.to_owned())], Path::new("/etc/ssl/certs/ca-certificates.crt"))?;
    let spec = ImageSpec {
        title: "serin-controller".into(),
        version: "0.1.0-e2e".into(),
        revision: "e2e".into(),
        source: "https://github.com/serin-dev/serin".into(),
        description: "e2e".into(),
        licenses: "Apache-2.0".into(),
        created: Timestamp::from_second(1_800_000_000)?,
        entrypoint: vec![CONTROLLER.into()],
        env: vec!["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".into()],
        files,
    };
    let archive = dir.path().join("serin-controller-0.1.0-e2e.oci.tar");
    let built = build(&spec, &archive)?;

    let image = unpack(&archive)?;
    assert_eq!(image.manifest_digest, built.manifest_digest);
    let config = &image.config["config"];
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(config["Entrypoint"][0], CONTROLLER);
    for label in ["title", "version", "revision", "source", "licenses", "created", "description"] {
        assert!(config["Labels"][format!("org.opencontainers.image.{label}")].is_string(), "label {label}: {config}");
    }
    assert!(!image.entries.keys().any(|p| p.ends_with("/sh") || p.ends_with("/bash")), "no shell in the image");
    assert!(image.entries.keys().any(|p| p.ends_with("libc.so.6")));

    // A standard tool reads it (CI installs skopeo; without it, this check is all the test skips).
    if Command::new("skopeo").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success()) {
        let out = Command::new("skopeo").args(["inspect", "--raw", &format!("oci-archive:{}", archive.display())]).output()?;
        assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
        let manifest: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        assert_eq!(manifest["layers"][0]["digest"].as_str(), Some(built.layer_digest.as_str()));
    } else {
        eprintln!("skopeo not installed: the archive was checked by serin-image's own reader only");
    }

    let root = dir.path().join("rootfs");
    extract(&image, &root)?;
    let version = in_image(&root, &["--version"]).output()?;
    assert!(version.status.success(), "{}", String::from_utf8_lossy(&version.stderr));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("serin-controller "), "{}", String::from_utf8_lossy(&version.stdout));

    // A short reconcile: the image's controller against the test cluster.
    let mut s = Scenario::start("image-reconcile").await?;
    assert!(s.stop_controller().await);
    std::fs::copy(s.cluster.kubeconfig(), root.join("tmp/kubeconfig"))?;
    let kubeconfig = if running_as_root() { PathBuf::from("/tmp/kubeconfig") } else { root.join("tmp/kubeconfig") };
    if running_as_root() {
        // chroot: the file must be readable by the image's user.
        Command::new("chown").arg(format!("{NONROOT}:{NONROOT}")).arg(root.join("tmp/kubeconfig")).status()?;
    }
    let log = std::fs::File::create(dir.path().join("controller.log"))?;
    let kubeconfig = kubeconfig.display().to_string();
    let metrics = format!("127.0.0.1:{}", free_port()?);
    let health = format!("127.0.0.1:{}", free_port()?);
    let mut child = in_image(
        &root,
        &[
            "--kubeconfig",
            &kubeconfig,
            "--namespace",
            &s.cluster.namespace,
            "--instance-id",
            &s.instance_id,
            "--leader-elect=false",
            "--metrics-addr",
            &metrics,
            "--health-addr",
            &health,
        ],
    )
    .stdout(log.try_clone()?)
    .stderr(log)
    .spawn()?;
    s.apply(&rollout_manifest(2, "[{setWeight: 50}, {pause: {}}]", ""))?;
    let healthy = s.wait_phase("web", RolloutPhase::Healthy, "").await;
    let _ = child.kill();
    let _ = child.wait();
    if let Err(err) = healthy {
        bail!("{err}\ncontroller log:\n{}", std::fs::read_to_string(dir.path().join("controller.log")).unwrap_or_default());
    }
    s.finish().await;
    Ok(())
}
