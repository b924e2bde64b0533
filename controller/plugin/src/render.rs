//! What `get rollout`, `list rollouts` and `status` print, rendered from objects the caller already fetched.
//!
//! Contract: pure. No client, no clock, no environment: the objects and `now` come in, a `String` goes out, so
//! the output is tested with fixture snapshots. The layout follows Argo's `kubectl argo rollouts` (same labels,
//! icons and tree) so users of either tool read it at a glance:
//!
//! - [`rollout_tree`]: a header (Name, Namespace, Status, Message, Strategy with Step/SetWeight/ActualWeight for a
//!   canary, Images tagged `(stable)`/`(canary)`/`(active)`/`(preview)`, Replicas) and a NAME/KIND/STATUS/AGE/INFO
//!   tree: the Rollout, its revisions newest first, and under each revision its ReplicaSets (with their pods) and
//!   AnalysisRuns.
//! - [`rollouts_table`]: one row per Rollout, sorted by namespace then name.
//! - [`status_line`]: `Phase - message`, as `status` prints on each change.
//!
//! Phase and message are the client's view ([`client_phase`]): the controller's `status.phase`/`status.message`,
//! except that an unobserved spec change or a resume not yet acted on reads as Progressing, so `status` does not
//! report a stale Healthy right after `set image`.
//!
//! What the numbers mean:
//! - `Step` is `currentStepIndex/steps`, left out without steps or without an index.
//! - `SetWeight` is the `setWeight` in force: that of the current step or the closest one before it (0 if none),
//!   0 once aborted, `maxTrafficWeight` (default 100) when every step has run.
//! - `ActualWeight` is `maxTrafficWeight` when every step has run, 0 with no available pods, the router's
//!   `status.canary.weights.canary.weight` (else `SetWeight`) with traffic routing, and otherwise the canary
//!   ReplicaSet's share of the available pods, rounded to the nearest percent.
//! - A ReplicaSet's INFO lists its roles, then `delay:<time left>` while its `scale-down-deadline` annotation is
//!   ahead of `now` (`delay:passed` after it); a pod's INFO is `ready:x/y` plus `restarts:N` when N > 0; an
//!   AnalysisRun's INFO counts its measurements over all metrics as `✔ successful,✖ failed`, plus
//!   `⚠ inconclusive+error` when there are any.
//! - `AGE` is kubectl's compact form (`45s`, `2m30s`, `10m`, `3h`, `2d5h`) of the time since `creationTimestamp`.
//!
//! Icons: ✔ healthy/successful/running and ready, ✖ degraded/failed, ◌ progressing/running/pending,
//! ॥ paused, ⚠ inconclusive or error, • scaled down, ? unknown. With [`Style::color`] icons and tags are wrapped in
//! ANSI colour codes; column widths are always measured on the visible text, so colour never misaligns a column.
//! Lines carry no trailing spaces.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serin_api::labels::{POD_TEMPLATE_HASH, REVISION, SCALE_DOWN_DEADLINE};
use serin_api::rollout::Strategy;
use serin_api::rollout::status::{PingPongType, RolloutPhase};
use serin_api::{AnalysisPhase, AnalysisRun, Rollout};
use serin_planner::phase::client_phase;

/// Everything fetched for one Rollout: the input of [`rollout_tree`].
#[derive(Clone, Debug, Default)]
pub struct RolloutView {
    /// The Rollout itself.
    pub rollout: Rollout,
    /// The ReplicaSets the Rollout owns.
    pub replica_sets: Vec<ReplicaSet>,
    /// Pods of those ReplicaSets; each is shown under the ReplicaSet its owner reference names, others are left
    /// out.
    pub pods: Vec<Pod>,
    /// The AnalysisRuns the Rollout owns; each is shown under the revision of its
    /// `rollout.argoproj.io/revision` annotation.
    pub analysis_runs: Vec<AnalysisRun>,
}

/// How to render: the `--no-color` flag sets `color: false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Wrap icons and tags in ANSI colour escapes.
    pub color: bool,
}

/// Width of the label column of the header (`Name:`, `  SetWeight:` ...), as in Argo.
const LABEL_WIDTH: usize = 17;
/// Spaces between table columns.
const COLUMN_GAP: usize = 2;
/// The traffic weight of a fully promoted canary unless `trafficRouting.maxTrafficWeight` says otherwise.
const DEFAULT_MAX_WEIGHT: i32 = 100;

