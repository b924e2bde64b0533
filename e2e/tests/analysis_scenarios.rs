//! Analysis scenarios: the Serin controller on kube-sim with the traffic simulator and a real Prometheus server,
//! plus the web and job providers. A healthy canary passes its analysis; a faulty one is aborted, traffic (pods)
//! back on stable; an Inconclusive run pauses until promoted; a secret argument never leaks.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use anyhow::Result;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use kube::api::ListParams;
use parking_lot::Mutex;
use serde_json::{Value, json};
use serin_api::AnalysisRun;
use serin_api::rollout::status::{PauseReason, RolloutPhase};
use serin_e2e::harness::{eventually, wait_timeout};
use serin_e2e::prometheus::PrometheusServer;
use serin_e2e::scenario::{IMAGE_V2, Scenario, rollout_manifest};
use serin_e2e::traffic::{Target, TrafficConfig, TrafficSimulator};

/// Labels the scenario's controller handles, for objects created directly (not by a Rollout).
fn instance_label(s: &Scenario) -> String {
    format!("argo-rollouts.argoproj.io/controller-instance-id: {}", s.instance_id)
}

fn template(s: &Scenario, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: {name}\n  labels:\n    {}\nspec:\n{spec}",
        instance_label(s)
    )
}

async fn runs(s: &Scenario) -> Result<Vec<AnalysisRun>> {
    Ok(s.cluster.api::<AnalysisRun>().list(&ListParams::default()).await?.items)
}

/// Waits for the rollout's step-analysis run to reach one of `phases` and returns it.
async fn wait_run(s: &Scenario, phases: &[&str]) -> Result<AnalysisRun> {
    eventually("an analysis run to complete", wait_timeout(), || async {
        Ok(runs(s)
            .await?
            .into_iter()
            .find(|r| r.status.as_ref().and_then(|st| st.phase.as_ref()).is_some_and(|p| phases.contains(&p.as_str()))))
    })
    .await
}

