//! kube-sim conformance through kube-rs: API machinery and control-plane behaviour as a real cluster shows them.
//! Every test runs against kube-sim by default and against a real cluster with `SERIN_E2E_REAL=1`; tests that
//! need kube-sim's fault injection skip themselves on a real cluster.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Pod, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube_sim::harness::{Cluster, eventually, wait_timeout};
use serde_json::json;

fn rs(name: &str, replicas: i32, extra_annotations: serde_json::Value) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": extra_annotations},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
            }
        }
    }))
    .unwrap()
}

async fn ready_pods(c: &Cluster, app: &str) -> Result<usize> {
    let pods: Api<Pod> = c.api();
    let list = pods.list(&ListParams::default().labels(&format!("app={app}"))).await?;
    Ok(list
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count())
}

async fn pod_count(c: &Cluster, app: &str) -> Result<usize> {
    let pods: Api<Pod> = c.api();
    Ok(pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await?
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .count())
}

#[tokio::test]
async fn replicaset_scales_up_and_down_with_ready_pods() -> Result<()> {
    let c = Cluster::new("rs-scale").await?;
    let rss: Api<ReplicaSet> = c.api();
    rss.create(&PostParams::default(), &rs("web", 3, json!({}))).await?;
    eventually("3 ready pods", wait_timeout(), || async { Ok((ready_pods(&c, "web").await? == 3).then_some(())) }).await?;
    let got = eventually("RS status 3/3 available", wait_timeout(), || async {
        let r = rss.get("web").await?;
        let s = r.status.unwrap_or_default();
        Ok((s.ready_replicas == Some(3) && s.available_replicas == Some(3) && s.observed_generation == Some(1)).then_some(r.metadata))
    })
    .await?;
    assert_eq!(got.generation, Some(1));
    // Pods are named <rs>-<5 chars>, owned by the RS, and carry the template labels.
    let pods: Api<Pod> = c.api();
    for p in pods.list(&ListParams::default().labels("app=web")).await? {
        let name = p.metadata.name.clone().unwrap_or_default();
        assert!(name.starts_with("web-") && name.len() == "web-".len() + 5, "{name}");
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("ReplicaSet", "web", Some(true)));
        assert!(p.status.unwrap().pod_ip.is_some());
    }
    rss.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 1}}))).await?;
    eventually("scaled to 1 pod", wait_timeout(), || async { Ok((pod_count(&c, "web").await? == 1).then_some(())) }).await?;
    let r = rss.get("web").await?;
    assert_eq!(r.metadata.generation, Some(2), "spec change bumps generation");
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn stale_update_gets_409_and_status_is_a_separate_subresource() -> Result<()> {
    let c = Cluster::new("conflict").await?;
    let rss: Api<ReplicaSet> = c.api();
    let created = rss.create(&PostParams::default(), &rs("app", 0, json!({}))).await?;
    let mut stale = created.clone();
    rss.patch("app", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}}))).await?;
    stale.metadata.labels = Some(BTreeMap::from([("y".to_owned(), "2".to_owned())]));
    let err = rss.replace("app", &PostParams::default(), &stale).await.unwrap_err();
    match err {
        kube::Error::Api(e) => {
            assert_eq!(e.code, 409);
            assert_eq!(e.reason, "Conflict");
            assert!(e.message.contains("the object has been modified"), "{}", e.message);
        }
        other => panic!("expected 409, got {other:?}"),
    }
    // Writing status through the main resource is ignored; through /status it sticks and does not bump generation.
    let before = rss.get("app").await?;
    rss.patch("app", &PatchParams::default(), &Patch::Merge(json!({"status": {"replicas": 7}}))).await?;
    assert_ne!(rss.get("app").await?.status.map(|s| s.replicas), Some(7));
    let after = rss
        .patch_status("app", &PatchParams::default(), &Patch::Merge(json!({"status": {"replicas": 0, "observedGeneration": 42}})))
        .await?;
    assert_eq!(after.status.and_then(|s| s.observed_generation), Some(42));
    assert_eq!(after.metadata.generation, before.metadata.generation);
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn foreground_delete_removes_dependents_first() -> Result<()> {
    let c = Cluster::new("fg-delete").await?;
    let rss: Api<ReplicaSet> = c.api();
    rss.create(&PostParams::default(), &rs("fg", 2, json!({}))).await?;
    eventually("2 pods", wait_timeout(), || async { Ok((pod_count(&c, "fg").await? == 2).then_some(())) }).await?;
    rss.delete("fg", &DeleteParams { propagation_policy: Some(PropagationPolicy::Foreground), ..DeleteParams::default() }).await?;
    eventually("RS gone after its pods", wait_timeout(), || async {
        let rs_gone = rss.get_opt("fg").await?.is_none();
        if rs_gone {
            let pods: Api<Pod> = c.api();
            assert!(pods.list(&ListParams::default().labels("app=fg")).await?.items.is_empty(), "pods must be gone before the owner");
        }
        Ok(rs_gone.then_some(()))
    })
    .await?;
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn background_and_orphan_deletion() -> Result<()> {
    let c = Cluster::new("gc-modes").await?;
    let rss: Api<ReplicaSet> = c.api();
    rss.create(&PostParams::default(), &rs("bg", 1, json!({}))).await?;
    rss.create(&PostParams::default(), &rs("orph", 1, json!({}))).await?;
    eventually("pods", wait_timeout(), || async {
        Ok((pod_count(&c, "bg").await? == 1 && pod_count(&c, "orph").await? == 1).then_some(()))
    })
    .await?;
    rss.delete("bg", &DeleteParams::background()).await?;
    eventually("background GC", wait_timeout(), || async { Ok((pod_count(&c, "bg").await? == 0).then_some(())) }).await?;
    rss.delete("orph", &DeleteParams::orphan()).await?;
    eventually("orphaned RS gone", wait_timeout(), || async { Ok(rss.get_opt("orph").await?.is_none().then_some(())) }).await?;
    let pods: Api<Pod> = c.api();
    let left = pods.list(&ListParams::default().labels("app=orph")).await?.items;
    assert_eq!(left.len(), 1, "orphaned pod survives");
    assert!(left[0].metadata.owner_references.as_ref().is_none_or(Vec::is_empty), "owner reference removed");
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() -> Result<()> {
    let c = Cluster::new("finalizers").await?;
    let cms: Api<ConfigMap> = c.api();
    cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "held", "finalizers": ["serin.dev/test"]}}))?)
        .await?;
    cms.delete("held", &DeleteParams::default()).await?;
    let held = cms.get("held").await?;
    assert!(held.metadata.deletion_timestamp.is_some());
    let err = cms
        .patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": ["serin.dev/test", "serin.dev/other"]}})))
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref e) if e.code == 403 || e.code == 422), "{err:?}");
    cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await?;
    eventually("gone", wait_timeout(), || async { Ok(cms.get_opt("held").await?.is_none().then_some(())) }).await?;
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn selectors_and_pagination() -> Result<()> {
    let c = Cluster::new("selectors").await?;
    let cms: Api<ConfigMap> = c.api();
    for i in 0..7 {
        let tier = if i % 2 == 0 { "web" } else { "db" };
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("cm-{i}"), "labels": {"tier": tier, "i": i.to_string()}}}))?,
        )
        .await?;
    }
    let count = |sel: &str| {
        let cms = cms.clone();
        let sel = sel.to_owned();
        async move { Ok::<_, anyhow::Error>(cms.list(&ListParams::default().labels(&sel)).await?.items.len()) }
    };
    assert_eq!(count("tier=web").await?, 4);
    // `!=` also matches objects without the label (kube-root-ca.crt).
    assert_eq!(count("tier!=web").await?, 4);
    assert_eq!(count("i in (1,2,3)").await?, 3);
    assert_eq!(count("i notin (1,2,3),tier").await?, 4);
    // The namespace's own kube-root-ca.crt carries no label.
    assert_eq!(count("!tier").await?, 1);
    let by_name = cms.list(&ListParams::default().fields("metadata.name=cm-3")).await?;
    assert_eq!(by_name.items.len(), 1);
    // Pagination: pages of 3 cover all 8 (ours and kube-root-ca.crt) exactly once, in name order.
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(3);
    loop {
        let page = cms.list(&lp).await?;
        seen.extend(page.items.iter().filter_map(|i| i.metadata.name.clone()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(tok) => lp = ListParams::default().limit(3).continue_token(&tok),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..7).map(|i| format!("cm-{i}")).chain(["kube-root-ca.crt".to_owned()]).collect();
    expected.sort();
    assert_eq!(seen, expected);
    let err = cms.list(&ListParams::default().fields("data.a=1")).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref e) if e.code == 400), "{err:?}");
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn admission_rejects_invalid_objects_with_422() -> Result<()> {
    let c = Cluster::new("admission").await?;
    let rss: Api<ReplicaSet> = c.api();
    let mut bad = rs("bad", 1, json!({}));
    bad.spec.as_mut().unwrap().selector.match_labels = Some(BTreeMap::from([("app".to_owned(), "other".to_owned())]));
    let err = rss.create(&PostParams::default(), &bad).await.unwrap_err();
    match err {
        kube::Error::Api(e) => {
            assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
            assert!(e.message.contains("`selector` does not match template `labels`"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    let cms: Api<ConfigMap> = c.api();
    let err = cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "Not_Valid"}}))?).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref e) if e.code == 422), "{err:?}");
    let err = cms
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "dup"}}))?)
        .await
        .and(cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "dup"}}))?).await)
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref e) if e.code == 409 && e.reason == "AlreadyExists"), "{err:?}");
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn generate_name_and_not_found() -> Result<()> {
    let c = Cluster::new("generate-name").await?;
    let cms: Api<ConfigMap> = c.api();
    let made = cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"generateName": "gen-"}}))?).await?;
    let name = made.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    assert!(made.metadata.uid.is_some() && made.metadata.creation_timestamp.is_some() && made.metadata.resource_version.is_some());
    match cms.get("missing").await.unwrap_err() {
        kube::Error::Api(e) => {
            assert_eq!(e.code, 404);
            assert_eq!(e.message, "configmaps \"missing\" not found");
        }
        other => panic!("{other:?}"),
    }
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn reflector_survives_forced_410_and_dropped_watches() -> Result<()> {
    // The reflector's view is checked on both clusters; dropping watches and expiring the watch history (a 410 on
    // the next watch) are kube-sim controls, which a real API server offers no way to trigger on demand.
    let c = Cluster::new("reflector").await?;
    let sim = c.sim();
    let cms: Api<ConfigMap> = c.api();
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector::reflector(writer, watcher(cms.clone(), watcher::Config::default().any_semantic())).applied_objects();
    let task = tokio::spawn(async move {
        let mut s = std::pin::pin!(stream);
        while s.next().await.is_some() {}
    });
    let cached = || {
        let mut names: Vec<String> = reader.state().iter().filter_map(|o| o.metadata.name.clone()).collect();
        names.sort();
        names
    };
    cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "a"}}))?).await?;
    eventually("a in cache", wait_timeout(), || async { Ok((cached() == ["a", "kube-root-ca.crt"]).then_some(())) }).await?;
    if let Some(sim) = &sim {
        sim.post("/sim/watches/drop", json!({})).await?;
    }
    cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "b"}}))?).await?;
    eventually("b after dropped watch", wait_timeout(), || async { Ok((cached() == ["a", "b", "kube-root-ca.crt"]).then_some(())) })
        .await?;
    if let Some(sim) = &sim {
        sim.post("/sim/history/expire", json!({})).await?;
    }
    cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "c"}}))?).await?;
    cms.delete("a", &DeleteParams::default()).await?;
    eventually("relist after 410", wait_timeout(), || async { Ok((cached() == ["b", "c", "kube-root-ca.crt"]).then_some(())) }).await?;
    if let Some(sim) = &sim {
        assert!(sim.count("list", "configmaps").await? >= 2, "the 410 forced a relist");
    }
    task.abort();
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn controller_reconciles_owned_objects() -> Result<()> {
    let c = Cluster::new("controller").await?;
    let rss: Api<ReplicaSet> = c.api();
    let pods: Api<Pod> = c.api();
    let reconciles = Arc::new(AtomicUsize::new(0));
    let counter = reconciles.clone();
    let ctrl = Controller::new(rss.clone(), watcher::Config::default()).owns(pods, watcher::Config::default()).run(
        move |obj: Arc<ReplicaSet>, ctx: Arc<AtomicUsize>| async move {
            ctx.fetch_add(1, Ordering::SeqCst);
            let _ = obj;
            Ok::<_, kube::Error>(Action::await_change())
        },
        |_obj, _err, _ctx| Action::requeue(Duration::from_secs(1)),
        counter,
    );
    let task = tokio::spawn(ctrl.for_each(|_| async {}));
    rss.create(&PostParams::default(), &rs("owned", 2, json!({}))).await?;
    // Pod churn (creation, readiness) triggers reconciles of the owning RS through the owner reference.
    eventually("reconciles from owned pods", wait_timeout(), || async { Ok((reconciles.load(Ordering::SeqCst) >= 3).then_some(())) })
        .await?;
    task.abort();
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn injected_faults_reach_clients() -> Result<()> {
    let c = Cluster::new("faults").await?;
    let cms: Api<ConfigMap> = c.api();
    let made = cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "f"}}))?).await?;
    // The real failure a client meets most: a write based on a stale read.
    cms.patch("f", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "0"}}))).await?;
    match cms.replace("f", &PostParams::default(), &made).await.unwrap_err() {
        kube::Error::Api(e) => assert_eq!(
            (e.code, e.reason.as_str(), e.message.as_str()),
            (
                409,
                "Conflict",
                "Operation cannot be fulfilled on configmaps \"f\": the object has been modified; please apply your changes to the \
                 latest version and try again"
            )
        ),
        other => panic!("{other:?}"),
    }
    // Injected faults are kube-sim's: a real API server fails on its own schedule.
    let Some(sim) = c.sim() else {
        c.cleanup().await;
        return Ok(());
    };
    sim.post("/sim/faults", json!({"resource": "configmaps", "verb": "patch", "code": 409, "count": 1})).await?;
    sim.post("/sim/faults", json!({"resource": "configmaps", "verb": "patch", "code": 500, "count": 1})).await?;
    let p = Patch::Merge(json!({"data": {"k": "v"}}));
    let e1 = cms.patch("f", &PatchParams::default(), &p).await.unwrap_err();
    let e2 = cms.patch("f", &PatchParams::default(), &p).await.unwrap_err();
    assert!(matches!(e1, kube::Error::Api(ref e) if e.code == 409), "{e1:?}");
    assert!(matches!(e2, kube::Error::Api(ref e) if e.code == 500), "{e2:?}");
    cms.patch("f", &PatchParams::default(), &p).await?;
    assert_eq!(sim.count("patch", "configmaps").await?, 4);
    let reqs = sim.get("/sim/requests").await?;
    assert!(reqs["byClient"].as_object().is_some_and(|m| !m.is_empty()));
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn pod_behaviors_make_bad_versions_observable() -> Result<()> {
    let c = Cluster::new("behaviors").await?;
    let rss: Api<ReplicaSet> = c.api();
    rss.create(&PostParams::default(), &rs("never", 1, json!({"sim.serin.dev/behavior": "never-ready"}))).await?;
    rss.create(&PostParams::default(), &rs("crash", 1, json!({"sim.serin.dev/behavior": "crashloop"}))).await?;
    rss.create(&PostParams::default(), &rs("slow", 1, json!({"sim.serin.dev/behavior": "ready-after=2s"}))).await?;
    let pods: Api<Pod> = c.api();
    eventually("crashloop restarts", wait_timeout(), || async {
        let l = pods.list(&ListParams::default().labels("app=crash")).await?;
        let restarts =
            l.items.first().and_then(|p| p.status.as_ref()?.container_statuses.as_ref()?.first().map(|s| s.restart_count)).unwrap_or(0);
        Ok((restarts >= 1).then_some(()))
    })
    .await?;
    eventually("slow pod ready", wait_timeout(), || async { Ok((ready_pods(&c, "slow").await? == 1).then_some(())) }).await?;
    assert_eq!(ready_pods(&c, "never").await?, 0);
    assert_eq!(ready_pods(&c, "crash").await?, 0);
    let never = rss.get("never").await?;
    assert_eq!(never.status.unwrap().available_replicas.unwrap_or(0), 0);
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn min_ready_seconds_delays_availability() -> Result<()> {
    let c = Cluster::new("min-ready").await?;
    let rss: Api<ReplicaSet> = c.api();
    let mut r = rs("mr", 1, json!({}));
    r.spec.as_mut().unwrap().min_ready_seconds = Some(2);
    rss.create(&PostParams::default(), &r).await?;
    let ready_at = eventually("ready", wait_timeout(), || async {
        let s = rss.get("mr").await?.status.unwrap_or_default();
        Ok((s.ready_replicas == Some(1)).then_some(s))
    })
    .await?;
    assert_eq!(ready_at.available_replicas.unwrap_or(0), 0, "not available before minReadySeconds");
    eventually("available", wait_timeout(), || async {
        Ok((rss.get("mr").await?.status.unwrap_or_default().available_replicas == Some(1)).then_some(()))
    })
    .await?;
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn jobs_complete_or_fail_with_real_conditions() -> Result<()> {
    let c = Cluster::new("jobs").await?;
    let jobs: Api<Job> = c.api();
    let job = |name: &str, beh: &str| -> Job {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": {"metadata": {"annotations": {"sim.serin.dev/behavior": beh}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", if beh.starts_with("fail") { "exit 1" } else { "true" }]}]}}}})).unwrap()
    };
    jobs.create(&PostParams::default(), &job("ok", "succeed-after=500ms")).await?;
    jobs.create(&PostParams::default(), &job("bad", "fail-after=500ms")).await?;
    let cond = |j: &Job, t: &str| {
        j.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == t && c.status == "True"))
    };
    eventually("job ok Complete", wait_timeout(), || async { Ok(cond(&jobs.get("ok").await?, "Complete").then_some(())) }).await?;
    eventually("job bad Failed", wait_timeout(), || async { Ok(cond(&jobs.get("bad").await?, "Failed").then_some(())) }).await?;
    let ok = jobs.get("ok").await?;
    assert_eq!(ok.status.unwrap().succeeded, Some(1));
    assert!(ok.spec.unwrap().selector.unwrap().match_labels.unwrap().contains_key("batch.kubernetes.io/controller-uid"));
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn endpoints_follow_ready_pods() -> Result<()> {
    let c = Cluster::new("endpoints").await?;
    let svcs: Api<Service> = c.api();
    svcs.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "ep"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
        )?,
    )
    .await?;
    let svc = svcs.get("web").await?;
    assert!(svc.spec.as_ref().and_then(|s| s.cluster_ip.clone()).is_some_and(|ip| !ip.is_empty()), "clusterIP allocated");
    let rss: Api<ReplicaSet> = c.api();
    rss.create(&PostParams::default(), &rs("ep", 2, json!({}))).await?;
    let eps: Api<Endpoints> = c.api();
    eventually("2 ready endpoint addresses", wait_timeout(), || async {
        let Some(e) = eps.get_opt("web").await? else { return Ok(None) };
        let n = e.subsets.unwrap_or_default().iter().map(|s| s.addresses.as_ref().map_or(0, Vec::len)).sum::<usize>();
        Ok((n == 2).then_some(()))
    })
    .await?;
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn crds_are_served_and_removed() -> Result<()> {
    let c = Cluster::new("crds").await?;
    let crds: Api<CustomResourceDefinition> = Api::all(c.client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.serin.dev"},
        "spec": {
            "group": "example.serin.dev",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"replicas": {"type": "integer", "default": 1}, "color": {"type": "string"}}},
                    "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}}}]
        }
    }))?;
    crds.create(&PostParams::default(), &crd).await?;
    eventually("Established", wait_timeout(), || async {
        let got = crds.get("widgets.example.serin.dev").await?;
        Ok(got
            .status
            .and_then(|s| s.conditions)
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
            .then_some(()))
    })
    .await?;
    let gvk = GroupVersionKind::gvk("example.serin.dev", "v1", "Widget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(c.client.clone(), &c.namespace, &ar);
    let w: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.serin.dev/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"color": "blue"}}),
    )?;
    let made = widgets.create(&PostParams::default(), &w).await?;
    assert_eq!(made.data["spec"]["replicas"], json!(1), "schema default applied");
    widgets.patch_status("w1", &PatchParams::default(), &Patch::Merge(json!({"status": {"replicas": 1}}))).await?;
    let scaled = widgets.patch("w1", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}}))).await?;
    assert_eq!(scaled.metadata.generation, Some(2));
    crds.delete("widgets.example.serin.dev", &DeleteParams::default()).await?;
    eventually("resource no longer served", wait_timeout(), || async {
        Ok(widgets.list(&ListParams::default()).await.is_err().then_some(()))
    })
    .await?;
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn eviction_honours_pod_disruption_budgets() -> Result<()> {
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use kube::api::EvictParams;
    let c = Cluster::new("eviction").await?;
    let rss: Api<ReplicaSet> = c.api();
    rss.create(&PostParams::default(), &rs("ev", 3, json!({}))).await?;
    eventually("3 ready pods", wait_timeout(), || async { Ok((ready_pods(&c, "ev").await? == 3).then_some(())) }).await?;
    let pdbs: Api<PodDisruptionBudget> = c.api();
    pdbs.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "ev"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "ev"}}}}),
        )?,
    )
    .await?;
    eventually("budget published", wait_timeout(), || async {
        let s = pdbs.get("ev").await?.status;
        Ok(s.filter(|s| s.current_healthy == 3 && s.disruptions_allowed == 1).map(|_| ()))
    })
    .await?;
    let pods: Api<Pod> = c.api();
    let names: Vec<String> =
        pods.list(&ListParams::default().labels("app=ev")).await?.items.into_iter().filter_map(|p| p.metadata.name).collect();
    // From now on the ReplicaSet makes pods that never become Ready (existing pods keep their template), so the
    // replacement of an evicted pod stays unready while the refusal is observed, with a client that does not
    // retry the 429.
    rss.patch(
        "ev",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"metadata": {"annotations": {"sim.serin.dev/behavior": "never-ready"}}}}})),
    )
    .await?;
    let no_retry: Api<Pod> = Api::namespaced(c.client_without_retries().await?, &c.namespace);
    pods.evict(&names[0], &EvictParams::default()).await?;
    eventually("replacement created", wait_timeout(), || async { Ok((pod_count(&c, "ev").await? == 3).then_some(())) }).await?;
    // The budget is checked against live pods, so a second eviction before the replacement is Ready is refused.
    let refused = no_retry.evict(&names[1], &EvictParams::default()).await.unwrap_err();
    match refused {
        kube::Error::Api(e) => {
            assert_eq!((e.code, e.reason.as_str()), (429, "TooManyRequests"));
            assert_eq!(e.message, "Cannot evict pod as it would violate the pod's disruption budget.");
        }
        other => panic!("{other:?}"),
    }
    // A ReplicaSet making ready pods again replaces the unready one; once it is Ready the budget allows one
    // disruption again.
    rss.patch("ev", &PatchParams::default(), &Patch::Merge(json!({"spec": {"template": {"metadata": {"annotations": null}}}}))).await?;
    for pod in pods.list(&ListParams::default().labels("app=ev")).await?.items {
        if !names.contains(pod.metadata.name.as_ref().unwrap_or(&String::new())) {
            pods.delete(pod.metadata.name.as_deref().unwrap_or_default(), &DeleteParams::default()).await?;
        }
    }
    eventually("replacement ready", wait_timeout(), || async { Ok((ready_pods(&c, "ev").await? == 3).then_some(())) }).await?;
    eventually("second eviction allowed", wait_timeout(), || async {
        Ok(pods.evict(&names[1], &EvictParams::default()).await.ok().map(|_| ()))
    })
    .await?;
    let err = pdbs
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "both"}, "spec": {"minAvailable": 1, "maxUnavailable": 1, "selector": {}}}),
            )?,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref e) if e.code == 422), "{err:?}");
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn delete_preconditions_are_checked() -> Result<()> {
    use kube::api::Preconditions;
    let c = Cluster::new("preconditions").await?;
    let cms: Api<ConfigMap> = c.api();
    let made = cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "p"}}))?).await?;
    let (uid, rv) = (made.metadata.uid.clone().unwrap_or_default(), made.metadata.resource_version.clone().unwrap_or_default());
    let conflict = |err: kube::Error| match err {
        kube::Error::Api(e) if e.code == 409 && e.reason == "Conflict" => e.message,
        other => panic!("expected a 409 Conflict, got {other:?}"),
    };
    let wrong = DeleteParams {
        preconditions: Some(Preconditions { uid: Some("not-the-uid".into()), resource_version: None }),
        ..DeleteParams::default()
    };
    assert_eq!(
        conflict(cms.delete("p", &wrong).await.unwrap_err()),
        format!(
            "Operation cannot be fulfilled on ConfigMap \"p\": the UID in the precondition (not-the-uid) does not match the UID in \
             record ({uid}). The object might have been deleted and then recreated"
        )
    );
    let stale =
        DeleteParams { preconditions: Some(Preconditions { uid: None, resource_version: Some("1".into()) }), ..DeleteParams::default() };
    assert_eq!(
        conflict(cms.delete("p", &stale).await.unwrap_err()),
        format!(
            "Operation cannot be fulfilled on ConfigMap \"p\": the ResourceVersion in the precondition (1) does not match the \
             ResourceVersion in record ({rv}). The object might have been modified"
        )
    );
    // A replace carrying another object's uid fails in the storage layer, which names the etcd key.
    let mut other = made.clone();
    other.metadata.uid = Some("not-the-uid".into());
    assert_eq!(
        conflict(cms.replace("p", &PostParams::default(), &other).await.unwrap_err()),
        format!(
            "Operation cannot be fulfilled on configmaps \"p\": StorageError: invalid object, Code: 4, Key: /registry/configmaps/{}/p, \
             ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: not-the-uid, UID in object meta: {uid}",
            c.namespace
        )
    );
    // Group-qualified kinds are named with their group.
    let rss: Api<ReplicaSet> = c.api();
    rss.create(&PostParams::default(), &rs("q", 0, json!({}))).await?;
    let err = rss.delete("q", &wrong).await.unwrap_err();
    assert!(conflict(err).starts_with("Operation cannot be fulfilled on ReplicaSet.apps \"q\": the UID in the precondition (not-the-uid)"));
    // Namespaces have a registry of their own, which keeps the storage layer's wording.
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.client.clone());
    let ns_uid = nss.get(&c.namespace).await?.metadata.uid.unwrap_or_default();
    assert_eq!(
        conflict(nss.delete(&c.namespace, &wrong).await.unwrap_err()),
        format!(
            "Operation cannot be fulfilled on namespaces \"{}\": Precondition failed: UID in precondition: not-the-uid, UID in object \
             meta: {ns_uid}",
            c.namespace
        )
    );
    let right = DeleteParams {
        preconditions: Some(Preconditions { uid: made.metadata.uid.clone(), resource_version: None }),
        ..DeleteParams::default()
    };
    cms.delete("p", &right).await?;
    assert!(cms.get_opt("p").await?.is_none());
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn metadata_only_lists_and_watches() -> Result<()> {
    use kube::core::PartialObjectMeta;
    let c = Cluster::new("metadata").await?;
    let cms: Api<ConfigMap> = c.api();
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "m1", "labels": {"k": "v"}}, "data": {"big": "x".repeat(4096)}}))?,
    )
    .await?;
    let list = cms.list_metadata(&ListParams::default().labels("k")).await?;
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.labels.as_ref().unwrap()["k"], "v");
    assert_eq!(list.items[0].types.as_ref().map(|t| t.kind.as_str()), Some("PartialObjectMetadata"));
    let all = cms.list_metadata(&ListParams::default()).await?;
    let mut names: Vec<_> = all.items.iter().filter_map(|i| i.metadata.name.as_deref()).collect();
    names.sort_unstable();
    assert_eq!(names, ["kube-root-ca.crt", "m1"]);
    let one = cms.get_metadata("m1").await?;
    assert_eq!(one.metadata.name.as_deref(), Some("m1"));
    let (reader, writer) = reflector::store();
    // kube 5: an Api over PartialObjectMeta makes metadata-only requests (Accept: as=PartialObjectMetadata[List]).
    let meta_api: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(c.client.clone(), &c.namespace);
    let stream = reflector::reflector(writer, watcher(meta_api, watcher::Config::default())).applied_objects();
    let task = tokio::spawn(async move {
        let mut s = std::pin::pin!(stream);
        while s.next().await.is_some() {}
    });
    cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "m2"}}))?).await?;
    eventually("metadata reflector sees m1, m2 and kube-root-ca.crt", wait_timeout(), || async {
        Ok((reader.state().len() == 3).then_some(()))
    })
    .await?;
    task.abort();
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn namespace_deletion_removes_its_content() -> Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let c = Cluster::new("ns-delete").await?;
    let rss: Api<ReplicaSet> = c.api();
    rss.create(&PostParams::default(), &rs("gone", 2, json!({}))).await?;
    eventually("pods", wait_timeout(), || async { Ok((pod_count(&c, "gone").await? == 2).then_some(())) }).await?;
    let nss: Api<Namespace> = Api::all(c.client.clone());
    nss.delete(&c.namespace, &DeleteParams::default()).await?;
    let terminating = nss.get_opt(&c.namespace).await?;
    if let Some(ns) = terminating {
        assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Terminating"));
    }
    eventually("namespace gone", wait_timeout(), || async { Ok(nss.get_opt(&c.namespace).await?.is_none().then_some(())) }).await?;
    assert!(rss.list(&ListParams::default()).await?.items.is_empty());
    let cms: Api<ConfigMap> = c.api();
    let err = cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "late"}}))?).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref e) if e.code == 404), "{err:?}");
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn every_namespace_gets_a_default_service_account_and_the_root_ca() -> Result<()> {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let c = Cluster::new("publishers").await?;
    let cms: Api<ConfigMap> = c.api();
    let accounts: Api<ServiceAccount> = c.api();
    let published = cms.get("kube-root-ca.crt").await?;
    let ca = published.data.as_ref().and_then(|d| d.get("ca.crt")).cloned().unwrap_or_default();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----\n") && ca.ends_with("-----END CERTIFICATE-----\n"), "{ca}");
    assert_eq!(
        published.metadata.annotations.as_ref().and_then(|a| a.get("kubernetes.io/description")).map(String::as_str),
        Some(
            "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal \
             service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
        )
    );
    // Every namespace publishes the same bundle.
    let default_ns: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    assert_eq!(default_ns.get("kube-root-ca.crt").await?.data, published.data);
    assert!(accounts.get_opt("default").await?.is_some());
    // Deleted: published again (a new object). Changed: reset, keeping what else the user added.
    cms.delete("kube-root-ca.crt", &DeleteParams::default()).await?;
    let old_uid = published.metadata.uid.clone();
    eventually("kube-root-ca.crt recreated", wait_timeout(), || async {
        Ok(cms.get_opt("kube-root-ca.crt").await?.filter(|m| m.metadata.uid != old_uid && m.data == published.data).map(|_| ()))
    })
    .await?;
    cms.patch(
        "kube-root-ca.crt",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"mine": "yes"}}, "data": {"ca.crt": "tampered", "extra": "x"}})),
    )
    .await?;
    eventually("kube-root-ca.crt reset", wait_timeout(), || async {
        Ok(cms.get_opt("kube-root-ca.crt").await?.filter(|m| m.data == published.data).map(|m| m.metadata.labels))
    })
    .await
    .map(|labels| assert_eq!(labels.and_then(|l| l.get("mine").cloned()).as_deref(), Some("yes")))?;
    accounts.delete("default", &DeleteParams::default()).await?;
    eventually("default ServiceAccount recreated", wait_timeout(), || async { Ok(accounts.get_opt("default").await?.map(|_| ())) }).await?;
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn crds_in_protected_groups_need_api_approval() -> Result<()> {
    let c = Cluster::new("api-approval").await?;
    let crds: Api<CustomResourceDefinition> = Api::all(c.client.clone());
    // A group of our own under k8s.io, so parallel runs do not meet.
    let group = format!("{}.serin-e2e.k8s.io", c.namespace);
    let name = format!("things.{group}");
    let crd = |annotation: Option<&str>| -> Result<CustomResourceDefinition> {
        let annotations = annotation.map_or_else(|| json!({}), |a| json!({"api-approved.kubernetes.io": a}));
        Ok(serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "group": group,
                "names": {"plural": "things", "kind": "Thing"},
                "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]
            }
        }))?)
    };
    let invalid = |err: kube::Error| match err {
        kube::Error::Api(e) if e.code == 422 && e.reason == "Invalid" => e.message,
        other => panic!("expected 422 Invalid, got {other:?}"),
    };
    let missing = format!(
        "CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: metadata.annotations[api-approved.kubernetes.io]: \
         Required value: protected groups must have approval annotation \"api-approved.kubernetes.io\", see \
         https://github.com/kubernetes/enhancements/pull/1111"
    );
    assert_eq!(invalid(crds.create(&PostParams::default(), &crd(None)?).await.unwrap_err()), missing);
    assert_eq!(
        invalid(crds.create(&PostParams::default(), &crd(Some("nope"))?).await.unwrap_err()),
        format!(
            "CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: metadata.annotations[api-approved.kubernetes.io]: \
             Invalid value: \"nope\": protected groups must have approval annotation \"api-approved.kubernetes.io\" with either a URL \
             or a reason starting with \"unapproved\", see https://github.com/kubernetes/enhancements/pull/1111"
        )
    );
    let approval = |want: (&'static str, &'static str, String)| {
        let crds = crds.clone();
        let name = name.clone();
        async move {
            eventually("approval condition", wait_timeout(), || async {
                let got = crds.get(&name).await?;
                let conds = got.status.and_then(|s| s.conditions).unwrap_or_default();
                let established = conds.iter().any(|c| c.type_ == "Established" && c.status == "True");
                Ok(conds
                    .into_iter()
                    .find(|c| c.type_ == "KubernetesAPIApprovalPolicyConformant")
                    .filter(|c| {
                        established
                            && (c.status.as_str(), c.reason.as_deref().unwrap_or_default(), c.message.clone().unwrap_or_default())
                                == (want.0, want.1, want.2.clone())
                    })
                    .map(|_| ()))
            })
            .await
        }
    };
    // A reason starting with "unapproved" is let through and reported as not conformant.
    crds.create(&PostParams::default(), &crd(Some("unapproved, testing only"))?).await?;
    approval(("False", "UnapprovedAnnotation", "not approved: \"unapproved, testing only\"".to_owned())).await?;
    // Removing the annotation changes the approval state, so the update is refused.
    let removed = crds
        .patch(&name, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"annotations": {"api-approved.kubernetes.io": null}}})))
        .await
        .unwrap_err();
    assert_eq!(invalid(removed), missing);
    let url = "https://github.com/kubernetes/kubernetes/pull/78458";
    crds.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"annotations": {"api-approved.kubernetes.io": url}}})))
        .await?;
    approval(("True", "ApprovedAnnotation", format!("approved in {url}"))).await?;
    crds.delete(&name, &DeleteParams::default()).await?;
    c.cleanup().await;
    Ok(())
}
