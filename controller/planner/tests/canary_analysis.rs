//! Canary analysis in the planner: step runs and background runs are created, named and labelled like Argo's;
//! their outcome completes the step, pauses (Inconclusive) or aborts (Failed, Error); they are terminated when no
//! longer needed, and old ones deleted beyond the history limits.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use serin_api::AnalysisPhase;
use serin_api::AnalysisTemplate;
use serin_api::analysis_run::AnalysisRunStatus;
use serin_api::rollout::status::{PauseReason, RolloutConditionType as C, RolloutPhase};
use serin_planner::Action;
use support::{World, canary};

fn template(name: &str) -> Arc<AnalysisTemplate> {
    let yaml = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  args: [{{name: service}}]\n  metrics:\n  - name: success-rate\n    successCondition: 'result[0] >= 0.99'\n    provider: {{prometheus: {{query: 'rate({{{{args.service}}}})'}}}}\n"
    );
    Arc::new(serde_saphyr::from_str(&yaml).unwrap())
}

/// A rollout at revision 2, waiting at its analysis step (step 1).
fn at_analysis_step(steps: &str) -> World {
    let mut w = World::new(canary(4, steps));
    w.templates.push(template("rate"));
    w.converge();
    w.set_image("web:2");
    w.converge();
    w
}

const STEPS: &str =
    "[{setWeight: 25}, {analysis: {templates: [{templateName: rate}], args: [{name: service, value: web}]}}, {setWeight: 50}]";

fn set_phase(w: &mut World, name: &str, phase: AnalysisPhase, message: Option<&str>) {
    w.run_mut(name).status =
        Some(AnalysisRunStatus { phase: Some(phase), message: message.map(str::to_owned), ..AnalysisRunStatus::default() });
}

#[test]
fn analysis_step_creates_a_run_named_and_labelled_like_argo() {
    let w = at_analysis_step(STEPS);
    let hash = w.hash_of("web:2");
    assert_eq!(w.runs.len(), 1, "one step run");
    let run = &w.runs[0];
    assert_eq!(run.metadata.name.as_deref(), Some(format!("web-{hash}-2-1").as_str()));
    let labels = run.metadata.labels.clone().unwrap();
    assert_eq!(labels["rollout-type"], "Step");
    assert_eq!(labels["step-index"], "1");
    assert_eq!(labels["rollouts-pod-template-hash"], hash);
    assert_eq!(run.spec.args[0].value.as_deref(), Some("web"));
    let status = w.status();
    assert_eq!(status.current_step_index, Some(1));
    let current = status.canary.unwrap().current_step_analysis_run_status.unwrap();
    assert_eq!(current.name, format!("web-{hash}-2-1"));
    assert_eq!(w.phase().0, RolloutPhase::Progressing);
}

#[test]
fn successful_run_completes_the_step() {
    let mut w = at_analysis_step(STEPS);
    let name = w.runs[0].metadata.name.clone().unwrap();
    set_phase(&mut w, &name, AnalysisPhase::Running, None);
    w.converge();
    assert_eq!(w.step_index(), Some(1), "a running analysis holds the step");
    set_phase(&mut w, &name, AnalysisPhase::Successful, None);
    w.converge();
    assert_eq!(w.step_index(), Some(3));
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
    assert!(w.status().canary.unwrap().current_step_analysis_run_status.is_none());
    assert!(w.events.iter().any(|e| e.contains("AnalysisRunSuccessful")), "{:?}", w.events);
}

#[test]
fn failed_run_aborts_with_its_message_and_scales_the_canary_down() {
    let mut w = at_analysis_step(STEPS);
    let name = w.runs[0].metadata.name.clone().unwrap();
    let why = "Metric \"success-rate\" assessed Failed due to failed (1) > failureLimit (0)";
    set_phase(&mut w, &name, AnalysisPhase::Failed, Some(why));
    w.converge();
    let status = w.status();
    assert_eq!(status.abort, Some(true));
    let (phase, message) = w.phase();
    assert_eq!(phase, RolloutPhase::Degraded);
    assert_eq!(message, format!("RolloutAborted: Rollout aborted update to revision 2: {why}"));
    assert_eq!(w.sizes(), [("web:1".to_owned(), 4)], "canary scaled down, stable back to full size");
    // The failed run stays visible on the status.
    assert_eq!(status.canary.unwrap().current_step_analysis_run_status.unwrap().status, AnalysisPhase::Failed);
}

#[test]
fn error_run_aborts_too() {
    let mut w = at_analysis_step(STEPS);
    let name = w.runs[0].metadata.name.clone().unwrap();
    set_phase(&mut w, &name, AnalysisPhase::Error, Some("unable to resolve metric arguments: argument \"service\" was not supplied"));
    w.converge();
    assert_eq!(w.status().abort, Some(true));
    assert_eq!(w.condition(C::Progressing).unwrap().1, "RolloutAborted");
    assert!(w.phase().1.contains("was not supplied"), "{}", w.phase().1);
}

