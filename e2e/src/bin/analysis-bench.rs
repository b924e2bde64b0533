//! `analysis-bench`: how well the AnalysisRun controller keeps its measurement schedule under load. Starts kube-sim
//! and the Serin controller in-process, a local metrics endpoint that records when each run's request arrives, and
//! `--runs` AnalysisRuns each with one unbounded web metric every `--interval`; after `--duration` it reports, as a
//! table (stdout and `target/bench/analysis-schedule.md`), how late measurements came and how far the schedule
//! drifted. Figures, not pass/fail: run with `make bench`.
//!
//! Lateness of measurement k of a run is `arrival_k - (arrival_0 + k * interval)`, arrivals as the metrics endpoint
//! sees them. The controller anchors measurements to whole-second start times (`status...startedAt` has second
//! precision), so its own schedule is `second_of(arrival_0) + k * interval`: lateness is also reported against that.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use clap::Parser;
use futures::{StreamExt, TryStreamExt, stream};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use kube_sim::control_plane::parse_duration;
use kube_sim::{KubeSim, SimConfig};
use parking_lot::Mutex;
use serde_json::{Value, json};
use serin_api::AnalysisRun;
use serin_api::labels::CONTROLLER_INSTANCE_ID;
use serin_e2e::bench::{percentile, rss_mib};
use serin_e2e::scenario::spawn_controller;
use tokio::sync::oneshot;

// As the controller binary: mimalloc returns freed memory to the OS, so RSS tracks what is live.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NAMESPACE: &str = "analysis-bench";
const CREATE_CONCURRENCY: usize = 32;
/// kube-sim's watch history (events). Every measurement is a status write, and kube-sim's default (50,000 events)
/// would grow the process by hundreds of MiB over a 10-minute run, hiding the controller's share of RSS. Watches
/// resume from bookmarks sent every 5 s, well within this.
const SIM_HISTORY: usize = 10_000;

/// Measurement schedule drift of the AnalysisRun controller.
#[derive(Debug, Parser)]
#[command(name = "analysis-bench")]
struct Args {
    /// Concurrent AnalysisRuns.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Metric interval (Go duration: 5s, 1m).
    #[arg(long, default_value = "5s", value_parser = duration)]
    interval: Duration,
    /// How long to measure after the runs are created (Go duration: 30s, 10m).
    #[arg(long, default_value = "10m", value_parser = duration)]
    duration: Duration,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).filter(|d| !d.is_zero()).ok_or_else(|| format!("invalid duration {s:?} (examples: 500ms, 5s, 10m)"))
}

/// The interval as a Go duration string for the manifest.
fn go_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// One request to the metrics endpoint: monotonic and wall-clock arrival.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    at: Instant,
    wall: Timestamp,
}

type Arrivals = Arc<Mutex<HashMap<String, Vec<Arrival>>>>;

async fn metric(State(arrivals): State<Arrivals>, Path(run): Path<String>) -> axum::Json<Value> {
    let arrival = Arrival { at: Instant::now(), wall: Timestamp::now() };
    arrivals.lock().entry(run).or_default().push(arrival);
    axum::Json(json!({"ok": true}))
}

fn run_manifest(name: &str, instance: &str, interval: &str, url: &str) -> Result<AnalysisRun> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {CONTROLLER_INSTANCE_ID: instance}},
        "spec": {"metrics": [{
            "name": "ok", "interval": interval, "successCondition": "result.ok == true",
            "provider": {"web": {"url": url}}
        }]}
    }))?)
}

fn float(n: usize) -> f64 {
    u32::try_from(n).map_or(f64::from(u32::MAX), f64::from)
}

fn ms(seconds: f64) -> String {
    format!("{:+.1} ms", seconds * 1000.0)
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / float(values.len()) }
}

