//! `make demo`: a real canary rollout on the embedded simulated cluster, no Kubernetes needed.
//!
//! Starts kube-sim, installs Serin's CRDs and the Gateway API HTTPRoute CRD, starts the Serin controller, applies
//! `docs/examples/demo-gateway-api.yaml` (two Services, an HTTPRoute, a Rollout), updates its image and prints the
//! rollout advancing step by step (the HTTPRoute's weights next to the pods of each side) until it is Healthy
//! (promoting it at the indefinite pause, as `kubectl serin promote` would), then starts another update and aborts
//! it. Finally, with the traffic simulator sending requests through the HTTPRoute and a real Prometheus server, an
//! analysis step lets a healthy version through and rolls a faulty one back automatically, printing the
//! measurements that condemned it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube_sim::KubeSim;
use serde_json::json;
use serin_api::labels::POD_TEMPLATE_HASH;
use serin_api::rollout::status::RolloutPhase;
use serin_api::{AnalysisRun, AnalysisTemplate, Rollout};
use serin_e2e::harness::TempDir;
use serin_e2e::prometheus::PrometheusServer;
use serin_e2e::scenario::spawn_controller;
use serin_e2e::traffic::{Router, Target, TrafficConfig, TrafficSimulator};

const EXAMPLE: &str = include_str!("../../../docs/examples/demo-gateway-api.yaml");
const GATEWAY_API_CRDS: &str = include_str!("../../crds/gateway-api.yaml");
const NS: &str = "default";

