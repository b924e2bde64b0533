//! `crdgen`: writes Serin's CRD manifests to `manifests/crds/`, or checks that the committed ones are current.
//!
//! ```text
//! crdgen              regenerate manifests/crds/ under the workspace root
//! crdgen --check      exit 1 if any committed manifest differs from what would be generated
//! crdgen --out DIR    write (or check) DIR instead
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serin_api::crd::{MANIFEST_DIR, render_manifests};

fn main() -> ExitCode {
    match run(std::env::args().skip(1)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("crdgen: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(mut args: impl Iterator<Item = String>) -> Result<ExitCode, String> {
    let mut check = false;
    // The workspace root is the parent of this crate, whatever the current directory is.
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = crate_dir.parent().unwrap_or(crate_dir).join(MANIFEST_DIR);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--out" => out = PathBuf::from(args.next().ok_or("--out needs a directory")?),
            "-h" | "--help" => {
                println!("usage: crdgen [--check] [--out DIR]");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let files = render_manifests().map_err(|err| format!("{err}: {}", err.source_text()))?;
    if check {
        let stale: Vec<&str> = files
            .iter()
            .filter(|file| std::fs::read_to_string(out.join(file.name)).ok().as_deref() != Some(file.contents.as_str()))
            .map(|file| file.name)
            .collect();
        if stale.is_empty() {
            println!("crdgen: {} is up to date", out.display());
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("crdgen: out of date in {}: {}; run `cargo run -p serin-api --bin crdgen`", out.display(), stale.join(", "));
        return Ok(ExitCode::FAILURE);
    }
    std::fs::create_dir_all(&out).map_err(|err| format!("creating {}: {err}", out.display()))?;
    for file in &files {
        let path = out.join(file.name);
        std::fs::write(&path, &file.contents).map_err(|err| format!("writing {}: {err}", path.display()))?;
        println!("crdgen: wrote {} ({} bytes)", path.display(), file.contents.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// The innermost cause of an error, for one-line messages.
trait SourceText {
    fn source_text(&self) -> String;
}

impl<E: std::error::Error> SourceText for E {
    fn source_text(&self) -> String {
        let mut current: &dyn std::error::Error = self;
        while let Some(next) = current.source() {
            current = next;
        }
        current.to_string()
    }
}
