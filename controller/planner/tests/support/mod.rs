//! A toy cluster for planner tests: it applies a [`Plan`] the way the executor and the API server would, and a
//! `settle` step stands in for the ReplicaSet controller and kubelet. No async, no client: scenarios run in
//! microseconds and read like the user story.

#![allow(dead_code, clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serin_api::labels::{DESIRED_REPLICAS, MANAGED_BY_ROLLOUTS, POD_TEMPLATE_HASH, REVISION, REVISION_HISTORY, SCALE_DOWN_DEADLINE};
use serin_api::rollout::status::{RolloutConditionType, RolloutPhase};
use serin_api::{AnalysisRun, AnalysisTemplate, Rollout, RolloutStatus};
use serin_planner::analysis::build::Templates;
use serin_planner::traffic::{HttpRoute, RouterKind, RouterObjects, RouterWrite};
use serin_planner::{Action, Observed, Plan, PodInfo, plan};

/// A Rollout from inline YAML.
pub fn rollout(yaml: &str) -> Rollout {
    let mut ro: Rollout = serde_saphyr::from_str(yaml).unwrap();
    ro.metadata.uid = Some("rollout-uid".into());
    ro.metadata.generation = Some(1);
    ro.metadata.namespace = Some("default".into());
    ro
}

/// A canary Rollout `web` with `replicas` pods of `image` and the given steps (YAML flow list).
pub fn canary(replicas: i32, steps: &str) -> Rollout {
    rollout(&format!(
        r"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: 'web:1'}}]
  strategy:
    canary:
      steps: {steps}
"
    ))
}

pub struct World {
    pub rollout: Rollout,
    pub rss: Vec<ReplicaSet>,
    pub now: Timestamp,
    /// Images whose pods never become available.
    pub broken_images: BTreeSet<String>,
    /// How long a new pod takes to become ready (zero: ready as soon as it exists).
    pub ready_delay: Duration,
    pub last_plan: Option<Plan>,
    pub events: Vec<String>,
    /// Pods of every ReplicaSet, kept in step with `spec.replicas` by `settle`.
    pub pods: Vec<PodInfo>,
    /// Pods evicted so far.
    pub evicted: Vec<String>,
    /// AnalysisRuns created by the plans (their status is set by the test).
    pub runs: Vec<AnalysisRun>,
    /// AnalysisTemplates in the namespace.
    pub templates: Vec<Arc<AnalysisTemplate>>,
    /// Services in the namespace.
    pub services: Vec<Service>,
    /// HTTPRoutes in the namespace.
    pub http_routes: Vec<HttpRoute>,
    /// Every write to a Service or router, in order, as `Kind/name: <what>`.
    pub traffic_log: Vec<String>,
    next_uid: u32,
}

impl World {
    pub fn new(rollout: Rollout) -> Self {
        Self {
            rollout,
            rss: Vec::new(),
            now: "2026-01-01T00:00:00Z".parse().unwrap(),
            broken_images: BTreeSet::new(),
            ready_delay: Duration::ZERO,
            last_plan: None,
            events: Vec::new(),
            pods: Vec::new(),
            evicted: Vec::new(),
            runs: Vec::new(),
            templates: Vec::new(),
            services: Vec::new(),
            http_routes: Vec::new(),
            traffic_log: Vec::new(),
            next_uid: 0,
        }
    }

    pub fn status(&self) -> RolloutStatus {
        self.rollout.status.clone().unwrap_or_default()
    }

    pub fn plan(&self) -> Plan {
        let rss: Vec<Arc<ReplicaSet>> = self.rss.iter().cloned().map(Arc::new).collect();
        let runs: Vec<Arc<AnalysisRun>> = self.runs.iter().cloned().map(Arc::new).collect();
        let templates = Templates { namespaced: &self.templates, cluster: &[] };
        let services: Vec<Arc<Service>> = self.services.iter().cloned().map(Arc::new).collect();
        let http_routes: Vec<Arc<HttpRoute>> = self.http_routes.iter().cloned().map(Arc::new).collect();
        let routing = RouterObjects { services: &services, http_routes: &http_routes, ..RouterObjects::default() };
        plan(&Observed { rollout: &self.rollout, replica_sets: &rss, pods: &self.pods, analysis_runs: &runs, templates, routing }, self.now)
    }

