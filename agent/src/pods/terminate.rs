//! Pod teardown that never gives up on the network: [`setup::teardown`] is run again, with
//! back-off, until no CNI attachment of the pod is left (every DEL succeeded), as the kubelet
//! retries a sandbox teardown; until then the pod's state dir stays, so nothing forgets the
//! attachment and its IP lease is freed without a restart once the plugin works again.

use std::time::Duration;

use super::ctx::Ctx;
use super::setup;
use super::state::PodState;

/// First wait before tearing down again after a failed DEL; doubled up to [`RETRY_MAX`].
pub const RETRY_INITIAL: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(30);

/// The next wait after `d`.
pub fn next_delay(d: Duration) -> Duration {
    (d * 2).min(RETRY_MAX)
}

/// Whether pod `uid` still has a CNI attachment (cached, or an ADD that started). An
/// unreadable cache counts as one.
pub fn network_left(ctx: &Ctx, uid: &str) -> bool {
    ctx.cni
        .attachments_prefixed(&format!("{uid}-"))
        .map_or(true, |a| !a.is_empty())
}

/// Tears pod `uid` down completely; retries until its network is gone. Other teardown errors
/// are logged (as before: best effort).
pub async fn teardown_pod(ctx: &Ctx, uid: &str, st: Option<PodState>, grace: Duration) {
    let mut delay = RETRY_INITIAL;
    loop {
        let r = setup::teardown(ctx, uid, st.clone(), grace, setup::Scope::Pod).await;
        if !network_left(ctx, uid) {
            if let Err(e) = r {
                tracing::warn!(pod = %uid, "teardown: {e}");
            }
            return;
        }
        tracing::warn!(pod = %uid, retry_in = ?delay,
            "teardown: the pod's network is not deleted yet ({}); retrying",
            r.err().map(|e| e.to_string()).unwrap_or_default());
        tokio::time::sleep(delay).await;
        delay = next_delay(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_to_the_cap() {
        let mut d = RETRY_INITIAL;
        let mut seen = vec![];
        for _ in 0..7 {
            seen.push(d.as_secs());
            d = next_delay(d);
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 30, 30]);
    }
}
