//! The canary's AnalysisRuns (Argo's `reconcileAnalysisRuns`): the current step's run and the background run are
//! created, judged and terminated here; their outcome pauses (Inconclusive) or aborts (Failed, Error) the rollout.
//!
//! - No runs while aborted, fully promoting, on the initial deploy or rolling back within the window: every
//!   unfinished run is terminated.
//! - A step run is created when the rollout reaches an `analysis` step (and is not paused); a successful run
//!   completes the step. Leaving the step (promotion, abort) terminates it.
//! - The background run starts at `startingStep` and lasts until the update completes.
//! - A new run replaces a current one after an abort is retried, or after an Inconclusive run was promoted.
//! - Runs that are no longer current are terminated, then deleted beyond `successfulRunHistoryLimit` /
//!   `unsuccessfulRunHistoryLimit` (default 5 each), or at once when their ReplicaSet is gone.

use std::collections::BTreeMap;

use serin_api::AnalysisPhase;
use serin_api::AnalysisRun;
use serin_api::labels::POD_TEMPLATE_HASH;
use serin_api::rollout::analysis_ref::RolloutAnalysis;
use serin_api::rollout::status::{PauseReason, RolloutAnalysisRunStatus, RolloutStatus};

use super::Ctx;
use crate::analysis::build::{self, ROLLOUT_TYPE_BACKGROUND, ROLLOUT_TYPE_LABEL, ROLLOUT_TYPE_STEP, RunRequest, STEP_INDEX_LABEL};
use crate::plan::{Action, Event};

const DEFAULT_HISTORY_LIMIT: usize = 5;

/// Argo's `AnalysisRunStatus` of a run, for `status.canary.current*AnalysisRunStatus`.
fn run_status(run: &AnalysisRun) -> RolloutAnalysisRunStatus {
    let status = run.status.as_ref();
    RolloutAnalysisRunStatus {
        name: run.metadata.name.clone().unwrap_or_default(),
        status: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        message: status.and_then(|s| s.message.clone()),
    }
}

fn phase(run: &AnalysisRun) -> AnalysisPhase {
    run.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default()
}

fn name(run: &AnalysisRun) -> &str {
    run.metadata.name.as_deref().unwrap_or_default()
}

/// A run the rollout is waiting on: observed, or created in this reconcile.
#[derive(Clone)]
pub(super) enum Current<'a> {
    Observed(&'a AnalysisRun),
    Created(Box<AnalysisRun>),
}

impl Current<'_> {
    fn run(&self) -> &AnalysisRun {
        match self {
            Self::Observed(run) => run,
            Self::Created(run) => run,
        }
    }

    pub(super) fn phase(&self) -> AnalysisPhase {
        phase(self.run())
    }
}

impl<'a> Ctx<'a> {
    /// Runs owned by this Rollout.
    fn owned_runs(&self) -> impl Iterator<Item = &'a AnalysisRun> + '_ {
        let uid = self.rollout.metadata.uid.clone().unwrap_or_default();
        self.analysis_runs.iter().map(AsRef::as_ref).filter(move |run| {
            run.metadata.owner_references.as_deref().unwrap_or_default().iter().any(|o| o.controller == Some(true) && o.uid == uid)
        })
    }