    /// One reconcile: plan, apply every action and the status. Returns the plan.
    pub fn reconcile(&mut self) -> Plan {
        let plan = self.plan();
        for action in &plan.actions {
            self.apply(action);
        }
        let before = serde_json::to_value(self.status()).unwrap();
        let after = serde_json::to_value(&plan.status).unwrap();
        if serin_planner::status_patch::merge_diff(&before, &after).is_some() {
            // Round-trip through JSON like the API server, so times lose their sub-second part.
            self.rollout.status = Some(serde_json::from_value(after).unwrap());
        }
        self.events.extend(plan.events.iter().map(|e| format!("{}: {}", e.reason, e.note)));
        self.last_plan = Some(plan.clone());
        plan
    }

    /// A reconcile cut short: only the first `k` actions land (the executor failed or the controller died), and
    /// the status is written only if all of them did. Returns whether the plan completed.
    pub fn reconcile_partial(&mut self, k: usize) -> bool {
        let plan = self.plan();
        if k >= plan.actions.len() {
            self.reconcile();
            return true;
        }
        for action in &plan.actions[..k] {
            self.apply(action);
        }
        false
    }

    /// The AnalysisRun named `name`.
    pub fn run_mut(&mut self, name: &str) -> &mut AnalysisRun {
        self.runs.iter_mut().find(|r| r.metadata.name.as_deref() == Some(name)).unwrap_or_else(|| panic!("no run {name}"))
    }

