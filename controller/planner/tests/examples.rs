//! Every Rollout in `docs/examples` is valid and runnable by this version (no `InvalidSpec`), so users copying an
//! example get a working rollout.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use serin_api::Rollout;
use serin_planner::validate::{unsupported_features, validate_rollout};

#[test]
fn docs_examples_are_valid_and_supported() {
    let dir = format!("{}/../../docs/examples", env!("CARGO_MANIFEST_DIR"));
    let mut rollouts = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let docs: Vec<Value> = serde_saphyr::from_multiple(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for doc in docs.into_iter().filter(|d| d["kind"] == "Rollout") {
            let rollout: Rollout = serde_json::from_value(doc).unwrap();
            let mut errors = validate_rollout(&rollout);
            errors.extend(unsupported_features(&rollout));
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            rollouts += 1;
        }
    }
    assert!(rollouts >= 1);
}
