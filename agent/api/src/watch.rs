//! Pod watches (`?watch=true`) like the Kubernetes API's: a stream of JSON lines
//! `{"type":"ADDED|MODIFIED|DELETED","object":{...}}`. The server snapshots the pods every
//! [`POLL`] and sends the difference with the previous snapshot (ADDED for every pod at the
//! start); the client reads the stream line by line.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

/// How often the server compares snapshots.
pub const POLL: Duration = Duration::from_millis(250);

/// One watch event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    #[serde(rename = "type")]
    pub type_: String,
    pub object: Pod,
}

/// A pod's identity in a watch: its UID, else namespace/name.
pub fn key(p: &Pod) -> String {
    match p.metadata.uid.as_deref() {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => format!(
            "{}/{}",
            p.metadata.namespace.as_deref().unwrap_or("default"),
            p.metadata.name.as_deref().unwrap_or_default()
        ),
    }
}

/// The pods being watched, by key.
#[derive(Debug, Default)]
pub struct Tracker {
    seen: BTreeMap<String, Pod>,
}

impl Tracker {
    /// Events that turn the last snapshot into `pods`; remembers `pods`.
    pub fn update(&mut self, pods: Vec<Pod>) -> Vec<WatchEvent> {
        let mut next = BTreeMap::new();
        let mut out = vec![];
        for p in pods {
            let k = key(&p);
            match self.seen.remove(&k) {
                None => out.push(WatchEvent {
                    type_: "ADDED".into(),
                    object: p.clone(),
                }),
                Some(old) if old != p => out.push(WatchEvent {
                    type_: "MODIFIED".into(),
                    object: p.clone(),
                }),
                Some(_) => {}
            }
            next.insert(k, p);
        }
        for (_, old) in std::mem::take(&mut self.seen) {
            out.push(WatchEvent {
                type_: "DELETED".into(),
                object: old,
            });
        }
        self.seen = next;
        out
    }
}

/// Splits complete lines off `buf` (a watch stream's bytes so far) and decodes them.
pub fn take_events(buf: &mut Vec<u8>) -> Result<Vec<WatchEvent>, serde_json::Error> {
    let mut out = vec![];
    while let Some(i) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=i).collect();
        let line = &line[..line.len() - 1];
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.push(serde_json::from_slice(line)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, phase: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("p-{uid}"), "uid": uid},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    fn types(ev: &[WatchEvent]) -> Vec<(String, String)> {
        ev.iter()
            .map(|e| (e.type_.clone(), key(&e.object)))
            .collect()
    }

    #[test]
    fn added_modified_deleted() {
        let mut t = Tracker::default();
        let ev = t.update(vec![pod("a", "Pending"), pod("b", "Running")]);
        assert_eq!(
            types(&ev),
            [("ADDED".into(), "a".into()), ("ADDED".into(), "b".into())]
        );
        assert!(
            t.update(vec![pod("a", "Pending"), pod("b", "Running")])
                .is_empty()
        );
        let ev = t.update(vec![pod("a", "Running"), pod("c", "Pending")]);
        assert_eq!(
            types(&ev),
            [
                ("MODIFIED".into(), "a".into()),
                ("ADDED".into(), "c".into()),
                ("DELETED".into(), "b".into())
            ]
        );
    }

    #[test]
    fn lines_split_across_chunks() {
        let e = WatchEvent {
            type_: "ADDED".into(),
            object: pod("a", "Running"),
        };
        let mut bytes = serde_json::to_vec(&e).unwrap();
        bytes.push(b'\n');
        let (x, y) = bytes.split_at(10);
        let mut buf = x.to_vec();
        assert!(take_events(&mut buf).unwrap().is_empty());
        buf.extend_from_slice(y);
        buf.extend_from_slice(b"\n");
        assert_eq!(take_events(&mut buf).unwrap(), vec![e]);
        assert!(buf.is_empty());
        let mut bad = b"{nope}\n".to_vec();
        assert!(take_events(&mut bad).is_err());
    }
}
