//! The `nodectl ps` / `get pods` table as kubectl prints it: NAME READY STATUS RESTARTS AGE
//! (NAMESPACE first with `-A`; IP and NODE with `-o wide`), columns left-aligned and separated
//! by three spaces. "now" is a parameter so the output of fixed pods is reproducible.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

/// Which columns to print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Columns {
    /// NAMESPACE first (`-A`).
    pub namespace: bool,
    /// IP and NODE last (`-o wide`).
    pub wide: bool,
}

/// The header row.
pub fn header(c: Columns) -> Vec<String> {
    let mut h = vec![];
    if c.namespace {
        h.push("NAMESPACE");
    }
    h.extend(["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    if c.wide {
        h.extend(["IP", "NODE"]);
    }
    h.into_iter().map(str::to_string).collect()
}

/// Index of the AGE column in a row of `c`.
pub fn age_index(c: Columns) -> usize {
    if c.namespace { 5 } else { 4 }
}

/// The pod's age: since `status.startTime`, else `metadata.creationTimestamp`.
pub fn age(pod: &Pod, now: Timestamp) -> String {
    let start = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(|t| t.0);
    match start {
        Some(t) if t <= now => crate::events::human_duration(now.duration_since(t).unsigned_abs()),
        Some(_) => "0s".into(),
        None => "<unknown>".into(),
    }
}

/// The RESTARTS count as kubectl's printer counts it (sidecars' restarts included).
pub fn restarts(pod: &Pod) -> i32 {
    crate::status::printer_counts(pod).restarts
}

/// One pod's row.
pub fn row(pod: &Pod, c: Columns, now: Timestamp) -> Vec<String> {
    let mut r = vec![];
    if c.namespace {
        r.push(
            pod.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
        );
    }
    r.push(pod.metadata.name.clone().unwrap_or_default());
    r.push(crate::status::ready_column(pod));
    r.push(crate::status::status_column(pod));
    r.push(restarts(pod).to_string());
    r.push(age(pod, now));
    if c.wide {
        r.push(
            pod.status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .unwrap_or_else(|| "<none>".into()),
        );
        r.push(
            pod.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_else(|| "<none>".into()),
        );
    }
    r
}

/// Column widths of `rows` (the widest cell of each column).
pub fn widths(rows: &[Vec<String>]) -> Vec<usize> {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// One line: cells padded to `widths`, three spaces apart, no trailing blanks.
pub fn line(row: &[String], widths: &[usize]) -> String {
    let cells: Vec<String> = row
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{v:<w$}", w = widths.get(i).copied().unwrap_or(0)))
        .collect();
    cells.join("   ").trim_end().to_string()
}

/// Rows (the first is the header) as aligned lines, each ending in a newline.
pub fn render(rows: &[Vec<String>]) -> String {
    let w = widths(rows);
    rows.iter().map(|r| line(r, &w) + "\n").collect()
}

/// The whole table of `pods` (header included).
pub fn table(pods: &[Pod], c: Columns, now: Timestamp) -> String {
    let mut rows = vec![header(c)];
    rows.extend(pods.iter().map(|p| row(p, c, now)));
    render(&rows)
}

/// kubectl's message when nothing matched (printed to stderr).
pub fn no_resources(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("No resources found in {ns} namespace."),
        None => "No resources found".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_and_no_trailing_blanks() {
        let rows = vec![
            vec!["NAME".to_string(), "AGE".to_string()],
            vec!["a-long-name".to_string(), "5s".to_string()],
        ];
        assert_eq!(render(&rows), "NAME          AGE\na-long-name   5s\n");
    }

    #[test]
    fn age_prefers_start_time_and_handles_missing() {
        let now: Timestamp = "2026-11-22T10:05:00Z".parse().unwrap();
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x", "creationTimestamp": "2026-11-22T09:00:00Z"},
            "status": {"startTime": "2026-11-22T10:00:00Z"}
        }))
        .unwrap();
        assert_eq!(age(&p, now), "5m");
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x", "creationTimestamp": "2026-11-22T09:00:00Z"}
        }))
        .unwrap();
        assert_eq!(age(&p, now), "65m");
        assert_eq!(age(&Pod::default(), now), "<unknown>");
    }

    #[test]
    fn age_column_position() {
        let c = Columns {
            namespace: true,
            wide: true,
        };
        assert_eq!(header(c)[age_index(c)], "AGE");
        let c = Columns::default();
        assert_eq!(header(c)[age_index(c)], "AGE");
    }
}
