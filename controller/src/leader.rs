//! Leader election on a `coordination.k8s.io/v1` Lease, with a write fence.
//!
//! The election is client-go's `leaderelection` algorithm (the one Argo Rollouts runs, so the two controllers never
//! both lead while a team migrates, as long as they share the Lease `argo-rollouts-controller-lock`):
//!
//! - A candidate reads the Lease. Someone else holds it while its record keeps changing: the candidate notes *when
//!   it saw* the record change (its own monotonic clock, never the timestamps in the record, so clock skew between
//!   nodes does not matter) and waits until `leaseDuration` passes without a change.
//! - Then it writes itself in as holder, an update pinned to the `resourceVersion` it read, so of two candidates
//!   only one wins. The leader renews the same way every `retryPeriod`.
//!
//! **Fencing.** The leader may write only until `renewDeadline` after it *sent* its last successful renewal
//! ([`Fence`]). Another candidate can take the Lease at the earliest `leaseDuration` after it saw that renewal,
//! which is later than it was sent; `renewDeadline < leaseDuration` leaves the margin for a write already on the
//! wire. The fence is checked in the API client itself ([`crate::client`]), right before a write leaves the process,
//! so a leader that was paused (SIGSTOP, a long GC-like stall, a partition) wakes up to a closed fence and sends
//! nothing: the monotonic clock kept running while it was stopped.
//!
//! Losing the Lease (a renewal failing until the fence closes, or another holder seen) ends leadership for good:
//! the controller stops and the process exits, to come back as a candidate with fresh state, as client-go
//! controllers do. A leader that shuts down gracefully releases the Lease (client-go's `ReleaseOnCancel`) so a
//! standby takes over within one `retryPeriod` instead of a whole `leaseDuration`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Argo Rollouts' Lease name: a Serin and an Argo controller sharing it never both lead.
pub const DEFAULT_LEASE_NAME: &str = "argo-rollouts-controller-lock";

/// How the election runs (Argo's flags and defaults).
#[derive(Clone, Debug)]
pub struct LeaderElection {
    /// The Lease's name.
    pub lease_name: String,
    /// The Lease's namespace (the controller's own).
    pub namespace: String,
    /// This replica's identity in the Lease (`holderIdentity`); unique per process.
    pub identity: String,
    /// How long a Lease holds without renewal before a candidate may take it.
    pub lease_duration: Duration,
    /// How long the leader keeps writing after its last successful renewal was sent: must be below
    /// `lease_duration`.
    pub renew_deadline: Duration,
    /// How often candidates try to acquire and the leader renews.
    pub retry_period: Duration,
}

impl LeaderElection {
    /// Argo's defaults: lease 15 s, renew deadline 10 s, retry 2 s.
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            lease_name: DEFAULT_LEASE_NAME.to_owned(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// Checks the timing invariants client-go checks (`NewLeaderElector`).
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration <= self.renew_deadline {
            return Err("the lease duration must be greater than the renew deadline".to_owned());
        }
        if self.renew_deadline.as_secs_f64() <= 1.2 * self.retry_period.as_secs_f64() {
            return Err("the renew deadline must be greater than 1.2 x the retry period".to_owned());
        }
        if self.identity.is_empty() || self.lease_name.is_empty() || self.namespace.is_empty() {
            return Err("the leader election needs an identity, a lease name and a namespace".to_owned());
        }
        Ok(())
    }
}

// === Fence ===

/// Whether this process may write to the cluster now: open while it leads and its last renewal is recent enough,
/// closed otherwise. Cheap to check on every request.
#[derive(Clone, Debug)]
pub struct Fence(Arc<FenceState>);

#[derive(Debug)]
struct FenceState {
    base: Instant,
    /// Nanoseconds after `base` until which writes are allowed; 0 while closed, `u64::MAX` when always open.
    until: AtomicU64,
}

impl Fence {
    /// A fence that never closes: a controller run without leader election.
    pub fn open() -> Self {
        Self(Arc::new(FenceState { base: Instant::now(), until: AtomicU64::new(u64::MAX) }))
    }

    /// A closed fence, opened by [`Elector`] while it leads.
    pub fn closed() -> Self {
        Self(Arc::new(FenceState { base: Instant::now(), until: AtomicU64::new(0) }))
    }