/// The `get rollout` output: header, blank line, then the object tree. Ages are measured against `now`.
pub fn rollout_tree(view: &RolloutView, now: Timestamp, style: Style) -> String {
    let rollout = &view.rollout;
    let summary = Summary::of(view);
    let replica_sets = replica_set_nodes(view, now);
    let mut out = String::new();

    let mut field = |label: &str, value: &str| {
        let line = format!("{label:<LABEL_WIDTH$}{value}");
        out.push_str(line.trim_end());
        out.push('\n');
    };
    field("Name:", rollout.metadata.name.as_deref().unwrap_or_default());
    field("Namespace:", rollout.metadata.namespace.as_deref().unwrap_or_default());
    field("Status:", &format!("{} {}", style.icon(summary.icon), summary.phase.as_str()));
    if !summary.message.is_empty() {
        field("Message:", &summary.message);
    }
    field("Strategy:", summary.strategy);
    if let Some(canary) = &summary.canary {
        if let Some(step) = &canary.step {
            field("  Step:", step);
        }
        field("  SetWeight:", &canary.set_weight.to_string());
        field("  ActualWeight:", &canary.actual_weight.to_string());
    }
    for (index, image) in images(&replica_sets).iter().enumerate() {
        let label = if index == 0 { "Images:" } else { "" };
        let text = if image.tags.is_empty() {
            image.name.to_owned()
        } else {
            let tags: Vec<String> = image.tags.iter().map(|tag| style.tag(*tag)).collect();
            format!("{} ({})", image.name, tags.join(", "))
        };
        field(label, &text);
    }
    field("Replicas:", "");
    field("  Desired:", &summary.desired.to_string());
    field("  Current:", &summary.current.to_string());
    field("  Updated:", &summary.updated.to_string());
    field("  Ready:", &summary.ready.to_string());
    field("  Available:", &summary.available.to_string());
    out.push('\n');

    let mut table = Table::new(["NAME", "KIND", "STATUS", "AGE", "INFO"]);
    table.row([
        format!("⟳ {}", rollout.metadata.name.as_deref().unwrap_or_default()),
        "Rollout".into(),
        format!("{} {}", style.icon(summary.icon), summary.phase.as_str()),
        age(&rollout.metadata, now),
        String::new(),
    ]);
    let runs = analysis_run_nodes(view, now);
    let revisions: BTreeSet<u64> = replica_sets.iter().map(|rs| rs.revision).chain(runs.iter().map(|run| run.revision)).collect();
    let count = revisions.len();
    for (index, revision) in revisions.into_iter().rev().enumerate() {
        let (branch, indent) = Branch::of(index + 1 == count).prefixes("");
        table.row([format!("{branch}# revision:{revision}"), String::new(), String::new(), String::new(), String::new()]);
        let children: Vec<Child<'_>> = replica_sets
            .iter()
            .filter(|rs| rs.revision == revision)
            .map(Child::ReplicaSet)
            .chain(runs.iter().filter(|run| run.revision == revision).map(Child::AnalysisRun))
            .collect();
        let last = children.len();
        for (index, child) in children.into_iter().enumerate() {
            let (branch, indent) = Branch::of(index + 1 == last).prefixes(&indent);
            match child {
                Child::ReplicaSet(rs) => rs.rows(&mut table, &branch, &indent, style),
                Child::AnalysisRun(run) => run.row(&mut table, &branch, style),
            }
        }
    }
    out.push_str(&table.render());
    out
}

/// The `list rollouts` table: NAME STRATEGY STATUS STEP SET-WEIGHT READY DESIRED UP-TO-DATE AVAILABLE, with a
/// leading NAMESPACE column when `all_namespaces`. Rows are sorted by namespace, then name; READY is
/// `readyReplicas/spec.replicas` (as `kubectl get deployment` shows it). With no rollouts only the header line is
/// returned (the caller says "No resources found.").
pub fn rollouts_table(rollouts: &[Rollout], all_namespaces: bool) -> String {
    let mut sorted: Vec<&Rollout> = rollouts.iter().collect();
    sorted.sort_by(|a, b| {
        (a.metadata.namespace.as_deref(), a.metadata.name.as_deref()).cmp(&(b.metadata.namespace.as_deref(), b.metadata.name.as_deref()))
    });
    let columns = ["NAME", "STRATEGY", "STATUS", "STEP", "SET-WEIGHT", "READY", "DESIRED", "UP-TO-DATE", "AVAILABLE"];
    let mut table = Table::new(all_namespaces.then_some("NAMESPACE").into_iter().chain(columns));
    for rollout in sorted {
        let status = rollout.status.clone().unwrap_or_default();
        let (phase, _) = client_phase(rollout);
        let desired = rollout.spec.desired_replicas();
        let (strategy, step, set_weight) = match rollout.spec.strategy() {
            Ok(Strategy::Canary(_)) => {
                let canary = CanarySummary::of(rollout, None);
                ("Canary", canary.step.unwrap_or_else(|| "-".into()), canary.set_weight.to_string())
            }
            Ok(Strategy::BlueGreen(_)) => ("BlueGreen", "-".into(), "-".into()),
            Err(_) => ("unknown", "-".into(), "-".into()),
        };
        let namespace = all_namespaces.then(|| rollout.metadata.namespace.clone().unwrap_or_default());
        table.row(namespace.into_iter().chain([
            rollout.metadata.name.clone().unwrap_or_default(),
            strategy.into(),
            phase.as_str().into(),
            step,
            set_weight,
            format!("{}/{desired}", status.ready_replicas.unwrap_or(0)),
            desired.to_string(),
            status.updated_replicas.unwrap_or(0).to_string(),
            status.available_replicas.unwrap_or(0).to_string(),
        ]));
    }
    table.render()
}

/// One `status` line: `Phase - message`, or just `Phase` when there is no message.
pub fn status_line(rollout: &Rollout) -> String {
    let (phase, message) = client_phase(rollout);
    if message.is_empty() { phase.as_str().to_owned() } else { format!("{} - {message}", phase.as_str()) }
}

// === header ===

