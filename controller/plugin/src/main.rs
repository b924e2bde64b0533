//! `kubectl-serin`: drive Rollouts from the terminal and from CI. On `PATH`, kubectl finds it as `kubectl serin`.
//!
//! Exit codes: 0 success (for `status`: Healthy); 1 an error, or `status` found the Rollout Degraded; 2 a usage
//! error; 3 `status --timeout` expired before the Rollout became Healthy.

// Doc comments on the arguments are the `--help` text, where backticks would show literally.
#![allow(clippy::doc_markdown)]

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::{CommandFactory as _, Parser, Subcommand};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use serin_api::rollout::status::RolloutPhase;
use serin_api::{AnalysisRun, GoDuration, Rollout};
use serin_plugin::patches::{self, Patches};
use serin_plugin::render::{self, RolloutView, Style};

/// Field manager of every write, so `kubectl get --show-managed-fields` tells our writes apart.
const FIELD_MANAGER: &str = "kubectl-serin";
/// `set image` retries on a conflict this many times (Argo: 5).
const CONFLICT_RETRIES: usize = 5;

/// Drive Rollouts (argoproj.io/v1alpha1) from the terminal and CI: promote, abort, retry, set image, status, ...
#[derive(Debug, Parser)]
#[command(name = "kubectl-serin", bin_name = "kubectl serin", version, propagate_version = true)]
struct Cli {
    /// Namespace (default: the kubeconfig context's, else "default").
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,
    /// Kubeconfig context to use.
    #[arg(long, global = true)]
    context: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Promote a Rollout paused at a step (or move past the current step); --full skips all remaining steps.
    Promote {
        /// Rollout name.
        name: String,
        /// Skip every remaining step, analysis and pause.
        #[arg(long)]
        full: bool,
    },
    /// Resume a Rollout paused with `pause` (spec.paused=false; steps are left alone: `promote` moves past a step).
    Resume {
        /// Rollout name.
        name: String,
    },
    /// Abort the update: traffic and pods go back to the stable version.
    Abort {
        /// Rollout name.
        name: String,
    },
    /// Retry an aborted update.
    Retry {
        #[command(subcommand)]
        what: Retry,
    },
    /// Pause a Rollout (spec.paused=true).
    Pause {
        /// Rollout name.
        name: String,
    },
    /// Restart the pods of a Rollout (spec.restartAt), now or after a delay.
    Restart {
        /// Rollout name.
        name: String,
        /// Delay before the restart, e.g. 30s or 5m.
        #[arg(short = 'i', long = "in")]
        in_: Option<String>,
    },
    /// Set a field of a Rollout.
    Set {
        #[command(subcommand)]
        what: Set,
    },
    /// Roll back to the previous (or a given) revision's pod template.
    Undo {
        /// Rollout name.
        name: String,
        /// Revision to go back to (0: the previous one).
        #[arg(long, default_value_t = 0)]
        to_revision: i64,
    },
    /// Print the Rollout's status until it is Healthy (exit 0) or Degraded (exit 1); for CI pipelines.
    Status {
        /// Rollout name.
        name: String,
        /// Keep watching until Healthy or Degraded (default); --watch=false prints once.
        #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        watch: bool,
        /// Give up after this long (e.g. 5m; exit 3); 0 or unset: wait forever.
        #[arg(short = 't', long)]
        timeout: Option<String>,
    },
    /// List Rollouts.
    List {
        #[command(subcommand)]
        what: List,
    },
    /// Show a Rollout with its revisions, ReplicaSets, pods and AnalysisRuns.
    Get {
        #[command(subcommand)]
        what: Get,
    },
    /// Check Rollout manifests offline with the controller's own validation; prints field paths, exit 1 if invalid.
    Lint {
        /// Manifest file (YAML, several documents allowed).
        #[arg(required_unless_present = "file_flag")]
        file: Option<PathBuf>,
        /// Manifest file (as `kubectl argo rollouts lint -f`).
        #[arg(short = 'f', long = "filename", id = "file_flag")]
        file_flag: Option<PathBuf>,
    },
    /// Print the plugin's version.
    Version,
    /// Print a shell completion script.
    Completion {
        /// Shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum Retry {
    /// Retry an aborted Rollout (status.abort=false).
    #[command(visible_alias = "ro")]
    Rollout {
        /// Rollout name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum Set {
    /// Set a container's image: CONTAINER=IMAGE (`*` for every container).
    Image {
        /// Rollout name.
        name: String,
        /// CONTAINER=IMAGE.
        container_image: String,
    },
}

#[derive(Debug, Subcommand)]
enum List {
    /// List Rollouts.
    #[command(visible_alias = "ro")]
    Rollouts {
        /// All namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Redraw on every change.
        #[arg(short = 'w', long)]
        watch: bool,
    },
}

#[derive(Debug, Subcommand)]
enum Get {
    /// Show a Rollout as a tree.
    #[command(visible_alias = "ro")]
    Rollout {
        /// Rollout name.
        name: String,
        /// Redraw in place on every change.
        #[arg(short = 'w', long)]
        watch: bool,
        /// No colours.
        #[arg(long)]
        no_color: bool,
    },
}

/// The outcome of `status`.
enum Outcome {
    Done,
    Degraded,
    TimedOut,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Degraded) => ExitCode::from(1),
        Ok(Outcome::TimedOut) => ExitCode::from(3),
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// A client and the namespace commands act in.
struct Target {
    client: kube::Client,
    namespace: String,
}

impl Target {
    fn rollouts(&self) -> Api<Rollout> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The Rollout `name`, with kubectl's wording when it does not exist.
    async fn rollout(&self, name: &str) -> Result<Rollout> {
        match self.rollouts().get_opt(name).await? {
            Some(ro) => Ok(ro),
            None => bail!("rollout \"{name}\" not found in namespace \"{}\"", self.namespace),
        }
    }

    /// Applies merge patches: status to the status subresource, spec to the Rollout.
    async fn patch(&self, name: &str, patches: &Patches) -> Result<()> {
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
        if let Some(status) = &patches.status {
            self.rollouts().patch_status(name, &params, &Patch::Merge(status)).await.context("patching the Rollout's status")?;
        }
        if let Some(spec) = &patches.spec {
            self.rollouts().patch(name, &params, &Patch::Merge(spec)).await.context("patching the Rollout")?;
        }
        Ok(())
    }
}

async fn connect(cli: &Cli) -> Result<Target> {
    let options = KubeConfigOptions { context: cli.context.clone(), ..KubeConfigOptions::default() };
    let config = match &cli.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        // Like kubectl: the kubeconfig, else the pod's service account (a CI step running in the cluster).
        None if cli.context.is_none() => {
            kube::Config::infer().await.context("no kubeconfig ($KUBECONFIG or ~/.kube/config) and not in a cluster")?
        }
        None => kube::Config::from_kubeconfig(&options).await.context("loading kubeconfig ($KUBECONFIG or ~/.kube/config)")?,
    };
    let namespace = cli.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config)?;
    Ok(Target { client, namespace })
}