    fn apply(&mut self, action: &Action) {
        match action {
            Action::DefaultReplicas => self.rollout.spec.replicas = Some(1),
            Action::SetRolloutRevision { revision } => {
                self.rollout.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(REVISION.into(), revision.clone());
            }
            Action::AdoptReplicaSet { name, .. } => {
                let rs = self.rs_mut(name);
                rs.metadata.owner_references = Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    api_version: "argoproj.io/v1alpha1".into(),
                    kind: "Rollout".into(),
                    name: "web".into(),
                    uid: "rollout-uid".into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]);
            }
            Action::CreateReplicaSet(rs) => {
                assert!(self.rss.iter().all(|r| r.metadata.name != rs.metadata.name), "created twice: {:?}", rs.metadata.name);
                let mut rs = (**rs).clone();
                self.next_uid += 1;
                rs.metadata.uid = Some(format!("uid-{}", self.next_uid));
                rs.metadata.generation = Some(1);
                rs.metadata.creation_timestamp = Some(Time(self.now + SignedDuration::from_secs(i64::from(self.next_uid))));
                rs.status = Some(ReplicaSetStatus { replicas: 0, observed_generation: Some(1), ..Default::default() });
                self.rss.push(rs);
            }
            Action::UpdateReplicaSet { name, revision, revision_history, min_ready_seconds } => {
                let rs = self.rs_mut(name);
                let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
                if let Some(r) = revision {
                    annotations.insert(REVISION.into(), r.clone());
                }
                if let Some(h) = revision_history {
                    annotations.insert(REVISION_HISTORY.into(), h.clone());
                }
                if let Some(m) = min_ready_seconds {
                    rs.spec.as_mut().unwrap().min_ready_seconds = Some(*m);
                }
            }
            Action::ScaleReplicaSet { name, to, rollout_replicas, .. } => {
                let rs = self.rs_mut(name);
                rs.spec.as_mut().unwrap().replicas = Some(*to);
                rs.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(DESIRED_REPLICAS.into(), rollout_replicas.to_string());
                *rs.metadata.generation.get_or_insert(1) += 1;
            }
            Action::DeleteReplicaSet { name, .. } => self.rss.retain(|rs| rs.metadata.name.as_deref() != Some(name)),
            Action::CreateAnalysisRun(run) => {
                assert!(!self.runs.iter().any(|r| r.metadata.name == run.metadata.name), "run created twice: {:?}", run.metadata.name);
                let mut run = (**run).clone();
                self.next_uid += 1;
                run.metadata.uid = Some(format!("run-uid-{}", self.next_uid));
                run.metadata.creation_timestamp = Some(Time(self.now));
                self.runs.push(run);
            }
            Action::TerminateAnalysisRun { name } => self.run_mut(name).spec.terminate = Some(true),
            Action::DeleteAnalysisRun { name, .. } => self.runs.retain(|r| r.metadata.name.as_deref() != Some(name)),
            Action::SelectService { name, hash, resource_version } => {
                let svc = self.services.iter_mut().find(|s| s.metadata.name.as_deref() == Some(name)).unwrap();
                assert_eq!(svc.metadata.resource_version.as_deref(), Some(resource_version.as_str()), "stale Service write");
                svc.spec.as_mut().unwrap().selector.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH.into(), hash.clone());
                svc.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(MANAGED_BY_ROLLOUTS.into(), "web".into());
                bump(&mut svc.metadata.resource_version);
                self.traffic_log.push(format!("Service/{name}: select {hash}"));
            }
            Action::ReleaseService { name, .. } => {
                let svc = self.services.iter_mut().find(|s| s.metadata.name.as_deref() == Some(name)).unwrap();
                svc.spec.as_mut().unwrap().selector.as_mut().unwrap().remove(POD_TEMPLATE_HASH);
                svc.metadata.annotations.as_mut().unwrap().remove(MANAGED_BY_ROLLOUTS);
                bump(&mut svc.metadata.resource_version);
                self.traffic_log.push(format!("Service/{name}: release"));
            }
            Action::WriteRouter(RouterWrite::Patch { kind, name, patch }) => {
                assert_eq!(*kind, RouterKind::HttpRoute, "only HTTPRoutes in the toy cluster");
                let route = self.http_routes.iter_mut().find(|r| r.metadata.name.as_deref() == Some(name)).unwrap();
                assert_eq!(patch[0]["value"].as_str(), route.metadata.resource_version.as_deref(), "stale router write");
                let mut doc = serde_json::to_value(&*route).unwrap();
                let patch: json_patch_kube::Patch = serde_json::from_value(patch.clone()).unwrap();
                json_patch_kube::patch(&mut doc, &patch).unwrap();
                *route = serde_json::from_value(doc).unwrap();
                bump(&mut route.metadata.resource_version);
                let weights: Vec<String> = route
                    .spec
                    .rules
                    .iter()
                    .flatten()
                    .map(|r| format!("{:?}", r.backend_refs.iter().flatten().map(|b| b.weight.unwrap_or(1)).collect::<Vec<_>>()))
                    .collect();
                self.traffic_log.push(format!("HTTPRoute/{name}: {}", weights.join(" ")));
            }
            Action::WriteRouter(RouterWrite::Create { .. }) => panic!("no created router objects in the toy cluster"),
            Action::SetScaleDownDeadline { name, deadline } => {
                let rs = self.rs_mut(name);
                let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
                match deadline {
                    Some(d) => annotations.insert(SCALE_DOWN_DEADLINE.into(), d.clone()),
                    None => annotations.remove(SCALE_DOWN_DEADLINE),
                };
                self.traffic_log.push(format!("ReplicaSet/{name}: scale-down-deadline {deadline:?}"));
            }
            Action::EvictPod { name } => {
                let pod = self.pods.iter_mut().find(|p| &p.name == name).unwrap();
                assert!(!pod.deleting, "evicted twice: {name}");
                pod.deleting = true;
                self.evicted.push(name.clone());
            }
        }
    }

    /// Adds Services `web-stable` / `web-canary` and an HTTPRoute `web` splitting between them (100/0).
    pub fn with_gateway(&mut self) {
        for name in ["web-stable", "web-canary"] {
            self.services.push(
                serde_json::from_value(serde_json::json!({
                    "metadata": {"name": name, "namespace": "default", "resourceVersion": "1"},
                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
                }))
                .unwrap(),
            );
        }
        self.http_routes.push(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"},
                "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [
                    {"name": "web-stable", "port": 80, "weight": 100}, {"name": "web-canary", "port": 80, "weight": 0}
                ]}]}
            }))
            .unwrap(),
        );
    }

    /// The canary weight in the HTTPRoute's first rule.
    pub fn route_canary_weight(&self) -> i32 {
        let rule = &self.http_routes[0].spec.rules.as_ref().unwrap()[0];
        rule.backend_refs.iter().flatten().find(|b| b.name == "web-canary").and_then(|b| b.weight).unwrap()
    }

    /// The hash a Service selects.
    pub fn service_hash(&self, name: &str) -> Option<String> {
        let svc = self.services.iter().find(|s| s.metadata.name.as_deref() == Some(name)).unwrap();
        svc.spec.as_ref()?.selector.as_ref()?.get(POD_TEMPLATE_HASH).cloned()
    }

    pub fn rs_mut(&mut self, name: &str) -> &mut ReplicaSet {
        self.rss.iter_mut().find(|rs| rs.metadata.name.as_deref() == Some(name)).unwrap()
    }

    /// The ReplicaSet controller and kubelet: evicted pods are gone, every ReplicaSet has its pods (new ones created
    /// now), each ready `ready_delay` after its creation unless its image is broken.
    pub fn settle(&mut self) {
        self.pods.retain(|p| !p.deleting);
        let ready_delay = SignedDuration::try_from(self.ready_delay).unwrap();
        for rs in &mut self.rss {
            let spec = rs.spec.as_ref().unwrap();
            let want = spec.replicas.unwrap_or(1);
            let hash = rs.metadata.labels.as_ref().unwrap()[POD_TEMPLATE_HASH].clone();
            let mut have: Vec<usize> = (0..self.pods.len()).filter(|i| self.pods[*i].pod_hash == hash).collect();
            while have.len() > usize::try_from(want).unwrap() {
                self.pods.remove(have.pop().unwrap());
            }
            for _ in have.len()..usize::try_from(want).unwrap() {
                self.next_uid += 1;
                self.pods.push(PodInfo {
                    name: format!("pod-{}", self.next_uid),
                    pod_hash: hash.clone(),
                    created: self.now,
                    deleting: false,
                    ready_since: None,
                });
            }
            let image = spec.template.as_ref().unwrap().spec.as_ref().unwrap().containers[0].image.clone().unwrap_or_default();
            let broken = self.broken_images.contains(&image);
            let now = self.now;
            let mut available = 0;
            for pod in self.pods.iter_mut().filter(|p| p.pod_hash == hash) {
                let ready_at = pod.created + ready_delay;
                pod.ready_since = (!broken && ready_at <= now).then_some(ready_at);
                available += i32::from(pod.ready_since.is_some());
            }
            rs.status = Some(ReplicaSetStatus {
                replicas: want,
                ready_replicas: Some(available),
                available_replicas: Some(available),
                observed_generation: rs.metadata.generation,
                ..Default::default()
            });
        }
    }

    /// Reconcile and settle until the plan makes no more changes (at most `limit` rounds). Returns the rounds used.
    pub fn converge(&mut self) -> usize {
        for round in 1..=100 {
            let before = (self.rss.clone(), self.rollout.clone());
            self.reconcile();
            self.settle();
            if (self.rss.clone(), self.rollout.clone()) == before {
                return round;
            }
        }
        panic!("no convergence in 100 rounds; status: {:#?}", self.status());
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += SignedDuration::try_from(by).unwrap();
    }

    pub fn set_image(&mut self, image: &str) {
        self.rollout.spec.template.as_mut().unwrap().spec.as_mut().unwrap().containers[0].image = Some(image.into());
        *self.rollout.metadata.generation.get_or_insert(1) += 1;
    }

    pub fn patch_status(&mut self, patch: serde_json::Value) {
        let mut status = serde_json::to_value(self.status()).unwrap();
        json_merge(&mut status, &patch);
        self.rollout.status = Some(serde_json::from_value(status).unwrap());
    }

    /// What `kubectl serin promote` does at a pause step.
    pub fn promote(&mut self) {
        self.patch_status(serde_json::json!({"pauseConditions": null}));
    }

    pub fn phase(&self) -> (RolloutPhase, String) {
        let s = self.status();
        (s.phase.unwrap(), s.message.unwrap_or_default())
    }

    pub fn step_index(&self) -> Option<i32> {
        self.status().current_step_index
    }

    pub fn condition(&self, type_: RolloutConditionType) -> Option<(String, String)> {
        self.status().conditions.iter().find(|c| c.type_ == type_).map(|c| (c.status.as_str().to_owned(), c.reason.clone()))
    }

    /// `(image, spec.replicas)` of every ReplicaSet with pods, sorted by image.
    pub fn sizes(&self) -> Vec<(String, i32)> {
        let mut out: Vec<(String, i32)> = self
            .rss
            .iter()
            .map(|rs| {
                let spec = rs.spec.as_ref().unwrap();
                let image = spec.template.as_ref().unwrap().spec.as_ref().unwrap().containers[0].image.clone().unwrap();
                (image, spec.replicas.unwrap())
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort();
        out
    }

    pub fn hash_of(&self, image: &str) -> String {
        self.rss
            .iter()
            .find(|rs| {
                rs.spec.as_ref().unwrap().template.as_ref().unwrap().spec.as_ref().unwrap().containers[0].image.as_deref() == Some(image)
            })
            .and_then(|rs| rs.metadata.labels.as_ref()?.get(POD_TEMPLATE_HASH).cloned())
            .unwrap()
    }
}

fn json_merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                json_merge(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

fn bump(rv: &mut Option<String>) {
    let next = rv.as_deref().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + 1;
    *rv = Some(next.to_string());
}
