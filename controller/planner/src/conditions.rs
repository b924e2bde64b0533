//! Rollout `status.conditions`: the types, reasons and messages Argo Rollouts writes, and its update rule.
//!
//! Pure. The update rule ([`set_condition`]) is Argo's `SetRolloutCondition`: a condition with the same status,
//! reason and message is left alone (so timestamps do not churn and no write happens); a condition whose status is
//! unchanged keeps its `lastTransitionTime`. Reasons and messages are Argo's verbatim: Argo CD, alerts and users'
//! scripts match on them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serin_api::RolloutStatus;
use serin_api::common::ConditionStatus;
use serin_api::rollout::status::{RolloutCondition, RolloutConditionType};

/// `InvalidSpec` condition reason (and the event reason).
pub const INVALID_SPEC_REASON: &str = "InvalidSpec";
/// Progressing: a new ReplicaSet was created.
pub const NEW_RS_CREATED_REASON: &str = "NewReplicaSetCreated";
/// Progressing: the new ReplicaSet already existed (first observation).
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
/// Progressing: progress was made.
pub const RS_UPDATED_REASON: &str = "ReplicaSetUpdated";
/// Progressing: the update finished.
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
/// Progressing: a fully promoted rollout lost availability.
pub const RS_NOT_AVAILABLE_REASON: &str = "ReplicaSetNotAvailable";
/// Progressing (False): no progress within `progressDeadlineSeconds`.
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
/// Progressing (False): creating the new ReplicaSet failed.
pub const RS_CREATE_ERROR_REASON: &str = "ReplicaSetCreateError";
/// Progressing (False): the update was aborted.
pub const ABORTED_REASON: &str = "RolloutAborted";
/// Progressing (Unknown) and Paused: the rollout is paused.
pub const PAUSED_REASON: &str = "RolloutPaused";
/// Progressing (Unknown): the rollout was resumed.
pub const RESUMED_REASON: &str = "RolloutResumed";
/// Progressing (Unknown): retried after an abort.
pub const RETRY_REASON: &str = "RolloutRetry";
/// Available condition reason.
pub const AVAILABLE_REASON: &str = "AvailableReason";
/// Completed condition reason (also its message, as in Argo).
pub const COMPLETED_REASON: &str = "RolloutCompleted";
/// Healthy condition reason.
pub const HEALTHY_REASON: &str = "RolloutHealthy";

/// `Rollout is paused`.
pub const PAUSED_MESSAGE: &str = "Rollout is paused";
/// `Rollout is resumed`.
pub const RESUMED_MESSAGE: &str = "Rollout is resumed";
/// `Retrying Rollout after abort`.
pub const RETRY_MESSAGE: &str = "Retrying Rollout after abort";
/// `Rollout has minimum availability`.
pub const AVAILABLE_MESSAGE: &str = "Rollout has minimum availability";
/// `Rollout does not have minimum availability`.
pub const NOT_AVAILABLE_MESSAGE: &str = "Rollout does not have minimum availability";
/// `Rollout is healthy`.
pub const HEALTHY_MESSAGE: &str = "Rollout is healthy";
/// `Rollout is not healthy`.
pub const NOT_HEALTHY_MESSAGE: &str = "Rollout is not healthy";

/// `Created new replica set "<name>"`.
pub fn new_rs_created_message(rs: &str) -> String {
    format!("Created new replica set \"{rs}\"")
}

/// `Found new replica set "<name>"`.
pub fn found_new_rs_message(rs: &str) -> String {
    format!("Found new replica set \"{rs}\"")
}

/// `ReplicaSet "<name>" is progressing.`
pub fn rs_progressing_message(rs: &str) -> String {
    format!("ReplicaSet \"{rs}\" is progressing.")
}

/// `ReplicaSet "<name>" has successfully progressed.`
pub fn rs_completed_message(rs: &str) -> String {
    format!("ReplicaSet \"{rs}\" has successfully progressed.")
}

/// `ReplicaSet "<name>" has timed out progressing.`
pub fn rs_timed_out_message(rs: &str) -> String {
    format!("ReplicaSet \"{rs}\" has timed out progressing.")
}

/// `Rollout aborted update to revision <n>`.
pub fn aborted_message(revision: i64) -> String {
    format!("Rollout aborted update to revision {revision}")
}

/// The condition of `type_`, if present.
pub fn get<'a>(status: &'a RolloutStatus, type_: &RolloutConditionType) -> Option<&'a RolloutCondition> {
    status.conditions.iter().find(|c| &c.type_ == type_)
}

/// Removes the condition of `type_`; true if there was one.
pub fn remove(status: &mut RolloutStatus, type_: &RolloutConditionType) -> bool {
    let before = status.conditions.len();
    status.conditions.retain(|c| &c.type_ != type_);
    before != status.conditions.len()
}

/// A condition stamped `now` for both times.
pub fn new_condition(
    type_: RolloutConditionType,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    now: &Time,
) -> RolloutCondition {
    RolloutCondition {
        type_,
        status,
        last_update_time: now.clone(),
        last_transition_time: now.clone(),
        reason: reason.to_owned(),
        message: message.into(),
    }
}

/// Argo's `SetRolloutCondition`: true if the status changed. Same status, reason and message: nothing changes.
/// Same status: `lastTransitionTime` is kept. The condition moves to the end of the list, as in Argo.
pub fn set_condition(status: &mut RolloutStatus, mut condition: RolloutCondition) -> bool {
    if let Some(current) = get(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason && current.message == condition.message {
            return false;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove(status, &condition.type_);
    status.conditions.push(condition);
    true
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap())
    }

    #[test]
    fn identical_condition_is_a_no_op() {
        let mut status = RolloutStatus::default();
        let c = new_condition(RolloutConditionType::Available, ConditionStatus::True, AVAILABLE_REASON, AVAILABLE_MESSAGE, &at(10));
        assert!(set_condition(&mut status, c.clone()));
        let later = new_condition(RolloutConditionType::Available, ConditionStatus::True, AVAILABLE_REASON, AVAILABLE_MESSAGE, &at(20));
        assert!(!set_condition(&mut status, later));
        assert_eq!(status.conditions, vec![c]);
    }

    #[test]
    fn same_status_keeps_transition_time() {
        let mut status = RolloutStatus::default();
        set_condition(
            &mut status,
            new_condition(RolloutConditionType::Progressing, ConditionStatus::True, RS_UPDATED_REASON, "a", &at(10)),
        );
        assert!(set_condition(
            &mut status,
            new_condition(RolloutConditionType::Progressing, ConditionStatus::True, NEW_RS_AVAILABLE_REASON, "b", &at(20))
        ));
        let c = get(&status, &RolloutConditionType::Progressing).unwrap();
        assert_eq!((c.last_transition_time.clone(), c.last_update_time.clone()), (at(10), at(20)));
        assert!(set_condition(
            &mut status,
            new_condition(RolloutConditionType::Progressing, ConditionStatus::False, TIMED_OUT_REASON, "c", &at(30))
        ));
        assert_eq!(get(&status, &RolloutConditionType::Progressing).unwrap().last_transition_time, at(30));
        assert_eq!(status.conditions.len(), 1);
    }
}
