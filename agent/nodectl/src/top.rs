//! kubectl's `top pod` table over metrics.k8s.io PodMetrics.

use nodelet_objects::pod_metrics::{PodMetrics, usage_columns};

/// kubectl's `top pod` table: NAME CPU(cores) MEMORY(bytes), NAMESPACE first with `-A`; with
/// `containers`, one row per container (POD NAME ...).
pub fn table(
    items: &[PodMetrics],
    all_namespaces: bool,
    containers: bool,
) -> Result<String, String> {
    let mut rows: Vec<Vec<String>> = vec![];
    let mut h = vec![];
    if all_namespaces {
        h.push("NAMESPACE");
    }
    if containers {
        h.push("POD");
    }
    h.extend(["NAME", "CPU(cores)", "MEMORY(bytes)"]);
    rows.push(h.into_iter().map(str::to_string).collect());
    for p in items {
        let ns = p
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = p.metadata.name.clone().unwrap_or_default();
        let mut per = vec![];
        for c in &p.containers {
            per.push((c.name.clone(), usage_columns(&c.usage)?));
        }
        let mut push = |cname: Option<&str>, cpu: i64, mem: i64| {
            let mut r = vec![];
            if all_namespaces {
                r.push(ns.clone());
            }
            r.push(name.clone());
            if let Some(c) = cname {
                r.push(c.to_string());
            }
            r.push(format!("{cpu}m"));
            r.push(format!("{mem}Mi"));
            rows.push(r);
        };
        if containers {
            for (c, (cpu, mem)) in &per {
                push(Some(c), *cpu, *mem);
            }
        } else {
            let cpu = per.iter().map(|(_, (c, _))| c).sum();
            let mem = per.iter().map(|(_, (_, m))| m).sum();
            push(None, cpu, mem);
        }
    }
    Ok(nodelet_objects::pod_table::render(&rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use nodelet_objects::pod_metrics::{API_VERSION, ContainerMetrics, usage};

    fn metrics(ns: &str, name: &str, cs: &[(&str, u64, u64)]) -> PodMetrics {
        PodMetrics {
            api_version: API_VERSION.into(),
            kind: "PodMetrics".into(),
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            timestamp: "2026-11-22T10:00:00Z".into(),
            window: "250ms".into(),
            containers: cs
                .iter()
                .map(|(n, cpu, mem)| ContainerMetrics {
                    name: n.to_string(),
                    usage: usage(*cpu, *mem),
                })
                .collect(),
        }
    }

    #[test]
    fn tables() {
        let items = vec![
            metrics(
                "default",
                "web-node1",
                &[("a", 12_000_000, 10 << 20), ("b", 1, 2 << 20)],
            ),
            metrics("kube-system", "dns-node1", &[("dns", 0, 7 << 20)]),
        ];
        assert_eq!(
            table(&items, false, false).unwrap(),
            "NAME        CPU(cores)   MEMORY(bytes)\n\
             web-node1   13m          12Mi\n\
             dns-node1   0m           7Mi\n"
        );
        assert_eq!(
            table(&items[..1], true, true).unwrap(),
            "NAMESPACE   POD         NAME   CPU(cores)   MEMORY(bytes)\n\
             default     web-node1   a      12m          10Mi\n\
             default     web-node1   b      1m           2Mi\n"
        );
    }
}
