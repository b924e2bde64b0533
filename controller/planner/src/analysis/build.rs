//! Building a Rollout's AnalysisRun from its templates (Argo's `NewAnalysisRunFromTemplates` and
//! `BuildArgumentsForRolloutAnalysisRun`).
//!
//! - Templates are looked up by name (`clusterScope` for ClusterAnalysisTemplates), nested `templates` followed,
//!   each template used once however often it is referenced.
//! - Metrics are concatenated (a duplicate name is an error), args merged (the same argument with two different
//!   template values is an error; the Rollout's values win over templates' defaults), `dryRun` and
//!   `measurementRetention` concatenated, the Rollout's last.
//! - Rollout arguments resolve here: `value`, `podTemplateHashValue` (Stable / Latest), `fieldRef` (downward-API
//!   `metadata.labels['x']` and the like, or any path of the Rollout such as
//!   `spec.template.spec.containers[0].image`). Secrets stay `secretKeyRef`s: the run resolves them when it measures.
//! - A template argument nobody supplied is kept without a value, so the run itself reports
//!   `argument "x" was not supplied` as its Error, and the Rollout aborts with that message.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serin_api::analysis_run::AnalysisRunSpec;
use serin_api::analysis_template::{AnalysisTemplateSpec, Argument};
use serin_api::labels::{CONTROLLER_INSTANCE_ID, POD_TEMPLATE_HASH, REVISION};
use serin_api::rollout::analysis_ref::{RolloutAnalysis, ValueFromPodTemplateHash};
use serin_api::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Rollout};

/// Label with the kind of a Rollout's run.
pub const ROLLOUT_TYPE_LABEL: &str = "rollout-type";
/// Label with the step index of a step run.
pub const STEP_INDEX_LABEL: &str = "step-index";
/// `rollout-type` of a canary step's run.
pub const ROLLOUT_TYPE_STEP: &str = "Step";
/// `rollout-type` of a canary background run.
pub const ROLLOUT_TYPE_BACKGROUND: &str = "Background";

/// The templates a Rollout may reference: its namespace's AnalysisTemplates and the ClusterAnalysisTemplates.
#[derive(Clone, Copy, Debug, Default)]
pub struct Templates<'a> {
    /// AnalysisTemplates of the Rollout's namespace.
    pub namespaced: &'a [std::sync::Arc<AnalysisTemplate>],
    /// ClusterAnalysisTemplates.
    pub cluster: &'a [std::sync::Arc<ClusterAnalysisTemplate>],
}

impl<'a> Templates<'a> {
    fn get(&self, name: &str, cluster: bool) -> Option<&'a AnalysisTemplateSpec> {
        if cluster {
            self.cluster.iter().find(|t| t.metadata.name.as_deref() == Some(name)).map(|t| &*t.spec)
        } else {
            self.namespaced.iter().find(|t| t.metadata.name.as_deref() == Some(name)).map(|t| &t.spec)
        }
    }
}

/// What the run is for.
#[derive(Clone, Debug)]
pub struct RunRequest<'a> {
    /// The Rollout's analysis reference (step or background).
    pub analysis: &'a RolloutAnalysis,
    /// The run's name (unique among the namespace's runs).
    pub name: String,
    /// Hash of the desired (newest) ReplicaSet.
    pub latest_hash: &'a str,
    /// Hash of the stable ReplicaSet.
    pub stable_hash: &'a str,
    /// The Rollout's revision, for the `rollout.argoproj.io/revision` annotation.
    pub revision: i64,
    /// `rollout-type` and, for steps, `step-index`.
    pub labels: BTreeMap<String, String>,
}