#[test]
fn inconclusive_run_pauses_until_promoted_then_continues() {
    let mut w = at_analysis_step(STEPS);
    let name = w.runs[0].metadata.name.clone().unwrap();
    set_phase(&mut w, &name, AnalysisPhase::Inconclusive, Some("Metric \"success-rate\" assessed Inconclusive"));
    w.converge();
    let status = w.status();
    assert!(status.pause_conditions.iter().any(|c| c.reason == PauseReason::InconclusiveAnalysisRun));
    assert_eq!(w.phase().0, RolloutPhase::Paused);
    assert_eq!(w.step_index(), Some(1));
    // `kubectl argo rollouts promote` on an inconclusive step: clear the pause and move past the step.
    w.patch_status(serde_json::json!({"pauseConditions": null, "currentStepIndex": 2}));
    w.converge();
    assert_eq!(w.step_index(), Some(3));
    assert_eq!(w.runs.len(), 1, "no new run for a promoted step");
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
}

#[test]
fn leaving_the_step_terminates_the_run_and_retry_creates_a_new_one() {
    let mut w = at_analysis_step(STEPS);
    let first = w.runs[0].metadata.name.clone().unwrap();
    set_phase(&mut w, &first, AnalysisPhase::Running, None);
    w.patch_status(serde_json::json!({"abort": true}));
    let plan = w.reconcile();
    assert!(plan.actions.contains(&Action::TerminateAnalysisRun { name: first.clone() }), "{:?}", plan.actions);
    w.converge();
    set_phase(&mut w, &first, AnalysisPhase::Successful, Some("Metric \"success-rate\" assessed Successful"));
    // Retry: the rollout walks the steps again and the analysis step gets a fresh run with a suffixed name.
    w.patch_status(serde_json::json!({"abort": false}));
    w.converge();
    assert_eq!(w.runs.len(), 2, "{:?}", w.runs.iter().map(|r| r.metadata.name.clone()).collect::<Vec<_>>());
    assert_eq!(w.runs[1].metadata.name.as_deref(), Some(format!("{first}.1").as_str()));
}

#[test]
fn missing_template_aborts_with_a_clear_message() {
    let mut w = World::new(canary(2, "[{setWeight: 50}, {analysis: {templates: [{templateName: nope}]}}]"));
    w.converge();
    w.set_image("web:2");
    w.converge();
    assert_eq!(w.status().abort, Some(true));
    assert!(w.phase().1.contains("cannot create AnalysisRun: AnalysisTemplate \"nope\" not found"), "{}", w.phase().1);
}

#[test]
fn background_analysis_starts_at_its_step_and_ends_with_the_update() {
    let mut ro = canary(4, "[{setWeight: 25}, {pause: {}}, {setWeight: 50}, {pause: {}}]");
    let canary_strategy = ro.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap();
    canary_strategy.analysis =
        Some(serde_saphyr::from_str("templates: [{templateName: rate}]\nargs: [{name: service, value: web}]\nstartingStep: 2\n").unwrap());
    let mut w = World::new(ro);
    w.templates.push(template("rate"));
    w.converge();
    assert!(w.runs.is_empty(), "no analysis on the initial deploy");
    w.set_image("web:2");
    w.converge();
    assert_eq!(w.step_index(), Some(1));
    assert!(w.runs.is_empty(), "before startingStep");
    w.promote();
    w.converge();
    assert_eq!(w.step_index(), Some(3));
    assert_eq!(w.runs.len(), 1);
    let run = w.runs[0].clone();
    let name = run.metadata.name.clone().unwrap();
    assert_eq!(run.metadata.labels.unwrap()["rollout-type"], "Background");
    assert_eq!(name, format!("web-{}-2", w.hash_of("web:2")));
    set_phase(&mut w, &name, AnalysisPhase::Running, None);
    w.promote();
    w.converge();
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
    assert_eq!(w.runs[0].spec.terminate, Some(true), "the background run ends with the update");
}

#[test]
fn failing_background_run_aborts() {
    let mut ro = canary(4, "[{setWeight: 25}, {pause: {}}]");
    ro.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap().analysis =
        Some(serde_saphyr::from_str("templates: [{templateName: rate}]\nargs: [{name: service, value: web}]\n").unwrap());
    let mut w = World::new(ro);
    w.templates.push(template("rate"));
    w.converge();
    w.set_image("web:2");
    w.converge();
    let name = w.runs[0].metadata.name.clone().unwrap();
    set_phase(&mut w, &name, AnalysisPhase::Failed, Some("Metric \"success-rate\" assessed Failed due to failed (1) > failureLimit (0)"));
    w.converge();
    assert_eq!(w.status().abort, Some(true));
}

#[test]
fn old_runs_are_deleted_beyond_the_history_limit() {
    let mut w = at_analysis_step("[{setWeight: 25}, {analysis: {templates: [{templateName: rate}], args: [{name: service, value: web}]}}]");
    w.rollout.spec.analysis = Some(serde_saphyr::from_str("successfulRunHistoryLimit: 1\n").unwrap());
    for image in ["web:3", "web:4"] {
        let name = w.runs.last().unwrap().metadata.name.clone().unwrap();
        set_phase(&mut w, &name, AnalysisPhase::Successful, None);
        w.converge();
        assert_eq!(w.phase().0, RolloutPhase::Healthy);
        w.advance(std::time::Duration::from_secs(60));
        w.set_image(image);
        w.converge();
    }
    let name = w.runs.last().unwrap().metadata.name.clone().unwrap();
    set_phase(&mut w, &name, AnalysisPhase::Successful, None);
    w.converge();
    let kept: Vec<_> = w.runs.iter().filter_map(|r| r.metadata.name.clone()).collect();
    // Once the update completes its run is history too: with a limit of 1 only the newest successful run is kept.
    assert_eq!(kept, vec![format!("web-{}-4-1", w.hash_of("web:4"))]);
}
