//! The simulated control plane: a single task that consumes the store's change feed and timers and plays the
//! `ReplicaSet` controller, the kubelet, the Job controller, the Endpoints controller, the garbage collector, the
//! namespace finalizer, the CRD establishing controller, and the two publishers that give every namespace its
//! `default` `ServiceAccount` and its `kube-root-ca.crt` `ConfigMap` (recreated when deleted, reset when changed,
//! as kube-controller-manager's service-account and root-CA publishers do).
//!
//! Every write goes through the [`Store`] like an API client's would (admission, revisions, watch events), so
//! what tests observe is what the controllers did. Each controller can be switched off (`/sim/controllers`);
//! CRD establishment cannot (a CRD that never serves would not be Kubernetes).
//!
//! Pod behaviour is read from the pod annotation `sim.serin.dev/behavior` (copied from the template):
//! `ready-after=5s`, `never-ready`, `crashloop`, `image-pull-error`; absent = ready after the configured delay.
//! Jobs read the same key on the Job or its pod template: `succeed-after=2s`, `fail-after=2s`, `never-finish`.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::admission;
use super::control::Controls;
use super::disruption;
use super::resources::{self, GroupResource};
use super::selector::LabelSelector;
use super::store::{self, Change, DeleteOptions, EventType, ListOptions, Propagation, Store, Subresource};

/// The behaviour annotation key.
pub const BEHAVIOR: &str = "sim.serin.dev/behavior";

/// The condition apiextensions-apiserver's API-approval controller sets on CRDs of protected groups.
const API_APPROVAL_CONDITION: &str = "KubernetesAPIApprovalPolicyConformant";

/// The `ConfigMap` kube-controller-manager's root-CA publisher puts in every namespace.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
/// The `ServiceAccount` every namespace gets.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
const ROOT_CA_DESCRIPTION_KEY: &str = "kubernetes.io/description";
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as \
the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// A self-signed CA certificate (PEM), valid for ten years from today, like the one a cluster's bootstrap creates.
fn generate_root_ca() -> String {
    let made = (|| -> Result<String, rcgen::Error> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "kube-sim-ca");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages =
            vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let today = jiff::Zoned::now().date();
        let (year, month, day) = (i32::from(today.year()), today.month().unsigned_abs(), today.day().unsigned_abs());
        params.not_before = rcgen::date_time_ymd(year, month, day);
        params.not_after = rcgen::date_time_ymd(year + 10, month, day.min(28));
        Ok(params.self_signed(&key)?.pem())
    })();
    made.unwrap_or_else(|e| panic!("generating kube-sim's CA certificate failed: {e}"))
}

/// Timing knobs of the control plane.
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// Delay before a healthy pod turns Ready.
    pub pod_ready_delay: Duration,
    /// Delay before a Job with no behaviour annotation succeeds.
    pub job_duration: Duration,
    /// Interval between restarts of a crash-looping container.
    pub crash_interval: Duration,
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        Self { pod_ready_delay: Duration::from_millis(500), job_duration: Duration::from_secs(1), crash_interval: Duration::from_secs(2) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Task {
    SyncReplicaSet(String, String),
    PodReady(String, String, String),
    PodCrash(String, String, String),
    FinishJob(String, String, String, bool, &'static str),
}

/// Parses the Go-style durations used in behaviour annotations (`500ms`, `5s`, `1m`, `1m30s`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut num = String::new();
    let mut chars = s.trim().chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let secs = match unit.as_str() {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return None,
        };
        total += Duration::from_secs_f64(secs);
        any = true;
    }
    if !num.is_empty() {
        return None;
    }
    any.then_some(total)
}

fn name_of(obj: &Value) -> (String, String) {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
    (s("/metadata/namespace"), s("/metadata/name"))
}

fn uid_of(obj: &Value) -> String {
    obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn terminating(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
}

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|a| a.iter().any(|x| x.as_str() == Some(f)))
}

fn behavior(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/annotations").and_then(|a| a.get(BEHAVIOR)).and_then(Value::as_str).map(str::to_owned)
}

fn condition_true(obj: &Value, ty: &str) -> Option<String> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty) && c.get("status").and_then(Value::as_str) == Some("True"))
        .map(|c| c.get("lastTransitionTime").and_then(Value::as_str).unwrap_or_default().to_owned())
}

fn gr(group: &str, resource: &str) -> GroupResource {
    GroupResource::new(group, resource)
}

/// The control-plane task state.
pub struct ControlPlane {
    store: Arc<Store>,
    controls: Arc<Controls>,
    config: ControlPlaneConfig,
    timers: BinaryHeap<Reverse<(Instant, u64, Task)>>,
    seq: u64,
    next_ip: u32,
    dirty_rs: BTreeSet<(String, String)>,
    dirty_services: BTreeSet<(String, String)>,
    dirty_owners: BTreeSet<String>,
    dirty_namespaces: BTreeSet<String>,
    dirty_budgets: BTreeSet<String>,
    new_pods: BTreeSet<(String, String)>,
    new_jobs: BTreeSet<(String, String)>,
    deleted_owners: Vec<(String, Vec<String>)>,
    dirty_published: BTreeSet<String>,
    /// The CA bundle published as `kube-root-ca.crt`: adopted from a published `ConfigMap` (a restored snapshot)
    /// or generated on first use.
    root_ca: Option<String>,
}

