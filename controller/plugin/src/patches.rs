//! The writes of each `kubectl-serin` command, as pure functions of the objects read.
//!
//! Contract: byte-for-byte the JSON merge patches Argo's `kubectl argo rollouts` sends (same keys, same `null`s),
//! so either plugin drives either controller, and Argo CD's resource actions (which send the same patches) agree
//! with both. Status changes go to the `status` subresource, spec changes to the main resource. `set image` and
//! `undo` compute the new pod template; the caller writes it.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{Value, json};
use serin_api::Rollout;
use serin_api::labels::{POD_TEMPLATE_HASH, REVISION};
use serin_api::rollout::status::RolloutStatus;

/// Merge patches for one command: `spec` goes to the Rollout, `status` to its `status` subresource.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Patches {
    /// Patch of the main resource (`spec`), if any.
    pub spec: Option<Value>,
    /// Patch of the `status` subresource, if any.
    pub status: Option<Value>,
}

/// Why a command cannot build its write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// `set image` named a container the pod template does not have.
    #[error("unable to find container named \"{0}\"")]
    NoSuchContainer(String),
    /// `set image` without `CONTAINER=IMAGE`.
    #[error("expected CONTAINER=IMAGE, got \"{0}\"")]
    BadImageArgument(String),
    /// `undo` asked for a revision no ReplicaSet has.
    #[error("unable to find specified revision {0}")]
    NoSuchRevision(i64),
    /// `undo` with no earlier revision to go back to.
    #[error("no rollout history found for rollout \"{0}\"")]
    NoHistory(String),
}

fn status_of(rollout: &Rollout) -> RolloutStatus {
    rollout.status.clone().unwrap_or_default()
}

fn steps(rollout: &Rollout) -> Option<usize> {
    rollout.spec.strategy.as_ref()?.canary.as_ref().map(|c| c.steps.len())
}

/// The step index after the current one (Argo's `GetCurrentCanaryStep` index, plus one, at most the step count);
/// `None` for a Rollout without canary steps.
fn next_step_index(rollout: &Rollout) -> Option<i32> {
    let count = i32::try_from(steps(rollout).filter(|n| *n > 0)?).unwrap_or(i32::MAX);
    let index = status_of(rollout).current_step_index.unwrap_or(0);
    Some(if index < count { index + 1 } else { index })
}

fn inconclusive(status: &RolloutStatus) -> bool {
    status
        .canary
        .as_ref()
        .and_then(|c| c.current_step_analysis_run_status.as_ref())
        .is_some_and(|run| run.status == serin_api::AnalysisPhase::Inconclusive)
}