async fn run(cli: Cli) -> Result<Outcome> {
    match &cli.command {
        Command::Version => {
            println!("kubectl-serin v{}", env!("CARGO_PKG_VERSION"));
            return Ok(Outcome::Done);
        }
        Command::Completion { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "kubectl-serin", &mut std::io::stdout());
            return Ok(Outcome::Done);
        }
        Command::Lint { file, file_flag } => {
            let path = file.as_ref().or(file_flag.as_ref()).context("a manifest file is required")?;
            return lint(path);
        }
        _ => {}
    }
    let target = connect(&cli).await?;
    match cli.command {
        Command::Promote { name, full } => {
            let ro = target.rollout(&name).await?;
            target.patch(&name, &patches::promote(&ro, full)).await?;
            println!("rollout '{name}' {}", if full { "fully promoted" } else { "promoted" });
        }
        Command::Resume { name } => {
            target.rollout(&name).await?;
            target.patch(&name, &patches::resume()).await?;
            println!("rollout '{name}' resumed");
        }
        Command::Abort { name } => {
            target.rollout(&name).await?;
            target.patch(&name, &patches::abort()).await?;
            println!("rollout '{name}' aborted");
        }
        Command::Retry { what: Retry::Rollout { name } } => {
            target.rollout(&name).await?;
            target.patch(&name, &patches::retry()).await?;
            println!("rollout '{name}' retried");
        }
        Command::Pause { name } => {
            target.rollout(&name).await?;
            target.patch(&name, &patches::pause()).await?;
            println!("rollout '{name}' paused");
        }
        Command::Restart { name, in_ } => {
            target.rollout(&name).await?;
            let delay = match in_ {
                Some(text) => parse_duration(&text)?,
                None => Duration::ZERO,
            };
            let at = jiff::Timestamp::now() + jiff::SignedDuration::try_from(delay)?;
            target.patch(&name, &patches::restart(at)).await?;
            println!("rollout '{name}' restarts");
        }
        Command::Set { what: Set::Image { name, container_image } } => set_image(&target, &name, &container_image).await?,
        Command::Undo { name, to_revision } => undo(&target, &name, to_revision).await?,
        Command::Status { name, watch, timeout } => {
            let timeout = timeout.as_deref().map(parse_duration).transpose()?.filter(|t| !t.is_zero());
            return status(&target, &name, watch, timeout).await;
        }
        Command::List { what: List::Rollouts { all_namespaces, watch } } => list(&target, all_namespaces, watch).await?,
        Command::Get { what: Get::Rollout { name, watch, no_color } } => {
            let color = !no_color && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            get(&target, &name, watch, Style { color }).await?;
        }
        Command::Version | Command::Completion { .. } | Command::Lint { .. } => {}
    }
    Ok(Outcome::Done)
}