    /// Whether a write may leave now.
    pub fn allows_writes(&self) -> bool {
        let until = self.0.until.load(Ordering::Acquire);
        until == u64::MAX || self.nanos(Instant::now()) < until
    }

    /// Allows writes until `at` (never shortens an always-open fence).
    fn open_until(&self, at: Instant) {
        let nanos = self.nanos(at).max(1);
        let _ = self.0.until.fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| (current != u64::MAX).then_some(nanos));
    }

    /// Time left before the fence closes (zero when closed; `Duration::MAX` when always open).
    fn remaining(&self) -> Duration {
        let until = self.0.until.load(Ordering::Acquire);
        if until == u64::MAX {
            return Duration::MAX;
        }
        Duration::from_nanos(until.saturating_sub(self.nanos(Instant::now())))
    }

    /// Refuses every write from now on.
    pub fn close(&self) {
        let _ = self.0.until.fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| (current != u64::MAX).then_some(0));
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.0.base).as_nanos()).unwrap_or(u64::MAX - 1)
    }
}

// === Elector ===

/// Why leadership ended.
#[derive(Debug, thiserror::Error)]
pub enum LostLease {
    /// No renewal succeeded before the renew deadline.
    #[error("could not renew the lease {lease} within the renew deadline ({deadline:?}): {last_error}")]
    RenewDeadline {
        /// `namespace/name` of the Lease.
        lease: String,
        /// The renew deadline.
        deadline: Duration,
        /// The last renewal's failure.
        last_error: String,
    },
    /// Another holder appears in the Lease.
    #[error("the lease {lease} is held by {holder}")]
    TakenOver {
        /// `namespace/name` of the Lease.
        lease: String,
        /// The holder seen.
        holder: String,
    },
}

/// The outcome of one acquire-or-renew attempt.
#[derive(Debug)]
enum Attempt {
    /// We hold the Lease (the fence is open until `renewDeadline` after the request was sent).
    Held,
    /// Someone else holds it, and it has not expired as far as we have observed.
    HeldBy(String),
    /// The API call failed.
    Failed(String),
}

/// One replica's side of the election.
pub struct Elector {
    api: Api<Lease>,
    config: LeaderElection,
    fence: Fence,
    /// The last Lease spec seen, and when (our clock) it was first seen with those values.
    observed: Option<(LeaseSpec, Instant)>,
}

impl Elector {
    /// An elector writing with `client` (it must not be fenced: the Lease is how the fence opens).
    pub fn new(client: Client, config: LeaderElection, fence: Fence) -> Self {
        let api = Api::namespaced(client, &config.namespace);
        Self { api, config, fence, observed: None }
    }

    fn lease_key(&self) -> String {
        format!("{}/{}", self.config.namespace, self.config.lease_name)
    }

    /// Tries every `retryPeriod` until this replica holds the Lease; the fence is open when it returns.
    pub async fn acquire(&mut self) {
        info!(lease = %self.lease_key(), identity = %self.config.identity, "waiting to lead");
        let mut last_holder = String::new();
        loop {
            match self.try_acquire_or_renew().await {
                Attempt::Held => {
                    info!(lease = %self.lease_key(), identity = %self.config.identity, "leading");
                    return;
                }
                Attempt::HeldBy(holder) => {
                    if holder != last_holder {
                        info!(lease = %self.lease_key(), %holder, "another replica leads");
                        last_holder = holder;
                    }
                }
                Attempt::Failed(error) => debug!(lease = %self.lease_key(), %error, "acquiring the lease failed"),
            }
            tokio::time::sleep(jittered(self.config.retry_period)).await;
        }
    }