/// The header facts of a Rollout.
struct Summary {
    phase: RolloutPhase,
    message: String,
    icon: Icon,
    strategy: &'static str,
    canary: Option<CanarySummary>,
    desired: i32,
    current: i32,
    updated: i32,
    ready: i32,
    available: i32,
}

impl Summary {
    fn of(view: &RolloutView) -> Self {
        let rollout = &view.rollout;
        let status = rollout.status.clone().unwrap_or_default();
        let (phase, message) = client_phase(rollout);
        let (strategy, canary) = match rollout.spec.strategy() {
            Ok(Strategy::Canary(_)) => ("Canary", Some(CanarySummary::of(rollout, Some(&view.replica_sets)))),
            Ok(Strategy::BlueGreen(_)) => ("BlueGreen", None),
            Err(_) => ("unknown", None),
        };
        Self {
            icon: Icon::of_rollout(&phase),
            phase,
            message,
            strategy,
            canary,
            desired: rollout.spec.desired_replicas(),
            current: status.replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
        }
    }
}

/// Step and weights of a canary.
struct CanarySummary {
    /// `index/steps`; `None` without steps or without a step index.
    step: Option<String>,
    /// The `setWeight` in force.
    set_weight: i32,
    /// The weight the canary actually gets.
    actual_weight: i32,
}

/// Where a canary stands in its steps.
#[derive(Clone, Copy)]
enum StepPosition {
    /// The update was aborted: the canary is being taken out.
    Aborted,
    /// No steps left (or none at all): fully promoted.
    Done,
    /// At the step with this index.
    At(usize),
}

impl CanarySummary {
    /// `replica_sets` is needed only for the actual weight of a canary without a traffic router; without them the
    /// actual weight is left at 0 (the table does not show it).
    fn of(rollout: &Rollout, replica_sets: Option<&[ReplicaSet]>) -> Self {
        let Some(canary) = rollout.spec.strategy.as_ref().and_then(|s| s.canary.as_ref()) else {
            return Self { step: None, set_weight: 0, actual_weight: 0 };
        };
        let status = rollout.status.clone().unwrap_or_default();
        let steps = &canary.steps;
        let index = status.current_step_index.and_then(|index| usize::try_from(index).ok());
        let step = index.filter(|_| !steps.is_empty()).map(|index| format!("{index}/{}", steps.len()));
        let max_weight = canary.traffic_routing.as_ref().and_then(|routing| routing.max_traffic_weight).unwrap_or(DEFAULT_MAX_WEIGHT);
        // An unset index means the first step, as the controller reads it.
        let position = match (status.abort == Some(true), index.unwrap_or(0)) {
            (true, _) => StepPosition::Aborted,
            (false, index) if index >= steps.len() => StepPosition::Done,
            (false, index) => StepPosition::At(index),
        };
        let set_weight = match position {
            StepPosition::Aborted => 0,
            StepPosition::Done => max_weight,
            StepPosition::At(index) => steps[..=index].iter().rev().find_map(|step| step.set_weight).unwrap_or(0),
        };
        let available = status.available_replicas.unwrap_or(0);
        let actual_weight = match (position, &canary.traffic_routing) {
            (StepPosition::Done, _) => max_weight,
            (StepPosition::Aborted | StepPosition::At(_), _) if available <= 0 => 0,
            (StepPosition::Aborted | StepPosition::At(_), Some(_)) => {
                status.canary.as_ref().and_then(|c| c.weights.as_ref()).map_or(set_weight, |w| w.canary.weight)
            }
            (StepPosition::Aborted | StepPosition::At(_), None) => {
                let canary_available = replica_sets
                    .unwrap_or_default()
                    .iter()
                    .filter(|rs| tags(rollout, pod_template_hash(rs)).contains(&Tag::Canary))
                    .map(|rs| rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0))
                    .sum::<i32>();
                rounded_percent(canary_available, available)
            }
        };
        Self { step, set_weight, actual_weight }
    }
}

/// `part` as a whole percentage of `total` (> 0), rounded half up.
fn rounded_percent(part: i32, total: i32) -> i32 {
    let (part, total) = (i64::from(part), i64::from(total));
    i32::try_from((part * 200 + total) / (total * 2)).unwrap_or(i32::MAX)
}

/// An image of the running ReplicaSets and the roles of the ReplicaSets that run it.
struct Image<'a> {
    name: &'a str,
    tags: BTreeSet<Tag>,
}

/// Images of the ReplicaSets that still have pods, sorted by name, each with the merged tags of its ReplicaSets.
fn images<'a>(replica_sets: &[ReplicaSetNode<'a>]) -> Vec<Image<'a>> {
    let mut images: BTreeMap<&str, BTreeSet<Tag>> = BTreeMap::new();
    for rs in replica_sets.iter().filter(|rs| rs.replicas > 0) {
        for image in &rs.images {
            // Ping and pong name Services, not versions; the image line keeps to the version roles.
            let roles = rs.tags.iter().copied().filter(|tag| !matches!(tag, Tag::Ping | Tag::Pong));
            images.entry(image).or_default().extend(roles);
        }
    }
    images.into_iter().map(|(name, tags)| Image { name, tags }).collect()
}

// === tree ===

/// A node under a revision.
enum Child<'a> {
    ReplicaSet(&'a ReplicaSetNode<'a>),
    AnalysisRun(&'a AnalysisRunNode<'a>),
}