impl ControlPlane {
    /// Creates the control plane over a store.
    pub fn new(store: Arc<Store>, controls: Arc<Controls>, config: ControlPlaneConfig) -> Self {
        Self {
            store,
            controls,
            config,
            timers: BinaryHeap::new(),
            seq: 0,
            next_ip: 0,
            dirty_rs: BTreeSet::new(),
            dirty_services: BTreeSet::new(),
            dirty_owners: BTreeSet::new(),
            dirty_namespaces: BTreeSet::new(),
            dirty_budgets: BTreeSet::new(),
            new_pods: BTreeSet::new(),
            new_jobs: BTreeSet::new(),
            deleted_owners: Vec::new(),
            dirty_published: BTreeSet::new(),
            root_ca: None,
        }
    }

    fn on(flag: &std::sync::atomic::AtomicBool) -> bool {
        flag.load(Ordering::Relaxed)
    }

    fn schedule(&mut self, at: Instant, task: Task) {
        self.seq += 1;
        self.timers.push(Reverse((at, self.seq, task)));
    }

    /// Runs until the change feed closes.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Change>) {
        loop {
            let next = self.timers.peek().map(|Reverse((t, _, _))| *t);
            tokio::select! {
                change = rx.recv() => {
                    let Some(change) = change else { return };
                    self.observe(&change);
                    while let Ok(c) = rx.try_recv() {
                        self.observe(&c);
                    }
                }
                () = async { if let Some(t) = next { tokio::time::sleep_until(t).await } }, if next.is_some() => {
                    let now = Instant::now();
                    while self.timers.peek().is_some_and(|Reverse((t, _, _))| *t <= now) {
                        if let Some(Reverse((_, _, task))) = self.timers.pop() {
                            self.run_task(task);
                        }
                    }
                }
                // Heartbeat: work skipped while a controller was switched off (`/sim/controllers`) is picked up
                // within a second of switching it back on, even if nothing else changes.
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            self.flush();
        }
    }

