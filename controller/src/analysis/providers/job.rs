//! The job provider: each measurement is a Kubernetes Job, owned by the run. Complete is Successful, Failed is
//! Failed, and a Job still running when the run terminates is deleted and counts as Inconclusive.
//!
//! Naming and labels follow Argo: the Job is `<run uid>.<metric>.<n>` (cut to 63 characters), labelled
//! `analysisrun.argoproj.io/uid`, annotated with the run's name, namespace and the metric name, and carries the
//! metric's `job.metadata` labels and annotations. The AnalysisRun controller watches Jobs with that label, so a
//! finishing Job wakes its run at once.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, ListParams, PostParams, PropagationPolicy};
use kube::{Client, ResourceExt};
use serin_api::AnalysisPhase;
use serin_api::analysis_run::Measurement;
use serin_api::metric_provider::JobMetric;

use super::{MeasureContext, Provider, ProviderError, Reading};

/// Label with the run's uid on every Job.
pub const RUN_UID_LABEL: &str = "analysisrun.argoproj.io/uid";
/// Annotation with the run's name.
pub const RUN_NAME_ANNOTATION: &str = "analysisrun.argoproj.io/name";
/// Annotation with the run's namespace.
pub const RUN_NAMESPACE_ANNOTATION: &str = "analysisrun.argoproj.io/namespace";
/// Annotation with the metric's name.
pub const METRIC_NAME_ANNOTATION: &str = "analysisrun.argoproj.io/metric-name";
/// Measurement metadata key holding the Job's name.
pub const JOB_NAME_KEY: &str = "job-name";

/// Measures with Jobs.
#[derive(Clone)]
pub struct JobProvider {
    client: Client,
    metric: Box<JobMetric>,
}

impl JobProvider {
    /// A provider for one metric.
    pub fn new(metric: &JobMetric, client: &Client) -> Self {
        Self { client: client.clone(), metric: Box::new(metric.clone()) }
    }

    fn api(&self, cx: MeasureContext<'_>) -> Api<Job> {
        Api::namespaced(self.client.clone(), &cx.run.namespace().unwrap_or_default())
    }

    /// The Job for measurement `n` of the metric.
    pub fn job(&self, cx: MeasureContext<'_>, n: i32) -> Job {
        let run = cx.run;
        let uid = run.uid().unwrap_or_default();
        let mut name = format!("{uid}.{}.{n}", cx.metric.name);
        if name.len() > 63 {
            let mut cut = 63;
            while !name.is_char_boundary(cut) {
                cut -= 1;
            }
            name.truncate(cut);
            let trimmed = name.trim_end_matches(['.', '-']).len();
            name.truncate(trimmed);
        }
        let meta = self.metric.metadata.clone().unwrap_or_default();
        let mut labels = meta.labels.unwrap_or_default();
        labels.insert(RUN_UID_LABEL.to_owned(), uid.clone());
        let mut annotations = meta.annotations.unwrap_or_default();
        annotations.insert(RUN_NAME_ANNOTATION.to_owned(), run.name_any());
        annotations.insert(RUN_NAMESPACE_ANNOTATION.to_owned(), run.namespace().unwrap_or_default());
        annotations.insert(METRIC_NAME_ANNOTATION.to_owned(), cx.metric.name.clone());
        Job {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: run.namespace(),
                labels: Some(labels),
                annotations: Some(annotations),
                owner_references: Some(vec![OwnerReference {
                    api_version: "argoproj.io/v1alpha1".to_owned(),
                    kind: "AnalysisRun".to_owned(),
                    name: run.name_any(),
                    uid,
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..ObjectMeta::default()
            },
            spec: Some(self.metric.spec.clone()),
            status: None,
        }
    }
}

fn metadata(job: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(JOB_NAME_KEY.to_owned(), job.to_owned())])
}