#[tokio::main]
async fn main() -> Result<()> {
    let started = Instant::now();
    let sim = KubeSim::start().await.context("starting kube-sim")?;
    let tmp = TempDir::new("serin-demo")?;
    let kubeconfig = tmp.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)?;
    let client = sim.client()?;
    say(&format!("kube-sim (simulated Kubernetes API) listening on {}", sim.url()));

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in serin_api::crd::custom_resource_definitions() {
        crds.create(&PostParams::default(), &crd).await?;
    }
    for doc in GATEWAY_API_CRDS.split("\n---\n") {
        if let Ok(crd) = serde_saphyr::from_str::<CustomResourceDefinition>(doc)
            && crd.metadata.name.is_some()
        {
            crds.create(&PostParams::default(), &crd).await?;
        }
    }
    say("installed Serin's CRDs (argoproj.io/v1alpha1: Rollout, AnalysisTemplate, AnalysisRun, ...) and Gateway API's HTTPRoute");
    let routes = Api::<DynamicObject>::namespaced_with(client.clone(), NS, &http_route_resource());
    wait_until("CRDs served", || async {
        Ok(Api::<Rollout>::namespaced(client.clone(), NS).list(&ListParams::default()).await.is_ok()
            && routes.list(&ListParams::default()).await.is_ok())
    })
    .await?;

    let (stop, controller) = spawn_controller(client.clone(), serin_controller::Settings::default());
    say("started serin-controller");

    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), NS);
    apply_example(&client).await?;
    say(
        "kubectl apply -f docs/examples/demo-gateway-api.yaml   (Services web-stable/web-canary, HTTPRoute web, Rollout web: 5 replicas,\n    steps setWeight 20, pause 3s, setWeight 40, pause, setWeight 80, pause 2s; traffic shifted by the HTTPRoute's backendRef weights)",
    );
    let mut watch = Watch::new(client.clone(), kubeconfig.clone());
    watch.until(|ro| phase(ro) == Some(RolloutPhase::Healthy), &rollouts).await?;

    say("kubectl serin set image web web=ghcr.io/serin-dev/demo-web:2.0");
    set_image(&rollouts, "ghcr.io/serin-dev/demo-web:2.0").await?;
    let mut promoted = false;
    watch
        .until_with(&rollouts, |ro| {
            let st = ro.status.clone().unwrap_or_default();
            if !promoted && st.current_step_index == Some(3) && st.phase == Some(RolloutPhase::Paused) {
                promoted = true;
                return Step::Promote;
            }
            if st.phase == Some(RolloutPhase::Healthy) && st.current_pod_hash == st.stable_rs { Step::Done } else { Step::Continue }
        })
        .await?;
    say(
        "rollout to 2.0 complete: the stable Service now selects the 2.0 pods and the route is back to 100/0 on it;\n    the 1.0 pods are scaled down after scaleDownDelaySeconds (5 s here)",
    );

    say("kubectl serin set image web web=ghcr.io/serin-dev/demo-web:3.0");
    set_image(&rollouts, "ghcr.io/serin-dev/demo-web:3.0").await?;
    watch.until(|ro| ro.status.as_ref().and_then(|s| s.current_step_index) == Some(1), &rollouts).await?;
    say("kubectl serin abort web   (patches status.abort=true)");
    rollouts.patch_status("web", &PatchParams::default(), &Patch::Merge(&json!({"status": {"abort": true}}))).await?;
    watch
        .until(|ro| phase(ro) == Some(RolloutPhase::Degraded) && ro.status.as_ref().and_then(|s| s.updated_replicas) == Some(0), &rollouts)
        .await?;
    say(
        "aborted: the route sent all traffic back to stable 2.0 at once; the canary pods went after abortScaleDownDelaySeconds (3 s);\n    `kubectl serin retry web` would resume the update",
    );

    analysis_story(&client, &rollouts, &mut watch).await?;

    if let Some(tree) = plugin(&kubeconfig, &["get", "rollout", "web", "--no-color"]) {
        say("kubectl serin get rollout web   (the kubectl plugin, through the real kubectl against kube-sim)");
        print!("{tree}");
    } else if let Ok(out) =
        std::process::Command::new("kubectl").env("KUBECONFIG", &kubeconfig).args(["get", "rollout,rs", "-n", NS]).output()
        && out.status.success()
    {
        say("kubectl get rollout,rs   (real kubectl against kube-sim)");
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), controller).await;
    sim.shutdown().await?;
    say(&format!("demo finished in {:.1} s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// Automated analysis: a real Prometheus server scrapes the traffic simulator; an analysis step lets a healthy
/// version through and rolls a faulty one (5% errors) back on its own.
async fn analysis_story(client: &kube::Client, rollouts: &Api<Rollout>, watch: &mut Watch) -> Result<()> {
    let target = Target::new(NS, "web", "app=web").via(Router::HttpRoute { name: "web".into() });
    let traffic = TrafficSimulator::start_with(client.clone(), vec![target], TrafficConfig::new(200)).await?;
    let prom = PrometheusServer::start(&[traffic.addr()]).await.context("starting Prometheus (apt-get install prometheus)")?;
    prom.wait_for_targets_up().await?;
    say(&format!(
        "traffic simulator: 200 req/s through HTTPRoute web (its weights, then the Services' ready pods), /metrics scraped every 1 s by a real Prometheus at {}",
        prom.url()
    ));
    let selector = format!("namespace=\"{NS}\",service=\"web\",rollouts_pod_template_hash=\"{{{{args.canary-hash}}}}\"");
    let template = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: success-rate}}\nspec:\n  args: [{{name: canary-hash}}]\n  metrics:\n  - name: success-rate\n    initialDelay: 3s\n    interval: 2s\n    count: 3\n    successCondition: 'len(result) > 0 && result[0] >= 0.99'\n    failureCondition: 'len(result) > 0 && result[0] < 0.99'\n    provider:\n      prometheus:\n        address: {}\n        query: 'sum(rate(http_requests_total{{{selector},code!~\"5..\"}}[10s])) / sum(rate(http_requests_total{{{selector}}}[10s]))'\n",
        prom.url()
    );
    let template: AnalysisTemplate = serde_saphyr::from_str(&template)?;
    Api::<AnalysisTemplate>::namespaced(client.clone(), NS).create(&PostParams::default(), &template).await?;
    say("kubectl apply AnalysisTemplate success-rate   (Prometheus: share of the canary's requests that are not 5xx; success >= 0.99)");

    let steps = json!([
        {"setWeight": 40},
        {"analysis": {"templates": [{"templateName": "success-rate"}], "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]}},
        {"setWeight": 80},
        {"pause": {"duration": "2s"}}
    ]);
    say("kubectl apply: web 4.0 (healthy) with an analysis step after setWeight 40");
    update(rollouts, &steps, "ghcr.io/serin-dev/demo-web:4.0", "0").await?;
    watch
        .until(
            |ro| phase(ro) == Some(RolloutPhase::Healthy) && ro.status.as_ref().is_some_and(|s| s.current_pod_hash == s.stable_rs),
            rollouts,
        )
        .await?;
    print_runs(client, "analysis passed: web 4.0 is stable").await?;

    say("kubectl serin set image web web=ghcr.io/serin-dev/demo-web:5.0   (this version fails 5% of its requests)");
    update(rollouts, &steps, "ghcr.io/serin-dev/demo-web:5.0", "0.05").await?;
    watch
        .until(|ro| phase(ro) == Some(RolloutPhase::Degraded) && ro.status.as_ref().and_then(|s| s.updated_replicas) == Some(0), rollouts)
        .await?;
    print_runs(client, "rolled back automatically: the analysis failed, every pod is back on 4.0").await?;
    traffic.stop().await;
    prom.stop().await;
    Ok(())
}

/// `kubectl apply -f docs/examples/demo-gateway-api.yaml`: each document created through the API.
async fn apply_example(client: &kube::Client) -> Result<()> {
    for doc in EXAMPLE.split("\n---\n") {
        let object: DynamicObject = serde_saphyr::from_str(doc)?;
        let kind = object.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
        let resource = match kind.as_str() {
            "Service" => ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&()),
            "HTTPRoute" => http_route_resource(),
            "Rollout" => ApiResource::erase::<Rollout>(&()),
            other => bail!("unexpected kind {other} in the demo example"),
        };
        Api::<DynamicObject>::namespaced_with(client.clone(), NS, &resource).create(&PostParams::default(), &object).await?;
    }
    Ok(())
}

