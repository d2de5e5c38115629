//! kubectl's deploy commands against the node: `scale` (the scale subresource) and `rollout
//! status|history|undo|restart|pause|resume` of Deployments and DaemonSets. What to send and
//! what to say is decided in `nodelet_objects::workload_rollout` (kubectl's rules and words);
//! this module fetches, sends and prints.

use std::time::{Duration, Instant};

use anyhow::bail;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet};
use nodelet_api::Client;
use nodelet_api::patch::PatchType;
use nodelet_objects::workload_rollout::{self as rollout, Rollback, RolloutKind};
use nodelet_objects::workload_table::selector_string;

/// A kind the deploy commands name on their command line (`deployment/web`, `rs web`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Deployment,
    ReplicaSet,
    DaemonSet,
}

impl Target {
    fn kind_group(self) -> &'static str {
        match self {
            Target::Deployment => "deployment.apps",
            Target::ReplicaSet => "replicaset.apps",
            Target::DaemonSet => "daemonset.apps",
        }
    }

    fn rollout(self) -> anyhow::Result<RolloutKind> {
        match self {
            Target::Deployment => Ok(RolloutKind::Deployment),
            Target::DaemonSet => Ok(RolloutKind::DaemonSet),
            Target::ReplicaSet => bail!("no rollout support for kind \"ReplicaSet\""),
        }
    }
}

/// `TYPE/NAME` or `TYPE NAME` as kubectl reads them (plural, singular and short names, with
/// or without the group).
pub fn parse_target(args: &[String]) -> anyhow::Result<(Target, String)> {
    let (ty, name) = match args {
        [one] => match one.split_once('/') {
            Some((t, n)) if !n.is_empty() => (t, n),
            _ => bail!(
                "you must specify the name of the resource as TYPE/NAME or TYPE NAME ({one:?})"
            ),
        },
        [t, n] => (t.as_str(), n.as_str()),
        [] => bail!("required resource not specified"),
        _ => bail!("there is no need to specify more than one resource"),
    };
    let base = ty.strip_suffix(".apps").unwrap_or(ty).to_ascii_lowercase();
    let target = match base.as_str() {
        "deployment" | "deployments" | "deploy" => Target::Deployment,
        "replicaset" | "replicasets" | "rs" => Target::ReplicaSet,
        "daemonset" | "daemonsets" | "ds" => Target::DaemonSet,
        _ => bail!("the server doesn't have a resource type {ty:?}"),
    };
    Ok((target, name.to_string()))
}

/// `scale TYPE/NAME --replicas=N`: `deployment.apps/NAME scaled`.
pub async fn scale(
    client: &Client,
    ns: &str,
    target: Target,
    name: &str,
    replicas: i32,
) -> anyhow::Result<()> {
    let scaled = match target {
        Target::Deployment => client.scale::<Deployment>(ns, name, replicas).await,
        Target::ReplicaSet => client.scale::<ReplicaSet>(ns, name, replicas).await,
        Target::DaemonSet => bail!("no scaler has been implemented for {{apps DaemonSet}}"),
    };
    match scaled {
        Ok(_) => {}
        // kubectl finds the objects first and words a missing one so.
        Err(nodelet_api::ClientError::Api(s)) if s.code == Some(404) => bail!(
            "no objects passed to scale {}",
            s.message.as_deref().unwrap_or_default()
        ),
        Err(e) => return Err(e.into()),
    }
    println!("{}/{name} scaled", target.kind_group());
    Ok(())
}

/// The rollout verbs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Wait (unless `watch` is false) until the rollout is done, at most `timeout` (0: no
    /// limit).
    Status {
        watch: bool,
        timeout: Duration,
    },
    /// The table, or (`revision` > 0) that revision's pod template.
    History {
        revision: i64,
    },
    Undo {
        to_revision: i64,
    },
    Restart,
    Pause,
    Resume,
}

/// ReplicaSets of `d`'s namespace matching its selector (the history reads those it owns).
async fn replicasets_of(
    client: &Client,
    ns: &str,
    d: &Deployment,
) -> anyhow::Result<Vec<ReplicaSet>> {
    let sel = selector_string(Some(&d.spec.selector));
    Ok(client.objects(Some(ns), Some(&sel)).await?)
}

/// ControllerRevisions of `ds`'s namespace matching its selector.
async fn revisions_of(
    client: &Client,
    ns: &str,
    ds: &DaemonSet,
) -> anyhow::Result<Vec<ControllerRevision>> {
    let sel = selector_string(Some(&ds.spec.selector));
    Ok(client.controller_revisions(ns, Some(&sel)).await?)
}

