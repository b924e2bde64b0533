//! Snapshot tests of `serin_plugin::render`: `get rollout`, `list rollouts` and `status` output.
//!
//! Each scenario is a multi-document YAML under `tests/fixtures/render/` (a Rollout with the ReplicaSets, Pods
//! and AnalysisRuns the plugin would fetch for it), rendered without colour at the fixed instant [`NOW`] and
//! compared exactly with the `.txt` of the same name.
//!
//! To (re)generate the expected files after a deliberate change of output, run
//! `UPDATE_SNAPSHOTS=1 cargo test -p serin-plugin --test render`: the tests then write what they render instead
//! of comparing. Read the diff of the `.txt` files by eye before keeping it.

use std::path::PathBuf;

use jiff::Timestamp;
use serin_api::{AnalysisRun, Rollout};
use serin_plugin::render::{RolloutView, Style, rollout_tree, rollouts_table, status_line};

/// The instant every fixture's ages and deadlines are measured against.
const NOW: &str = "2026-03-02T12:00:00Z";
/// The fixtures of `get rollout`, one Rollout each.
const TREES: [&str; 5] = ["canary-paused", "canary-aborted", "analysis", "healthy", "traffic-routed"];
const PLAIN: Style = Style { color: false };

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render")
}

fn now() -> Timestamp {
    NOW.parse().expect("NOW is an RFC 3339 instant")
}

/// Reads `<name>.yaml` and sorts its documents into a view by `kind`.
fn view(name: &str) -> RolloutView {
    let path = fixtures().join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap_or_else(|err| panic!("{name}: {err}"));
    let mut rollout = None;
    let mut view = RolloutView::default();
    for document in documents {
        let kind = document["kind"].as_str().unwrap_or_default().to_owned();
        match kind.as_str() {
            "Rollout" => {
                assert!(rollout.is_none(), "{name}: more than one Rollout");
                rollout = Some(decode(name, document));
            }
            "ReplicaSet" => view.replica_sets.push(decode(name, document)),
            "Pod" => view.pods.push(decode(name, document)),
            "AnalysisRun" => view.analysis_runs.push(decode::<AnalysisRun>(name, document)),
            other => panic!("{name}: unexpected kind {other:?}"),
        }
    }
    view.rollout = rollout.unwrap_or_else(|| panic!("{name}: no Rollout"));
    view
}

/// Decodes one document of fixture `name`.
fn decode<T: serde::de::DeserializeOwned>(name: &str, document: serde_json::Value) -> T {
    serde_json::from_value(document).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// Compares `actual` with `<name>.txt`, or writes it there under `UPDATE_SNAPSHOTS=1`.
fn assert_snapshot(name: &str, actual: &str) {
    let path = fixtures().join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value == "1") {
        std::fs::write(&path, actual).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err} (run with UPDATE_SNAPSHOTS=1 to create it)", path.display()));
    assert!(actual == expected, "{name}: output differs from {}\n--- expected\n{expected}--- actual\n{actual}", path.display());
}

fn assert_tree(name: &str) {
    assert_snapshot(name, &rollout_tree(&view(name), now(), PLAIN));
}

#[test]
fn canary_paused_at_a_pause_step_shows_both_revisions() {
    assert_tree("canary-paused");
}

#[test]
fn aborted_canary_is_degraded_with_its_replica_set_scaled_down() {
    assert_tree("canary-aborted");
}

#[test]
fn analysis_runs_sit_under_their_revision_with_measurement_counts() {
    assert_tree("analysis");
}

#[test]
fn healthy_rollout_has_a_single_stable_revision() {
    assert_tree("healthy");
}

#[test]
fn traffic_routed_canary_reports_router_weight_and_scale_down_delay() {
    assert_tree("traffic-routed");
}

#[test]
fn status_line_is_phase_and_message() {
    let lines: Vec<String> = TREES.iter().map(|name| status_line(&view(name).rollout)).collect();
    assert_eq!(
        lines,
        [
            "Paused - CanaryPauseStep",
            "Degraded - RolloutAborted: Rollout aborted update to revision 2",
            "Progressing - more replicas need to be updated",
            "Healthy",
            "Paused - CanaryPauseStep",
        ]
    );
}

#[test]
fn status_line_reports_an_unobserved_spec_change_as_progressing() {
    let mut rollout = view("healthy").rollout;
    rollout.metadata.generation = Some(2);
    assert_eq!(status_line(&rollout), "Progressing - waiting for rollout spec update to be observed");
}

#[test]
fn color_is_ansi_only_when_asked_for() {
    let view = view("analysis");
    let colored = rollout_tree(&view, now(), Style { color: true });
    let plain = rollout_tree(&view, now(), PLAIN);
    assert!(colored.contains("\x1b[32m✔\x1b[0m"), "green ✔ expected:\n{colored}");
    assert!(colored.contains("\x1b[31m✖\x1b[0m"), "red ✖ expected:\n{colored}");
    assert!(colored.contains("\x1b[33m◌\x1b[0m"), "yellow ◌ expected:\n{colored}");
    assert!(!plain.contains('\x1b'), "no escapes expected:\n{plain}");
    // Colour must not move a column: without the escapes both renderings are the same text.
    assert_eq!(strip_ansi(&colored), plain);
}

#[test]
fn rollouts_table_for_one_namespace_and_for_all() {
    let mut rollouts: Vec<Rollout> = TREES.iter().map(|name| view(name).rollout).collect();
    let extra = std::fs::read_to_string(fixtures().join("list.yaml")).unwrap();
    rollouts.extend(serde_saphyr::from_multiple::<Rollout>(&extra).unwrap());
    let all = rollouts_table(&rollouts, true);
    assert_snapshot("list-all-namespaces", &all);
    let default: Vec<Rollout> = rollouts.into_iter().filter(|rollout| rollout.metadata.namespace.as_deref() == Some("default")).collect();
    assert_snapshot("list", &rollouts_table(&default, false));
}

#[test]
fn rollouts_table_without_rollouts_is_just_the_header() {
    assert_eq!(rollouts_table(&[], false), "NAME  STRATEGY  STATUS  STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  AVAILABLE\n");
}

/// Removes `ESC [ ... m` sequences.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| *c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}
