//! `ps` / `get pods` (table, `-o wide|json|yaml`, `-w` watch), `get` of the workload and
//! configuration kinds (the API server's printers, `nodelet_objects::workload_table`) and
//! `top pods` output.

use std::collections::HashMap;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use nodelet_api::Client;
use nodelet_objects::pod_table::{self, Columns};

use super::{ObjectArgs, PsArgs};

/// The pods (or the one pod) as kubectl's `-o json|yaml`: a List for several, the Pod itself
/// for one named pod.
fn objects(pods: &[Pod], single: bool) -> anyhow::Result<serde_json::Value> {
    if single && let Some(p) = pods.first() {
        return Ok(serde_json::to_value(p)?);
    }
    Ok(serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": pods,
        "metadata": {"resourceVersion": ""},
    }))
}

fn print_object(v: &serde_json::Value, format: &str) -> anyhow::Result<()> {
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        print!("{}", nodelet_objects::pod_yaml::to_yaml(v)?);
    }
    Ok(())
}

pub async fn ps(client: &Client, name: Option<&str>, a: &PsArgs) -> anyhow::Result<()> {
    let ns = a.list.namespace.clone().unwrap_or_else(|| "default".into());
    let ns_filter = (!a.list.all_namespaces || name.is_some()).then_some(ns.as_str());
    let pods = match name {
        Some(n) => vec![client.pod(&ns, n).await?],
        None => client.pods(ns_filter, a.list.selector.as_deref()).await?,
    };
    let format = a.list.output.as_deref().unwrap_or("");
    let cols = Columns {
        namespace: a.list.all_namespaces && name.is_none(),
        wide: format == "wide",
    };
    let now = jiff::Timestamp::now();
    let structured = matches!(format, "json" | "yaml");
    let mut widths = vec![];
    if structured {
        print_object(&objects(&pods, name.is_some())?, format)?;
    } else if pods.is_empty() {
        eprintln!(
            "{}",
            pod_table::no_resources((!a.list.all_namespaces).then_some(ns.as_str()))
        );
    } else {
        let mut rows = vec![pod_table::header(cols)];
        rows.extend(pods.iter().map(|p| pod_table::row(p, cols, now)));
        widths = pod_table::widths(&rows);
        print!("{}", pod_table::render(&rows));
    }
    if !a.watch {
        return Ok(());
    }
    watch(client, name, ns_filter, a, cols, &pods, widths).await
}

/// A row without its AGE cell: what must change for the row to be printed again.
fn row_key(row: &[String], cols: Columns) -> Vec<String> {
    let mut r = row.to_vec();
    let i = pod_table::age_index(cols);
    if i < r.len() {
        r.remove(i);
    }
    r
}

async fn watch(
    client: &Client,
    name: Option<&str>,
    ns_filter: Option<&str>,
    a: &PsArgs,
    cols: Columns,
    listed: &[Pod],
    mut widths: Vec<usize>,
) -> anyhow::Result<()> {
    let format = a.list.output.as_deref().unwrap_or("");
    let structured = matches!(format, "json" | "yaml");
    let mut printed: HashMap<String, serde_json::Value> = HashMap::new();
    let mut rows: HashMap<String, Vec<String>> = HashMap::new();
    let now = jiff::Timestamp::now();
    for p in listed {
        let k = nodelet_api::watch::key(p);
        if structured {
            printed.insert(k, serde_json::to_value(p)?);
        } else {
            rows.insert(k, row_key(&pod_table::row(p, cols, now), cols));
        }
    }
    let mut header_done = !widths.is_empty();
    let mut w = client
        .watch_pods(ns_filter, a.list.selector.as_deref())
        .await?;
    while let Some(ev) = w.next().await? {
        let pod = &ev.object;
        if name.is_some_and(|n| pod.metadata.name.as_deref() != Some(n)) {
            continue;
        }
        let k = nodelet_api::watch::key(pod);
        let deleted = ev.type_ == "DELETED";
        if structured {
            let v = serde_json::to_value(pod)?;
            if !deleted && printed.get(&k) == Some(&v) {
                continue;
            }
            if format == "yaml" {
                println!("---");
            }
            print_object(&v, format)?;
            if deleted {
                printed.remove(&k);
            } else {
                printed.insert(k, v);
            }
            continue;
        }
        let row = pod_table::row(pod, cols, jiff::Timestamp::now());
        let key = row_key(&row, cols);
        if !deleted && rows.get(&k) == Some(&key) {
            continue;
        }
        if !header_done {
            let header = pod_table::header(cols);
            widths = pod_table::widths(&[header.clone(), row.clone()]);
            println!("{}", pod_table::line(&header, &widths));
            header_done = true;
        }
        println!("{}", pod_table::line(&row, &widths));
        if deleted {
            rows.remove(&k);
        } else {
            rows.insert(k, key);
        }
    }
    Ok(())
}