/// Whether a tree node is the last of its siblings.
#[derive(Clone, Copy)]
enum Branch {
    Middle,
    Last,
}

impl Branch {
    fn of(last: bool) -> Self {
        if last { Self::Last } else { Self::Middle }
    }

    /// The node's own prefix and the prefix its children continue from.
    fn prefixes(self, indent: &str) -> (String, String) {
        match self {
            Self::Middle => (format!("{indent}├──"), format!("{indent}│  ")),
            Self::Last => (format!("{indent}└──"), format!("{indent}   ")),
        }
    }
}

/// A ReplicaSet as the tree shows it.
struct ReplicaSetNode<'a> {
    name: &'a str,
    revision: u64,
    health: ReplicaSetHealth,
    tags: Vec<Tag>,
    /// `delay:...` text: time left before the scale-down deadline, or `passed`.
    delay: Option<String>,
    age: String,
    /// `status.replicas`: pods that still exist.
    replicas: i32,
    images: Vec<&'a str>,
    pods: Vec<PodNode<'a>>,
}

impl ReplicaSetNode<'_> {
    fn rows(&self, table: &mut Table, branch: &str, indent: &str, style: Style) {
        let mut info: Vec<String> = self.tags.iter().map(|tag| style.tag(*tag)).collect();
        info.extend(self.delay.iter().map(|delay| format!("delay:{delay}")));
        let (icon, status) = self.health.icon_and_text();
        table.row([
            format!("{branch}⧉ {}", self.name),
            "ReplicaSet".into(),
            format!("{} {status}", style.icon(icon)),
            self.age.clone(),
            info.join(","),
        ]);
        let last = self.pods.len();
        for (index, pod) in self.pods.iter().enumerate() {
            let (branch, _) = Branch::of(index + 1 == last).prefixes(indent);
            let mut info = format!("ready:{}/{}", pod.ready, pod.containers);
            if pod.restarts > 0 {
                let _ = write!(info, ",restarts:{}", pod.restarts);
            }
            table.row([
                format!("{branch}□ {}", pod.name),
                "Pod".into(),
                format!("{} {}", style.icon(pod.icon()), pod.status),
                pod.age.clone(),
                info,
            ]);
        }
    }
}

/// ReplicaSet health, decided as Argo's plugin does.
#[derive(Clone, Copy)]
enum ReplicaSetHealth {
    /// The ReplicaSet controller has not caught up, or pods are not all available yet.
    Progressing,
    /// A `ReplicaFailure` condition is true (e.g. pods rejected by a quota).
    ReplicaFailure,
    /// Scaled to zero.
    ScaledDown,
    /// All desired pods available.
    Healthy,
}

impl ReplicaSetHealth {
    fn of(rs: &ReplicaSet) -> Self {
        let status = rs.status.clone().unwrap_or_default();
        let desired = rs.spec.as_ref().and_then(|spec| spec.replicas);
        let failing = status.conditions.iter().flatten().any(|c| c.type_ == "ReplicaFailure" && c.status == "True");
        let observed = rs.metadata.generation.unwrap_or(0) <= status.observed_generation.unwrap_or(0);
        match (observed, failing, desired) {
            (false, _, _) => Self::Progressing,
            (true, true, _) => Self::ReplicaFailure,
            (true, false, Some(desired)) if status.available_replicas.unwrap_or(0) < desired => Self::Progressing,
            (true, false, Some(0)) => Self::ScaledDown,
            (true, false, Some(_) | None) => Self::Healthy,
        }
    }

    fn icon_and_text(self) -> (Icon, &'static str) {
        match self {
            Self::Progressing => (Icon::Progressing, "Progressing"),
            Self::ReplicaFailure => (Icon::Bad, "ReplicaFailure"),
            Self::ScaledDown => (Icon::Neutral, "ScaledDown"),
            Self::Healthy => (Icon::Ok, "Healthy"),
        }
    }
}

