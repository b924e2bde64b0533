//! Scenario fixtures: a cluster (kube-sim, or the real one with `SERIN_E2E_REAL=1`), Serin's CRDs, and a Serin
//! controller running in-process, scoped to the test's namespace and to a per-test `--instance-id`, so scenarios
//! run side by side, and next to any Serin or Argo controller already installed on a real cluster.
//!
//! Everything a scenario does goes through the Kubernetes API (kubectl or kube-rs), as a user would.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use serin_api::Rollout;
use serin_api::labels::CONTROLLER_INSTANCE_ID;
use serin_api::rollout::status::RolloutPhase;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::harness::{Cluster, eventually, real_cluster, wait_timeout};

const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/crds");
/// CRDs of the traffic routers (Gateway API, Istio, Traefik) for kube-sim.
const ROUTER_CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
/// The router CRDs a routed scenario needs.
const ROUTER_CRD_NAMES: [&str; 4] = [
    "httproutes.gateway.networking.k8s.io",
    "virtualservices.networking.istio.io",
    "destinationrules.networking.istio.io",
    "traefikservices.traefik.io",
];

/// The image of [`rollout_manifest`]'s pods; pullable on a real cluster.
pub const IMAGE_V1: &str = "registry.k8s.io/pause:3.9";
/// A second pullable image, for updates.
pub const IMAGE_V2: &str = "registry.k8s.io/pause:3.10";

/// A canary Rollout `web` (selector `app=web`, one container `web` running [`IMAGE_V1`]) with `replicas` pods, the
/// given steps (a YAML flow list) and extra spec lines (each indented two spaces, newline-terminated).
pub fn rollout_manifest(replicas: i32, steps: &str, extra_spec: &str) -> String {
    format!(
        r"apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: {replicas}
{extra_spec}  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {IMAGE_V1}
  strategy:
    canary:
      steps: {steps}
"
    )
}

/// Runs the Serin controller in this process until the returned sender is used (or dropped); the handle ends
/// when it has shut down.
pub fn spawn_controller(client: kube::Client, settings: serin_controller::Settings) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(err) = serin_controller::run(client, settings, shutdown).await {
            tracing::error!(%err, "controller failed");
        }
    });
    (stop, task)
}

/// Installs the router CRDs of `e2e/crds` on kube-sim; on a real cluster, checks that they are installed.
pub fn install_router_crds(cluster: &Cluster) -> Result<()> {
    if real_cluster() {
        for crd in ROUTER_CRD_NAMES {
            cluster.kubectl_ok(&["get", "crd", crd]).with_context(|| format!("routed scenarios need the CRD {crd} installed"))?;
        }
        return Ok(());
    }
    for file in ["gateway-api.yaml", "istio.yaml", "traefik.yaml"] {
        cluster.kubectl_ok(&["apply", "-f", &format!("{ROUTER_CRDS}/{file}")])?;
    }
    for crd in ROUTER_CRD_NAMES {
        cluster.kubectl_ok(&["wait", "--for=condition=Established", &format!("crd/{crd}"), "--timeout=20s"])?;
    }
    Ok(())
}

/// A cluster with Serin's CRDs and a running controller.
pub struct Scenario {
    /// The cluster and the test namespace.
    pub cluster: Cluster,
    /// The instance id the controller handles; [`Scenario::apply`] labels Rollouts with it.
    pub instance_id: String,
    controller: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    /// Where the controller serves `/metrics`.
    metrics_addr: std::net::SocketAddr,
    /// The controller's client when it is not the test's (impersonating the installed ServiceAccount).
    controller_client: Option<kube::Client>,
}

impl Scenario {
    /// Starts the cluster, installs the CRDs (kube-sim only: on a real cluster they must be installed already),
    /// and starts the controller.
    pub async fn start(test: &str) -> Result<Self> {
        Self::start_with(test, false).await
    }

    /// As [`Scenario::start`], with the traffic routers' CRDs (Gateway API, Istio, Traefik) installed before the
    /// controller starts. On a real cluster they must be installed already (the scenario fails saying which).
    pub async fn start_routed(test: &str) -> Result<Self> {
        Self::start_with(test, true).await
    }

    async fn start_with(test: &str, routers: bool) -> Result<Self> {
        let cluster = Cluster::new(test).await?;
        if routers {
            install_router_crds(&cluster)?;
        }
        if real_cluster() {
            cluster
                .kubectl_ok(&["get", "crd", "rollouts.argoproj.io"])
                .context("install Serin's CRDs first: kubectl apply -k manifests/crds")?;
        } else {
            cluster.kubectl_ok(&["apply", "-k", CRDS])?;
            cluster.kubectl_ok(&["wait", "--for=condition=Established", "crd/rollouts.argoproj.io", "--timeout=20s"])?;
        }
        let instance_id = cluster.namespace.clone();
        let metrics_addr = std::net::SocketAddr::from(([127, 0, 0, 1], crate::process::free_port()?));
        let mut scenario = Self { cluster, instance_id, controller: None, metrics_addr, controller_client: None };
        scenario.start_controller();
        Ok(scenario)
    }