/// `rollout VERB TYPE/NAME`.
pub async fn rollout(
    client: &Client,
    ns: &str,
    target: Target,
    name: &str,
    verb: &Verb,
) -> anyhow::Result<()> {
    let kind = target.rollout()?;
    let line = |op: &str| format!("{}/{name} {op}", kind.kind_group());
    match verb {
        Verb::Status { watch, timeout } => status(client, ns, kind, name, *watch, *timeout).await,
        Verb::History { revision } if *revision > 0 => {
            let template = match kind {
                RolloutKind::Deployment => {
                    let d: Deployment = client.object(ns, name).await?;
                    let rss = replicasets_of(client, ns, &d).await?;
                    rollout::deployment_revision_template(&d, &rss, *revision)
                }
                RolloutKind::DaemonSet => {
                    let ds: DaemonSet = client.object(ns, name).await?;
                    let revs = revisions_of(client, ns, &ds).await?;
                    rollout::daemonset_revision_template(&ds, &revs, *revision)
                }
            }
            .map_err(anyhow::Error::msg)?;
            println!("{}", line(&format!("with revision #{revision}")));
            println!(
                "{}",
                nodelet_objects::workload_describe::pod_template_text(&template)
            );
            Ok(())
        }
        Verb::History { .. } => {
            let history = match kind {
                RolloutKind::Deployment => {
                    let d: Deployment = client.object(ns, name).await?;
                    rollout::deployment_history(&d, &replicasets_of(client, ns, &d).await?)
                }
                RolloutKind::DaemonSet => {
                    let ds: DaemonSet = client.object(ns, name).await?;
                    rollout::daemonset_history(&ds, &revisions_of(client, ns, &ds).await?)
                }
            };
            // kubectl's name printer with an empty operation: a space before the newline.
            println!("{}/{name} ", kind.kind_group());
            println!("{}", rollout::history_table(&history));
            Ok(())
        }
        Verb::Undo { to_revision } => {
            let decided = match kind {
                RolloutKind::Deployment => {
                    let d: Deployment = client.object(ns, name).await?;
                    let rss = replicasets_of(client, ns, &d).await?;
                    rollout::deployment_rollback(&d, &rss, *to_revision)
                        .map(|r| (r, PatchType::Json))
                }
                RolloutKind::DaemonSet => {
                    let ds: DaemonSet = client.object(ns, name).await?;
                    let revs = revisions_of(client, ns, &ds).await?;
                    rollout::daemonset_rollback(&ds, &revs, *to_revision)
                        .map(|r| (r, PatchType::Strategic))
                }
            };
            match decided.map_err(anyhow::Error::msg)? {
                (Rollback::Skipped(why), _) => println!("{}", line(&why)),
                (Rollback::Patch(p), ty) => {
                    patch(client, ns, kind, name, ty, &p).await.map_err(|e| {
                        anyhow::anyhow!("failed restoring revision {to_revision}: {e}")
                    })?;
                    println!("{}", line("rolled back"));
                }
            }
            Ok(())
        }
        Verb::Restart => {
            let paused = match kind {
                RolloutKind::Deployment => {
                    let d: Deployment = client.object(ns, name).await?;
                    d.spec.paused == Some(true)
                }
                RolloutKind::DaemonSet => {
                    client.object::<DaemonSet>(ns, name).await?;
                    false
                }
            };
            let now = jiff::Zoned::now();
            let p = rollout::restart_patch(paused, kind, &now)
                .map_err(|e| anyhow::anyhow!("{} {name:?} {e}", kind.resource()))?;
            patch(client, ns, kind, name, PatchType::Strategic, &p).await?;
            println!("{}", line("restarted"));
            Ok(())
        }
        Verb::Pause | Verb::Resume => {
            let pause = *verb == Verb::Pause;
            let paused = match kind {
                RolloutKind::Deployment => {
                    client.object::<Deployment>(ns, name).await?.spec.paused == Some(true)
                }
                RolloutKind::DaemonSet => {
                    client.object::<DaemonSet>(ns, name).await?;
                    false
                }
            };
            let p = rollout::pause_patch(kind, paused, pause)
                .map_err(|e| anyhow::anyhow!("{} {name:?} {e}", kind.resource()))?;
            patch(client, ns, kind, name, PatchType::Strategic, &p).await?;
            println!("{}", line(if pause { "paused" } else { "resumed" }));
            Ok(())
        }
    }
}

async fn patch(
    client: &Client,
    ns: &str,
    kind: RolloutKind,
    name: &str,
    ty: PatchType,
    p: &serde_json::Value,
) -> Result<(), nodelet_api::ClientError> {
    match kind {
        RolloutKind::Deployment => {
            client.patch_object::<Deployment>(ns, name, ty, p).await?;
        }
        RolloutKind::DaemonSet => {
            client.patch_object::<DaemonSet>(ns, name, ty, p).await?;
        }
    }
    Ok(())
}

/// `rollout status`: kubectl's message at each change until done (or once without
/// `--watch`); `timed out waiting for the condition` after `timeout`.
async fn status(
    client: &Client,
    ns: &str,
    kind: RolloutKind,
    name: &str,
    watch: bool,
    timeout: Duration,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let st = match kind {
            RolloutKind::Deployment => {
                rollout::deployment_status(&client.object::<Deployment>(ns, name).await?)
            }
            RolloutKind::DaemonSet => {
                rollout::daemonset_status(&client.object::<DaemonSet>(ns, name).await?)
            }
        }
        .map_err(anyhow::Error::msg)?;
        if st.message != last {
            print!("{}", st.message);
            std::io::stdout().flush()?;
            last = st.message;
        }
        if st.done || !watch {
            return Ok(());
        }
        if !timeout.is_zero() && started.elapsed() >= timeout {
            bail!("timed out waiting for the condition");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn targets_as_kubectl_reads_them() {
        for (a, want) in [
            (&["deployment/web"][..], Target::Deployment),
            (&["deploy", "web"], Target::Deployment),
            (&["deployments.apps/web"], Target::Deployment),
            (&["rs/web"], Target::ReplicaSet),
            (&["replicaset", "web"], Target::ReplicaSet),
            (&["ds/web"], Target::DaemonSet),
            (&["daemonset.apps", "web"], Target::DaemonSet),
        ] {
            assert_eq!(parse_target(&args(a)).unwrap(), (want, "web".to_string()));
        }
        assert_eq!(
            parse_target(&args(&["statefulset/x"]))
                .unwrap_err()
                .to_string(),
            "the server doesn't have a resource type \"statefulset\""
        );
        assert!(parse_target(&args(&["deployment"])).is_err());
        assert!(parse_target(&args(&[])).is_err());
    }
}