fn parse_duration(text: &str) -> Result<Duration> {
    // A bare number is seconds, as in Rollout pauses.
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let parsed = GoDuration::parse(text).with_context(|| format!("invalid duration {text:?} (e.g. 30s, 5m, 1h)"))?;
    parsed.to_std().with_context(|| format!("invalid duration {text:?}: negative"))
}

/// `set image`: edit the pod template and replace the Rollout, retrying on conflicts. The Rollout is read and
/// written as raw JSON, so fields this plugin does not know are kept.
async fn set_image(target: &Target, name: &str, container_image: &str) -> Result<()> {
    let (container, image) = patches::parse_image_argument(container_image)?;
    let ro = target.rollout(name).await?;
    if ro.spec.workload_ref.is_some() {
        bail!("rollout \"{name}\" uses workloadRef: set the image on the referenced workload");
    }
    let api: Api<DynamicObject> = Api::namespaced_with(target.client.clone(), &target.namespace, &ApiResource::erase::<Rollout>(&()));
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    for attempt in 1..=CONFLICT_RETRIES {
        let object = api.get(name).await?;
        let mut raw = serde_json::to_value(&object)?;
        if !patches::set_image_json(&mut raw, container, image)? {
            println!("rollout \"{name}\" image unchanged");
            return Ok(());
        }
        let updated: DynamicObject = serde_json::from_value(raw)?;
        match api.replace(name, &params, &updated).await {
            Ok(_) => {
                println!("rollout \"{name}\" image updated");
                return Ok(());
            }
            Err(kube::Error::Api(status)) if status.code == 409 && attempt < CONFLICT_RETRIES => {}
            Err(err) => return Err(err).context("updating the Rollout"),
        }
    }
    bail!("updating the Rollout: still conflicting after {CONFLICT_RETRIES} attempts")
}

/// `undo`: replace the pod template with an older revision's.
async fn undo(target: &Target, name: &str, to_revision: i64) -> Result<()> {
    let ro = target.rollout(name).await?;
    if ro.spec.workload_ref.is_some() {
        bail!("rollout \"{name}\" uses workloadRef: roll back the referenced workload");
    }
    let rss = owned_replica_sets(target, &ro).await?;
    match patches::undo(&ro, &rss, to_revision)? {
        None => println!("skipped rollback (current template already matches revision {to_revision})"),
        Some(patch) => {
            let patch: json_patch_kube::Patch = serde_json::from_value(patch)?;
            let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
            target.rollouts().patch(name, &params, &Patch::Json::<()>(patch)).await.context("patching the Rollout")?;
            println!("rollout '{name}' undo");
        }
    }
    Ok(())
}

async fn owned_replica_sets(target: &Target, ro: &Rollout) -> Result<Vec<ReplicaSet>> {
    let uid = ro.metadata.uid.clone().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(target.client.clone(), &target.namespace);
    let list = api.list(&ListParams::default()).await?;
    Ok(list.items.into_iter().filter(|rs| rs.metadata.owner_references.iter().flatten().any(|o| o.uid == uid)).collect())
}