/// Per-run schedule figures over the measurement window.
#[derive(Default)]
struct Figures {
    taken: usize,
    expected: usize,
    /// Lateness vs `arrival_0 + k * interval`, k >= 1.
    lateness: Vec<f64>,
    /// Lateness vs the controller's own schedule, `second_of(arrival_0) + k * interval`, k >= 1.
    anchored: Vec<f64>,
    /// Per run: lateness of the last measurement minus that of the first (k = 0, always 0).
    drift: Vec<f64>,
    /// Per run: lateness of the last measurement minus that of the second (k = 1).
    drift_after_first: Vec<f64>,
    /// Per run: lateness of the second measurement (the first the schedule placed).
    first_interval: Vec<f64>,
    /// Consecutive arrivals closer than half an interval (a measurement taken twice).
    doubled: usize,
    /// Consecutive arrivals further apart than 1.5 intervals (a measurement skipped).
    skipped: usize,
    /// Measurements more than a second behind `second_of(arrival_0) + k * interval`: a measurement that starts
    /// after its due second records that later second, and the run's schedule moves by it.
    late_over_1s: usize,
    /// Runs whose last measurement is at least half a second later than their second one.
    drifted_runs: usize,
    min_gap: f64,
    max_gap: f64,
    runs_without_measurement: usize,
}

fn figures(arrivals: &HashMap<String, Vec<Arrival>>, names: &[String], interval: Duration, end: Instant) -> Figures {
    let step = interval.as_secs_f64();
    let mut f = Figures { min_gap: f64::INFINITY, ..Figures::default() };
    for name in names {
        let seen: Vec<Arrival> = arrivals.get(name).map(|v| v.iter().copied().filter(|a| a.at <= end).collect()).unwrap_or_default();
        let Some(first) = seen.first().copied() else {
            f.runs_without_measurement += 1;
            continue;
        };
        f.taken += seen.len();
        // Measurements the schedule `arrival_0 + k * interval` fits in the window.
        f.expected += 1 + usize::try_from((end - first.at).as_nanos() / interval.as_nanos().max(1)).unwrap_or(usize::MAX);
        let anchor = Timestamp::from_second(first.wall.as_second()).unwrap_or(first.wall);
        let (mut last_lateness, mut second_lateness) = (0.0, 0.0);
        for (k, arrival) in seen.iter().enumerate().skip(1) {
            let ideal = float(k) * step;
            let lateness = (arrival.at - first.at).as_secs_f64() - ideal;
            let anchored = arrival.wall.duration_since(anchor).as_secs_f64() - ideal;
            if k == 1 {
                second_lateness = lateness;
                f.first_interval.push(lateness);
            }
            f.lateness.push(lateness);
            f.anchored.push(anchored);
            if anchored > 1.0 {
                f.late_over_1s += 1;
            }
            let gap = (arrival.at - seen[k - 1].at).as_secs_f64();
            f.min_gap = f.min_gap.min(gap);
            f.max_gap = f.max_gap.max(gap);
            if gap < step / 2.0 {
                f.doubled += 1;
            } else if gap > step * 1.5 {
                f.skipped += 1;
            }
            last_lateness = lateness;
        }
        if seen.len() > 1 {
            f.drift.push(last_lateness);
        }
        if seen.len() > 2 {
            f.drift_after_first.push(last_lateness - second_lateness);
            if last_lateness - second_lateness >= 0.5 {
                f.drifted_runs += 1;
            }
        }
    }
    f.lateness.sort_by(f64::total_cmp);
    f.anchored.sort_by(f64::total_cmp);
    f
}

/// What the runs' statuses say at the end: phases, and measurements recorded (successful, errors).
async fn statuses(client: &kube::Client) -> Result<(BTreeMap<String, usize>, i64, i64)> {
    let runs: Api<AnalysisRun> = Api::namespaced(client.clone(), NAMESPACE);
    let mut phases: BTreeMap<String, usize> = BTreeMap::new();
    let (mut counted, mut errors) = (0i64, 0i64);
    for run in runs.list(&ListParams::default()).await?.items {
        let status = run.status.unwrap_or_default();
        *phases.entry(status.phase.map_or_else(|| "<none>".to_owned(), |p| p.to_string())).or_default() += 1;
        for result in status.metric_results {
            counted += i64::from(result.count.unwrap_or(0));
            errors += i64::from(result.error.unwrap_or(0));
        }
    }
    Ok((phases, counted, errors))
}