/// The ReplicaSets of the view with their pods, newest revision first; within a revision oldest first.
fn replica_set_nodes(view: &RolloutView, now: Timestamp) -> Vec<ReplicaSetNode<'_>> {
    let mut nodes: Vec<(Option<Timestamp>, ReplicaSetNode<'_>)> = view
        .replica_sets
        .iter()
        .map(|rs| {
            let name = rs.metadata.name.as_deref().unwrap_or_default();
            let mut pods: Vec<(Option<Timestamp>, PodNode<'_>)> = view
                .pods
                .iter()
                .filter(|pod| owned_by(&pod.metadata, &rs.metadata))
                .map(|pod| (created(&pod.metadata), PodNode::of(pod, now)))
                .collect();
            pods.sort_by(|(a_time, a), (b_time, b)| (a_time, a.name).cmp(&(b_time, b.name)));
            let delay = annotation(&rs.metadata, SCALE_DOWN_DEADLINE)
                .and_then(|deadline| deadline.parse::<Timestamp>().ok())
                .map(|deadline| if deadline > now { human_duration(deadline.duration_since(now)) } else { "passed".into() });
            let images = rs
                .spec
                .as_ref()
                .and_then(|spec| spec.template.as_ref())
                .and_then(|template| template.spec.as_ref())
                .map(|spec| spec.containers.iter().filter_map(|c: &Container| c.image.as_deref()).collect())
                .unwrap_or_default();
            let node = ReplicaSetNode {
                name,
                revision: revision(&rs.metadata),
                health: ReplicaSetHealth::of(rs),
                tags: tags(&view.rollout, pod_template_hash(rs)),
                delay,
                age: age(&rs.metadata, now),
                replicas: rs.status.as_ref().map_or(0, |status| status.replicas),
                images,
                pods: pods.into_iter().map(|(_, pod)| pod).collect(),
            };
            (created(&rs.metadata), node)
        })
        .collect();
    nodes.sort_by(|(a_time, a), (b_time, b)| b.revision.cmp(&a.revision).then_with(|| (a_time, a.name).cmp(&(b_time, b.name))));
    nodes.into_iter().map(|(_, node)| node).collect()
}

/// Whether `child` names `parent` among its owners: by UID when both have one, else by name.
fn owned_by(child: &ObjectMeta, parent: &ObjectMeta) -> bool {
    child.owner_references.iter().flatten().any(|owner| match (parent.uid.as_deref(), owner.uid.as_str()) {
        (Some(uid), owner_uid) if !uid.is_empty() && !owner_uid.is_empty() => uid == owner_uid,
        _ => parent.name.as_deref() == Some(owner.name.as_str()),
    })
}

/// A pod as the tree shows it.
struct PodNode<'a> {
    name: &'a str,
    /// `Running`, `Pending`, `CrashLoopBackOff`, `Init:0/1`, `Terminating` ... (kubectl's STATUS column).
    status: String,
    ready: usize,
    containers: usize,
    restarts: i32,
    age: String,
}

impl<'a> PodNode<'a> {
    /// Status, readiness and restarts by kubectl's rules: the first init container that has not finished
    /// explains the pod; otherwise the last container that is waiting or terminated does; a pod being deleted is
    /// Terminating.
    fn of(pod: &'a Pod, now: Timestamp) -> Self {
        let spec = pod.spec.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let mut reason = status.reason.clone().filter(|r| !r.is_empty()).or(status.phase.clone()).unwrap_or_else(|| "Pending".into());
        let mut restarts = 0;
        let mut ready = 0;
        let init_containers = spec.init_containers.as_deref().unwrap_or_default();
        let sidecar = |name: &str| init_containers.iter().any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"));
        let mut initializing = false;
        for (index, container) in status.init_container_statuses.iter().flatten().enumerate() {
            restarts += container.restart_count;
            let state = container.state.clone().unwrap_or_default();
            if let Some(terminated) = &state.terminated {
                if terminated.exit_code == 0 {
                    continue;
                }
                reason = match (terminated.reason.as_deref().filter(|r| !r.is_empty()), terminated.signal) {
                    (Some(why), _) => format!("Init:{why}"),
                    (None, Some(signal)) if signal != 0 => format!("Init:Signal:{signal}"),
                    (None, _) => format!("Init:ExitCode:{}", terminated.exit_code),
                };
                initializing = true;
                break;
            }
            if sidecar(&container.name) && container.started == Some(true) {
                if container.ready {
                    continue;
                }
                break;
            }
            reason = match state.waiting.as_ref().and_then(|w| w.reason.as_deref()) {
                Some(why) if !why.is_empty() && why != "PodInitializing" => format!("Init:{why}"),
                _ => format!("Init:{index}/{}", init_containers.len()),
            };
            initializing = true;
            break;
        }
        if !initializing {
            restarts = 0;
            let mut running = false;
            for container in status.container_statuses.iter().flatten().rev() {
                restarts += container.restart_count;
                let state = container.state.clone().unwrap_or_default();
                let waiting = state.waiting.as_ref().and_then(|w| w.reason.clone()).filter(|r| !r.is_empty());
                if let Some(why) = waiting {
                    reason = why;
                } else if let Some(terminated) = &state.terminated {
                    reason = match (terminated.reason.as_deref().filter(|r| !r.is_empty()), terminated.signal) {
                        (Some(why), _) => why.to_owned(),
                        (None, Some(signal)) if signal != 0 => format!("Signal:{signal}"),
                        (None, _) => format!("ExitCode:{}", terminated.exit_code),
                    };
                } else if container.ready && state.running.is_some() {
                    running = true;
                    ready += 1;
                }
            }
            if reason == "Completed" && running {
                reason = "Running".into();
            }
        }
        if pod.metadata.deletion_timestamp.is_some() {
            reason = if status.reason.as_deref() == Some("NodeLost") { "Unknown".into() } else { "Terminating".into() };
        }
        Self {
            name: pod.metadata.name.as_deref().unwrap_or_default(),
            status: reason,
            ready,
            containers: spec.containers.len(),
            restarts,
            age: age(&pod.metadata, now),
        }
    }

    fn icon(&self) -> Icon {
        let status = self.status.as_str();
        if let Some(init) = status.strip_prefix("Init:") {
            // `Init:1/2` is progress; `Init:CrashLoopBackOff` or `Init:ExitCode:1` is judged like a main container.
            let counting = init.split_once('/').is_some_and(|(done, all)| done.parse::<u32>().is_ok() && all.parse::<u32>().is_ok());
            return if counting { Icon::Progressing } else { Self::icon_of(init, false) };
        }
        Self::icon_of(status, self.containers > 0 && self.ready == self.containers)
    }

