//! Round trip of realistic Argo Rollouts manifests: YAML -> typed -> JSON must equal the YAML read as JSON,
//! with nothing dropped and no default injected. Fixtures live in `tests/fixtures/`.

// Test helpers outside #[test] functions are still test code.
#![allow(clippy::unwrap_used, reason = "test code")]

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serin_api::rollout::Strategy;
use serin_api::rollout::status::BlueGreenStatus;
use serin_api::rollout::steps::StepAction;
use serin_api::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Experiment, Rollout, StrategyKind};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

/// The first JSON path at which two values differ, for a readable failure.
fn first_difference(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                match a.get(key) {
                    None => return Some(format!("{path}.{key}: dropped (was {value})")),
                    Some(other) => {
                        if let Some(diff) = first_difference(value, other, &format!("{path}.{key}")) {
                            return Some(diff);
                        }
                    }
                }
            }
            a.keys().find(|key| !e.contains_key(*key)).map(|key| format!("{path}.{key}: added ({})", a[key]))
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            e.iter().zip(a).enumerate().find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]")))
        }
        _ if expected == actual => None,
        _ => Some(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// Decodes every document of `name` as `K` both from YAML and from JSON, re-encodes it, and requires the
/// original JSON back. Returns the typed documents for further assertions.
fn round_trip<K: DeserializeOwned + Serialize>(name: &str) -> Vec<K> {
    let text = fixture(name);
    let originals: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap_or_else(|err| panic!("{name}: not YAML: {err}"));
    let typed: Vec<K> = serde_saphyr::from_multiple(&text).unwrap_or_else(|err| panic!("{name}: YAML does not decode: {err}"));
    assert_eq!(originals.len(), typed.len());
    for (index, (original, object)) in originals.iter().zip(&typed).enumerate() {
        let encoded = serde_json::to_value(object).unwrap();
        if let Some(diff) = first_difference(original, &encoded, "") {
            panic!("{name} document {index}: YAML -> typed -> JSON changed the object at {diff}");
        }
        let from_json: K = serde_json::from_value(original.clone()).unwrap_or_else(|err| panic!("{name}: JSON does not decode: {err}"));
        let encoded = serde_json::to_value(&from_json).unwrap();
        if let Some(diff) = first_difference(original, &encoded, "") {
            panic!("{name} document {index}: JSON -> typed -> JSON changed the object at {diff}");
        }
    }
    typed
}

fn only<K>(mut objects: Vec<K>) -> K {
    assert_eq!(objects.len(), 1, "expected a single document");
    objects.remove(0)
}

fn canary(rollout: &Rollout) -> &serin_api::rollout::canary::CanaryStrategy {
    match rollout.spec.strategy() {
        Ok(Strategy::Canary(canary)) => canary,
        other => panic!("expected a canary strategy, got {other:?}"),
    }
}

#[test]
fn canary_with_every_step_type() {
    let rollout: Rollout = only(round_trip("rollout-canary-steps.yaml"));
    assert_eq!(rollout.strategy_kind(), Ok(StrategyKind::Canary));
    let canary = canary(&rollout);
    let actions = canary.step_actions().unwrap();
    let keys: Vec<&str> = actions.iter().map(StepAction::key).collect();
    for key in ["setWeight", "pause", "analysis", "experiment", "setCanaryScale", "setHeaderRoute", "setMirrorRoute", "plugin"] {
        assert!(keys.contains(&key), "fixture lacks a {key} step");
    }
    let pauses: Vec<Option<i32>> = actions
        .iter()
        .filter_map(|action| match action {
            StepAction::Pause(pause) => Some(pause.duration.as_ref().map(|d| d.seconds().unwrap())),
            _ => None,
        })
        .collect();
    assert_eq!(pauses, [None, Some(30), Some(30)], "pause {{}}, pause 30s, pause 30");
    assert_eq!(canary.max_surge.as_ref().unwrap().scaled_value(rollout.spec.desired_replicas(), true), Ok(3));
    assert_eq!(canary.max_unavailable.as_ref().unwrap().scaled_value(rollout.spec.desired_replicas(), false), Ok(0));
    assert_eq!(rollout.spec.paused, Some(false), "an explicit false is kept");
}

#[test]
fn canary_with_istio_nginx_and_gateway_api_plugin() {
    let rollout: Rollout = only(round_trip("rollout-canary-traffic-routing.yaml"));
    let routing = canary(&rollout).traffic_routing.as_ref().unwrap();
    assert_eq!(routing.istio.as_ref().unwrap().virtual_services.len(), 2);
    assert_eq!(routing.nginx.as_ref().unwrap().stable_ingresses, ["storefront-public", "storefront-admin"]);
    assert!(routing.plugins.contains_key("argoproj-labs/gatewayAPI"));
    assert_eq!(routing.max_traffic_weight, Some(1000));
}

#[test]
fn blue_green_with_pre_and_post_promotion_analysis() {
    let rollout: Rollout = only(round_trip("rollout-bluegreen.yaml"));
    let Ok(Strategy::BlueGreen(blue_green)) = rollout.spec.strategy() else { panic!("expected blue-green") };
    assert_eq!(blue_green.active_service, "billing-active");
    assert!(blue_green.pre_promotion_analysis.is_some() && blue_green.post_promotion_analysis.is_some());
    // The legacy quirk: "1" is 1%, not one pod.
    assert_eq!(blue_green.max_unavailable.as_ref().unwrap().scaled_value(400, false), Ok(4));
}

#[test]
fn workload_ref_alb_ping_pong_with_full_status() {
    let rollout: Rollout = only(round_trip("rollout-workloadref-alb-status.yaml"));
    assert!(rollout.spec.template.is_none() && rollout.spec.selector.is_none());
    let status = rollout.status.as_ref().unwrap();
    assert_eq!(status.hpa_replicas, Some(9));
    assert_eq!(status.stable_rs.as_deref(), Some("5c7b9d4f8"));
    assert_eq!(status.phase, Some(serin_api::rollout::status::RolloutPhase::Paused));
    assert_eq!(status.blue_green, Some(BlueGreenStatus::default()), "Go's always-written `blueGreen: {{}}` is kept");
    let json = serde_json::to_value(&rollout).unwrap();
    assert_eq!(json["status"]["HPAReplicas"], 9, "HPAReplicas keeps its capital letters on the wire");
}

#[test]
fn every_other_traffic_router() {
    let rollouts: Vec<Rollout> = round_trip("rollout-routers.yaml");
    let names: Vec<&str> = rollouts.iter().filter_map(|r| r.metadata.name.as_deref()).collect();
    assert_eq!(names, ["smi-nginx", "ambassador", "appmesh", "traefik", "apisix"]);
}

#[test]
fn analysis_template_with_prometheus_metrics_and_arguments() {
    let template: AnalysisTemplate = only(round_trip("analysis-template-prometheus.yaml"));
    let spec = &template.spec;
    assert!(spec.args[0].value.is_none() && spec.args[0].value_from.is_none(), "a required argument");
    assert!(spec.args[2].value_from.as_ref().unwrap().secret_key_ref.is_some());
    assert!(spec.args[3].value_from.as_ref().unwrap().field_ref.is_some());
    let interval = spec.metrics[0].interval.as_ref().unwrap();
    assert_eq!(interval.as_str(), "{{args.interval}}", "placeholders are kept verbatim");
    assert!(interval.parse().is_err());
    assert!(spec.metrics.iter().all(|m| m.provider.single().map(|p| p.key()) == Some("prometheus")));
}

#[test]
fn analysis_template_with_web_and_job_metrics() {
    let template: AnalysisTemplate = only(round_trip("analysis-template-web-job.yaml"));
    let keys: Vec<&str> = template.spec.metrics.iter().filter_map(|m| m.provider.single()).map(|p| p.key()).collect();
    assert_eq!(keys, ["web", "web", "job"]);
}

#[test]
fn cluster_analysis_template_with_every_other_provider() {
    let template: ClusterAnalysisTemplate = only(round_trip("cluster-analysis-template-providers.yaml"));
    assert_eq!(template.spec.templates.len(), 2);
    let keys: Vec<&str> = template.spec.metrics.iter().filter_map(|m| m.provider.single()).map(|p| p.key()).collect();
    assert_eq!(
        keys,
        ["datadog", "datadog", "newRelic", "cloudWatch", "graphite", "influxdb", "wavefront", "skywalking", "kayenta", "plugin"]
    );
}

#[test]
fn analysis_run_with_measurements() {
    let run: AnalysisRun = only(round_trip("analysis-run-status.yaml"));
    let status = run.status.as_ref().unwrap();
    assert_eq!(status.phase, Some(serin_api::AnalysisPhase::Successful));
    assert_eq!(status.metric_results[1].measurements.len(), 2);
    assert_eq!(run.spec.terminate, Some(false));
}

#[test]
fn experiment_with_templates_and_analysis() {
    let experiment: Experiment = only(round_trip("experiment.yaml"));
    assert_eq!(experiment.spec.templates.len(), 2);
    assert_eq!(experiment.spec.duration.as_ref().unwrap().parse().unwrap().whole_seconds(), 600);
    assert_eq!(experiment.status.as_ref().unwrap().template_statuses[1].available_replicas, 0);
}

#[test]
fn unknown_spec_fields_and_enum_values_survive() {
    let yaml = r"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: future
spec:
  selector:
    matchLabels: {app: future}
  strategy:
    canary:
      steps:
        - setWeight: 10
  someFutureField:
    enabled: true
    threshold: 3
status:
  phase: Hibernating
  pauseConditions:
    - reason: SomeNewReason
      startTime: '2025-01-01T00:00:00Z'
";
    let original: Value = serde_saphyr::from_str(yaml).unwrap();
    let rollout: Rollout = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(rollout.spec.unknown["someFutureField"]["threshold"], 3);
    assert_eq!(first_difference(&original, &serde_json::to_value(&rollout).unwrap(), ""), None);
}

#[test]
fn go_null_lists_decode_as_empty() {
    let yaml = r"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: nulls
spec:
  strategy:
    canary:
      steps:
      trafficRouting:
        managedRoutes:
";
    let rollout: Rollout = serde_saphyr::from_str(yaml).unwrap();
    assert!(canary(&rollout).steps.is_empty());
    let json = serde_json::to_value(&rollout).unwrap();
    assert_eq!(json["spec"]["strategy"]["canary"], serde_json::json!({"trafficRouting": {}}));
}

/// Round-trips every document of `text` as the type its `kind` names.
fn round_trip_any(name: &str, text: &str) {
    let originals: Vec<Value> = serde_saphyr::from_multiple(text).unwrap_or_else(|err| panic!("{name}: not YAML: {err}"));
    for (index, original) in originals.iter().enumerate() {
        let encoded = match original["kind"].as_str() {
            Some("Rollout") => serde_json::to_value(serde_json::from_value::<Rollout>(original.clone()).unwrap()),
            Some("AnalysisTemplate") => serde_json::to_value(serde_json::from_value::<AnalysisTemplate>(original.clone()).unwrap()),
            Some("ClusterAnalysisTemplate") => {
                serde_json::to_value(serde_json::from_value::<ClusterAnalysisTemplate>(original.clone()).unwrap())
            }
            Some("AnalysisRun") => serde_json::to_value(serde_json::from_value::<AnalysisRun>(original.clone()).unwrap()),
            Some("Experiment") => serde_json::to_value(serde_json::from_value::<Experiment>(original.clone()).unwrap()),
            // Services, Ingresses and the like that examples ship alongside are not ours to check.
            _ => continue,
        }
        .unwrap();
        if let Some(diff) = first_difference(original, &encoded, "") {
            panic!("{name} document {index}: round trip changed the object at {diff}");
        }
    }
}

#[test]
fn every_docs_example_round_trips() {
    let dir = format!("{}/../docs/examples", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            round_trip_any(&path.display().to_string(), &std::fs::read_to_string(&path).unwrap());
            seen += 1;
        }
    }
    assert!(seen >= 1, "no examples found in {dir}");
}