/// Requests the controller made to kube-sim, by verb and resource.
async fn controller_requests(sim_url: &str) -> Result<BTreeMap<(String, String), u64>> {
    let body: Value = reqwest::get(format!("{sim_url}/sim/requests")).await?.error_for_status()?.json().await?;
    let mut out = BTreeMap::new();
    for entry in body["entries"].as_array().into_iter().flatten() {
        if entry["client"] == serin_controller::FIELD_MANAGER {
            let key = (entry["verb"].as_str().unwrap_or_default().to_owned(), entry["resource"].as_str().unwrap_or_default().to_owned());
            *out.entry(key).or_default() += entry["count"].as_u64().unwrap_or(0);
        }
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let args = Args::parse();
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let rss_start = rss_mib();

    let sim = KubeSim::start_with(SimConfig { history_limit: SIM_HISTORY, ..SimConfig::default() }).await.context("starting kube-sim")?;
    // Building a kube client installs rustls's ring provider, which reqwest (no bundled provider) needs.
    let client = sim.client()?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in serin_api::crd::custom_resource_definitions() {
        crds.create(&PostParams::default(), &crd).await?;
    }
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?)
        .await?;
    let runs_api: Api<AnalysisRun> = Api::namespaced(client.clone(), NAMESPACE);
    let deadline = Instant::now() + Duration::from_secs(20);
    while runs_api.list(&ListParams::default().limit(1)).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the AnalysisRun CRD was never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let arrivals: Arrivals = Arc::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("binding the metrics endpoint")?;
    let metrics_url = format!("http://{}", listener.local_addr()?);
    let app = Router::new().route("/m/{run}", get(metric)).with_state(arrivals.clone());
    let (stop_metrics, metrics_stopped) = oneshot::channel::<()>();
    let metrics_server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = metrics_stopped.await;
            })
            .await;
    });

    // As Scenario does: namespaced, with its own instance id, the controller's requests identified by user agent.
    let instance = format!("{NAMESPACE}-{}", std::process::id());
    let settings = serin_controller::Settings {
        namespace: Some(NAMESPACE.to_owned()),
        instance_id: Some(instance.clone()),
        ..serin_controller::Settings::default()
    };
    let (stop_controller, controller) = spawn_controller(sim.client_as(serin_controller::FIELD_MANAGER)?, settings);

    let interval_text = go_duration(args.interval);
    let names: Vec<String> = (0..args.runs).map(|i| format!("run-{i:04}")).collect();
    let t_create = Instant::now();
    stream::iter(names.iter())
        .map(|name| {
            let (runs_api, instance, interval_text) = (runs_api.clone(), instance.clone(), interval_text.clone());
            let url = format!("{metrics_url}/m/{name}");
            async move {
                runs_api
                    .create(&PostParams::default(), &run_manifest(name, &instance, &interval_text, &url)?)
                    .await
                    .with_context(|| format!("creating AnalysisRun {name}"))?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let created_in = t_create.elapsed();
    let start = Instant::now();
    let requests_before = controller_requests(&sim.url()).await?;
    eprintln!(
        "analysis-bench: {} runs created in {:.1} s; measuring every {interval_text} for {:.0} s",
        args.runs,
        created_in.as_secs_f64(),
        args.duration.as_secs_f64()
    );

    let progress_every = Duration::from_secs(60);
    let end_at = start + args.duration;
    loop {
        let now = Instant::now();
        if now >= end_at {
            break;
        }
        tokio::time::sleep((end_at - now).min(progress_every)).await;
        if Instant::now() < end_at {
            let taken: usize = arrivals.lock().values().map(Vec::len).sum();
            eprintln!("analysis-bench: {:.0} s, {taken} measurements so far, RSS {:.0} MiB", start.elapsed().as_secs_f64(), rss_mib());
        }
    }
    let end = Instant::now();
    let window = end - start;
    let rss_end = rss_mib();
    let requests_after = controller_requests(&sim.url()).await?;
    let snapshot = arrivals.lock().clone();

    // Stop the controller (graceful: in-flight reconciles finish and write), then compare what the statuses recorded
    // with what the endpoint received.
    let _ = stop_controller.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), controller).await;
    let received: usize = arrivals.lock().values().map(Vec::len).sum();
    let (phases, counted, errors) = statuses(&client).await?;
    let _ = stop_metrics.send(());
    let _ = metrics_server.await;
    sim.shutdown().await?;

    let f = figures(&snapshot, &names, args.interval, end);
    let mut api_calls: BTreeMap<String, u64> = BTreeMap::new();
    for (key, after) in &requests_after {
        let delta = after - requests_before.get(key).copied().unwrap_or(0);
        if delta > 0 {
            *api_calls.entry(format!("{} {}", key.0, key.1)).or_default() += delta;
        }
    }
    let api_total: u64 = api_calls.values().sum();
    let per_second = |n: u64| u32::try_from(n).map_or(f64::INFINITY, f64::from) / window.as_secs_f64();

    let mut table = String::new();
    let _ = writeln!(
        table,
        "# AnalysisRun measurement schedule ({} runs, one web metric every {interval_text}, {:.0} s)\n",
        args.runs,
        window.as_secs_f64()
    );
    let _ = writeln!(table, "| figure | value |\n|---|---|");
    let _ = writeln!(table, "| runs / interval / duration | {} / {interval_text} / {:.0} s |", args.runs, window.as_secs_f64());
    let _ = writeln!(table, "| runs created in | {:.2} s |", created_in.as_secs_f64());
    let _ = writeln!(table, "| measurements taken / expected (arrival_0 + k·interval within the window) | {} / {} |", f.taken, f.expected);
    if f.runs_without_measurement > 0 {
        let _ = writeln!(table, "| runs never measured | {} |", f.runs_without_measurement);
    }
    let _ = writeln!(
        table,
        "| lateness vs arrival_0 + k·interval, p50 / p99 / max | {} / {} / {} |",
        ms(percentile(&f.lateness, 50).unwrap_or(f64::NAN)),
        ms(percentile(&f.lateness, 99).unwrap_or(f64::NAN)),
        ms(f.lateness.last().copied().unwrap_or(f64::NAN))
    );
    let _ = writeln!(
        table,
        "| lateness vs the controller's schedule (start second + k·interval), p50 / p99 / max | {} / {} / {} |",
        ms(percentile(&f.anchored, 50).unwrap_or(f64::NAN)),
        ms(percentile(&f.anchored, 99).unwrap_or(f64::NAN)),
        ms(f.anchored.last().copied().unwrap_or(f64::NAN))
    );
    let _ = writeln!(table, "| drift: mean over runs of lateness(last) − lateness(first) | {} |", ms(mean(&f.drift)));
    let _ = writeln!(
        table,
        "| … of which the first interval (start truncated to its second), mean lateness(1) | {} |",
        ms(mean(&f.first_interval))
    );
    let _ = writeln!(table, "| drift after the first interval: mean lateness(last) − lateness(1) | {} |", ms(mean(&f.drift_after_first)));
    let _ = writeln!(table, "| runs drifted ≥ 0.5 s after the first interval | {} of {} |", f.drifted_runs, f.drift_after_first.len());
    let _ = writeln!(
        table,
        "| gap between measurements min / max | {:.3} s / {:.3} s |",
        if f.min_gap.is_finite() { f.min_gap } else { f64::NAN },
        f.max_gap
    );
    let _ = writeln!(
        table,
        "| measurements doubled (gap < interval/2) / skipped (gap > 1.5·interval) / > 1 s behind start second + k·interval | {} / {} / {} |",
        f.doubled, f.skipped, f.late_over_1s
    );
    let phase_text = phases.iter().map(|(p, n)| format!("{n} {p}")).collect::<Vec<_>>().join(", ");
    let _ = writeln!(table, "| run phases at the end | {phase_text} |");
    let _ = writeln!(
        table,
        "| requests received / recorded in statuses (count + error), after shutdown | {received} / {} ({errors} errors) |",
        counted + errors
    );
    let _ = writeln!(table, "| controller API requests in the window | {api_total} ({:.1}/s) |", per_second(api_total));
    for (call, n) in &api_calls {
        let _ = writeln!(table, "| … {call} | {n} ({:.1}/s) |", per_second(*n));
    }
    let _ = writeln!(
        table,
        "| process RSS at start / end (controller + kube-sim + bench, in-process; kube-sim keeps {SIM_HISTORY} watch events) | {rss_start:.0} MiB / {rss_end:.0} MiB |"
    );
    print!("{table}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("analysis-schedule.md"), &table)?;
    Ok(())
}