/// `promote [--full]` (Argo's `getPatches` without the deprecated skip flags).
///
/// - `--full`: `{"status":{"promoteFull":true}}`, only while an update is in progress (current ≠ stable).
/// - Otherwise: unpause the spec if it is paused; then, on a canary paused on an Inconclusive step analysis, clear
///   the pause conditions and the controller pause and move to the next step; else, when paused, clear the pause
///   conditions; else (mid-analysis, mid-step) move to the next step.
pub fn promote(rollout: &Rollout, full: bool) -> Patches {
    let status = status_of(rollout);
    if full {
        let updating = status.current_pod_hash != status.stable_rs;
        return Patches { spec: None, status: updating.then(|| json!({"status": {"promoteFull": true}})) };
    }
    let spec = (rollout.spec.paused == Some(true)).then(|| json!({"spec": {"paused": false}}));
    let canary = rollout.spec.strategy.as_ref().is_some_and(|s| s.canary.is_some());
    let status_patch = if canary && inconclusive(&status) && !status.pause_conditions.is_empty() && status.controller_pause == Some(true) {
        next_step_index(rollout).map(|i| json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": i}}))
    } else if !status.pause_conditions.is_empty() {
        Some(json!({"status": {"pauseConditions": null}}))
    } else if canary {
        next_step_index(rollout).map(|i| json!({"status": {"pauseConditions": null, "currentStepIndex": i}}))
    } else {
        None
    };
    Patches { spec, status: status_patch }
}

/// `abort`: `{"status":{"abort":true}}`.
pub fn abort() -> Patches {
    Patches { spec: None, status: Some(json!({"status": {"abort": true}})) }
}

/// `retry rollout`: `{"status":{"abort":false}}`.
pub fn retry() -> Patches {
    Patches { spec: None, status: Some(json!({"status": {"abort": false}})) }
}

/// `pause`: `{"spec":{"paused":true}}`.
pub fn pause() -> Patches {
    Patches { spec: Some(json!({"spec": {"paused": true}})), status: None }
}

/// `resume`: `{"spec":{"paused":false}}` — the unpause half of `promote`, leaving steps alone.
pub fn resume() -> Patches {
    Patches { spec: Some(json!({"spec": {"paused": false}})), status: None }
}

/// `restart [--in D]`: `{"spec":{"restartAt":"<RFC 3339, whole seconds>"}}`.
pub fn restart(at: jiff::Timestamp) -> Patches {
    let at = jiff::Timestamp::from_second(at.as_second()).unwrap_or(at);
    Patches { spec: Some(json!({"spec": {"restartAt": at.to_string()}})), status: None }
}

/// Parses `CONTAINER=IMAGE` of `set image`.
pub fn parse_image_argument(arg: &str) -> Result<(&str, &str), PatchError> {
    match arg.split_once('=') {
        Some((container, image)) if !container.is_empty() && !image.is_empty() => Ok((container, image)),
        _ => Err(PatchError::BadImageArgument(arg.to_owned())),
    }
}

/// `set image CONTAINER=IMAGE` on a Rollout as raw JSON: sets the image of the named container (`*`: every
/// container) among the init, regular and ephemeral containers of `spec.template.spec`. Working on JSON keeps every
/// other field, known to our types or not, through the read-modify-write. Returns whether anything changed.
pub fn set_image_json(rollout: &mut Value, container: &str, image: &str) -> Result<bool, PatchError> {
    let Some(spec) = rollout.pointer_mut("/spec/template/spec").and_then(Value::as_object_mut) else {
        return Err(PatchError::NoSuchContainer(container.to_owned()));
    };
    let mut found = false;
    let mut changed = false;
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut) {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            if container == "*" || container == name {
                found = true;
                if c.get("image").and_then(Value::as_str) != Some(image) {
                    c.insert("image".to_owned(), Value::String(image.to_owned()));
                    changed = true;
                }
            }
        }
    }
    if found { Ok(changed) } else { Err(PatchError::NoSuchContainer(container.to_owned())) }
}

/// `undo [--to-revision N]`: the JSON patch replacing `spec.template` with the template of revision `N` (0: the
/// revision before the current one), the pod-template-hash label removed; `None` when the Rollout already runs it.
pub fn undo(rollout: &Rollout, replica_sets: &[ReplicaSet], to_revision: i64) -> Result<Option<Value>, PatchError> {
    let name = rollout.metadata.name.clone().unwrap_or_default();
    let revision_of = |rs: &ReplicaSet| -> i64 {
        rs.metadata.annotations.as_ref().and_then(|a| a.get(REVISION)).and_then(|r| r.parse().ok()).unwrap_or(0)
    };
    let target = if to_revision == 0 {
        let mut revisions: Vec<i64> = replica_sets.iter().map(revision_of).filter(|r| *r > 0).collect();
        revisions.sort_unstable();
        revisions.dedup();
        // The newest is the current revision; go to the one before it.
        let previous = revisions.len().checked_sub(2).map(|i| revisions[i]).ok_or(PatchError::NoHistory(name))?;
        replica_sets.iter().find(|rs| revision_of(rs) == previous)
    } else {
        replica_sets.iter().find(|rs| revision_of(rs) == to_revision)
    };
    let Some(rs) = target else { return Err(PatchError::NoSuchRevision(to_revision)) };
    let mut template = rs.spec.as_ref().and_then(|s| s.template.clone()).unwrap_or_default();
    let hash = template.metadata.as_mut().and_then(|m| m.labels.as_mut()).and_then(|labels| labels.remove(POD_TEMPLATE_HASH));
    let collision_count = rollout.status.as_ref().and_then(|s| s.collision_count);
    let template = hash.map_or_else(|| template.clone(), |hash| undefaulted(&template, &hash, collision_count).unwrap_or(template.clone()));
    if rollout.spec.template.as_ref() == Some(&template) {
        return Ok(None);
    }
    Ok(Some(json!([{"op": "replace", "path": "/spec/template", "value": template}])))
}