/// Sets the image and the simulated error rate of the pod template in one update.
async fn update(s: &Scenario, image: &str, error_rate: &str) -> Result<()> {
    s.patch_spec(
        "web",
        json!({"template": {
            "metadata": {"annotations": {"sim.serin.dev/error-rate": error_rate}},
            "spec": {"containers": [{"name": "web", "image": image}]}
        }}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_analysis_passes_a_healthy_canary_and_aborts_a_faulty_one() -> Result<()> {
    let s = Scenario::start("analysis-prometheus").await?;
    let ns = s.cluster.namespace.clone();
    let traffic =
        TrafficSimulator::start_with(s.cluster.client.clone(), vec![Target::new(&ns, "web", "app=web")], TrafficConfig::new(200).seed(7))
            .await?;
    let prom = PrometheusServer::start(&[traffic.addr()]).await?;
    prom.wait_for_targets_up().await?;

    let selector = format!("namespace=\"{ns}\",service=\"web\",rollouts_pod_template_hash=\"{{{{args.canary-hash}}}}\"");
    s.apply(&template(
        &s,
        "success-rate",
        &format!(
            "  args:\n  - name: canary-hash\n  metrics:\n  - name: success-rate\n    initialDelay: 3s\n    interval: 2s\n    count: 2\n    successCondition: 'len(result) > 0 && result[0] >= 0.99'\n    failureCondition: 'len(result) > 0 && result[0] < 0.99'\n    provider:\n      prometheus:\n        address: {}\n        query: |\n          sum(rate(http_requests_total{{{selector},code!~\"5..\"}}[10s])) / sum(rate(http_requests_total{{{selector}}}[10s]))\n",
            prom.url()
        ),
    ))?;
    let steps = "[{setWeight: 50}, {analysis: {templates: [{templateName: success-rate}], args: [{name: canary-hash, valueFrom: {podTemplateHashValue: Latest}}]}}]";
    s.apply(&rollout_manifest(4, steps, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;

    // A healthy update: analysis passes and the rollout completes.
    update(&s, IMAGE_V2, "0").await?;
    let passed = wait_run(&s, &["Successful", "Failed", "Error", "Inconclusive"]).await?;
    let status = passed.status.clone().unwrap();
    assert_eq!(status.phase.as_ref().map(serin_api::AnalysisPhase::as_str), Some("Successful"), "{status:#?}");
    let labels = passed.metadata.labels.clone().unwrap();
    assert_eq!(labels["rollout-type"], "Step");
    assert_eq!(labels["step-index"], "1");
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;

    // A faulty update (5% errors): the analysis step fails and the rollout aborts back to stable.
    update(&s, "registry.k8s.io/pause:3.8", "0.05").await?;
    let ro = s.wait_phase("web", RolloutPhase::Degraded, "RolloutAborted").await?;
    let message = ro.status.as_ref().and_then(|st| st.message.clone()).unwrap_or_default();
    assert!(message.contains("Metric \"success-rate\" assessed Failed"), "{message}");
    let failed = wait_run(&s, &["Failed"]).await?;
    let result = &failed.status.as_ref().unwrap().metric_results[0];
    assert!(result.failed.unwrap_or(0) >= 1, "{result:#?}");
    let value: Vec<f64> = serde_json::from_str(result.measurements.last().unwrap().value.as_deref().unwrap()).unwrap();
    assert!(value[0] < 0.99, "the condemning measurement: {value:?}");
    assert_eq!(result.metadata.get("ResolvedPrometheusQuery").map(|q| q.contains("code!~")), Some(true));
    // Traffic is back on stable: the canary has no pods left, stable runs them all.
    eventually("canary scaled down", wait_timeout(), || async {
        let rss = s.replica_sets().await?;
        Ok((rss == vec![(IMAGE_V2.to_owned(), 4)] || rss.iter().all(|(i, n)| i == IMAGE_V2 || *n == 0)).then_some(()))
    })
    .await?;
    traffic.stop().await;
    prom.stop().await;
    s.finish().await;
    Ok(())
}

/// A local web metric endpoint answering `body`; records the Authorization headers it saw.
async fn web_endpoint(body: Value) -> Result<(String, Arc<Mutex<Vec<String>>>)> {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/metric",
            get(|State((body, seen)): State<(Value, Arc<Mutex<Vec<String>>>)>, headers: HeaderMap| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                seen.lock().push(auth.clone());
                if auth != "Bearer s3cr3t-t0ken" && body.get("needs_auth").is_some() {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "bad token"})));
                }
                (StatusCode::OK, axum::Json(body))
            }),
        )
        .with_state((body, seen.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/metric", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inconclusive_web_analysis_pauses_and_promote_continues() -> Result<()> {
    let s = Scenario::start("analysis-inconclusive").await?;
    let (url, _) = web_endpoint(json!({"data": {"rate": 0.5}})).await?;
    s.apply(&template(
        &s,
        "web-check",
        &format!(
            "  metrics:\n  - name: rate\n    successCondition: result.rate > 0.9\n    failureCondition: result.rate < 0.1\n    provider:\n      web:\n        url: {url}\n        jsonPath: '{{$.data}}'\n"
        ),
    ))?;
    let steps = "[{setWeight: 50}, {analysis: {templates: [{templateName: web-check}]}}, {setWeight: 75}]";
    s.apply(&rollout_manifest(4, steps, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", IMAGE_V2).await?;
    let paused = s
        .wait_for("web", "paused on an inconclusive analysis", |ro| {
            ro.status.as_ref().is_some_and(|st| st.pause_conditions.iter().any(|c| c.reason == PauseReason::InconclusiveAnalysisRun))
        })
        .await?;
    assert_eq!(paused.status.unwrap().phase, Some(RolloutPhase::Paused));
    let run = wait_run(&s, &["Inconclusive"]).await?;
    assert_eq!(run.status.unwrap().metric_results[0].measurements[0].value.as_deref(), Some(r#"{"rate":0.5}"#));
    s.promote("web").await?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    assert_eq!(runs(&s).await?.len(), 1, "promotion does not re-run the analysis");
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_analysis_runs_a_job_per_measurement() -> Result<()> {
    let s = Scenario::start("analysis-job").await?;
    s.apply(&template(
        &s,
        "smoke",
        "  metrics:\n  - name: smoke\n    provider:\n      job:\n        metadata:\n          annotations: {sim.serin.dev/behavior: succeed-after=1s}\n        spec:\n          backoffLimit: 0\n          template:\n            spec:\n              restartPolicy: Never\n              containers: [{name: smoke, image: busybox, command: [sh, -c, 'exit 0']}]\n",
    ))?;
    let steps = "[{setWeight: 50}, {analysis: {templates: [{templateName: smoke}]}}]";
    s.apply(&rollout_manifest(2, steps, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", IMAGE_V2).await?;
    let run = wait_run(&s, &["Successful", "Failed", "Error", "Inconclusive"]).await?;
    let status = run.status.clone().unwrap();
    assert_eq!(status.phase.as_ref().map(serin_api::AnalysisPhase::as_str), Some("Successful"), "{status:#?}");
    let job_name = status.metric_results[0].measurements[0].metadata["job-name"].clone();
    let uid = run.metadata.uid.clone().unwrap();
    assert_eq!(job_name, format!("{uid}.smoke.1"));
    let jobs = s.cluster.api::<k8s_openapi::api::batch::v1::Job>().list(&ListParams::default()).await?;
    let job = jobs.items.iter().find(|j| j.metadata.name.as_deref() == Some(job_name.as_str())).unwrap();
    assert_eq!(job.metadata.labels.as_ref().unwrap()["analysisrun.argoproj.io/uid"], uid);
    assert_eq!(job.metadata.owner_references.as_ref().unwrap()[0].kind, "AnalysisRun");
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    assert_eq!(s.rollout("web").await?.status.unwrap().stable_rs, Some(run.metadata.labels.unwrap()["rollouts-pod-template-hash"].clone()));
    s.finish().await;
    Ok(())
}

/// Everything logged in this test process (the in-process controller included), at debug level.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_arguments_reach_the_provider_and_nothing_else() -> Result<()> {
    let secret = "s3cr3t-t0ken";
    let logs = LogBuffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let s = Scenario::start("analysis-secret").await?;
    let (url, seen) = web_endpoint(json!({"needs_auth": true, "ok": true})).await?;
    s.apply(&format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  token: {secret}\n"))?;
    s.apply(&template(
        &s,
        "authed",
        &format!(
            "  args:\n  - name: token\n    valueFrom:\n      secretKeyRef: {{name: api, key: token}}\n  metrics:\n  - name: authed\n    successCondition: result.ok == true\n    provider:\n      web:\n        url: '{url}?token={{{{args.token}}}}'\n        headers: [{{key: Authorization, value: 'Bearer {{{{args.token}}}}'}}]\n"
        ),
    ))?;
    let steps = "[{setWeight: 50}, {analysis: {templates: [{templateName: authed}]}}]";
    s.apply(&rollout_manifest(2, steps, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", IMAGE_V2).await?;
    let run = wait_run(&s, &["Successful", "Failed", "Error", "Inconclusive"]).await?;
    assert_eq!(run.status.as_ref().unwrap().phase.as_ref().map(serin_api::AnalysisPhase::as_str), Some("Successful"));
    assert!(seen.lock().iter().any(|a| a == &format!("Bearer {secret}")), "the provider request carried the secret");
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;

    // Nothing stored anywhere holds the secret (the Secret itself aside).
    for kind in ["rollouts", "analysisruns", "analysistemplates", "replicasets", "pods", "events", "jobs"] {
        let dump = s.cluster.kubectl_ok(&["get", kind, "-o", "json"])?;
        assert!(!dump.contains(secret), "{kind} leaks the secret");
    }
    // Nor does any log line, while the controller did log the measurement (redacted).
    let logged = String::from_utf8_lossy(&logs.0.lock()).into_owned();
    assert!(logged.contains("analysisrun"), "the controller's logs were captured");
    assert!(!logged.contains(secret), "a log line leaks the secret");
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_runs_error_after_consecutive_errors_keep_dry_run_apart_and_expire() -> Result<()> {
    let s = Scenario::start("analysis-direct").await?;
    let (ok_url, _) = web_endpoint(json!({"ok": true, "rate": 0.2})).await?;
    let label = instance_label(&s);
    // Nothing listens on port 9 of loopback: every measurement is a connection error.
    s.apply(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata:\n  name: unreachable\n  labels:\n    {label}\nspec:\n  metrics:\n  - name: down\n    interval: 1s\n    consecutiveErrorLimit: 2\n    provider:\n      web:\n        url: http://127.0.0.1:9/metric\n        timeoutSeconds: 1\n"
    ))?;
    s.apply(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata:\n  name: trial\n  labels:\n    {label}\nspec:\n  dryRun: [{{metricName: experimental}}]\n  ttlStrategy: {{secondsAfterCompletion: 5}}\n  metrics:\n  - name: ok\n    successCondition: result.ok\n    provider: {{web: {{url: '{ok_url}'}}}}\n  - name: experimental\n    successCondition: result.rate > 0.5\n    provider: {{web: {{url: '{ok_url}'}}}}\n"
    ))?;
    let api = s.cluster.api::<AnalysisRun>();
    let trial = eventually("the dry-run trial to complete", wait_timeout(), || async {
        let run = api.get("trial").await?;
        Ok(run
            .status
            .clone()
            .filter(|st| st.phase.as_ref().is_some_and(|p| p.as_str() != "Running" && p.as_str() != "Pending"))
            .map(|_| run))
    })
    .await?;
    let status = trial.status.unwrap();
    assert_eq!(
        status.phase.as_ref().map(serin_api::AnalysisPhase::as_str),
        Some("Successful"),
        "a failing dry-run metric does not fail the run"
    );
    assert_eq!(status.dry_run_summary.as_ref().and_then(|d| d.failed), Some(1));
    assert_eq!(status.run_summary.as_ref().and_then(|d| d.count), Some(1));
    assert_eq!(status.metric_results.iter().find(|r| r.name == "experimental").and_then(|r| r.dry_run), Some(true));
    let down = eventually("the unreachable run to error", wait_timeout(), || async {
        let run = api.get("unreachable").await?;
        Ok(run.status.clone().filter(|st| st.phase.as_ref().is_some_and(|p| p.as_str() == "Error")).map(|_| run))
    })
    .await?;
    let status = down.status.unwrap();
    let result = &status.metric_results[0];
    assert_eq!((result.error, result.consecutive_error, result.count), (Some(3), Some(3), None), "{result:#?}");
    assert!(
        status
            .message
            .as_deref()
            .unwrap_or_default()
            .starts_with("Metric \"down\" assessed Error due to consecutiveErrors (3) > consecutiveErrorLimit (2)"),
        "{status:#?}"
    );
    // Retries follow the interval: 1 s apart, anchored to their starts.
    let starts: Vec<i64> = result.measurements.iter().map(|m| m.started_at.as_ref().unwrap().0.as_second()).collect();
    assert!(starts.windows(2).all(|w| w[1] - w[0] == 1), "{starts:?}");

    // ttlStrategy: the completed run deletes itself.
    eventually("the trial run to expire", wait_timeout(), || async { Ok(api.get_opt("trial").await?.is_none().then_some(())) }).await?;
    s.finish().await;
    Ok(())
}

/// Argo's `TestCanaryFailInlineMultipleAnalysis` (fixtures `rollout-degraded-inline-multiple-analysis.yaml` and
/// `analysistemplate-fail-multiple-job.yaml`): one metric's Jobs fail twice (`failureLimit: 1`) while the other
/// metric still waits on a 10000 s `initialDelay`. The run ends Failed at once, and the rollout aborts back to
/// stable instead of waiting for a measurement nearly three hours away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_metric_aborts_the_rollout_while_another_waits_on_its_initial_delay() -> Result<()> {
    let s = Scenario::start("analysis-fail-multiple").await?;
    let job = |behavior: &str| {
        format!(
            "      job:\n        metadata:\n          annotations: {{sim.serin.dev/behavior: {behavior}}}\n        spec:\n          backoffLimit: 0\n          template:\n            spec:\n              restartPolicy: Never\n              containers: [{{name: sleep-job, image: busybox, command: [sh, -c, 'sleep 0 && exit 1']}}]\n"
        )
    };
    s.apply(&template(
        &s,
        "multiple-job-fail",
        &format!(
            "  metrics:\n  - name: sleep-job\n    initialDelay: 10000s\n    count: 1\n    provider:\n{}  - name: sleep-job-rep\n    count: 2\n    interval: 1s\n    failureLimit: 1\n    provider:\n{}",
            job("succeed-after=1s"),
            job("fail-after=1s")
        ),
    ))?;
    let steps = "[{setWeight: 10}, {pause: {}}, {analysis: {templates: [{templateName: multiple-job-fail}]}}]";
    s.apply(&rollout_manifest(4, steps, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", IMAGE_V2).await?;
    s.wait_phase("web", RolloutPhase::Paused, "").await?;
    s.promote("web").await?;

    let ro = s.wait_phase("web", RolloutPhase::Degraded, "RolloutAborted").await?;
    let message = ro.status.as_ref().and_then(|st| st.message.clone()).unwrap_or_default();
    assert!(message.contains("Metric \"sleep-job-rep\" assessed Failed due to failed (2) > failureLimit (1)"), "{message}");
    let run = wait_run(&s, &["Failed"]).await?;
    let status = run.status.unwrap();
    let delayed = status.metric_results.iter().find(|r| r.name == "sleep-job");
    assert!(delayed.is_none_or(|r| r.measurements.is_empty()), "the delayed metric never measured: {delayed:#?}");
    let jobs = s.cluster.api::<k8s_openapi::api::batch::v1::Job>().list(&ListParams::default()).await?;
    assert!(
        !jobs.items.is_empty()
            && jobs.items.iter().all(|j| {
                j.metadata.annotations.as_ref().and_then(|a| a.get("analysisrun.argoproj.io/metric-name")).map(String::as_str)
                    == Some("sleep-job-rep")
            }),
        "no Job ran for the delayed metric"
    );
    // The canary is scaled away: every pod back on the stable version.
    eventually("canary scaled down", wait_timeout(), || async {
        let rss = s.replica_sets().await?;
        Ok((rss == vec![(serin_e2e::scenario::IMAGE_V1.to_owned(), 4)]).then_some(()))
    })
    .await?;
    s.finish().await;
    Ok(())
}
