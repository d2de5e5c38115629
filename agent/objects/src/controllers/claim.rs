//! Which objects a controller owns (`controller_ref_manager.go`'s `ClaimPods` and
//! `ClaimReplicaSets`): its own that still match its selector are kept, its own that no
//! longer match are released, orphans that match are adopted; what another controller owns
//! is never touched.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::selector::Selector;

/// What a controller does with one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours and matching: counted.
    Keep,
    /// An orphan that matches: add our controller reference, then count it.
    Adopt,
    /// Ours but no longer matching: remove our reference, stop counting it.
    Release,
    /// Someone else's, or not ours to take.
    Ignore,
}

/// The decision for `meta` by the controller `owner` (matched by UID). A controller being
/// deleted neither adopts nor releases; an object being deleted is not adopted.
pub fn claim(
    meta: &ObjectMeta,
    selector: &Selector,
    owner: &OwnerReference,
    owner_deleting: bool,
) -> Claim {
    let matches = selector.matches(meta.labels.as_ref());
    match super::controller_uid(meta) {
        Some(uid) if uid == owner.uid => {
            if matches {
                Claim::Keep
            } else if owner_deleting {
                Claim::Ignore
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        None if owner_deleting || !matches || meta.deletion_timestamp.is_some() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// The object's owner references with `owner` added (adoption).
pub fn adopted_refs(meta: &ObjectMeta, owner: &OwnerReference) -> Vec<OwnerReference> {
    let mut refs: Vec<OwnerReference> = meta
        .owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != owner.uid)
        .cloned()
        .collect();
    refs.push(owner.clone());
    refs
}

/// The object's owner references without `owner` (release).
pub fn released_refs(meta: &ObjectMeta, owner: &OwnerReference) -> Vec<OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != owner.uid)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::controller_ref;

    #[test]
    fn claims_like_the_ref_manager() {
        let me = controller_ref("apps/v1", "ReplicaSet", "web", "uid-1");
        let other = controller_ref("apps/v1", "ReplicaSet", "db", "uid-2");
        let sel = Selector::parse("app=web").unwrap();
        let meta = |app: &str, owner: Option<&OwnerReference>, deleting: bool| ObjectMeta {
            labels: Some([("app".to_string(), app.to_string())].into()),
            owner_references: owner.map(|o| vec![o.clone()]),
            deletion_timestamp: deleting.then_some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
            ),
            ..ObjectMeta::default()
        };
        for (m, owner_deleting, want) in [
            (meta("web", Some(&me), false), false, Claim::Keep),
            (meta("db", Some(&me), false), false, Claim::Release),
            (meta("db", Some(&me), false), true, Claim::Ignore),
            (meta("web", None, false), false, Claim::Adopt),
            (meta("web", None, true), false, Claim::Ignore),
            (meta("web", None, false), true, Claim::Ignore),
            (meta("db", None, false), false, Claim::Ignore),
            (meta("web", Some(&other), false), false, Claim::Ignore),
        ] {
            assert_eq!(claim(&m, &sel, &me, owner_deleting), want, "{m:?}");
        }
        let m = meta("web", Some(&other), false);
        assert_eq!(adopted_refs(&m, &me), vec![other.clone(), me.clone()]);
        assert_eq!(released_refs(&meta("x", Some(&me), false), &me), vec![]);
    }
}