fn http_route_resource() -> ApiResource {
    ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: "HTTPRoute".into(),
        plural: "httproutes".into(),
    }
}

/// Sets steps, image and the simulated error rate of the demo rollout.
async fn update(rollouts: &Api<Rollout>, steps: &serde_json::Value, image: &str, error_rate: &str) -> Result<()> {
    let patch = json!({"spec": {
        "strategy": {"canary": {"steps": steps}},
        "template": {
            "metadata": {"annotations": {"sim.serin.dev/error-rate": error_rate}},
            "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 8080}]}]}
        }
    }});
    rollouts.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// Prints the newest AnalysisRun's measurements, as `kubectl get analysisrun -o yaml` would show them.
async fn print_runs(client: &kube::Client, headline: &str) -> Result<()> {
    say(headline);
    let mut runs = Api::<AnalysisRun>::namespaced(client.clone(), NS).list(&ListParams::default()).await?.items;
    runs.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp));
    let Some(run) = runs.last() else { return Ok(()) };
    let status = run.status.clone().unwrap_or_default();
    println!("    AnalysisRun {}: {}", run.metadata.name.as_deref().unwrap_or_default(), status.phase.as_ref().map_or("", |p| p.as_str()));
    if let Some(message) = &status.message {
        println!("      {message}");
    }
    for result in &status.metric_results {
        for m in &result.measurements {
            let at = m.started_at.as_ref().map(|t| t.0.to_string()).unwrap_or_default();
            println!("      {:<14} {at}  {:<12} value {}", result.name, m.phase.as_str(), m.value.as_deref().unwrap_or("-"));
        }
    }
    Ok(())
}

