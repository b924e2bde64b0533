//! `/metrics` during a scenario: Argo Rollouts' metric names, labels and values checked against the cluster state,
//! then a real Prometheus scraping the controller under Argo's job name and answering the queries of Argo's example
//! Grafana dashboard (`examples/dashboard.json`).

#![allow(clippy::unwrap_used, clippy::float_cmp)]

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use serin_api::AnalysisRun;
use serin_api::rollout::status::RolloutPhase;
use serin_e2e::harness::{eventually, wait_timeout};
use serin_e2e::prometheus::PrometheusServer;
use serin_e2e::scenario::{IMAGE_V2, Scenario, rollout_manifest};

/// The samples of an exposition: `(name, labels) -> value`.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|pair| {
                    let (k, v) = pair.split_once("=\"")?;
                    Some((k.to_owned(), v.trim_end_matches('"').to_owned()))
                })
                .collect();
            Some((name.to_owned(), labels, value))
        })
        .collect()
}

/// The value of `name` with at least the labels `want`.
fn value(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|(n, labels, _)| n == name && want.iter().all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, _, v)| v)
}

/// The API server's address as this test's kubeconfig has it: its `/version` answers any client, so a web metric can
/// measure it on kube-sim and on a real cluster alike.
fn api_server(s: &Scenario) -> Result<String> {
    s.cluster.kubectl_ok(&["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_rollouts_and_analysis_under_argos_names() -> Result<()> {
    let s = Scenario::start("metrics-state").await?;
    let ns = s.cluster.namespace.clone();
    s.apply(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: version-check\n  labels:\n    argo-rollouts.argoproj.io/controller-instance-id: {}\nspec:\n  metrics:\n  - name: version\n    successCondition: result.major == '1'\n    provider:\n      web:\n        url: {}/version\n        insecure: true\n",
        s.instance_id,
        api_server(&s)?
    ))?;
    let steps = "[{setWeight: 50}, {analysis: {templates: [{templateName: version-check}]}}, {pause: {}}]";
    s.apply(&rollout_manifest(4, steps, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", IMAGE_V2).await?;
    let ro = s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    let status = ro.status.clone().unwrap();
    let run = s.cluster.api::<AnalysisRun>().list(&kube::api::ListParams::default()).await?.items.pop().context("an analysis run")?;
    let run_name = run.metadata.name.clone().unwrap();

    let text = eventually("the paused rollout in /metrics", wait_timeout(), || async {
        let text = s.metrics().await?;
        Ok((value(&text, "rollout_info", &[("name", "web"), ("phase", "Paused")]) == Some(1.0)).then_some(text))
    })
    .await?;
    let web = [("namespace", ns.as_str()), ("name", "web")];
    assert_eq!(
        value(&text, "rollout_info", &[("namespace", &ns), ("name", "web"), ("strategy", "canary"), ("phase", "Paused")]),
        Some(1.0)
    );
    assert_eq!(value(&text, "rollout_info_replicas_available", &web), Some(f64::from(status.available_replicas.unwrap())));
    assert_eq!(
        value(&text, "rollout_info_replicas_unavailable", &web),
        Some(f64::from(status.replicas.unwrap() - status.available_replicas.unwrap()))
    );
    assert_eq!(value(&text, "rollout_info_replicas_desired", &web), Some(4.0));
    assert_eq!(value(&text, "rollout_info_replicas_updated", &web), Some(f64::from(status.updated_replicas.unwrap())));
    assert_eq!(value(&text, "rollout_phase", &[("name", "web"), ("strategy", "canary"), ("phase", "Paused")]), Some(1.0));
    assert_eq!(value(&text, "rollout_phase", &[("name", "web"), ("phase", "Completed")]), Some(0.0));

    let run_labels = [("namespace", ns.as_str()), ("name", run_name.as_str())];
    assert_eq!(value(&text, "analysis_run_info", &[run_labels[0], run_labels[1], ("phase", "Successful")]), Some(1.0));
    assert_eq!(value(&text, "analysis_run_phase", &[run_labels[0], run_labels[1], ("phase", "Successful")]), Some(1.0));
    assert_eq!(value(&text, "analysis_run_phase", &[run_labels[0], run_labels[1], ("phase", "Running")]), Some(0.0));
    assert_eq!(
        value(&text, "analysis_run_metric_type", &[run_labels[0], run_labels[1], ("metric", "version"), ("type", "Web")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "analysis_run_metric_phase",
            &[run_labels[0], run_labels[1], ("metric", "version"), ("type", "Web"), ("dry_run", "false"), ("phase", "Successful")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&text, "analysis_template_info", &[("namespace", &ns), ("name", "version-check")]), Some(1.0));
    assert_eq!(
        value(&text, "analysis_template_metric_info", &[("name", "version-check"), ("type", "Web"), ("metric", "version")]),
        Some(1.0)
    );

    assert!(value(&text, "rollout_reconcile_count", &web).is_some_and(|n| n > 0.0), "reconciles are timed");
    assert!(value(&text, "rollout_reconcile_bucket", &[web[0], web[1], ("le", "+Inf")]).is_some());
    assert!(value(&text, "analysis_run_reconcile_count", &run_labels).is_some_and(|n| n > 0.0));
    assert!(
        value(&text, "rollout_events_total", &[web[0], web[1], ("type", "Normal"), ("reason", "RolloutUpdated")]).is_some_and(|n| n >= 1.0)
    );
    assert!(
        value(
            &text,
            "controller_clientset_k8s_request_total",
            &[("kind", "rollouts"), ("namespace", &ns), ("name", "N/A"), ("verb", "Patch"), ("status_code", "200")]
        )
        .is_some_and(|n| n > 0.0),
        "status patches are counted"
    );
    assert!(value(&text, "process_resident_memory_bytes", &[]).is_some_and(|v| v > 0.0));
    assert_eq!(value(&text, "serin_controller_leader", &[]), Some(1.0));
    assert!(text.contains("# TYPE rollout_reconcile_error unknown"), "Argo's counter name, without _total");

    // Promoted to the end: the phase label follows.
    s.promote("web").await?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    eventually("rollout_info Completed", wait_timeout(), || async {
        let text = s.metrics().await?;
        Ok((value(&text, "rollout_info", &[("name", "web"), ("phase", "Completed")]) == Some(1.0)).then_some(()))
    })
    .await?;
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_answers_the_queries_of_argos_dashboard() -> Result<()> {
    let s = Scenario::start("metrics-prometheus").await?;
    s.apply(&rollout_manifest(2, "[{setWeight: 50}, {pause: {}}]", ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    // Argo's manifests name the scrape job `argo-rollouts-metrics`, and its dashboard filters on it.
    let prom = PrometheusServer::start_job("argo-rollouts-metrics", &[s.metrics_addr()]).await?;
    prom.wait_for_targets_up().await?;
    let answer = |query: &'static str| {
        let prom = &prom;
        async move { eventually(query, wait_timeout(), || async { prom.query_scalar(query).await }).await }
    };
    assert_eq!(answer(r#"sum(rollout_info{job="argo-rollouts-metrics"})"#).await?, 1.0, "Total Rollouts");
    assert_eq!(answer(r#"sum(rollout_info{phase="Completed",job="argo-rollouts-metrics"} == 1)"#).await?, 1.0, "Stable");
    let by_strategy = prom.query(r#"sum(rollout_info{job="argo-rollouts-metrics"}) by (strategy)"#).await?;
    assert_eq!(by_strategy.len(), 1);
    assert_eq!(by_strategy[0].0.get("strategy").map(String::as_str), Some("canary"));
    assert!(answer(r#"time() - max(process_start_time_seconds{job="argo-rollouts-metrics"})"#).await? > 0.0, "Uptime (controller)");

    // Paused at a step: the dashboard's phase panels move.
    s.set_image("web", IMAGE_V2).await?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    eventually("Paused in Prometheus", wait_timeout(), || async {
        Ok((prom.query_scalar(r#"sum(rollout_info{phase="Paused",job="argo-rollouts-metrics"})"#).await? == Some(1.0)).then_some(()))
    })
    .await?;
    // The stuck-rollout alert of docs/operations.md: nothing has failed.
    assert_eq!(prom.query_scalar(r#"sum(increase(rollout_reconcile_error{job="argo-rollouts-metrics"}[5m]))"#).await?.unwrap_or(0.0), 0.0);

    // Serin's own dashboard and alert rules (docs/monitoring): every query runs, on metrics Serin exposes.
    let exposed = s.metrics().await?;
    let families: Vec<&str> = exposed.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    for (file, expr) in monitoring_queries()? {
        let expr = expr.replace("$job", ".*").replace("$namespace", ".*");
        prom.query(&expr).await.with_context(|| format!("{file}: {expr}"))?;
        for name in metric_names(&expr) {
            let family = ["_bucket", "_total", "_count", "_sum"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
            assert!(
                families.contains(&family) || families.contains(&name.as_str()) || name == "up",
                "{file}: {name} is not a metric Serin exposes"
            );
        }
    }
    if std::process::Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let out = std::process::Command::new("promtool").args(["check", "rules", &format!("{MONITORING}/alerts.yaml")]).output()?;
        assert!(out.status.success(), "promtool: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    prom.stop().await;
    s.finish().await;
    Ok(())
}

const MONITORING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/monitoring");

/// Every `PromQL` expression of the Grafana dashboard and the alert rules, with the file it comes from.
fn monitoring_queries() -> Result<Vec<(&'static str, String)>> {
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(format!("{MONITORING}/grafana-dashboard.json"))?)?;
    let mut queries: Vec<(&'static str, String)> = dashboard["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(|e| ("grafana-dashboard.json", e.to_owned())))
        .collect();
    let rules: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(format!("{MONITORING}/alerts.yaml"))?)?;
    for group in rules["groups"].as_array().into_iter().flatten() {
        for rule in group["rules"].as_array().into_iter().flatten() {
            queries.push(("alerts.yaml", rule["expr"].as_str().context("a rule without expr")?.to_owned()));
        }
    }
    assert!(queries.len() >= 20, "{queries:?}");
    Ok(queries)
}

/// The metric names an expression selects (`name{...}`).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    for (i, _) in expr.match_indices('{') {
        let start = expr[..i].rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).map_or(0, |p| p + 1);
        if start < i && !bytes[start].is_ascii_digit() {
            names.push(expr[start..i].to_owned());
        }
    }
    names
}

/// A stopped controller has closed its listeners: the same address can be bound at once (a controller started
/// again in the same process, as a restart of a test or an embedding program does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_controller_frees_its_metrics_port() -> Result<()> {
    let mut s = Scenario::start("metrics-port").await?;
    s.apply(&rollout_manifest(1, "[]", ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    for round in 0..5 {
        assert!(s.stop_controller().await, "the controller stopped");
        drop(std::net::TcpListener::bind(s.metrics_addr()).with_context(|| format!("binding {} after stop {round}", s.metrics_addr()))?);
        s.start_controller();
        eventually("metrics served again", wait_timeout(), || async { Ok(s.metrics().await.ok().map(|_| ())) }).await?;
    }
    s.finish().await;
    Ok(())
}
