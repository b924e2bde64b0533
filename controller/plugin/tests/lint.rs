//! `kubectl-serin lint FILE`: offline validation with the controller's own rules, field paths in the output.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn lint(yaml: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("serin-lint-{}-{}", std::process::id(), yaml.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rollout.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-serin")).arg("lint").arg(&file).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn every_docs_example_lints_clean() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let (code, out) = lint(&std::fs::read_to_string(&path).unwrap());
            assert_eq!(code, 0, "{}: {out}", path.display());
            assert!(out.contains("no problems found"), "{out}");
        }
    }
}

#[test]
fn invalid_specs_are_reported_with_field_paths() {
    let yaml = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: x}]}}\n  strategy: {canary: {steps: [{setWeight: 120}]}}\n";
    let (code, out) = lint(yaml);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Rollout \"web\": spec.strategy.steps[0].setWeight: Invalid value: 120"), "{out}");
}

#[test]
fn undecodable_fields_are_reported_with_their_path() {
    let yaml = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  replicas: many\n";
    let (code, out) = lint(yaml);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Rollout \"web\": spec.replicas: invalid type"), "{out}");
}

#[test]
fn version_and_completion_need_no_cluster() {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-serin")).arg("version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("kubectl-serin v{}", env!("CARGO_PKG_VERSION")));
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_kubectl-serin")).args(["completion", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("kubectl-serin") && script.contains("promote"), "{shell}: {script}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-serin")).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "usage error");
}

#[test]
fn unknown_fields_are_reported_with_their_path() {
    let yaml = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: x}]}}\n  strategy: {canary: {stepz: [{setWeight: 20}], steps: [{pause: {durationn: 10}}]}}\n";
    let (code, out) = lint(yaml);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Rollout \"web\": spec.strategy.canary.stepz: unknown field"), "{out}");
    assert!(out.contains("Rollout \"web\": spec.strategy.canary.steps[0].pause.durationn: unknown field"), "{out}");
}