    /// Renews every `retryPeriod` while leading; returns why leadership ended, with the fence closed.
    pub async fn keep(&mut self) -> LostLease {
        let mut last_error = String::new();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            if !self.fence.allows_writes() {
                self.fence.close();
                return LostLease::RenewDeadline {
                    lease: self.lease_key(),
                    deadline: self.config.renew_deadline,
                    last_error: if last_error.is_empty() { "no renewal completed in time".to_owned() } else { last_error },
                };
            }
            // A renewal that cannot finish before the fence closes is pointless: bound it by the time left.
            match tokio::time::timeout(self.fence.remaining(), self.try_acquire_or_renew()).await {
                Ok(Attempt::Held) => last_error.clear(),
                Ok(Attempt::HeldBy(holder)) => {
                    self.fence.close();
                    return LostLease::TakenOver { lease: self.lease_key(), holder };
                }
                Ok(Attempt::Failed(error)) => {
                    warn!(lease = %self.lease_key(), %error, "renewing the lease failed");
                    last_error = error;
                }
                Err(_) => "the renewal timed out".clone_into(&mut last_error),
            }
        }
    }

    /// Gives the Lease up (holder cleared, duration 1 s), so a standby takes over at its next try. Call only once
    /// nothing writes any more: the fence is closed first.
    pub async fn release(&mut self) {
        self.fence.close();
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.lease_name).await else { return };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        let now = MicroTime(jiff::Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now.clone());
        spec.acquire_time = Some(now);
        match self.api.replace(&self.config.lease_name, &PostParams::default(), &lease).await {
            Ok(_) => info!(lease = %self.lease_key(), "released the lease"),
            Err(error) => warn!(lease = %self.lease_key(), %error, "releasing the lease failed; it expires on its own"),
        }
    }

    /// client-go's `tryAcquireOrRenew`.
    async fn try_acquire_or_renew(&mut self) -> Attempt {
        let sent_at = Instant::now();
        let now = MicroTime(jiff::Timestamp::now());
        let duration_seconds = i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let current = match self.api.get_opt(&self.config.lease_name).await {
            Ok(current) => current,
            Err(error) => return Attempt::Failed(error.to_string()),
        };
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.lease_name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.config.identity.clone()),
                    lease_duration_seconds: Some(duration_seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => self.held(created, sent_at),
                Err(error) => Attempt::Failed(error.to_string()),
            };
        };

        let spec = lease.spec.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(seen, _)| *seen != spec) {
            self.observed = Some((spec.clone(), Instant::now()));
        }
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.config.identity;
        if !holder.is_empty() && !ours {
            let held_for = Duration::from_secs(u64::try_from(spec.lease_duration_seconds.unwrap_or(0).max(0)).unwrap_or(0));
            let seen_at = self.observed.as_ref().map_or(sent_at, |(_, at)| *at);
            if seen_at + held_for > Instant::now() {
                return Attempt::HeldBy(holder);
            }
        }
        let new_spec = LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(duration_seconds),
            acquire_time: if ours { spec.acquire_time.clone().or_else(|| Some(now.clone())) } else { Some(now.clone()) },
            renew_time: Some(now),
            lease_transitions: Some(if ours { spec.lease_transitions.unwrap_or(0) } else { spec.lease_transitions.unwrap_or(0) + 1 }),
            ..spec
        };
        lease.spec = Some(new_spec);
        match self.api.replace(&self.config.lease_name, &PostParams::default(), &lease).await {
            Ok(updated) => self.held(updated, sent_at),
            Err(error) => Attempt::Failed(error.to_string()),
        }
    }

    /// We hold `lease` as of a request sent at `sent_at`: the fence opens until `sent_at + renewDeadline`.
    fn held(&mut self, lease: Lease, sent_at: Instant) -> Attempt {
        self.observed = Some((lease.spec.unwrap_or_default(), Instant::now()));
        self.fence.open_until(sent_at + self.config.renew_deadline);
        Attempt::Held
    }
}

/// client-go's `wait.Jitter(period, 1.2)`: up to 20% more, so candidates do not retry in lock step.
fn jittered(period: Duration) -> Duration {
    let jitter = rand::random::<f64>() * 0.2;
    period.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_fence_opens_until_the_deadline_and_closes() {
        let fence = Fence::closed();
        assert!(!fence.allows_writes());
        fence.open_until(Instant::now() + Duration::from_secs(10));
        assert!(fence.allows_writes());
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(fence.allows_writes());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!fence.allows_writes(), "past the renew deadline nothing is written");
        fence.open_until(Instant::now() + Duration::from_secs(10));
        fence.close();
        assert!(!fence.allows_writes());
        let open = Fence::open();
        open.close();
        open.open_until(Instant::now());
        assert!(open.allows_writes(), "without leader election the fence never closes");
    }

    #[test]
    fn timing_invariants_are_client_gos() {
        let mut config = LeaderElection::new("serin-system", "a");
        assert_eq!(config.validate(), Ok(()));
        config.renew_deadline = Duration::from_secs(15);
        assert!(config.validate().is_err());
        config.renew_deadline = Duration::from_secs(2);
        assert!(config.validate().is_err(), "2 s is not above 1.2 x 2 s");
    }
}