/// Builds the run, or says why it cannot be (a missing template, duplicate metrics, conflicting args).
pub fn analysis_run(rollout: &Rollout, templates: Templates<'_>, request: &RunRequest<'_>) -> Result<AnalysisRun, String> {
    let mut specs = Vec::new();
    let mut seen = BTreeSet::new();
    for template in &request.analysis.templates {
        let name = template.template_name.as_deref().unwrap_or_default();
        collect(templates, name, template.cluster_scope == Some(true), &mut seen, &mut specs)?;
    }

    let mut spec = AnalysisRunSpec::default();
    let mut template_args: Vec<Argument> = Vec::new();
    for template in &specs {
        for metric in &template.metrics {
            if spec.metrics.iter().any(|m| m.name == metric.name) {
                return Err(format!("two metrics have the same name \"{}\"", metric.name));
            }
            spec.metrics.push(metric.clone());
        }
        for arg in &template.args {
            match template_args.iter().find(|a| a.name == arg.name) {
                None => template_args.push(arg.clone()),
                Some(existing) if existing.value.is_some() && arg.value.is_some() && existing.value != arg.value => {
                    return Err(format!("argument \"{}\" has different values in two templates", arg.name));
                }
                Some(_) => {}
            }
        }
        spec.dry_run.extend(template.dry_run.iter().cloned());
        spec.measurement_retention.extend(template.measurement_retention.iter().cloned());
    }
    spec.dry_run.extend(request.analysis.dry_run.iter().cloned());
    spec.measurement_retention.extend(request.analysis.measurement_retention.iter().cloned());

    let supplied = rollout_args(rollout, request)?;
    for arg in &mut template_args {
        if let Some(value) = supplied.get(&arg.name) {
            arg.value = Some(value.clone());
            arg.value_from = None;
        } else if let Some(field) = arg.value_from.as_ref().and_then(|v| v.field_ref.as_ref()) {
            arg.value = Some(field_value(rollout, &field.field_path)?);
            arg.value_from = None;
        }
    }
    spec.args = template_args;

    // User metadata first, so the labels Serin relies on (type, step, hash, instance id) cannot be overridden.
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    if let Some(meta) = &request.analysis.analysis_run_metadata {
        labels.extend(meta.labels.clone());
        annotations.extend(meta.annotations.clone());
    }
    if let Some(match_labels) = rollout.spec.selector.as_ref().and_then(|s| s.match_labels.as_ref()) {
        labels.extend(match_labels.clone());
    }
    labels.extend(request.labels.clone());
    labels.insert(POD_TEMPLATE_HASH.to_owned(), request.latest_hash.to_owned());
    if let Some(id) = rollout.metadata.labels.as_ref().and_then(|l| l.get(CONTROLLER_INSTANCE_ID)) {
        labels.insert(CONTROLLER_INSTANCE_ID.to_owned(), id.clone());
    }
    annotations.insert(REVISION.to_owned(), request.revision.to_string());
    Ok(AnalysisRun {
        metadata: ObjectMeta {
            name: Some(request.name.clone()),
            namespace: rollout.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "argoproj.io/v1alpha1".to_owned(),
                kind: "Rollout".to_owned(),
                name: rollout.metadata.name.clone().unwrap_or_default(),
                uid: rollout.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    })
}

fn collect<'a>(
    templates: Templates<'a>,
    name: &str,
    cluster: bool,
    seen: &mut BTreeSet<(bool, String)>,
    out: &mut Vec<&'a AnalysisTemplateSpec>,
) -> Result<(), String> {
    if !seen.insert((cluster, name.to_owned())) {
        return Ok(());
    }
    let Some(spec) = templates.get(name, cluster) else {
        let kind = if cluster { "ClusterAnalysisTemplate" } else { "AnalysisTemplate" };
        return Err(format!("{kind} \"{name}\" not found"));
    };
    out.push(spec);
    for nested in &spec.templates {
        collect(templates, &nested.template_name, nested.cluster_scope == Some(true), seen, out)?;
    }
    Ok(())
}

/// The values the Rollout supplies, by argument name.
fn rollout_args(rollout: &Rollout, request: &RunRequest<'_>) -> Result<BTreeMap<String, String>, String> {
    let mut values = BTreeMap::new();
    for arg in &request.analysis.args {
        let value = if let Some(value) = &arg.value {
            value.clone()
        } else if let Some(from) = &arg.value_from {
            if let Some(which) = &from.pod_template_hash_value {
                match which {
                    ValueFromPodTemplateHash::Stable => request.stable_hash.to_owned(),
                    ValueFromPodTemplateHash::Latest => request.latest_hash.to_owned(),
                    ValueFromPodTemplateHash::Other(other) => {
                        return Err(format!("argument \"{}\": unknown podTemplateHashValue {other:?}", arg.name));
                    }
                }
            } else if let Some(field) = &from.field_ref {
                field_value(rollout, &field.field_path).map_err(|e| format!("argument \"{}\": {e}", arg.name))?
            } else {
                return Err(format!("argument \"{}\": valueFrom must set podTemplateHashValue or fieldRef", arg.name));
            }
        } else {
            return Err(format!("argument \"{}\" has neither value nor valueFrom", arg.name));
        };
        values.insert(arg.name.clone(), value);
    }
    Ok(values)
}

