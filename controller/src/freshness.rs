//! The stale-cache guard: remember the `resourceVersion` of every object we wrote, and report a cache as stale
//! while it still holds an older copy (or, for a ReplicaSet we created, none at all).
//!
//! Planning from such a cache is Argo Rollouts' stale-cache bug family: re-creating a ReplicaSet that exists,
//! re-adding a pause just removed, stepping twice. Instead the reconcile waits for the watch to deliver our own
//! write, which it does within milliseconds. Resource versions are compared as integers, as every apiserver backed
//! by etcd issues them; a non-numeric version is never considered stale.

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;

/// Our writes per Rollout, keyed `namespace/name`.
#[derive(Default)]
pub struct Freshness {
    writes: Mutex<HashMap<String, Writes>>,
}

#[derive(Default, Debug)]
struct Writes {
    rollout: Option<u64>,
    replica_sets: HashMap<String, u64>,
    /// Pods we evicted whose deletion the pod cache has not shown yet.
    evicted: HashSet<String>,
}

impl Writes {
    fn is_empty(&self) -> bool {
        self.rollout.is_none() && self.replica_sets.is_empty() && self.evicted.is_empty()
    }
}

fn parse(rv: Option<&str>) -> Option<u64> {
    rv?.parse().ok()
}

impl Freshness {
    /// Records a write to the Rollout `key` that produced `resource_version`.
    pub fn wrote_rollout(&self, key: &str, resource_version: Option<&str>) {
        if let Some(rv) = parse(resource_version) {
            self.writes.lock().entry(key.to_owned()).or_default().rollout = Some(rv);
        }
    }

    /// Records a write (create or update) to ReplicaSet `name` of Rollout `key`.
    pub fn wrote_replica_set(&self, key: &str, name: &str, resource_version: Option<&str>) {
        if let Some(rv) = parse(resource_version) {
            self.writes.lock().entry(key.to_owned()).or_default().replica_sets.insert(name.to_owned(), rv);
        }
    }

    /// Records that ReplicaSet `name` of Rollout `key` was deleted: no later copy will arrive to wait for.
    pub fn deleted_replica_set(&self, key: &str, name: &str) {
        if let Some(writes) = self.writes.lock().get_mut(key) {
            writes.replica_sets.remove(name);
        }
    }

    /// Whether the cached Rollout (at `rollout_rv`) and ReplicaSets (`name -> resourceVersion`) are older than our
    /// writes. Entries the cache has caught up with are forgotten.
    pub fn is_stale<'a>(&self, key: &str, rollout_rv: Option<&str>, cached: impl Fn(&str) -> Option<&'a str>) -> bool {
        let mut map = self.writes.lock();
        let Some(writes) = map.get_mut(key) else { return false };
        let mut stale = false;
        if let Some(written) = writes.rollout {
            match parse(rollout_rv) {
                Some(seen) if seen < written => stale = true,
                _ => writes.rollout = None,
            }
        }
        writes.replica_sets.retain(|name, written| match cached(name) {
            None => {
                stale = true;
                true
            }
            Some(rv) => match parse(Some(rv)) {
                Some(seen) if seen < *written => {
                    stale = true;
                    true
                }
                _ => false,
            },
        });
        if writes.is_empty() {
            map.remove(key);
        }
        stale
    }

    /// Records that pod `name` of Rollout `key` was evicted.
    pub fn evicted_pod(&self, key: &str, name: &str) {
        self.writes.lock().entry(key.to_owned()).or_default().evicted.insert(name.to_owned());
    }

    /// The pods of Rollout `key` we evicted that the pod cache still shows as running (`still_running(name)`):
    /// planning must count them as going away, or a restart would spend its disruption budget twice. Pods the cache
    /// shows deleting or gone are forgotten.
    pub fn evicting(&self, key: &str, still_running: impl Fn(&str) -> bool) -> HashSet<String> {
        let mut map = self.writes.lock();
        let Some(writes) = map.get_mut(key) else { return HashSet::new() };
        writes.evicted.retain(|name| still_running(name));
        let evicting = writes.evicted.clone();
        if writes.is_empty() {
            map.remove(key);
        }
        evicting
    }

    /// Forgets a deleted Rollout.
    pub fn forget(&self, key: &str) {
        self.writes.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_or_missing_copies_are_stale_until_caught_up() {
        let written = || {
            let f = Freshness::default();
            f.wrote_rollout("ns/a", Some("10"));
            f.wrote_replica_set("ns/a", "a-1", Some("11"));
            f
        };
        assert!(written().is_stale("ns/a", Some("9"), |_| Some("11")), "the Rollout is behind");
        assert!(written().is_stale("ns/a", Some("10"), |_| None), "the created ReplicaSet is not cached yet");
        assert!(written().is_stale("ns/a", Some("10"), |_| Some("5")), "the ReplicaSet is behind");
        let f = written();
        assert!(!f.is_stale("ns/a", Some("10"), |_| Some("11")));
        // Caught up: forgotten, so later writes by others never look stale.
        assert!(!f.is_stale("ns/a", Some("1"), |_| None));
        assert!(!f.is_stale("ns/b", Some("1"), |_| None));
    }

    #[test]
    fn evicted_pods_count_as_going_away_until_the_cache_shows_it() {
        let f = Freshness::default();
        f.evicted_pod("ns/a", "p1");
        f.evicted_pod("ns/a", "p2");
        let running = |name: &str| name == "p1";
        assert_eq!(f.evicting("ns/a", running), HashSet::from(["p1".to_owned()]), "p2 is shown deleting: forgotten");
        assert!(!f.is_stale("ns/a", None, |_| None), "evictions never make the cache stale");
        assert_eq!(f.evicting("ns/a", |_| false), HashSet::new());
        assert!(f.writes.lock().is_empty(), "nothing left to remember");
    }

    #[test]
    fn deleted_replica_sets_are_not_waited_for() {
        let f = Freshness::default();
        f.wrote_replica_set("ns/a", "a-1", Some("11"));
        f.deleted_replica_set("ns/a", "a-1");
        assert!(!f.is_stale("ns/a", Some("1"), |_| None));
    }

    #[test]
    fn non_numeric_versions_are_never_stale() {
        let f = Freshness::default();
        f.wrote_rollout("ns/a", Some("abc"));
        assert!(!f.is_stale("ns/a", Some("1"), |_| None));
    }
}