/// Pod-spec fields the API server fills in on a ReplicaSet's template when the Rollout leaves them unset, with the
/// values it fills in: `(category, field, applies to containers)`.
const POD_DEFAULTS: [(&str, &str, bool); 10] = [
    ("restartPolicy", "Always", false),
    ("dnsPolicy", "ClusterFirst", false),
    ("schedulerName", "default-scheduler", false),
    ("securityContext", "{}", false),
    ("terminationGracePeriodSeconds", "30", false),
    ("terminationMessagePath", "/dev/termination-log", true),
    ("terminationMessagePolicy", "File", true),
    ("resources", "{}", true),
    ("imagePullPolicy", "*", true),
    ("protocol", "TCP", true),
];

/// The Rollout template a ReplicaSet's (server-defaulted) template was made from: the one, among the template with
/// the API server's pod defaults removed (all of them, or all but one or two kinds, since a user may have written
/// some explicitly), whose pod-template hash is the ReplicaSet's, as Argo 1.9 (and Serin) or Argo 1.8 computed it.
/// Restoring it keeps the Rollout's template as the user wrote it. `None` when none matches: the template as stored
/// is written then, and the controller still finds the ReplicaSet by comparing templates, so either way it rolls
/// back to that ReplicaSet instead of creating a new one.
fn undefaulted(template: &PodTemplateSpec, hash: &str, collision_count: Option<i32>) -> Option<PodTemplateSpec> {
    use serin_planner::pod_hash::{legacy_pod_template_hash, pod_template_hash};
    let matches = |t: &PodTemplateSpec| {
        pod_template_hash(t, collision_count).is_ok_and(|h| h == hash)
            || legacy_pod_template_hash(t, collision_count).is_ok_and(|h| h == hash)
    };
    if matches(template) {
        return Some(template.clone());
    }
    let value = serde_json::to_value(template).ok()?;
    let n = POD_DEFAULTS.len();
    let mut keep_sets: Vec<Vec<usize>> = vec![Vec::new()];
    keep_sets.extend((0..n).map(|i| vec![i]));
    keep_sets.extend((0..n).flat_map(|i| (i + 1..n).map(move |j| vec![i, j])));
    for keep in keep_sets {
        let mut candidate = value.clone();
        strip_defaults(&mut candidate, &keep);
        if let Ok(t) = serde_json::from_value::<PodTemplateSpec>(candidate)
            && matches(&t)
        {
            return Some(t);
        }
    }
    None
}