    fn icon_of(status: &str, all_ready: bool) -> Icon {
        if status.starts_with("Signal:") || status.starts_with("ExitCode:") {
            return Icon::Bad;
        }
        // Kubelet's image and container errors: ErrImagePull, CreateContainerConfigError, RunContainerError ...
        if status.ends_with("Error") || status.starts_with("Err") {
            return Icon::Warning;
        }
        match status {
            "Running" if all_ready => Icon::Ok,
            "Running" | "Pending" | "ContainerCreating" | "PodInitializing" | "Terminating" => Icon::Progressing,
            "Completed" | "Succeeded" => Icon::Ok,
            "Failed" | "CrashLoopBackOff" | "InvalidImageName" | "OOMKilled" | "Evicted" => Icon::Bad,
            "ImagePullBackOff" | "RegistryUnavailable" => Icon::Warning,
            _ => Icon::Unknown,
        }
    }
}

/// An AnalysisRun as the tree shows it.
struct AnalysisRunNode<'a> {
    name: &'a str,
    revision: u64,
    phase: AnalysisPhase,
    successful: i32,
    failed: i32,
    /// Inconclusive and errored measurements.
    doubtful: i32,
    age: String,
}

impl AnalysisRunNode<'_> {
    fn row(&self, table: &mut Table, branch: &str, style: Style) {
        let mut info = format!("{} {},{} {}", style.icon(Icon::Ok), self.successful, style.icon(Icon::Bad), self.failed);
        if self.doubtful > 0 {
            let _ = write!(info, ",{} {}", style.icon(Icon::Warning), self.doubtful);
        }
        table.row([
            format!("{branch}α {}", self.name),
            "AnalysisRun".into(),
            format!("{} {}", style.icon(Icon::of_analysis(&self.phase)), self.phase.as_str()),
            self.age.clone(),
            info,
        ]);
    }
}

/// The AnalysisRuns of the view, newest revision first; within a revision oldest first.
fn analysis_run_nodes(view: &RolloutView, now: Timestamp) -> Vec<AnalysisRunNode<'_>> {
    let mut nodes: Vec<(Option<Timestamp>, AnalysisRunNode<'_>)> = view
        .analysis_runs
        .iter()
        .map(|run| {
            let status = run.status.clone().unwrap_or_default();
            let results = &status.metric_results;
            let sum = |count: fn(&serin_api::analysis_run::MetricResult) -> Option<i32>| {
                results.iter().map(|result| count(result).unwrap_or(0)).sum::<i32>()
            };
            let node = AnalysisRunNode {
                name: run.metadata.name.as_deref().unwrap_or_default(),
                revision: revision(&run.metadata),
                phase: status.phase.clone().unwrap_or_default(),
                successful: sum(|r| r.successful),
                failed: sum(|r| r.failed),
                doubtful: sum(|r| r.inconclusive) + sum(|r| r.error),
                age: age(&run.metadata, now),
            };
            (created(&run.metadata), node)
        })
        .collect();
    nodes.sort_by(|(a_time, a), (b_time, b)| b.revision.cmp(&a.revision).then_with(|| (a_time, a.name).cmp(&(b_time, b.name))));
    nodes.into_iter().map(|(_, node)| node).collect()
}

// === roles ===

/// The role of a ReplicaSet, shown in INFO and after its images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
// Declared in alphabetical order: an image's merged tags are listed in this order.
enum Tag {
    Active,
    Canary,
    Ping,
    Pong,
    Preview,
    Stable,
}

impl Tag {
    fn text(self) -> &'static str {
        match self {
            Self::Canary => "canary",
            Self::Stable => "stable",
            Self::Active => "active",
            Self::Preview => "preview",
            Self::Ping => "ping",
            Self::Pong => "pong",
        }
    }

    fn color(self) -> Option<Color> {
        match self {
            Self::Canary => Some(Color::Yellow),
            Self::Stable | Self::Active => Some(Color::Green),
            Self::Preview => Some(Color::Blue),
            Self::Ping | Self::Pong => None,
        }
    }
}

/// Roles of the ReplicaSet with pod template `hash`, in display order. Canary: `stable` (hash is `stableRS`) or
/// else `canary` (hash is `currentPodHash`), plus `ping`/`pong` with ping-pong Services. Blue-green: `stable`, plus
/// `active` or else `preview` by the Services' selectors.
fn tags(rollout: &Rollout, hash: Option<&str>) -> Vec<Tag> {
    let Some(hash) = hash.filter(|hash| !hash.is_empty()) else { return Vec::new() };
    let status = rollout.status.clone().unwrap_or_default();
    let is = |value: Option<&str>| value == Some(hash);
    let stable = is(status.stable_rs.as_deref());
    let mut tags = Vec::new();
    match rollout.spec.strategy() {
        Ok(Strategy::Canary(canary)) => {
            let canary_rs = !stable && is(status.current_pod_hash.as_deref());
            tags.extend(stable.then_some(Tag::Stable));
            tags.extend(canary_rs.then_some(Tag::Canary));
            if canary.ping_pong.is_some() && (stable || canary_rs) {
                let stable_is_ping = status.canary.as_ref().and_then(|c| c.stable_ping_pong.as_ref()) == Some(&PingPongType::Ping);
                tags.push(if stable == stable_is_ping { Tag::Ping } else { Tag::Pong });
            }
        }
        Ok(Strategy::BlueGreen(_)) => {
            let selectors = status.blue_green.unwrap_or_default();
            tags.extend(stable.then_some(Tag::Stable));
            if is(selectors.active_selector.as_deref()) {
                tags.push(Tag::Active);
            } else if is(selectors.preview_selector.as_deref()) {
                tags.push(Tag::Preview);
            }
        }
        Err(_) => {}
    }
    tags
}