    fn current_run(&self, recorded: Option<&RolloutAnalysisRunStatus>) -> Option<&'a AnalysisRun> {
        let recorded = recorded?;
        self.owned_runs().find(|run| name(run) == recorded.name)
    }

    /// Reconciles the runs; records the current ones on `status` and keeps the step run for step completion.
    pub(super) fn reconcile_analysis_runs(&mut self, status: &mut RolloutStatus) {
        let old_canary = self.old.canary.clone().unwrap_or_default();
        let step_run = self.current_run(old_canary.current_step_analysis_run_status.as_ref());
        let background_run = self.current_run(old_canary.current_background_analysis_run_status.as_ref());
        let current_names: Vec<String> = [step_run, background_run].iter().flatten().map(|r| name(r).to_owned()).collect();
        let others: Vec<&'a AnalysisRun> = self.owned_runs().filter(|r| !current_names.iter().any(|n| n == name(r))).collect();

        let initial_deploy = self.stable_hash().is_empty();
        if self.pause.is_aborted(&self.old) || self.old.promote_full == Some(true) || initial_deploy || self.rollback_within_window() {
            for run in [step_run, background_run].into_iter().flatten().chain(others.iter().copied()) {
                self.terminate_run(run);
            }
            // Argo keeps reporting the runs that were current (an aborted rollout shows the run that failed).
            self.step_run = step_run.map(Current::Observed);
            return;
        }

        let new_step_run = self.reconcile_step_run(step_run);
        let new_background_run = self.reconcile_background_run(background_run);
        if let Some(canary) = status.canary.as_mut() {
            canary.current_step_analysis_run_status = new_step_run.as_ref().map(|c| run_status(c.run()));
            canary.current_background_analysis_run_status = new_background_run.as_ref().map(|c| run_status(c.run()));
        }
        self.run_events(old_canary.current_step_analysis_run_status.as_ref(), new_step_run.as_ref(), ROLLOUT_TYPE_STEP);
        self.run_events(old_canary.current_background_analysis_run_status.as_ref(), new_background_run.as_ref(), ROLLOUT_TYPE_BACKGROUND);

        let keep: Vec<String> =
            [&new_step_run, &new_background_run].iter().filter_map(|c| c.as_ref()).map(|c| name(c.run()).to_owned()).collect();
        let mut stale: Vec<&'a AnalysisRun> =
            [step_run, background_run].into_iter().flatten().chain(others).filter(|r| !keep.iter().any(|k| k == name(r))).collect();
        for run in &stale {
            self.terminate_run(run);
        }
        stale.sort_by(|a, b| b.metadata.creation_timestamp.cmp(&a.metadata.creation_timestamp).then_with(|| name(b).cmp(name(a))));
        self.delete_old_runs(&stale);
        self.step_run = new_step_run;
    }

    fn terminate_run(&mut self, run: &AnalysisRun) {
        if run.spec.terminate != Some(true) && !phase(run).is_completed() && run.metadata.deletion_timestamp.is_none() {
            self.actions.push(Action::TerminateAnalysisRun { name: name(run).to_owned() });
        }
    }

    /// Argo's `FilterAnalysisRunsToDelete`: runs of ReplicaSets that are gone, and completed runs beyond the
    /// history limits (newest kept). `runs` is newest first.
    fn delete_old_runs(&mut self, runs: &[&AnalysisRun]) {
        let analysis = self.canary_analysis_limits();
        let (mut successful, mut unsuccessful) = (0, 0);
        for run in runs {
            if run.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let hash = run.metadata.labels.as_ref().and_then(|l| l.get(POD_TEMPLATE_HASH)).cloned().unwrap_or_default();
            let rs_exists = self.all.iter().any(|rs| rs.hash == hash);
            let phase = phase(run);
            let delete = if !rs_exists {
                true
            } else if !phase.is_completed() {
                false
            } else if phase == AnalysisPhase::Successful {
                successful += 1;
                successful > analysis.0
            } else {
                unsuccessful += 1;
                unsuccessful > analysis.1
            };
            if delete {
                self.actions
                    .push(Action::DeleteAnalysisRun { name: name(run).to_owned(), uid: run.metadata.uid.clone().unwrap_or_default() });
            }
        }
    }

    fn canary_analysis_limits(&self) -> (usize, usize) {
        let limits = self.rollout.spec.analysis.as_ref();
        let get = |v: Option<i32>| v.map_or(DEFAULT_HISTORY_LIMIT, |n| usize::try_from(n).unwrap_or(0));
        (get(limits.and_then(|a| a.successful_run_history_limit)), get(limits.and_then(|a| a.unsuccessful_run_history_limit)))
    }

    /// Argo's `needsNewAnalysisRun`.
    fn needs_new_run(&self, current: Option<&AnalysisRun>) -> bool {
        let Some(current) = current else { return true };
        let has = |reason: PauseReason| self.old.pause_conditions.iter().any(|c| c.reason == reason);
        if self.old.controller_pause == Some(true) && !has(PauseReason::CanaryPauseStep) && !has(PauseReason::BlueGreenPause) {
            return phase(current) == AnalysisPhase::Inconclusive;
        }
        self.old.aborted_at.is_some()
    }

    /// Inconclusive pauses the rollout; Failed and Error abort it with the run's message.
    fn judge(&mut self, run: &AnalysisRun) {
        match phase(run) {
            AnalysisPhase::Inconclusive => self.pause.add.push(PauseReason::InconclusiveAnalysisRun),
            AnalysisPhase::Failed | AnalysisPhase::Error => {
                self.pause.add_abort = true;
                let message = run.status.as_ref().and_then(|s| s.message.clone());
                self.pause.abort_message = message.or_else(|| Some(format!("AnalysisRun '{}' {}", name(run), phase(run))));
            }
            _ => {}
        }
    }

    fn reconcile_step_run(&mut self, current: Option<&'a AnalysisRun>) -> Option<Current<'a>> {
        let (index, step) = self.current_step();
        if !self.old.pause_conditions.is_empty() || self.old.abort == Some(true) {
            return current.map(Current::Observed);
        }
        let from_previous_step = step.is_some_and(|s| s.analysis.is_some())
            && current.is_some_and(|run| {
                run.metadata.labels.as_ref().and_then(|l| l.get(STEP_INDEX_LABEL)).map(String::as_str)
                    != index.map(|i| i.to_string()).as_deref()
            });
        let (Some(index), Some(analysis)) = (index, step.and_then(|s| s.analysis.as_ref())) else {
            if let Some(run) = current {
                self.terminate_run(run);
            }
            return None;
        };
        if from_previous_step {
            if let Some(run) = current {
                self.terminate_run(run);
            }
            return None;
        }
        if self.needs_new_run(current) {
            let labels = BTreeMap::from([
                (ROLLOUT_TYPE_LABEL.to_owned(), ROLLOUT_TYPE_STEP.to_owned()),
                (STEP_INDEX_LABEL.to_owned(), index.to_string()),
            ]);
            return self.create_run(analysis, Some(index), labels);
        }
        let run = current?;
        self.judge(run);
        Some(Current::Observed(run))
    }

    fn reconcile_background_run(&mut self, current: Option<&'a AnalysisRun>) -> Option<Current<'a>> {
        let Some(background) = self.canary.analysis.as_ref().filter(|a| !a.analysis.templates.is_empty()) else {
            if let Some(run) = current {
                self.terminate_run(run);
            }
            return None;
        };
        let fully_promoted = self.old.stable_rs.is_some() && self.old.stable_rs == self.old.current_pod_hash;
        let before_start = background.starting_step.is_some_and(|start| {
            let start = start.clamp(0, self.step_count());
            self.old.current_step_index.unwrap_or(0) < start
        });
        if fully_promoted || self.old.current_pod_hash.as_deref().unwrap_or_default().is_empty() || before_start {
            return None;
        }
        if self.old.pause_conditions.iter().any(|c| c.reason == PauseReason::InconclusiveAnalysisRun) {
            return current.map(Current::Observed);
        }
        if self.needs_new_run(current) {
            let labels = BTreeMap::from([(ROLLOUT_TYPE_LABEL.to_owned(), ROLLOUT_TYPE_BACKGROUND.to_owned())]);
            return self.create_run(&background.analysis, None, labels);
        }
        let run = current?;
        self.judge(run);
        Some(Current::Observed(run))
    }

    /// `<rollout>-<hash>-<revision>[-<step>]`, with `.1`, `.2`... when the name is taken (Argo's collision counter).
    fn run_name(&self, step: Option<i32>) -> String {
        let mut base = format!("{}-{}-{}", self.rollout_name(), self.pod_hash, self.revision());
        if let Some(step) = step {
            base = format!("{base}-{step}");
        }
        let taken = |candidate: &str| self.analysis_runs.iter().any(|r| name(r) == candidate);
        if !taken(&base) {
            return base;
        }
        // At most one name per existing run is taken, so one more candidate than there are runs always suffices.
        (1..=self.analysis_runs.len() + 1).map(|n| format!("{base}.{n}")).find(|c| !taken(c)).unwrap_or(base)
    }

    fn create_run(&mut self, analysis: &RolloutAnalysis, step: Option<i32>, labels: BTreeMap<String, String>) -> Option<Current<'a>> {
        let name = self.run_name(step);
        let stable_hash = self.stable_hash().to_owned();
        let request = RunRequest {
            analysis,
            name: name.clone(),
            latest_hash: self.pod_hash,
            stable_hash: &stable_hash,
            revision: self.revision(),
            labels,
        };
        let built = build::analysis_run(self.rollout, self.templates, &request);
        match built {
            Ok(run) => {
                self.actions.push(Action::CreateAnalysisRun(Box::new(run.clone())));
                Some(Current::Created(Box::new(run)))
            }
            Err(why) => {
                // A run that cannot be built cannot pass: the rollout aborts, saying why.
                self.pause.add_abort = true;
                self.pause.abort_message = Some(format!("cannot create AnalysisRun: {why}"));
                self.events.push(Event::warning("AnalysisRunError", format!("Cannot create AnalysisRun {name}: {why}")));
                None
            }
        }
    }

    /// Argo's `emitAnalysisRunStatusChanges`: an event when the current run of a kind changes phase.
    fn run_events(&mut self, previous: Option<&RolloutAnalysisRunStatus>, current: Option<&Current<'_>>, kind: &str) {
        let Some(current) = current else { return };
        let run = current.run();
        let phase = phase(run);
        if run.status.as_ref().and_then(|s| s.phase.as_ref()).is_none() {
            return;
        }
        let changed = match previous {
            None => true,
            Some(previous) => previous.name == name(run) && previous.status != phase,
        };
        if !changed {
            return;
        }
        let before = previous.map_or_else(|| "NoPreviousStatus".to_owned(), |p| p.status.to_string());
        let note = format!("{kind} Analysis Run '{}' Status New: '{phase}' Previous: '{before}'", name(run));
        let warning = matches!(phase, AnalysisPhase::Failed | AnalysisPhase::Error);
        let reason = match phase {
            AnalysisPhase::Successful => "AnalysisRunSuccessful",
            AnalysisPhase::Failed => "AnalysisRunFailed",
            AnalysisPhase::Error => "AnalysisRunError",
            AnalysisPhase::Inconclusive => "AnalysisRunInconclusive",
            AnalysisPhase::Running => "AnalysisRunRunning",
            _ => "AnalysisRunPending",
        };
        self.events.push(if warning { Event::warning(reason, note) } else { Event::normal(reason, note) });
    }
}