/// Reads a field of the Rollout: `metadata.labels['x']`, `metadata.annotations['x']`, or a dotted path with
/// `[n]` indexes such as `spec.template.spec.containers[0].image`. Strings come out as they are, anything else
/// as JSON.
pub fn field_value(rollout: &Rollout, path: &str) -> Result<String, String> {
    let json = serde_json::to_value(rollout).map_err(|e| e.to_string())?;
    let mut node = &json;
    for segment in segments(path)? {
        let next = match &segment {
            Segment::Key(key) => node.get(key.as_str()),
            Segment::Index(i) => node.get(*i),
        };
        node = next.ok_or_else(|| format!("field {path} not found in the Rollout"))?;
    }
    Ok(match node {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Result<Vec<Segment>, String> {
    let bad = || format!("invalid field path {path:?}");
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("['") {
            let end = after.find("']").ok_or_else(bad)?;
            out.push(Segment::Key(after[..end].to_owned()));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(bad)?;
            out.push(Segment::Index(after[..end].parse().map_err(|_| bad())?));
            rest = &after[end + 1..];
        } else {
            let rest_trimmed = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_trimmed.find(['.', '[']).unwrap_or(rest_trimmed.len());
            if end == 0 {
                return Err(bad());
            }
            out.push(Segment::Key(rest_trimmed[..end].to_owned()));
            rest = &rest_trimmed[end..];
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn rollout() -> Rollout {
        serde_saphyr::from_str(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web, namespace: shop, uid: u1, labels: {team: pay}}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: app, image: 'shop/web:2'}]}\n",
        )
        .expect("rollout")
    }

    fn template(name: &str, yaml: &str) -> Arc<AnalysisTemplate> {
        let text = format!("apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: {name}}}\nspec:\n{yaml}");
        Arc::new(serde_saphyr::from_str(&text).expect("template"))
    }

    fn analysis(yaml: &str) -> RolloutAnalysis {
        serde_saphyr::from_str(yaml).expect("analysis")
    }

    fn request(analysis: &RolloutAnalysis) -> RunRequest<'_> {
        RunRequest {
            analysis,
            name: "web-abc-2-1".into(),
            latest_hash: "abc",
            stable_hash: "def",
            revision: 2,
            labels: BTreeMap::from([(ROLLOUT_TYPE_LABEL.into(), ROLLOUT_TYPE_STEP.into()), (STEP_INDEX_LABEL.into(), "1".into())]),
        }
    }

    #[test]
    fn merges_templates_and_resolves_rollout_args() {
        let ts = [
            template(
                "rate",
                "  args: [{name: service}, {name: hash}, {name: image}, {name: team, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['team']\"}}}]\n  metrics: [{name: rate, provider: {prometheus: {query: 'x'}}}]\n  templates: [{templateName: latency}]\n",
            ),
            template(
                "latency",
                "  args: [{name: service}]\n  metrics: [{name: p99, provider: {prometheus: {query: 'y'}}}]\n  dryRun: [{metricName: p99}]\n",
            ),
        ];
        let a = analysis(
            "templates: [{templateName: rate}]\nargs:\n- {name: service, value: web}\n- {name: hash, valueFrom: {podTemplateHashValue: Stable}}\n- {name: image, valueFrom: {fieldRef: {fieldPath: 'spec.template.spec.containers[0].image'}}}\nanalysisRunMetadata: {labels: {extra: yes, rollout-type: Mine}}\n",
        );
        let run = analysis_run(&rollout(), Templates { namespaced: &ts, cluster: &[] }, &request(&a)).expect("builds");
        let names: Vec<_> = run.spec.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["rate", "p99"]);
        let value = |n: &str| run.spec.args.iter().find(|a| a.name == n).and_then(|a| a.value.clone());
        assert_eq!(value("service").as_deref(), Some("web"));
        assert_eq!(value("hash").as_deref(), Some("def"));
        assert_eq!(value("image").as_deref(), Some("shop/web:2"));
        assert_eq!(value("team").as_deref(), Some("pay"));
        assert_eq!(run.spec.dry_run.len(), 1);
        let labels = run.metadata.labels.expect("labels");
        assert_eq!(labels.get("rollout-type").map(String::as_str), Some("Step"));
        assert_eq!(labels.get("step-index").map(String::as_str), Some("1"));
        assert_eq!(labels.get(POD_TEMPLATE_HASH).map(String::as_str), Some("abc"));
        assert_eq!(labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(labels.get("extra").map(String::as_str), Some("yes"));
        assert_eq!(run.metadata.annotations.expect("annotations").get(REVISION).map(String::as_str), Some("2"));
        let owner = &run.metadata.owner_references.expect("owner")[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller), ("Rollout", "u1", Some(true)));
    }

    #[test]
    fn cluster_templates_and_nested_references_are_followed_once() {
        let cluster: ClusterAnalysisTemplate = serde_saphyr::from_str(
            "apiVersion: argoproj.io/v1alpha1\nkind: ClusterAnalysisTemplate\nmetadata: {name: shared}\nspec:\n  metrics: [{name: shared-rate, provider: {web: {url: 'http://x'}}}]\n  templates: [{templateName: local}]\n",
        )
        .expect("cluster template");
        let ts = [template(
            "local",
            "  metrics: [{name: local-rate, provider: {web: {url: 'http://y'}}}]\n  templates: [{templateName: shared, clusterScope: true}]\n",
        )];
        let cts = [Arc::new(cluster)];
        let a = analysis("templates: [{templateName: shared, clusterScope: true}, {templateName: local}]\n");
        let run = analysis_run(&rollout(), Templates { namespaced: &ts, cluster: &cts }, &request(&a)).expect("builds");
        let names: Vec<_> = run.spec.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["shared-rate", "local-rate"], "each template once, even through a reference cycle");
    }

    #[test]
    fn unsupplied_args_stay_for_the_run_to_report() {
        let ts =
            [template("t", "  args: [{name: service}]\n  metrics: [{name: m, provider: {web: {url: 'http://x/{{args.service}}'}}}]\n")];
        let a = analysis("templates: [{templateName: t}]\n");
        let run = analysis_run(&rollout(), Templates { namespaced: &ts, cluster: &[] }, &request(&a)).expect("builds");
        assert_eq!(run.spec.args[0].value, None);
    }

    #[test]
    fn refuses_missing_templates_and_duplicate_metrics() {
        let ts = [
            template("a", "  metrics: [{name: m, provider: {web: {url: 'http://x'}}}]\n"),
            template("b", "  metrics: [{name: m, provider: {web: {url: 'http://y'}}}]\n"),
        ];
        let t = Templates { namespaced: &ts, cluster: &[] };
        let missing = analysis("templates: [{templateName: nope}]\n");
        assert_eq!(analysis_run(&rollout(), t, &request(&missing)).expect_err("missing"), "AnalysisTemplate \"nope\" not found");
        let cluster = analysis("templates: [{templateName: a, clusterScope: true}]\n");
        assert_eq!(analysis_run(&rollout(), t, &request(&cluster)).expect_err("cluster"), "ClusterAnalysisTemplate \"a\" not found");
        let dup = analysis("templates: [{templateName: a}, {templateName: b}]\n");
        assert_eq!(analysis_run(&rollout(), t, &request(&dup)).expect_err("dup"), "two metrics have the same name \"m\"");
    }

    #[test]
    fn field_paths() {
        let ro = rollout();
        assert_eq!(field_value(&ro, "metadata.name").as_deref(), Ok("web"));
        assert_eq!(field_value(&ro, "metadata.labels['team']").as_deref(), Ok("pay"));
        assert_eq!(field_value(&ro, "spec.selector.matchLabels").as_deref(), Ok("{\"app\":\"web\"}"));
        assert_eq!(field_value(&ro, "spec.nope").expect_err("missing"), "field spec.nope not found in the Rollout");
        assert!(field_value(&ro, "spec..x").is_err());
    }
}
