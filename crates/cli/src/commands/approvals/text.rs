//! Times and answers, as a person reads them.

use coffer_domain::Timestamp;
use coffer_signer_api::ControlAnswer;

/// `2026-12-02T16:00:00Z (in 23 minutes)`.
pub(super) fn when(secs: i64, now: i64) -> String {
    let utc = Timestamp::from_unix_secs(u64::try_from(secs).unwrap_or_default()).to_rfc3339();
    format!("{utc} ({})", relative(secs - now))
}

/// `in 23 minutes`, `4 hours ago`, `now`.
pub(super) fn relative(delta: i64) -> String {
    let magnitude = delta.unsigned_abs();
    let span = match magnitude {
        0 => return "now".into(),
        1..90 => format!("{magnitude} seconds"),
        90..5400 => format!("{} minutes", (magnitude + 30) / 60),
        5400..172_800 => format!("{} hours", (magnitude + 1800) / 3600),
        _ => format!("{} days", (magnitude + 43_200) / 86_400),
    };
    if delta > 0 { format!("in {span}") } else { format!("{span} ago") }
}

/// What the signer did with a control request, in a sentence.
pub(super) fn answer(answer: &ControlAnswer, now: i64) -> String {
    match answer {
        ControlAnswer::Applied { policy_version } => {
            format!("applied: the signer's policy is now version {policy_version}")
        }
        ControlAnswer::Scheduled { applies_at } => format!(
            "scheduled: it has its quorum and applies at {} unless an approver vetoes it \
             (coffer policy approve FILE --veto)",
            when(*applies_at, now)
        ),
        ControlAnswer::Waiting { approvals, quorum } => {
            format!("recorded: {approvals} of {quorum} approvals; it applies once {quorum} approvers have signed")
        }
        ControlAnswer::Vetoed => "vetoed: the scheduled change will not apply".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_utc_and_relative_to_now() {
        assert_eq!(when(1_796_227_200, 1_796_227_200 - 23 * 60), "2026-12-02T16:00:00Z (in 23 minutes)");
        assert_eq!(relative(-4 * 3600), "4 hours ago");
        assert_eq!(relative(45), "in 45 seconds");
        assert_eq!(relative(3 * 86_400), "in 3 days");
        assert_eq!(relative(0), "now");
    }
}