/// Runs `kubectl serin <args>` through the real kubectl when the plugin was built next to this binary (`make demo`
/// builds it); `None` otherwise.
fn plugin(kubeconfig: &std::path::Path, args: &[&str]) -> Option<String> {
    let dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
    if !dir.join("kubectl-serin").exists() {
        return None;
    }
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut full = vec!["serin"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-n", NS]);
    let out = std::process::Command::new("kubectl").env("KUBECONFIG", kubeconfig).env("PATH", path).args(&full).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn say(line: &str) {
    println!("\n==> {line}");
}

fn phase(ro: &Rollout) -> Option<RolloutPhase> {
    ro.status.as_ref().and_then(|s| s.phase.clone())
}

async fn set_image(rollouts: &Api<Rollout>, image: &str) -> Result<()> {
    // Custom resources take merge patches, not strategic merge (as on a real API server), and a merge patch
    // replaces lists whole: send the containers with only the image changed.
    let ro = rollouts.get("web").await?;
    let mut containers = ro.spec.template.and_then(|t| t.spec).map(|s| s.containers).unwrap_or_default();
    if let Some(first) = containers.first_mut() {
        first.image = Some(image.to_owned());
    }
    let patch = json!({"spec": {"template": {"spec": {"containers": containers}}}});
    rollouts.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

async fn wait_until<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if check().await.unwrap_or(false) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("timed out waiting for {what}")
}

enum Step {
    Continue,
    Promote,
    Done,
}

/// Prints a line each time the rollout's step, phase, route weights or ReplicaSet sizes change.
struct Watch {
    kubeconfig: std::path::PathBuf,
    replica_sets: Api<ReplicaSet>,
    routes: Api<DynamicObject>,
    last: String,
    started: Instant,
}

impl Watch {
    fn new(client: kube::Client, kubeconfig: std::path::PathBuf) -> Self {
        println!("\n      time  step  setWeight  route stable/canary  pods stable  canary  phase");
        Self {
            kubeconfig,
            replica_sets: Api::namespaced(client.clone(), NS),
            routes: Api::namespaced_with(client, NS, &http_route_resource()),
            last: String::new(),
            started: Instant::now(),
        }
    }

    /// `stable/canary` weights of the HTTPRoute's first rule.
    async fn route(&self) -> Result<String> {
        let route = serde_json::to_value(self.routes.get("web").await?)?;
        let weight = |name: &str| {
            route
                .pointer("/spec/rules/0/backendRefs")
                .and_then(serde_json::Value::as_array)
                .and_then(|refs| refs.iter().find(|b| b["name"] == name))
                .and_then(|b| b["weight"].as_i64())
                .map_or_else(|| "-".to_owned(), |w| w.to_string())
        };
        Ok(format!("{}/{}", weight("web-stable"), weight("web-canary")))
    }

    async fn until(&mut self, mut done: impl FnMut(&Rollout) -> bool, rollouts: &Api<Rollout>) -> Result<()> {
        self.until_with(rollouts, |ro| if done(ro) { Step::Done } else { Step::Continue }).await
    }

    /// Polls the rollout, printing changes, until `next` says done; `next` only sees statuses written for the
    /// current generation of the spec.
    async fn until_with(&mut self, rollouts: &Api<Rollout>, mut next: impl FnMut(&Rollout) -> Step) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            let ro = rollouts.get("web").await?;
            self.print(&ro).await?;
            let observed = ro.status.as_ref().and_then(|s| s.observed_generation.clone()) == ro.metadata.generation.map(|g| g.to_string());
            if !observed {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            match next(&ro) {
                Step::Done => return Ok(()),
                Step::Promote => {
                    if let Some(tree) = plugin(&self.kubeconfig, &["get", "rollout", "web", "--no-color"]) {
                        say("kubectl serin get rollout web");
                        print!("{tree}");
                    }
                    say("kubectl serin promote web   (clears status.pauseConditions)");
                    rollouts
                        .patch_status("web", &PatchParams::default(), &Patch::Merge(&json!({"status": {"pauseConditions": null}})))
                        .await?;
                }
                Step::Continue => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the demo rollout did not get there in 90 s")
    }

    async fn print(&mut self, ro: &Rollout) -> Result<()> {
        let st = ro.status.clone().unwrap_or_default();
        let steps = ro.spec.strategy.as_ref().and_then(|s| s.canary.as_ref()).map(|c| c.steps.clone()).unwrap_or_default();
        let index = st.current_step_index.unwrap_or(0);
        let weight =
            steps.iter().take(usize::try_from(index + 1).unwrap_or(0).min(steps.len())).rev().find_map(|s| s.set_weight).map_or_else(
                || "-".to_owned(),
                |w| if usize::try_from(index).unwrap_or(0) >= steps.len() { "100".into() } else { w.to_string() },
            );
        let mut sizes: BTreeMap<String, String> = BTreeMap::new();
        for rs in self.replica_sets.list(&ListParams::default()).await?.items {
            let hash = rs.metadata.labels.as_ref().and_then(|l| l.get(POD_TEMPLATE_HASH)).cloned().unwrap_or_default();
            let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            let ready = rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0);
            sizes.insert(hash, format!("{ready}/{want}"));
        }
        let stable = st.stable_rs.as_deref().and_then(|h| sizes.get(h)).cloned().unwrap_or_else(|| "-".into());
        let canary = match (&st.current_pod_hash, &st.stable_rs) {
            (Some(c), Some(s)) if c != s => sizes.get(c).cloned().unwrap_or_else(|| "-".into()),
            _ => "-".into(),
        };
        let phase = st.phase.as_ref().map_or("", |p| p.as_str());
        let message = st.message.clone().unwrap_or_default();
        let phase = if message.is_empty() { phase.to_owned() } else { format!("{phase} ({message})") };
        let route = self.route().await?;
        let line = format!("{:>4}/{:<3} {:>9}  {:>19}  {:>11}  {:>6}  {phase}", index, steps.len(), weight, route, stable, canary);
        if line != self.last {
            println!("    {:>5.1}s  {line}", self.started.elapsed().as_secs_f64());
            self.last = line;
        }
        Ok(())
    }
}