fn pod_template_hash(rs: &ReplicaSet) -> Option<&str> {
    rs.metadata.labels.as_ref().and_then(|labels| labels.get(POD_TEMPLATE_HASH)).map(String::as_str)
}

// === metadata ===

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref().and_then(|annotations| annotations.get(key)).map(String::as_str)
}

/// The `rollout.argoproj.io/revision` annotation; 0 when missing or not a number.
fn revision(meta: &ObjectMeta) -> u64 {
    annotation(meta, REVISION).and_then(|revision| revision.parse().ok()).unwrap_or(0)
}

fn created(meta: &ObjectMeta) -> Option<Timestamp> {
    meta.creation_timestamp.as_ref().map(|Time(time)| *time)
}

/// Age of an object as kubectl prints it, or `<unknown>` without a creation time.
fn age(meta: &ObjectMeta, now: Timestamp) -> String {
    created(meta).map_or_else(|| "<unknown>".into(), |created| human_duration(now.duration_since(created)))
}

/// A duration in kubectl's compact form: `45s`, `2m30s` (under 10 minutes), `10m`, `3h20m` (under 8 hours),
/// `20h`, `3d4h` (under 8 days), `30d`, `2y30d` (under 8 years), `9y`. More than a second in the future (clock
/// skew) reads `<invalid>`.
fn human_duration(duration: SignedDuration) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const YEAR: i64 = 365 * DAY;
    let seconds = duration.as_secs();
    // Show the larger unit, and the smaller one only when it is not zero.
    let pair = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 { format!("{big}{big_unit}") } else { format!("{big}{big_unit}{small}{small_unit}") }
    };
    match seconds {
        ..-1 => "<invalid>".into(),
        -1..0 => "0s".into(),
        0..120 => format!("{seconds}s"),
        120..600 => pair(seconds / MINUTE, "m", seconds % MINUTE, "s"),
        600..10_800 => format!("{}m", seconds / MINUTE),
        10_800..28_800 => pair(seconds / HOUR, "h", seconds % HOUR / MINUTE, "m"),
        28_800..172_800 => format!("{}h", seconds / HOUR),
        172_800..691_200 => pair(seconds / DAY, "d", seconds % DAY / HOUR, "h"),
        691_200..63_072_000 => format!("{}d", seconds / DAY),
        63_072_000..252_288_000 => pair(seconds / YEAR, "y", seconds % YEAR / DAY, "d"),
        _ => format!("{}y", seconds / YEAR),
    }
}

// === icons and colour ===

/// A status icon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Icon {
    Ok,
    Bad,
    Progressing,
    Paused,
    Warning,
    Neutral,
    Unknown,
}

impl Icon {
    fn of_rollout(phase: &RolloutPhase) -> Self {
        match phase {
            RolloutPhase::Healthy => Self::Ok,
            RolloutPhase::Progressing => Self::Progressing,
            RolloutPhase::Paused => Self::Paused,
            RolloutPhase::Degraded => Self::Bad,
            RolloutPhase::Other(_) => Self::Unknown,
        }
    }

    fn of_analysis(phase: &AnalysisPhase) -> Self {
        match phase {
            AnalysisPhase::Successful => Self::Ok,
            AnalysisPhase::Failed => Self::Bad,
            AnalysisPhase::Inconclusive | AnalysisPhase::Error => Self::Warning,
            AnalysisPhase::Pending | AnalysisPhase::Running => Self::Progressing,
            AnalysisPhase::Other(_) => Self::Unknown,
        }
    }

    fn glyph(self) -> &'static str {
        match self {
            Self::Ok => "✔",
            Self::Bad => "✖",
            Self::Progressing => "◌",
            Self::Paused => "॥",
            Self::Warning => "⚠",
            Self::Neutral => "•",
            Self::Unknown => "?",
        }
    }

    fn color(self) -> Color {
        match self {
            Self::Ok => Color::Green,
            Self::Bad => Color::Red,
            Self::Progressing | Self::Paused | Self::Warning | Self::Unknown => Color::Yellow,
            Self::Neutral => Color::Grey,
        }
    }
}

/// ANSI foreground colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Color {
    Red,
    Green,
    Yellow,
    Blue,
    Grey,
}

impl Color {
    fn code(self) -> u8 {
        match self {
            Self::Red => 31,
            Self::Green => 32,
            Self::Yellow => 33,
            Self::Blue => 94,
            Self::Grey => 90,
        }
    }
}

impl Style {
    fn paint(self, text: &str, color: Option<Color>) -> String {
        match (self.color, color) {
            (true, Some(color)) => format!("\x1b[{}m{text}\x1b[0m", color.code()),
            (true, None) | (false, _) => text.to_owned(),
        }
    }

    fn icon(self, icon: Icon) -> String {
        self.paint(icon.glyph(), Some(icon.color()))
    }