/// `get configmaps|secrets|jobs|cronjobs|deployments|replicasets|daemonsets [NAME]`.
pub async fn get<T>(client: &Client, a: &ObjectArgs) -> anyhow::Result<()>
where
    T: nodelet_objects::workload::Kind + nodelet_objects::table::Printable,
{
    let ns = a.list.namespace.clone().unwrap_or_else(|| "default".into());
    let items: Vec<T> = match &a.name {
        Some(n) => vec![client.object::<T>(&ns, n).await?],
        None => {
            let ns_filter = (!a.list.all_namespaces).then_some(ns.as_str());
            client
                .objects::<T>(ns_filter, a.list.selector.as_deref())
                .await?
        }
    };
    let format = a.list.output.as_deref().unwrap_or("");
    if matches!(format, "json" | "yaml") {
        let v = match items.first() {
            Some(o) if a.name.is_some() => serde_json::to_value(o)?,
            _ => serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items,
                                    "metadata": {"resourceVersion": ""}}),
        };
        return print_object(&v, format);
    }
    if items.is_empty() {
        eprintln!(
            "{}",
            pod_table::no_resources((!a.list.all_namespaces).then_some(ns.as_str()))
        );
        return Ok(());
    }
    let rows = nodelet_objects::table::text_rows(
        &items,
        jiff::Timestamp::now(),
        format == "wide",
        a.list.all_namespaces && a.name.is_none(),
    );
    print!("{}", pod_table::render(&rows));
    Ok(())
}

/// A kind `nodectl describe` shows besides pods.
#[derive(Debug, Clone, Copy)]
pub enum Describe {
    ConfigMap,
    Secret,
    Job,
    CronJob,
    Deployment,
    ReplicaSet,
    DaemonSet,
}

/// The events about one object (kind and UID too, as `kubectl describe` asks).
async fn events_of(
    client: &Client,
    ns: &str,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    kind: &str,
) -> anyhow::Result<Vec<k8s_openapi::api::core::v1::Event>> {
    let name = meta.name.as_deref().unwrap_or_default();
    let mut events = client.events(Some(ns), Some(name)).await?;
    events.retain(|e| {
        let o = &e.involved_object;
        o.kind.as_deref().is_none_or(|k| k == kind) && (o.uid.is_none() || o.uid == meta.uid)
    });
    Ok(events)
}

/// Whether `owner` is `m`'s controller.
fn controlled_by(
    m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    owner: Option<&str>,
) -> bool {
    m.owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && Some(r.uid.as_str()) == owner)
}

/// The pods `selector` selects in `ns` whose controller is `owner`.
async fn owned_pods(
    client: &Client,
    ns: &str,
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    owner: Option<&str>,
) -> anyhow::Result<Vec<Pod>> {
    let sel = nodelet_objects::workload_table::selector_string(Some(selector));
    let mut pods = client.pods(Some(ns), Some(&sel)).await?;
    pods.retain(|p| controlled_by(&p.metadata, owner));
    Ok(pods)
}