    /// As [`Scenario::start`], with the controller holding exactly the permissions `manifests/install` grants. On a
    /// real cluster it runs as a ServiceAccount bound to the install's ClusterRole and leader-election Role
    /// (impersonated, so the API server's RBAC authorizes every request); the ClusterRole and its binding are
    /// named after the test namespace and removed by [`Scenario::remove_installed_rbac`]. On kube-sim, which does
    /// not authorize, the controller runs as usual and its requests are counted for the caller to check.
    pub async fn start_with_installed_rbac(test: &str) -> Result<Self> {
        let mut scenario = Self::start(test).await?;
        if scenario.cluster.sim().is_some() {
            return Ok(scenario);
        }
        scenario.stop_controller().await;
        let ns = scenario.cluster.namespace.clone();
        let account = "serin-controller";
        let read = |file: &str| -> Result<serde_json::Value> {
            Ok(serde_saphyr::from_str(&std::fs::read_to_string(format!("{}/../manifests/install/{file}", env!("CARGO_MANIFEST_DIR")))?)?)
        };
        let subject = serde_json::json!([{"kind": "ServiceAccount", "name": account, "namespace": ns}]);
        let mut cluster_role = read("clusterrole.yaml")?;
        cluster_role["metadata"] = serde_json::json!({"name": format!("serin-e2e-{ns}")});
        let mut role = read("role.yaml")?;
        role["metadata"] = serde_json::json!({"name": "serin-leader-election"});
        let documents = [
            serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}}),
            cluster_role,
            serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": format!("serin-e2e-{ns}")},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("serin-e2e-{ns}")},
                "subjects": subject}),
            role,
            serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "serin-leader-election"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "serin-leader-election"},
                "subjects": subject}),
        ];
        for document in documents {
            scenario.cluster.apply_yaml(&serde_json::to_string(&document)?, &[])?;
        }
        let mut config = kube::Config::infer().await?;
        config.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:{account}"));
        scenario.controller_client = Some(kube::Client::try_from(config)?);
        scenario.start_controller();
        Ok(scenario)
    }

    /// Deletes the cluster-scoped RBAC objects [`Scenario::start_with_installed_rbac`] made on a real cluster.
    pub fn remove_installed_rbac(&self) -> Result<()> {
        if self.cluster.sim().is_none() {
            let name = format!("serin-e2e-{}", self.cluster.namespace);
            self.cluster.kubectl_ok(&[
                "delete",
                &format!("clusterrolebinding/{name}"),
                &format!("clusterrole/{name}"),
                "--ignore-not-found",
            ])?;
        }
        Ok(())
    }

    /// Starts (or restarts) the in-process controller.
    pub fn start_controller(&mut self) {
        // Leader election on, as installed: the Lease lives in the test namespace, and each start is a new replica
        // (a graceful stop releases the Lease, so a restarted controller leads again at once).
        let identity = format!("scenario_{}", kube_sim::store::random_suffix(6));
        let settings = serin_controller::Settings {
            namespace: Some(self.cluster.namespace.clone()),
            instance_id: Some(self.instance_id.clone()),
            metrics_addr: Some(self.metrics_addr),
            leader_election: Some(serin_controller::leader::LeaderElection::new(self.cluster.namespace.clone(), identity)),
            ..serin_controller::Settings::default()
        };
        // On kube-sim the controller identifies itself, so its requests can be counted (and checked against RBAC).
        let client = match (&self.controller_client, self.cluster.kube_sim().map(|sim| sim.client_as(serin_controller::FIELD_MANAGER))) {
            (Some(client), _) => client.clone(),
            (None, Some(Ok(client))) => client,
            _ => self.cluster.client.clone(),
        };
        self.controller = Some(spawn_controller(client, settings));
    }

    /// Stops the controller (graceful shutdown) and waits for it to finish; false if it had not finished after 10 s
    /// (it is abandoned then).
    pub async fn stop_controller(&mut self) -> bool {
        let Some((stop, task)) = self.controller.take() else { return true };
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), task).await.is_ok()
    }

    /// Where the controller serves `/metrics` (`127.0.0.1:PORT`).
    pub fn metrics_addr(&self) -> std::net::SocketAddr {
        self.metrics_addr
    }

    /// The controller's `/metrics` exposition.
    pub async fn metrics(&self) -> Result<String> {
        let url = format!("http://{}/metrics", self.metrics_addr);
        let response = reqwest::Client::builder().no_proxy().build()?.get(&url).send().await?;
        Ok(response.error_for_status()?.text().await?)
    }

    /// `kubectl apply` of a manifest, with the scenario's instance-id label added to every Rollout.
    pub fn apply(&self, yaml: &str) -> Result<String> {
        let labelled = yaml.replace(
            "kind: Rollout\nmetadata:\n",
            &format!("kind: Rollout\nmetadata:\n  labels:\n    {CONTROLLER_INSTANCE_ID}: {}\n", self.instance_id),
        );
        self.cluster.apply_yaml(&labelled, &[])
    }

    /// The Rollout `name`.
    pub async fn rollout(&self, name: &str) -> Result<Rollout> {
        Ok(self.cluster.api::<Rollout>().get(name).await?)
    }

    /// Merge-patches the Rollout's status, as `kubectl serin`, the Argo plugin and Argo CD actions do.
    pub async fn patch_status(&self, name: &str, status: Value) -> Result<()> {
        self.cluster.api::<Rollout>().patch_status(name, &PatchParams::default(), &Patch::Merge(&json!({"status": status}))).await?;
        Ok(())
    }

    /// Merge-patches the Rollout's spec.
    pub async fn patch_spec(&self, name: &str, spec: Value) -> Result<()> {
        self.cluster.api::<Rollout>().patch(name, &PatchParams::default(), &Patch::Merge(&json!({"spec": spec}))).await?;
        Ok(())
    }

    /// Sets the image of the `web` container of Rollout `name` (an update through the steps).
    pub async fn set_image(&self, name: &str, image: &str) -> Result<()> {
        self.patch_spec(name, json!({"template": {"spec": {"containers": [{"name": "web", "image": image}]}}})).await
    }

    /// Promote at a pause step (what `kubectl serin promote` does). As Argo's plugin does, a rollout paused on an
    /// Inconclusive step analysis also moves past that step.
    pub async fn promote(&self, name: &str) -> Result<()> {
        let status = self.rollout(name).await?.status.unwrap_or_default();
        let inconclusive = status.pause_conditions.iter().any(|c| c.reason.as_str() == "InconclusiveAnalysisRun")
            && status.canary.as_ref().is_some_and(|c| c.current_step_analysis_run_status.is_some());
        if inconclusive && let Some(index) = status.current_step_index {
            return self.patch_status(name, json!({"pauseConditions": null, "currentStepIndex": index + 1})).await;
        }
        self.patch_status(name, json!({"pauseConditions": null})).await
    }

    /// Waits until `check` holds for the Rollout, failing with its last phase and message otherwise.
    pub async fn wait_for(&self, name: &str, what: &str, check: impl Fn(&Rollout) -> bool) -> Result<Rollout> {
        let result = eventually(what, wait_timeout(), || async {
            let ro = self.rollout(name).await?;
            let observed = ro.status.as_ref().and_then(|s| s.observed_generation.clone()) == ro.metadata.generation.map(|g| g.to_string());
            Ok((observed && check(&ro)).then_some(ro))
        })
        .await;
        match result {
            Ok(ro) => Ok(ro),
            Err(err) => {
                let ro = self.rollout(name).await.ok();
                let status = ro.and_then(|r| r.status).map(|s| serde_json::to_string_pretty(&s).unwrap_or_default());
                bail!("{err}; status: {}", status.unwrap_or_default())
            }
        }
    }

    /// Waits for a phase (and, if given, a message prefix).
    pub async fn wait_phase(&self, name: &str, phase: RolloutPhase, message_prefix: &str) -> Result<Rollout> {
        self.wait_for(name, &format!("phase {phase:?} {message_prefix:?}"), |ro| {
            let s = ro.status.clone().unwrap_or_default();
            s.phase.as_ref() == Some(&phase) && s.message.as_deref().unwrap_or_default().starts_with(message_prefix)
        })
        .await
    }

    /// `(spec.replicas, image)` of every ReplicaSet with pods, by image.
    pub async fn replica_sets(&self) -> Result<Vec<(String, i32)>> {
        let rss = self.cluster.api::<k8s_openapi::api::apps::v1::ReplicaSet>().list(&kube::api::ListParams::default()).await?;
        let mut out: Vec<(String, i32)> = rss
            .items
            .iter()
            .filter_map(|rs| {
                let spec = rs.spec.as_ref()?;
                let image = spec.template.as_ref()?.spec.as_ref()?.containers.first()?.image.clone()?;
                Some((image, spec.replicas.unwrap_or(1)))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort();
        Ok(out)
    }

    /// Stops the controller and cleans up the namespace.
    pub async fn finish(mut self) {
        self.stop_controller().await;
        self.cluster.cleanup().await;
    }
}