    fn tag(self, tag: Tag) -> String {
        self.paint(tag.text(), tag.color())
    }
}

// === table ===

/// Left-aligned columns as wide as their widest visible cell, two spaces apart, no trailing spaces.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new<'a>(header: impl IntoIterator<Item = &'a str>) -> Self {
        Self { rows: vec![header.into_iter().map(str::to_owned).collect()] }
    }

    fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        self.rows.push(cells.into_iter().collect());
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = Vec::new();
        for row in &self.rows {
            for (column, cell) in row.iter().enumerate() {
                let width = visible_width(cell);
                match widths.get_mut(column) {
                    Some(max) => *max = (*max).max(width),
                    None => widths.push(width),
                }
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (cell, width) in row.iter().zip(&widths) {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', width - visible_width(cell) + COLUMN_GAP));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Characters a terminal shows for `text`: ANSI escape sequences (`ESC [ ... letter`) take no room.
fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Skip up to and including the final byte of the sequence.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            width += 1;
        }
    }
    width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (150, "2m30s"),
            (600, "10m"),
            (10_799, "179m"),
            (10_800, "3h"),
            (12_000, "3h20m"),
            (28_800, "8h"),
            (172_800, "2d"),
            (190_800, "2d5h"),
            (691_200, "8d"),
            (63_072_000, "2y"),
            (65_664_000, "2y30d"),
            (252_288_000, "8y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(SignedDuration::from_secs(seconds)), expected, "{seconds}s");
        }
    }

    #[test]
    fn escapes_take_no_width() {
        assert_eq!(visible_width("\x1b[32m✔\x1b[0m Healthy"), 9);
        assert_eq!(visible_width("│  ├──⧉ web"), 11);
    }

    fn pod(status: serde_json::Value, deleting: bool) -> Pod {
        let mut pod = serde_json::json!({
            "metadata": {"name": "web-6b56c8cdb4-q7mzk", "creationTimestamp": "2026-03-02T11:58:00Z"},
            "spec": {
                "initContainers": [{"name": "migrate", "image": "registry.example.com/web-migrate:2.0"}],
                "containers": [{"name": "web", "image": "registry.example.com/web:2.0"}],
            },
            "status": status,
        });
        if deleting {
            pod["metadata"]["deletionTimestamp"] = "2026-03-02T11:59:30Z".into();
        }
        serde_json::from_value(pod).unwrap()
    }

    fn shown(pod: &Pod) -> (String, &'static str, String) {
        let now: Timestamp = "2026-03-02T12:00:00Z".parse().unwrap();
        let node = PodNode::of(pod, now);
        (node.status.clone(), node.icon().glyph(), format!("{}/{} restarts:{}", node.ready, node.containers, node.restarts))
    }

    #[test]
    fn pod_status_reads_like_kubectl() {
        let init_done = serde_json::json!({"name": "migrate", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
        let crash_looping = pod(
            serde_json::json!({"phase": "Running", "initContainerStatuses": [init_done],
                "containerStatuses": [{"name": "web", "ready": false, "restartCount": 4, "image": "i", "imageID": "",
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
            false,
        );
        assert_eq!(shown(&crash_looping), ("CrashLoopBackOff".into(), "✖", "0/1 restarts:4".into()));

        let initializing = pod(
            serde_json::json!({"phase": "Pending", "initContainerStatuses": [{"name": "migrate", "ready": false, "restartCount": 0,
                "image": "i", "imageID": "", "state": {"running": {}}}]}),
            false,
        );
        assert_eq!(shown(&initializing), ("Init:0/1".into(), "◌", "0/1 restarts:0".into()));

        let init_failed = pod(
            serde_json::json!({"phase": "Pending", "initContainerStatuses": [{"name": "migrate", "ready": false, "restartCount": 2,
                "image": "i", "imageID": "", "state": {"terminated": {"exitCode": 1}}}]}),
            false,
        );
        assert_eq!(shown(&init_failed), ("Init:ExitCode:1".into(), "✖", "0/1 restarts:2".into()));

        let pulling = pod(
            serde_json::json!({"phase": "Pending", "initContainerStatuses": [init_done],
                "containerStatuses": [{"name": "web", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                    "state": {"waiting": {"reason": "ErrImagePull"}}}]}),
            false,
        );
        assert_eq!(shown(&pulling).1, "⚠");

        let running = serde_json::json!({"phase": "Running", "initContainerStatuses": [init_done],
            "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"running": {"startedAt": "2026-03-02T11:58:10Z"}}}]});
        assert_eq!(shown(&pod(running.clone(), false)), ("Running".into(), "✔", "1/1 restarts:0".into()));
        assert_eq!(shown(&pod(running, true)), ("Terminating".into(), "◌", "1/1 restarts:0".into()));

        let evicted = pod(serde_json::json!({"phase": "Failed", "reason": "Evicted"}), false);
        assert_eq!(shown(&evicted), ("Evicted".into(), "✖", "0/1 restarts:0".into()));
    }

    #[test]
    fn percentages_round_half_up() {
        assert_eq!(rounded_percent(1, 5), 20);
        assert_eq!(rounded_percent(2, 3), 67);
        assert_eq!(rounded_percent(1, 3), 33);
        assert_eq!(rounded_percent(1, 8), 13);
    }
}