/// The verdict of a Job's status, if it has finished.
pub fn job_outcome(job: &Job) -> Option<(AnalysisPhase, Option<String>)> {
    let conditions = job.status.as_ref()?.conditions.as_deref().unwrap_or_default();
    let holds = |type_: &str| conditions.iter().find(|c| c.type_ == type_ && c.status == "True");
    if holds("Complete").is_some() {
        return Some((AnalysisPhase::Successful, None));
    }
    if let Some(failed) = holds("Failed") {
        let why = failed.message.clone().or_else(|| failed.reason.clone()).unwrap_or_else(|| "job failed".to_owned());
        return Some((AnalysisPhase::Failed, Some(why)));
    }
    None
}

impl Provider for JobProvider {
    fn kind(&self) -> &'static str {
        "job"
    }

    async fn run(&self, cx: MeasureContext<'_>) -> Result<Reading, ProviderError> {
        let result = cx.run.status.as_ref().and_then(|s| s.metric_results.iter().find(|r| r.name == cx.metric.name));
        let n = result.map_or(0, |r| r.count.unwrap_or(0) + r.error.unwrap_or(0)) + 1;
        let job = self.job(cx, n);
        let name = job.name_any();
        match self.api(cx).create(&PostParams::default(), &job).await {
            Ok(_) => {}
            // Created by a reconcile whose status write was lost: the Job is ours, carry on with it.
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(err) => return Err(ProviderError::new(format!("creating job {name}: {err}"))),
        }
        Ok(Reading::InFlight { metadata: metadata(&name), resume_at: None })
    }

    async fn resume(&self, cx: MeasureContext<'_>, measurement: &Measurement) -> Result<Reading, ProviderError> {
        let Some(name) = measurement.metadata.get(JOB_NAME_KEY) else {
            return Err(ProviderError::new("in-flight job measurement has no job-name"));
        };
        let job = match self.api(cx).get_opt(name).await {
            Ok(Some(job)) => job,
            Ok(None) => return Err(ProviderError::new(format!("job {name} not found"))),
            Err(err) => return Err(ProviderError::new(format!("reading job {name}: {err}"))),
        };
        Ok(match job_outcome(&job) {
            Some((phase, message)) => Reading::Decided { phase, message, metadata: metadata(name) },
            None => Reading::InFlight { metadata: metadata(name), resume_at: None },
        })
    }

    async fn terminate(&self, cx: MeasureContext<'_>, measurement: &Measurement) -> Result<Reading, ProviderError> {
        let Some(name) = measurement.metadata.get(JOB_NAME_KEY) else {
            return Err(ProviderError::new("in-flight job measurement has no job-name"));
        };
        // A Job that finished meanwhile keeps its verdict.
        if let Ok(Some(job)) = self.api(cx).get_opt(name).await
            && let Some((phase, message)) = job_outcome(&job)
        {
            return Ok(Reading::Decided { phase, message, metadata: metadata(name) });
        }
        let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
        match self.api(cx).delete(name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(err) => return Err(ProviderError::new(format!("deleting job {name}: {err}"))),
        }
        Ok(Reading::Decided {
            phase: AnalysisPhase::Inconclusive,
            message: Some("job terminated before it finished".to_owned()),
            metadata: metadata(name),
        })
    }

    async fn garbage_collect(&self, cx: MeasureContext<'_>, keep: usize) -> Result<(), ProviderError> {
        let uid = cx.run.uid().unwrap_or_default();
        let api = self.api(cx);
        let jobs = api
            .list(&ListParams::default().labels(&format!("{RUN_UID_LABEL}={uid}")))
            .await
            .map_err(|e| ProviderError::new(format!("listing jobs: {e}")))?;
        let mut mine: Vec<Job> = jobs
            .items
            .into_iter()
            .filter(|j| j.annotations().get(METRIC_NAME_ANNOTATION) == Some(&cx.metric.name) && j.metadata.deletion_timestamp.is_none())
            .collect();
        if mine.len() <= keep {
            return Ok(());
        }
        mine.sort_by(|a, b| {
            a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp).then_with(|| a.name_any().cmp(&b.name_any()))
        });
        let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
        for job in &mine[..mine.len() - keep] {
            match api.delete(&job.name_any(), &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(err) => return Err(ProviderError::new(format!("deleting job {}: {err}", job.name_any()))),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    use serin_api::AnalysisRun;
    use serin_api::analysis_template::Metric;

    use super::*;

    fn job_with(conditions: &[(&str, &str)]) -> Job {
        Job {
            status: Some(JobStatus {
                conditions: Some(
                    conditions
                        .iter()
                        .map(|(t, s)| JobCondition {
                            type_: (*t).to_owned(),
                            status: (*s).to_owned(),
                            message: Some(format!("{t} happened")),
                            ..JobCondition::default()
                        })
                        .collect(),
                ),
                ..JobStatus::default()
            }),
            ..Job::default()
        }
    }

    #[test]
    fn job_conditions_decide_the_measurement() {
        assert_eq!(job_outcome(&job_with(&[("Complete", "True")])), Some((AnalysisPhase::Successful, None)));
        assert_eq!(job_outcome(&job_with(&[("Failed", "True")])), Some((AnalysisPhase::Failed, Some("Failed happened".to_owned()))));
        assert_eq!(job_outcome(&job_with(&[("Failed", "False")])), None);
        assert_eq!(job_outcome(&Job::default()), None);
    }

    #[tokio::test]
    async fn jobs_are_named_labelled_and_owned_like_argos() {
        // A client is needed to build the provider; it is never called here.
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
        let client = Client::try_from(config).expect("client");
        let metric: Metric = serde_json::from_value(serde_json::json!({
            "name": "a-rather-long-metric-name-for-a-smoke-test",
            "provider": {"job": {
                "metadata": {"labels": {"team": "pay"}, "annotations": {"note": "x"}},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
            }}
        }))
        .expect("metric");
        let mut run = AnalysisRun::default();
        run.metadata.name = Some("web-abc-2-1".into());
        run.metadata.namespace = Some("shop".into());
        run.metadata.uid = Some("6f9619ff-8b86-d011-b42d-00cf4fc964ff".into());
        let provider = JobProvider::new(metric.provider.job.as_ref().expect("job"), &client);
        let job = provider.job(MeasureContext { run: &run, metric: &metric, now: jiff::Timestamp::UNIX_EPOCH }, 12);
        let name = job.metadata.name.clone().expect("name");
        assert!(name.len() <= 63, "{name}");
        assert!(name.starts_with("6f9619ff-8b86-d011-b42d-00cf4fc964ff.a-rather-long"), "{name}");
        assert!(!name.ends_with(['.', '-']), "{name}");
        let labels = job.metadata.labels.expect("labels");
        assert_eq!(labels[RUN_UID_LABEL], "6f9619ff-8b86-d011-b42d-00cf4fc964ff");
        assert_eq!(labels["team"], "pay");
        let annotations = job.metadata.annotations.expect("annotations");
        assert_eq!(annotations[RUN_NAME_ANNOTATION], "web-abc-2-1");
        assert_eq!(annotations[RUN_NAMESPACE_ANNOTATION], "shop");
        assert_eq!(annotations[METRIC_NAME_ANNOTATION], "a-rather-long-metric-name-for-a-smoke-test");
        let owner = &job.metadata.owner_references.expect("owner")[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("AnalysisRun", "web-abc-2-1", Some(true)));

        let short: Metric =
            serde_json::from_value(serde_json::json!({"name": "smoke", "provider": {"job": {"spec": {"template": {}}}}})).expect("metric");
        let job = provider.job(MeasureContext { run: &run, metric: &short, now: jiff::Timestamp::UNIX_EPOCH }, 3);
        assert_eq!(job.metadata.name.as_deref(), Some("6f9619ff-8b86-d011-b42d-00cf4fc964ff.smoke.3"));
    }
}