/// `status`: print `Phase - message` on every change until Healthy (0), Degraded (1) or the timeout (3).
async fn status(target: &Target, name: &str, watch: bool, timeout: Option<Duration>) -> Result<Outcome> {
    let started = Instant::now();
    let mut last = String::new();
    let mut failures = 0;
    loop {
        let ro = match target.rollout(name).await {
            Ok(ro) => ro,
            // A watch survives a few transient API errors; a missing Rollout ends it at once.
            Err(err) if watch && failures < 5 && !err.to_string().contains("not found in namespace") => {
                failures += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(err) => return Err(err),
        };
        failures = 0;
        let line = render::status_line(&ro);
        if line != last {
            println!("{line}");
            last = line;
        }
        // Decide on exactly what was printed (the phase as clients compute it).
        let (phase, message) = serin_planner::phase::client_phase(&ro);
        match phase {
            RolloutPhase::Healthy => return Ok(Outcome::Done),
            RolloutPhase::Degraded => {
                eprintln!("The rollout is in a degraded state with message: {message}");
                return Ok(Outcome::Degraded);
            }
            _ => {}
        }
        if !watch {
            return Ok(Outcome::Done);
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            eprintln!("Rollout status watch exceeded timeout");
            return Ok(Outcome::TimedOut);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn list(target: &Target, all_namespaces: bool, watch: bool) -> Result<()> {
    let api: Api<Rollout> = if all_namespaces { Api::all(target.client.clone()) } else { target.rollouts() };
    let mut last = String::new();
    loop {
        let items = api.list(&ListParams::default()).await?.items;
        let table = if items.is_empty() {
            if all_namespaces {
                "No resources found\n".to_owned()
            } else {
                format!("No resources found in {} namespace.\n", target.namespace)
            }
        } else {
            render::rollouts_table(&items, all_namespaces)
        };
        if table != last {
            if watch && !last.is_empty() && std::io::stdout().is_terminal() {
                print!("\x1b[H\x1b[2J");
            }
            print!("{table}");
            last = table;
        }
        if !watch {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn get(target: &Target, name: &str, watch: bool, style: Style) -> Result<()> {
    let mut last = String::new();
    loop {
        let rollout = target.rollout(name).await?;
        let uid = rollout.metadata.uid.clone().unwrap_or_default();
        let replica_sets = owned_replica_sets(target, &rollout).await?;
        let rs_uids: Vec<String> = replica_sets.iter().filter_map(|rs| rs.metadata.uid.clone()).collect();
        let pods: Vec<Pod> = Api::<Pod>::namespaced(target.client.clone(), &target.namespace)
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|p| p.metadata.owner_references.iter().flatten().any(|o| rs_uids.contains(&o.uid)))
            .collect();
        let analysis_runs: Vec<AnalysisRun> = Api::<AnalysisRun>::namespaced(target.client.clone(), &target.namespace)
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|r| r.metadata.owner_references.iter().flatten().any(|o| o.uid == uid))
            .collect();
        let view = RolloutView { rollout, replica_sets, pods, analysis_runs };
        let out = render::rollout_tree(&view, jiff::Timestamp::now(), style);
        if out != last {
            if watch && !last.is_empty() && std::io::stdout().is_terminal() {
                print!("\x1b[H\x1b[2J");
            } else if watch && !last.is_empty() {
                println!();
            }
            print!("{out}");
            last = out;
        }
        if !watch {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Paths present (and non-empty) in `input` but absent from `known` (the same document after a round trip through
/// the typed Rollout): fields the types do not know. `metadata` and `status` are not checked.
fn unknown_fields(input: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(fields), Value::Object(kept)) => {
            for (key, value) in fields {
                if path.is_empty() && matches!(key.as_str(), "metadata" | "status" | "apiVersion" | "kind") {
                    continue;
                }
                let at = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match kept.get(key) {
                    Some(k) => unknown_fields(value, k, &at, out),
                    None if is_empty(value) => {}
                    None => out.push(at),
                }
            }
        }
        (Value::Array(items), Value::Array(kept)) if items.len() == kept.len() => {
            for (i, (item, k)) in items.iter().zip(kept).enumerate() {
                unknown_fields(item, k, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `lint FILE`: every Rollout in the file decoded with field paths, then the controller's validation.
fn lint(path: &Path) -> Result<Outcome> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).with_context(|| format!("{}: not YAML", path.display()))?;
    let mut problems = Vec::new();
    let mut rollouts = 0;
    for doc in docs.into_iter().filter(|d| d["kind"] == "Rollout") {
        rollouts += 1;
        let name = doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("<unnamed>").to_owned();
        let rollout: Rollout = match serde_path_to_error::deserialize(doc.clone()) {
            Ok(ro) => {
                // Fields the Rollout types do not know (a typo such as `stepz`) would be silently ignored by the API
                // server's pruning: report them, like Argo's strict decoding.
                let known = serde_json::to_value(&ro).unwrap_or(Value::Null);
                let mut unknown = Vec::new();
                unknown_fields(&doc, &known, "", &mut unknown);
                problems.extend(unknown.into_iter().map(|path| format!("Rollout \"{name}\": {path}: unknown field")));
                ro
            }
            Err(err) => {
                problems.push(format!("Rollout \"{name}\": {}: {}", err.path(), err.inner()));
                continue;
            }
        };
        let mut errors = serin_planner::validate::validate_rollout(&rollout);
        if errors.is_empty() {
            errors = serin_planner::validate::unsupported_features(&rollout);
        }
        problems.extend(errors.iter().map(|e| format!("Rollout \"{name}\": {e}")));
    }
    if problems.is_empty() {
        println!("{}: {rollouts} Rollout(s), no problems found", path.display());
        return Ok(Outcome::Done);
    }
    for problem in &problems {
        println!("{problem}");
    }
    Ok(Outcome::Degraded)
}