    fn observe(&mut self, c: &Change) {
        let (ns, name) = name_of(&c.object);
        match (c.gr.group.as_str(), c.gr.resource.as_str()) {
            ("apiextensions.k8s.io", "customresourcedefinitions") => self.sync_crd(c),
            ("apps", "replicasets") => {
                self.dirty_rs.insert((ns.clone(), name.clone()));
            }
            ("", "pods") => {
                if c.kind == EventType::Added && c.object.pointer("/status/phase").is_none() {
                    self.new_pods.insert((ns.clone(), name.clone()));
                }
                for owner in c.object.pointer("/metadata/ownerReferences").and_then(Value::as_array).into_iter().flatten() {
                    if owner.get("kind").and_then(Value::as_str) == Some("ReplicaSet")
                        && let Some(n) = owner.get("name").and_then(Value::as_str)
                    {
                        self.dirty_rs.insert((ns.clone(), n.to_owned()));
                    }
                }
                self.pod_services(&ns, &c.object, c.old.as_deref());
                self.dirty_budgets.insert(ns.clone());
            }
            ("policy", "poddisruptionbudgets") if c.kind != EventType::Deleted => {
                self.dirty_budgets.insert(ns.clone());
            }
            ("", "services") => {
                self.dirty_services.insert((ns.clone(), name.clone()));
            }
            ("batch", "jobs") if c.kind == EventType::Added => {
                self.new_jobs.insert((ns.clone(), name.clone()));
            }
            ("", "namespaces") if terminating(&c.object) && c.kind != EventType::Deleted => {
                self.dirty_namespaces.insert(name.clone());
            }
            ("", "namespaces") if c.kind != EventType::Deleted => {
                self.dirty_published.insert(name.clone());
            }
            ("", "configmaps") if name == ROOT_CA_CONFIG_MAP => {
                self.dirty_published.insert(ns.clone());
            }
            ("", "serviceaccounts") if name == DEFAULT_SERVICE_ACCOUNT && c.kind == EventType::Deleted => {
                self.dirty_published.insert(ns.clone());
            }
            _ => {}
        }
        // Garbage collection bookkeeping for every kind.
        let uid = uid_of(&c.object);
        match c.kind {
            EventType::Deleted => {
                let owners: Vec<String> = c
                    .object
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_owned)).collect())
                    .unwrap_or_default();
                self.deleted_owners.push((uid, owners));
                if !ns.is_empty() {
                    self.dirty_namespaces.insert(ns);
                }
            }
            EventType::Modified if terminating(&c.object) => {
                self.dirty_owners.insert(uid);
            }
            EventType::Added if c.object.pointer("/metadata/ownerReferences").is_some() => {
                // A dependent created with only dangling owners is collected, as the real GC does.
                self.dirty_owners.insert(format!("dangling:{uid}"));
            }
            _ => {}
        }
    }

    fn pod_services(&mut self, ns: &str, pod: &Value, old: Option<&Value>) {
        let Ok(services) = self.store.list(&gr("", "services"), &ListOptions { namespace: Some(ns.to_owned()), ..ListOptions::default() })
        else {
            return;
        };
        for svc in services.items {
            let Some(sel) = svc.pointer("/spec/selector").and_then(Value::as_object).filter(|s| !s.is_empty()) else { continue };
            let sel = LabelSelector::from_json(&json!({"matchLabels": sel})).unwrap_or_default();
            if sel.matches_object(pod) || old.is_some_and(|o| sel.matches_object(o)) {
                self.dirty_services.insert(name_of(&svc));
            }
        }
    }

    fn flush(&mut self) {
        let sw = &self.controls.switches;
        let (rs_on, kubelet_on, job_on, ep_on, gc_on, pdb_on) = (
            Self::on(&sw.replicaset),
            Self::on(&sw.kubelet),
            Self::on(&sw.job),
            Self::on(&sw.endpoints),
            Self::on(&sw.gc),
            Self::on(&sw.disruption),
        );
        if kubelet_on {
            for (ns, name) in std::mem::take(&mut self.new_pods) {
                self.start_pod(&ns, &name);
            }
        }
        if job_on {
            for (ns, name) in std::mem::take(&mut self.new_jobs) {
                self.start_job(&ns, &name);
            }
        }
        if rs_on {
            for (ns, name) in std::mem::take(&mut self.dirty_rs) {
                self.sync_replicaset(&ns, &name);
            }
        }
        if ep_on {
            for (ns, name) in std::mem::take(&mut self.dirty_services) {
                self.sync_endpoints(&ns, &name);
            }
        }
        if pdb_on {
            for ns in std::mem::take(&mut self.dirty_budgets) {
                self.sync_budgets(&ns);
            }
        }
        for ns in std::mem::take(&mut self.dirty_published) {
            self.publish(&ns);
        }
        if gc_on {
            for (uid, owners) in std::mem::take(&mut self.deleted_owners) {
                self.collect_dependents(&uid, false);
                // A dependent going away may unblock an owner in foreground deletion.
                self.dirty_owners.extend(owners);
            }
            for uid in std::mem::take(&mut self.dirty_owners) {
                if let Some(dep) = uid.strip_prefix("dangling:") {
                    self.collect_if_dangling(dep);
                } else {
                    self.sync_terminating_owner(&uid);
                }
            }
            for ns in std::mem::take(&mut self.dirty_namespaces) {
                self.sync_namespace(&ns);
            }
        }
    }

    fn run_task(&mut self, task: Task) {
        match task {
            Task::SyncReplicaSet(ns, name) => {
                self.dirty_rs.insert((ns, name));
            }
            Task::PodReady(ns, name, uid) => {
                if Self::on(&self.controls.switches.kubelet) {
                    self.pod_ready(&ns, &name, &uid);
                }
            }
            Task::PodCrash(ns, name, uid) => {
                if Self::on(&self.controls.switches.kubelet) {
                    self.pod_crash(&ns, &name, &uid);
                }
            }
            Task::FinishJob(ns, name, uid, ok, reason) => {
                if Self::on(&self.controls.switches.job) {
                    self.finish_job(&ns, &name, &uid, ok, reason);
                }
            }
        }
    }

    // === CRDs ===

    fn sync_crd(&mut self, c: &Change) {
        if c.kind == EventType::Deleted {
            if let Ok(rt) = resources::from_crd(&c.object) {
                self.store.unregister(&rt.gr);
            }
            return;
        }
        let Ok(rt) = resources::from_crd(&c.object) else { return };
        self.store.register(rt);
        let established = condition_true(&c.object, "Established").is_some();
        // The API-approval controller reports on CRDs of protected groups only.
        let group = c.object.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
        let approval = admission::is_protected_group(group).then(|| admission::ApiApproval::of(&c.object).condition());
        let approval_current = approval.as_ref().is_none_or(|(status, reason, message)| {
            c.object.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
                cs.iter().any(|cond| {
                    cond.get("type").and_then(Value::as_str) == Some(API_APPROVAL_CONDITION)
                        && cond.get("status").and_then(Value::as_str) == Some(status)
                        && cond.get("reason").and_then(Value::as_str) == Some(reason)
                        && cond.get("message").and_then(Value::as_str) == Some(message)
                })
            })
        });
        if established && approval_current && c.object.pointer("/status/acceptedNames") == c.object.pointer("/spec/names") {
            return;
        }
        let (_, name) = name_of(&c.object);
        let now = store::now_rfc3339();
        let _ = self.store.modify(&gr("apiextensions.k8s.io", "customresourcedefinitions"), "", &name, Subresource::Status, |old| {
            let mut new = old.clone();
            let kept = |ty: &str| {
                old.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(ty)))
                    .and_then(|c| c.get("lastTransitionTime").cloned())
                    .unwrap_or_else(|| json!(now))
            };
            let mut conditions = vec![
                json!({"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": kept("NamesAccepted")}),
                json!({"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": kept("Established")}),
            ];
            if let Some((status, reason, message)) = &approval {
                conditions.push(json!({"type": API_APPROVAL_CONDITION, "status": status, "reason": reason, "message": message, "lastTransitionTime": now}));
            }
            new["status"] = json!({
                "acceptedNames": old.pointer("/spec/names").cloned().unwrap_or(json!({})),
                "conditions": conditions,
                "storedVersions": old.pointer("/spec/versions").and_then(Value::as_array).map(|vs| vs.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true)).filter_map(|v| v.get("name").cloned()).collect::<Vec<_>>()).unwrap_or_default(),
            });
            Ok(new)
        });
    }

    // === ReplicaSet controller ===

    fn sync_replicaset(&mut self, ns: &str, name: &str) {
        let rs_gr = gr("apps", "replicasets");
        let Ok(rs) = self.store.get(&rs_gr, ns, name) else { return };
        if terminating(&rs) {
            return;
        }
        let Some(selector) = rs.pointer("/spec/selector").and_then(|s| LabelSelector::from_json(s).ok()) else { return };
        let uid = uid_of(&rs);
        let mut pods: Vec<Arc<Value>> = self
            .store
            .dependents_of(&uid)
            .into_iter()
            .filter(|(g, p)| g.resource == "pods" && g.group.is_empty() && !terminating(p) && selector.matches_object(p))
            .map(|(_, p)| p)
            .collect();
        let want = usize::try_from(rs.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0)).unwrap_or(0);
        let mut failure = None;
        if pods.len() < want {
            for _ in pods.len()..want {
                match self.create_pod(&rs) {
                    Ok(p) => pods.push(p),
                    Err(e) => {
                        failure = Some(e.message);
                        break;
                    }
                }
            }
        } else if pods.len() > want {
            // Delete the least useful pods first: not ready before ready, then the newest.
            pods.sort_by_key(|p| {
                let ready = condition_true(p, "Ready").is_some();
                let created = p.pointer("/metadata/creationTimestamp").and_then(Value::as_str).unwrap_or_default().to_owned();
                (ready, Reverse(created))
            });
            let excess = pods.len() - want;
            for p in pods.drain(..excess) {
                let (pns, pname) = name_of(&p);
                let _ = self.store.delete(&gr("", "pods"), &pns, &pname, &DeleteOptions::default());
            }
        }
        let min_ready = rs.pointer("/spec/minReadySeconds").and_then(Value::as_i64).unwrap_or(0);
        let now = jiff::Timestamp::now();
        let template_labels = rs.pointer("/spec/template/metadata/labels").cloned().unwrap_or(json!({}));
        let mut ready = 0;
        let mut available = 0;
        let mut fully_labeled = 0;
        let mut next_check: Option<i64> = None;
        for p in &pods {
            if template_labels
                .as_object()
                .is_none_or(|tl| tl.iter().all(|(k, v)| p.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v)))
            {
                fully_labeled += 1;
            }
            if let Some(since) = condition_true(p, "Ready") {
                ready += 1;
                let since = since.parse::<jiff::Timestamp>().map_or(0, jiff::Timestamp::as_second);
                if min_ready == 0 || now.as_second() >= since + min_ready {
                    available += 1;
                } else {
                    let at = since + min_ready;
                    next_check = Some(next_check.map_or(at, |n: i64| n.min(at)));
                }
            }
        }
        if let Some(at) = next_check {
            let wait = u64::try_from((at - now.as_second()).max(0)).unwrap_or(0);
            self.schedule(Instant::now() + Duration::from_millis(wait * 1000 + 50), Task::SyncReplicaSet(ns.to_owned(), name.to_owned()));
        }
        let generation = rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
        let _ = self.store.modify(&rs_gr, ns, name, Subresource::Status, |old| {
            let mut new = old.clone();
            let mut status = json!({
                "replicas": pods.len(),
                "fullyLabeledReplicas": fully_labeled,
                "readyReplicas": ready,
                "availableReplicas": available,
                "observedGeneration": generation,
            });
            // The apiserver omits zero-valued optional counters.
            for k in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
                if status[k] == json!(0)
                    && let Some(o) = status.as_object_mut() {
                        o.remove(k);
                    }
            }
            if let Some(msg) = &failure {
                let prev = old.pointer("/status/conditions/0/lastTransitionTime").cloned().unwrap_or_else(|| json!(store::now_rfc3339()));
                status["conditions"] = json!([{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": msg, "lastTransitionTime": prev}]);
            }
            new["status"] = status;
            Ok(new)
        });
    }

    fn create_pod(&mut self, rs: &Value) -> Result<Arc<Value>, super::status::ApiError> {
        let (ns, name) = name_of(rs);
        let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
        if let Some(m) = meta.as_object_mut() {
            m.remove("name");
            m.remove("creationTimestamp");
            m.insert("generateName".into(), json!(format!("{name}-")));
            m.insert(
                "ownerReferences".into(),
                json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name, "uid": uid_of(rs), "controller": true, "blockOwnerDeletion": true}]),
            );
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec").cloned().unwrap_or(json!({}))});
        self.store.create(&gr("", "pods"), &ns, pod)
    }

    // === kubelet ===

    fn start_pod(&mut self, ns: &str, name: &str) {
        let pods = gr("", "pods");
        let Ok(pod) = self.store.get(&pods, ns, name) else { return };
        let uid = uid_of(&pod);
        self.next_ip += 1;
        let ip = format!("10.244.{}.{}", (self.next_ip / 250) % 250, self.next_ip % 250 + 1);
        let now = store::now_rfc3339();
        let beh = behavior(&pod).unwrap_or_default();
        let containers: Vec<Value> = pod.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
        let waiting_reason = if beh == "image-pull-error" { "ErrImagePull" } else { "ContainerCreating" };
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                json!({"name": c.get("name"), "image": c.get("image"), "imageID": "", "ready": false, "restartCount": 0, "started": false,
                       "state": {"waiting": {"reason": waiting_reason}}, "lastState": {}})
            })
            .collect();
        // Scheduling: bind to the one simulated node (what the binding subresource would do).
        let _ = self.store.modify(&pods, ns, name, Subresource::Main, |old| {
            let mut new = old.clone();
            new["spec"]["nodeName"] = json!("kube-sim-node");
            Ok(new)
        });
        let _ = self.store.modify(&pods, ns, name, Subresource::Status, |old| {
            let mut new = old.clone();
            new["status"] = json!({
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
                    {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastProbeTime": null, "lastTransitionTime": now},
                    {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", "lastProbeTime": null, "lastTransitionTime": now},
                ],
                "hostIP": "10.0.0.1", "hostIPs": [{"ip": "10.0.0.1"}],
                "podIP": ip, "podIPs": [{"ip": ip}],
                "startTime": now, "qosClass": "BestEffort",
                "containerStatuses": statuses,
            });
            Ok(new)
        });
        let key = (ns.to_owned(), name.to_owned());
        match beh.as_str() {
            "never-ready" => self.schedule(Instant::now() + self.config.pod_ready_delay, Task::PodReady(key.0, key.1, uid)),
            "crashloop" | "image-pull-error" => {
                self.schedule(Instant::now() + self.config.pod_ready_delay, Task::PodCrash(key.0, key.1, uid));
            }
            other => {
                let delay = other.strip_prefix("ready-after=").and_then(parse_duration).unwrap_or(self.config.pod_ready_delay);
                self.schedule(Instant::now() + delay, Task::PodReady(key.0, key.1, uid));
            }
        }
    }

    fn pod_ready(&mut self, ns: &str, name: &str, uid: &str) {
        let pods = gr("", "pods");
        let Ok(pod) = self.store.get(&pods, ns, name) else { return };
        if uid_of(&pod) != uid || terminating(&pod) {
            return;
        }
        let ready = behavior(&pod).as_deref() != Some("never-ready");
        let now = store::now_rfc3339();
        let _ = self.store.modify(&pods, ns, name, Subresource::Status, |old| {
            let mut new = old.clone();
            new["status"]["phase"] = json!("Running");
            let cond = if ready { json!("True") } else { json!("False") };
            if let Some(conds) = new.pointer_mut("/status/conditions").and_then(Value::as_array_mut) {
                for c in conds.iter_mut() {
                    if matches!(c.get("type").and_then(Value::as_str), Some("Ready" | "ContainersReady")) {
                        c["status"] = cond.clone();
                        c["lastTransitionTime"] = json!(now);
                        if ready && let Some(o) = c.as_object_mut() {
                            o.remove("reason");
                        }
                    }
                }
            }
            if let Some(cs) = new.pointer_mut("/status/containerStatuses").and_then(Value::as_array_mut) {
                for c in cs.iter_mut() {
                    c["ready"] = json!(ready);
                    c["started"] = json!(true);
                    c["state"] = json!({"running": {"startedAt": now}});
                    c["imageID"] = json!(format!("sim://{}", c.get("image").and_then(Value::as_str).unwrap_or_default()));
                    c["containerID"] = json!(format!("sim://{}", store::random_suffix(12)));
                }
            }
            Ok(new)
        });
    }

    fn pod_crash(&mut self, ns: &str, name: &str, uid: &str) {
        let pods = gr("", "pods");
        let Ok(pod) = self.store.get(&pods, ns, name) else { return };
        if uid_of(&pod) != uid || terminating(&pod) {
            return;
        }
        let image_pull = behavior(&pod).as_deref() == Some("image-pull-error");
        let now = store::now_rfc3339();
        let _ = self.store.modify(&pods, ns, name, Subresource::Status, |old| {
            let mut new = old.clone();
            if !image_pull {
                new["status"]["phase"] = json!("Running");
            }
            if let Some(cs) = new.pointer_mut("/status/containerStatuses").and_then(Value::as_array_mut) {
                for c in cs.iter_mut() {
                    if image_pull {
                        let img = c.get("image").and_then(Value::as_str).unwrap_or_default().to_owned();
                        c["state"] =
                            json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{img}\"")}});
                    } else {
                        let restarts = c.get("restartCount").and_then(Value::as_i64).unwrap_or(0) + 1;
                        c["restartCount"] = json!(restarts);
                        c["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}});
                        c["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}});
                    }
                }
            }
            Ok(new)
        });
        if !image_pull {
            self.schedule(Instant::now() + self.config.crash_interval, Task::PodCrash(ns.to_owned(), name.to_owned(), uid.to_owned()));
        }
    }

    // === Job controller ===

    fn start_job(&mut self, ns: &str, name: &str) {
        let jobs = gr("batch", "jobs");
        let Ok(job) = self.store.get(&jobs, ns, name) else { return };
        if job.pointer("/status/startTime").is_some() || job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
            return;
        }
        let now = store::now_rfc3339();
        let _ = self.store.modify(&jobs, ns, name, Subresource::Status, |old| {
            let mut new = old.clone();
            new["status"] = json!({"startTime": now, "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
            Ok(new)
        });
        let beh = behavior(&job)
            .or_else(|| {
                job.pointer("/spec/template/metadata/annotations").and_then(|a| a.get(BEHAVIOR)).and_then(Value::as_str).map(str::to_owned)
            })
            .unwrap_or_default();
        let (outcome, after) = if beh == "never-finish" {
            (None, Duration::ZERO)
        } else if let Some(d) = beh.strip_prefix("fail-after=") {
            (Some(false), parse_duration(d).unwrap_or(self.config.job_duration))
        } else if let Some(d) = beh.strip_prefix("succeed-after=") {
            (Some(true), parse_duration(d).unwrap_or(self.config.job_duration))
        } else {
            (Some(true), self.config.job_duration)
        };
        let deadline = job.pointer("/spec/activeDeadlineSeconds").and_then(Value::as_u64).map(Duration::from_secs);
        let uid = uid_of(&job);
        let start = Instant::now();
        match (outcome, deadline) {
            (Some(_), Some(d)) if d < after => {
                self.schedule(start + d, Task::FinishJob(ns.into(), name.into(), uid, false, "DeadlineExceeded"));
            }
            (None, Some(d)) => self.schedule(start + d, Task::FinishJob(ns.into(), name.into(), uid, false, "DeadlineExceeded")),
            (Some(ok), _) => self.schedule(
                start + after,
                Task::FinishJob(ns.into(), name.into(), uid, ok, if ok { "CompletionsReached" } else { "BackoffLimitExceeded" }),
            ),
            (None, None) => {}
        }
    }

    fn finish_job(&mut self, ns: &str, name: &str, uid: &str, ok: bool, reason: &'static str) {
        let jobs = gr("batch", "jobs");
        let Ok(job) = self.store.get(&jobs, ns, name) else { return };
        if uid_of(&job) != uid || terminating(&job) {
            return;
        }
        let now = store::now_rfc3339();
        let backoff = job.pointer("/spec/backoffLimit").and_then(Value::as_i64).unwrap_or(6);
        let _ = self.store.modify(&jobs, ns, name, Subresource::Status, |old| {
            let mut new = old.clone();
            let start = old.pointer("/status/startTime").cloned().unwrap_or(json!(now));
            new["status"] = if ok {
                json!({"startTime": start, "completionTime": now, "succeeded": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
                    "conditions": [
                        {"type": "SuccessCriteriaMet", "status": "True", "reason": reason, "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now},
                        {"type": "Complete", "status": "True", "reason": reason, "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now},
                    ]})
            } else {
                let message = if reason == "DeadlineExceeded" { "Job was active longer than specified deadline" } else { "Job has reached the specified backoff limit" };
                json!({"startTime": start, "failed": if reason == "DeadlineExceeded" { 1 } else { backoff + 1 }, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
                    "conditions": [
                        {"type": "FailureTarget", "status": "True", "reason": reason, "message": message, "lastProbeTime": now, "lastTransitionTime": now},
                        {"type": "Failed", "status": "True", "reason": reason, "message": message, "lastProbeTime": now, "lastTransitionTime": now},
                    ]})
            };
            Ok(new)
        });
    }

    // === disruption controller ===

    fn sync_budgets(&mut self, ns: &str) {
        let pdb_gr = gr("policy", "poddisruptionbudgets");
        let in_ns = ListOptions { namespace: Some(ns.to_owned()), ..ListOptions::default() };
        let Ok(pdbs) = self.store.list(&pdb_gr, &in_ns) else { return };
        if pdbs.items.is_empty() {
            return;
        }
        let Ok(pods) = self.store.list(&gr("", "pods"), &in_ns) else { return };
        let now = store::now_rfc3339();
        for pdb in pdbs.items {
            let b = disruption::budget(&pdb, &pods.items);
            let (_, name) = name_of(&pdb);
            let _ = self.store.modify(&pdb_gr, ns, &name, Subresource::Status, |old| {
                let mut new = old.clone();
                new["status"] = disruption::status(old, b, &now, old.get("status"));
                Ok(new)
            });
        }
    }

    // === Endpoints controller ===

    fn sync_endpoints(&mut self, ns: &str, name: &str) {
        let eps = gr("", "endpoints");
        let Ok(svc) = self.store.get(&gr("", "services"), ns, name) else {
            let _ = self.store.delete(&eps, ns, name, &DeleteOptions::default());
            return;
        };
        let Some(sel) = svc.pointer("/spec/selector").and_then(Value::as_object).filter(|s| !s.is_empty()) else { return };
        let sel = LabelSelector::from_json(&json!({"matchLabels": sel})).unwrap_or_default();
        let Ok(pods) =
            self.store.list(&gr("", "pods"), &ListOptions { namespace: Some(ns.to_owned()), labels: sel, ..ListOptions::default() })
        else {
            return;
        };
        let mut ready = Vec::new();
        let mut not_ready = Vec::new();
        for p in pods.items.iter().filter(|p| !terminating(p)) {
            let Some(ip) = p.pointer("/status/podIP").and_then(Value::as_str) else { continue };
            let (pns, pname) = name_of(p);
            let addr = json!({"ip": ip, "nodeName": p.pointer("/spec/nodeName"), "targetRef": {"kind": "Pod", "namespace": pns, "name": pname, "uid": uid_of(p)}});
            if condition_true(p, "Ready").is_some() { ready.push(addr) } else { not_ready.push(addr) }
        }
        let ports: Vec<Value> = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        let target =
                            p.get("targetPort").and_then(Value::as_i64).or_else(|| p.get("port").and_then(Value::as_i64)).unwrap_or(0);
                        let mut port = json!({"port": target, "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))});
                        if let Some(n) = p.get("name") {
                            port["name"] = n.clone();
                        }
                        port
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut subset = json!({"ports": ports});
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        let subsets = if ready.is_empty() && not_ready.is_empty() { json!([]) } else { json!([subset]) };
        let labels = svc.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
        let desired = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns, "labels": labels}, "subsets": subsets});
        let res = self.store.modify(&eps, ns, name, Subresource::Main, |old| {
            let mut new = old.clone();
            new["subsets"] = desired["subsets"].clone();
            new["metadata"]["labels"] = desired["metadata"]["labels"].clone();
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            Ok(new)
        });
        if res.as_ref().is_err_and(|e| e.code == 404) {
            let _ = self.store.create(&eps, ns, desired);
        }
    }

    // === garbage collector ===

    fn collect_dependents(&mut self, owner_uid: &str, foreground: bool) {
        for (dgr, dep) in self.store.dependents_of(owner_uid) {
            let (ns, name) = name_of(&dep);
            let live_owners = dep.pointer("/metadata/ownerReferences").and_then(Value::as_array).map_or(0, |refs| {
                refs.iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str))
                    .filter(|u| *u != owner_uid && self.store.get_by_uid(u).is_some())
                    .count()
            });
            if live_owners > 0 {
                let _ = self.remove_owner_ref(&dgr, &ns, &name, owner_uid);
                continue;
            }
            if terminating(&dep) && !foreground {
                continue;
            }
            let propagation = if foreground { Propagation::Foreground } else { Propagation::Background };
            let _ = self.store.delete(&dgr, &ns, &name, &DeleteOptions { propagation: Some(propagation), ..DeleteOptions::default() });
        }
    }

    fn remove_owner_ref(&self, dgr: &GroupResource, ns: &str, name: &str, owner_uid: &str) -> Result<Arc<Value>, super::status::ApiError> {
        self.store.modify(dgr, ns, name, Subresource::Main, |old| {
            let mut new = old.clone();
            if let Some(refs) = new.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
            }
            if new.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(Vec::is_empty)
                && let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut)
            {
                m.remove("ownerReferences");
            }
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            Ok(new)
        })
    }

    fn drop_finalizer(&self, g: &GroupResource, ns: &str, name: &str, finalizer: &str) {
        let _ = self.store.modify(g, ns, name, Subresource::Main, |old| {
            let mut new = old.clone();
            if let Some(f) = new.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut) {
                f.retain(|x| x.as_str() != Some(finalizer));
            }
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            Ok(new)
        });
    }

    fn sync_terminating_owner(&mut self, uid: &str) {
        let Some((g, obj)) = self.store.get_by_uid(uid) else { return };
        if !terminating(&obj) {
            return;
        }
        let (ns, name) = name_of(&obj);
        if has_finalizer(&obj, "orphan") {
            for (dgr, dep) in self.store.dependents_of(uid) {
                let (dns, dname) = name_of(&dep);
                let _ = self.remove_owner_ref(&dgr, &dns, &dname, uid);
            }
            self.drop_finalizer(&g, &ns, &name, "orphan");
        } else if has_finalizer(&obj, "foregroundDeletion") {
            let blocking = self.store.dependents_of(uid);
            if blocking.is_empty() {
                self.drop_finalizer(&g, &ns, &name, "foregroundDeletion");
            } else {
                self.collect_dependents(uid, true);
            }
        }
    }

    fn collect_if_dangling(&mut self, uid: &str) {
        let Some((g, obj)) = self.store.get_by_uid(uid) else { return };
        let refs: Vec<String> = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_owned)).collect())
            .unwrap_or_default();
        if !refs.is_empty() && refs.iter().all(|u| self.store.get_by_uid(u).is_none()) {
            let (ns, name) = name_of(&obj);
            let _ = self.store.delete(&g, &ns, &name, &DeleteOptions::default());
        }
    }

    // === service-account and root-CA publishers ===

    /// Gives a live namespace its `default` `ServiceAccount` and its `kube-root-ca.crt` `ConfigMap`.
    fn publish(&mut self, ns: &str) {
        let Ok(namespace) = self.store.get(&gr("", "namespaces"), "", ns) else { return };
        if terminating(&namespace) {
            return;
        }
        let accounts = gr("", "serviceaccounts");
        if self.store.get(&accounts, ns, DEFAULT_SERVICE_ACCOUNT).is_err() {
            let account = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT_SERVICE_ACCOUNT}});
            if let Err(e) = self.store.create(&accounts, ns, account) {
                tracing::debug!(namespace = ns, error = %e, "default service account not created");
            }
        }
        let ca = self.root_ca();
        let maps = gr("", "configmaps");
        let data = json!({"ca.crt": ca});
        match self.store.get(&maps, ns, ROOT_CA_CONFIG_MAP) {
            Err(_) => {
                let map = json!({
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": ROOT_CA_CONFIG_MAP, "annotations": {ROOT_CA_DESCRIPTION_KEY: ROOT_CA_DESCRIPTION}},
                    "data": data,
                });
                if let Err(e) = self.store.create(&maps, ns, map) {
                    tracing::debug!(namespace = ns, error = %e, "root CA config map not created");
                }
            }
            Ok(current) => {
                let described = current
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(ROOT_CA_DESCRIPTION_KEY))
                    .and_then(Value::as_str)
                    .is_some_and(|d| !d.is_empty());
                if current.get("data") == Some(&data) && described {
                    return;
                }
                // Reset the data and the description; labels and other annotations the user added stay.
                let _ = self.store.modify(&maps, ns, ROOT_CA_CONFIG_MAP, Subresource::Main, |old| {
                    let mut new = old.clone();
                    new["data"] = data.clone();
                    if let Some(obj) = new.as_object_mut() {
                        obj.remove("binaryData");
                    }
                    if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("resourceVersion");
                        let annotations = m.entry("annotations").or_insert_with(|| json!({}));
                        if !annotations.is_object() {
                            *annotations = json!({});
                        }
                        annotations[ROOT_CA_DESCRIPTION_KEY] = json!(ROOT_CA_DESCRIPTION);
                    }
                    Ok(new)
                });
            }
        }
    }

    /// The CA bundle to publish: the one already published anywhere (so a restored snapshot keeps its CA), else a
    /// new self-signed CA certificate. kube-sim serves plain HTTP, so the CA signs nothing it serves; it is there
    /// because every real namespace has it.
    fn root_ca(&mut self) -> String {
        if let Some(ca) = &self.root_ca {
            return ca.clone();
        }
        let published = self.store.dump().into_iter().find_map(|(g, o)| {
            (g == gr("", "configmaps")
                && name_of(&o).1 == ROOT_CA_CONFIG_MAP
                && o.pointer("/metadata/annotations").and_then(|a| a.get(ROOT_CA_DESCRIPTION_KEY)).is_some())
            .then(|| o.pointer("/data/ca.crt").and_then(Value::as_str).map(str::to_owned))
            .flatten()
            .filter(|pem| pem.starts_with("-----BEGIN CERTIFICATE-----"))
        });
        let ca = published.unwrap_or_else(generate_root_ca);
        self.root_ca = Some(ca.clone());
        ca
    }

    fn sync_namespace(&mut self, ns: &str) {
        let nsgr = gr("", "namespaces");
        let Ok(obj) = self.store.get(&nsgr, "", ns) else { return };
        if !terminating(&obj) {
            return;
        }
        let content: Vec<(GroupResource, Arc<Value>)> =
            self.store.dump().into_iter().filter(|(_, o)| o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)).collect();
        if content.is_empty() {
            self.drop_finalizer(&nsgr, "", ns, "kubernetes");
            return;
        }
        for (g, o) in content {
            if !terminating(&o) {
                let (_, name) = name_of(&o);
                let _ = self.store.delete(&g, ns, &name, &DeleteOptions::default());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("x"), None);
    }
}