/// Removes the pod defaults of [`POD_DEFAULTS`] (except the indices in `keep`) where they hold their default value.
fn strip_defaults(template: &mut Value, keep: &[usize]) {
    let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) else { return };
    let is_default = |value: &Value, default: &str| match value {
        Value::String(s) => default == "*" || s == default,
        Value::Number(n) => n.to_string() == default,
        Value::Object(o) => default == "{}" && o.is_empty(),
        _ => false,
    };
    for (i, (field, default, in_containers)) in POD_DEFAULTS.iter().enumerate() {
        if keep.contains(&i) {
            continue;
        }
        if !in_containers {
            if spec.get(*field).is_some_and(|v| is_default(v, default)) {
                spec.remove(*field);
            }
            continue;
        }
        for list in ["containers", "initContainers"] {
            for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut) {
                if *field == "protocol" {
                    for p in c.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut) {
                        if p.get("protocol").is_some_and(|v| is_default(v, default)) {
                            p.remove("protocol");
                        }
                    }
                } else if c.get(*field).is_some_and(|v| is_default(v, default)) {
                    c.remove(*field);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(yaml: &str) -> Rollout {
        serde_saphyr::from_str(yaml).expect("fixture")
    }

    const STEPS: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: 'web:1'}]}}\n  strategy: {canary: {steps: [{setWeight: 20}, {pause: {}}, {analysis: {templates: [{templateName: t}]}}, {setWeight: 80}]}}\n";

    fn with_status(status: serde_json::Value) -> Rollout {
        let mut ro = rollout(STEPS);
        ro.status = Some(serde_json::from_value(status).expect("status"));
        ro
    }

    #[test]
    fn promote_at_a_pause_clears_the_pause_conditions() {
        let ro = with_status(
            json!({"currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}], "controllerPause": true}),
        );
        assert_eq!(promote(&ro, false), Patches { spec: None, status: Some(json!({"status": {"pauseConditions": null}})) });
    }

    #[test]
    fn promote_mid_step_moves_to_the_next_step() {
        let ro = with_status(json!({"currentStepIndex": 2}));
        assert_eq!(promote(&ro, false).status, Some(json!({"status": {"pauseConditions": null, "currentStepIndex": 3}})));
        let done = with_status(json!({"currentStepIndex": 4}));
        assert_eq!(promote(&done, false).status, Some(json!({"status": {"pauseConditions": null, "currentStepIndex": 4}})), "capped");
    }

    #[test]
    fn promote_on_an_inconclusive_analysis_clears_the_controller_pause_and_moves_on() {
        let ro = with_status(json!({
            "currentStepIndex": 2,
            "controllerPause": true,
            "pauseConditions": [{"reason": "InconclusiveAnalysisRun", "startTime": "2026-01-01T00:00:00Z"}],
            "canary": {"currentStepAnalysisRunStatus": {"name": "web-1", "status": "Inconclusive"}}
        }));
        assert_eq!(
            promote(&ro, false).status,
            Some(json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": 3}}))
        );
    }

    #[test]
    fn promote_unpauses_a_paused_spec() {
        let mut ro = with_status(
            json!({"currentStepIndex": 1, "pauseConditions": [{"reason": "PausedByUser", "startTime": "2026-01-01T00:00:00Z"}]}),
        );
        ro.spec.paused = Some(true);
        assert_eq!(promote(&ro, false).spec, Some(json!({"spec": {"paused": false}})));
    }

    #[test]
    fn promote_full_only_during_an_update() {
        let updating = with_status(json!({"currentPodHash": "b", "stableRS": "a"}));
        assert_eq!(promote(&updating, true), Patches { spec: None, status: Some(json!({"status": {"promoteFull": true}})) });
        let done = with_status(json!({"currentPodHash": "a", "stableRS": "a"}));
        assert_eq!(promote(&done, true), Patches::default());
    }

    #[test]
    fn abort_retry_pause_restart_are_argos_patches() {
        assert_eq!(abort().status, Some(json!({"status": {"abort": true}})));
        assert_eq!(retry().status, Some(json!({"status": {"abort": false}})));
        assert_eq!(pause().spec, Some(json!({"spec": {"paused": true}})));
        assert_eq!(resume(), Patches { spec: Some(json!({"spec": {"paused": false}})), status: None });
        let at: jiff::Timestamp = "2026-12-02T10:00:30.250Z".parse().expect("time");
        assert_eq!(restart(at).spec, Some(json!({"spec": {"restartAt": "2026-12-02T10:00:30Z"}})));
    }

    #[test]
    fn set_image_by_name_or_star_including_init_containers() {
        let mut ro = json!({"spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "image": "init:1"}],
            "containers": [{"name": "web", "image": "web:1"}, {"name": "sidecar", "image": "side:1"}]
        }}}});
        assert_eq!(set_image_json(&mut ro, "web", "web:2"), Ok(true));
        assert_eq!(set_image_json(&mut ro, "web", "web:2"), Ok(false), "unchanged");
        assert_eq!(set_image_json(&mut ro, "*", "all:9"), Ok(true));
        let spec = &ro["spec"]["template"]["spec"];
        assert!(
            spec["containers"].as_array().unwrap().iter().chain(spec["initContainers"].as_array().unwrap()).all(|c| c["image"] == "all:9")
        );
        assert_eq!(parse_image_argument("web=web:2"), Ok(("web", "web:2")));
        let mut raw = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:1", "futureField": {"x": 1}}]}}, "unknownSpecField": true}});
        assert_eq!(set_image_json(&mut raw, "web", "web:2"), Ok(true));
        assert_eq!(
            raw["spec"]["template"]["spec"]["containers"][0],
            json!({"name": "web", "image": "web:2", "futureField": {"x": 1}}),
            "other fields kept"
        );
        assert_eq!(set_image_json(&mut raw, "other", "x"), Err(PatchError::NoSuchContainer("other".into())));
        assert!(parse_image_argument("web").is_err());
    }

    fn rs(revision: i64, image: &str, hash: &str) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{hash}"), "annotations": {REVISION: revision.to_string()}},
            "spec": {"selector": {}, "template": {"metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH: hash}}, "spec": {"containers": [{"name": "web", "image": image}]}}}
        }))
        .expect("rs")
    }

    #[test]
    fn undo_goes_back_to_the_previous_or_a_given_revision() {
        let ro = rollout(&STEPS.replace("web:1", "web:2"));
        let rss = [rs(1, "web:0", "aaa"), rs(2, "web:1", "bbb"), rs(3, "web:2", "ccc")];
        let patch = undo(&ro, &rss, 0).expect("undo").expect("a change");
        assert_eq!(patch[0]["op"], "replace");
        assert_eq!(patch[0]["path"], "/spec/template");
        assert_eq!(patch[0]["value"]["spec"]["containers"][0]["image"], "web:1");
        assert!(patch[0]["value"]["metadata"]["labels"].get(POD_TEMPLATE_HASH).is_none(), "hash label removed");
        let to_one = undo(&ro, &rss, 1).expect("undo").expect("a change");
        assert_eq!(to_one[0]["value"]["spec"]["containers"][0]["image"], "web:0");
        assert_eq!(undo(&ro, &rss, 7), Err(PatchError::NoSuchRevision(7)));
        assert_eq!(undo(&ro, &rss[..1], 0), Err(PatchError::NoHistory("web".into())));
    }

    #[test]
    fn undo_restores_the_template_the_replica_set_was_made_from_so_its_hash_matches() {
        // A ReplicaSet as the API server stores it: the Rollout's template plus pod defaults.
        let original: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1", "imagePullPolicy": "Always", "ports": [{"containerPort": 8080}]}]}
        }))
        .expect("template");
        let hash = serin_planner::pod_hash::pod_template_hash(&original, None).expect("hash");
        let stored = json!({
            "metadata": {"name": format!("web-{hash}"), "annotations": {REVISION: "1"}},
            "spec": {"selector": {}, "template": {
                "metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH: hash}},
                "spec": {
                    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                    "securityContext": {}, "terminationGracePeriodSeconds": 30,
                    "containers": [{"name": "web", "image": "web:1", "imagePullPolicy": "Always", "resources": {},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]
                }
            }}
        });
        let rss = [serde_json::from_value::<ReplicaSet>(stored).expect("rs"), rs(2, "web:2", "bbb")];
        let ro = rollout(&STEPS.replace("web:1", "web:2"));
        let patch = undo(&ro, &rss, 1).expect("undo").expect("a change");
        let restored: PodTemplateSpec = serde_json::from_value(patch[0]["value"].clone()).expect("template");
        assert_eq!(restored, original, "defaults removed, the explicit imagePullPolicy kept");
    }

    #[test]
    fn undo_restores_the_template_of_a_replica_set_named_by_argo_18() {
        let original: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]}
        }))
        .expect("template");
        let hash = serin_planner::pod_hash::legacy_pod_template_hash(&original, None).expect("hash");
        let stored = json!({
            "metadata": {"name": format!("web-{hash}"), "annotations": {REVISION: "1"}},
            "spec": {"selector": {}, "template": {
                "metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH: hash}},
                "spec": {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                    "securityContext": {}, "terminationGracePeriodSeconds": 30,
                    "containers": [{"name": "web", "image": "web:1", "imagePullPolicy": "IfNotPresent", "resources": {},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}]}
            }}
        });
        let rss = [serde_json::from_value::<ReplicaSet>(stored).expect("rs"), rs(2, "web:2", "bbb")];
        let ro = rollout(&STEPS.replace("web:1", "web:2"));
        let patch = undo(&ro, &rss, 1).expect("undo").expect("a change");
        let restored: PodTemplateSpec = serde_json::from_value(patch[0]["value"].clone()).expect("template");
        assert_eq!(restored, original);
    }

    #[test]
    fn undo_to_the_running_template_is_a_no_op() {
        let ro = rollout(STEPS);
        let rss = [rs(1, "web:1", "aaa"), rs(2, "web:2", "bbb")];
        assert_eq!(undo(&ro, &rss, 1), Ok(None), "web:1 is what the Rollout already runs");
    }
}