/// `describe <kind> NAME`: kubectl's layout (`nodelet_objects::workload_describe`).
pub async fn describe(
    client: &Client,
    kind: Describe,
    ns: &str,
    name: &str,
) -> anyhow::Result<String> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
    use k8s_openapi::api::batch::v1::{CronJob, Job};
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use nodelet_objects::workload_describe as d;
    let now = jiff::Timestamp::now();
    Ok(match kind {
        Describe::ConfigMap => {
            let o: ConfigMap = client.object(ns, name).await?;
            d::configmap(
                &o,
                &events_of(client, ns, &o.metadata, "ConfigMap").await?,
                now,
            )
        }
        Describe::Secret => d::secret(&client.object::<Secret>(ns, name).await?),
        Describe::Job => {
            let o: Job = client.object(ns, name).await?;
            d::job(&o, &events_of(client, ns, &o.metadata, "Job").await?, now)
        }
        Describe::CronJob => {
            let o: CronJob = client.object(ns, name).await?;
            d::cronjob(
                &o,
                &events_of(client, ns, &o.metadata, "CronJob").await?,
                now,
            )
        }
        Describe::Deployment => {
            let o: Deployment = client.object(ns, name).await?;
            let sel = nodelet_objects::workload_table::selector_string(Some(&o.spec.selector));
            let mut rss: Vec<ReplicaSet> = client.objects(Some(ns), Some(&sel)).await?;
            rss.retain(|rs| controlled_by(&rs.metadata, o.metadata.uid.as_deref()));
            let events = events_of(client, ns, &o.metadata, "Deployment").await?;
            d::deployment(&o, &rss, &events, now)
        }
        Describe::ReplicaSet => {
            let o: ReplicaSet = client.object(ns, name).await?;
            let pods = owned_pods(client, ns, &o.spec.selector, o.metadata.uid.as_deref()).await?;
            let events = events_of(client, ns, &o.metadata, "ReplicaSet").await?;
            d::replicaset(&o, &pods, &events, now)
        }
        Describe::DaemonSet => {
            let o: DaemonSet = client.object(ns, name).await?;
            let pods = owned_pods(client, ns, &o.spec.selector, o.metadata.uid.as_deref()).await?;
            let events = events_of(client, ns, &o.metadata, "DaemonSet").await?;
            d::daemonset(&o, &pods, &events, now)
        }
    })
}

pub struct TopArgs {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub all_namespaces: bool,
    pub selector: Option<String>,
    pub containers: bool,
}

pub async fn top(client: &Client, a: &TopArgs) -> anyhow::Result<()> {
    let ns = a.namespace.clone().unwrap_or_else(|| "default".into());
    let items = match &a.name {
        Some(n) => {
            // A missing pod is the pods' NotFound, as kubectl reports it.
            let pod = client.pod(&ns, n).await?;
            match client.one_pod_metrics(&ns, n).await {
                Ok(m) => vec![m],
                Err(nodelet_api::ClientError::Api(s)) if s.code == Some(404) => {
                    let age = pod_table::age(&pod, jiff::Timestamp::now());
                    anyhow::bail!("Metrics not available for pod {ns}/{n}, age: {age}");
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => {
            client
                .pod_metrics(
                    (!a.all_namespaces).then_some(ns.as_str()),
                    a.selector.as_deref(),
                )
                .await?
        }
    };
    if items.is_empty() {
        eprintln!(
            "{}",
            pod_table::no_resources((!a.all_namespaces).then_some(ns.as_str()))
        );
        return Ok(());
    }
    let text = crate::top::table(&items, a.all_namespaces && a.name.is_none(), a.containers)
        .map_err(anyhow::Error::msg)
        .context("nodelet's pod metrics")?;
    print!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_changes_only_when_more_than_its_age_changes() {
        let cols = Columns {
            namespace: true,
            wide: false,
        };
        let r = |age: &str, status: &str| -> Vec<String> {
            ["default", "web", "1/1", status, "0", age]
                .map(str::to_string)
                .to_vec()
        };
        assert_eq!(
            row_key(&r("5s", "Running"), cols),
            row_key(&r("3m", "Running"), cols)
        );
        assert_ne!(
            row_key(&r("5s", "Running"), cols),
            row_key(&r("5s", "Error"), cols)
        );
    }

    #[test]
    fn one_named_pod_is_printed_as_itself_several_as_a_list() {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}
        }))
        .unwrap();
        assert_eq!(
            objects(std::slice::from_ref(&p), true).unwrap()["kind"],
            "Pod"
        );
        let list = objects(&[p.clone(), p], false).unwrap();
        assert_eq!(list["kind"], "List");
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        assert_eq!(list["metadata"]["resourceVersion"], "");
    }
}
