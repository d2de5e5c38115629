//! A container's termination message, read once when its exit is seen (the kubelet's
//! `getTerminationMessage`): the last 4096 bytes of the host file bind-mounted at its
//! `terminationMessagePath`; with `terminationMessagePolicy: FallbackToLogsOnError`, a failed
//! container (exit code ≠ 0) whose file is empty or missing gets the last 80 lines of its log,
//! at most the last 2048 bytes. The choice is [`decide`] (pure); [`read`] does the I/O.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Container;

use crate::logs::{self, ReadOptions};
use crate::podspec::ContainerRef;

use super::ctx::Ctx;
use super::state::PodState;

/// Longest message kept from the file (kubelet `MaxContainerTerminationMessageLength`).
pub const MAX_MESSAGE_BYTES: u64 = 4096;
/// Log lines a fallback message takes (kubelet `MaxContainerTerminationMessageLogLines`).
pub const MAX_LOG_LINES: usize = 80;
/// Longest fallback message (kubelet `MaxContainerTerminationMessageLogLength`).
pub const MAX_LOG_BYTES: usize = 2048;

/// Where the message comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The termination log's text (possibly empty: no message).
    File(String),
    /// The tail of the container's log.
    Logs,
}

/// The kubelet's rule: the file's content; the log instead when the policy falls back to logs,
/// the container failed and the file said nothing (or could not be found).
pub fn decide(file: Option<String>, fallback_to_logs: bool, exit_code: i32) -> Source {
    let fallback = fallback_to_logs && exit_code != 0;
    match file {
        Some(text) if !(fallback && text.is_empty()) => Source::File(text),
        None if !fallback => Source::File(String::new()),
        _ => Source::Logs,
    }
}

/// What reading a message needs: the host file, the policy and where the logs are.
#[derive(Debug, Clone)]
pub struct Input {
    pub host_file: PathBuf,
    pub fallback_to_logs: bool,
    pub exit_code: i32,
    pub log_dir: PathBuf,
    pub restart_count: u32,
}

impl Input {
    /// The input for container `c`'s instance whose bundle is `bundle`.
    pub fn new(
        c: &Container,
        bundle: &Path,
        exit_code: i32,
        log_dir: PathBuf,
        restart_count: u32,
    ) -> Input {
        Input {
            host_file: bundle.join("termination-log"),
            fallback_to_logs: c.termination_message_policy.as_deref()
                == Some("FallbackToLogsOnError"),
            exit_code,
            log_dir,
            restart_count,
        }
    }
}

/// The message (`None` when there is none). Blocking: call it off the async threads.
pub fn read(input: &Input) -> Option<String> {
    let file = match tail_of_file(&input.host_file, MAX_MESSAGE_BYTES) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Some(format!(
                "Error on reading termination log {}: {e}",
                input.host_file.display()
            ));
        }
    };
    let text = match decide(file, input.fallback_to_logs, input.exit_code) {
        Source::File(t) => t,
        Source::Logs => tail_of_logs(&input.log_dir, input.restart_count),
    };
    (!text.is_empty()).then_some(text)
}

/// Fills the termination message of the instances of `ended` (just seen ended) in `st`; a
/// message already there (e.g. why the status is unknown) comes first, as the kubelet writes.
pub async fn fill(ctx: &Ctx, st: &mut PodState, ended: &[ContainerRef]) {
    let uid = st.pod.uid().to_string();
    let mut inputs = vec![];
    for &which in ended {
        let slot = match which {
            ContainerRef::Init(i) => st.init.get(i),
            ContainerRef::App(i) => st.containers.get(i),
        };
        let (Some(slot), Ok(c)) = (slot, which.get(&st.pod.pod)) else {
            continue;
        };
        let (Some(id), Some(e)) = (&slot.id, &slot.ended) else {
            continue;
        };
        let bundle = super::containers::bundle_dir(&ctx.cfg.root_dir, &uid, id);
        let log_dir = logs::container_dir(
            &ctx.cfg.pod_logs_dir,
            st.pod.namespace(),
            st.pod.name(),
            &uid,
            &c.name,
        );
        let restart_count = u32::try_from(slot.restart_count).unwrap_or(0);
        inputs.push((
            which,
            Input::new(c, &bundle, e.exit_code, log_dir, restart_count),
        ));
    }
    if inputs.is_empty() {
        return;
    }
    let Ok(messages) = tokio::task::spawn_blocking(move || {
        inputs
            .into_iter()
            .map(|(which, input)| (which, read(&input)))
            .collect::<Vec<_>>()
    })
    .await
    else {
        return;
    };
    for (which, m) in messages {
        let slot = match which {
            ContainerRef::Init(i) => st.init.get_mut(i),
            ContainerRef::App(i) => st.containers.get_mut(i),
        };
        if let (Some(m), Some(e)) = (m, slot.and_then(|s| s.ended.as_mut())) {
            e.message = Some(match e.message.take().filter(|p| !p.is_empty()) {
                Some(prefix) => format!("{prefix}: {m}"),
                None => m,
            });
        }
    }
}

/// The last `max` bytes of `path` (kubelet `tail.ReadAtMost`), as text.
fn tail_of_file(path: &Path, max: u64) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        f.seek(SeekFrom::Start(len - max))?;
    }
    let mut buf = Vec::with_capacity(len.min(max) as usize);
    f.take(max).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The last 80 lines of the instance's log, at most its last 2048 bytes.
fn tail_of_logs(log_dir: &Path, restart_count: u32) -> String {
    let opts = ReadOptions {
        tail: Some(MAX_LOG_LINES),
        ..Default::default()
    };
    let Ok(entries) = logs::read(log_dir, restart_count, &opts) else {
        return String::new();
    };
    let text = logs::render(&entries, false);
    let start = text.len().saturating_sub(MAX_LOG_BYTES);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelets_choice() {
        let f = |s: &str| Some(s.to_string());
        for (file, fallback, code, want) in [
            (
                f("Sleep expired"),
                false,
                0,
                Source::File("Sleep expired".into()),
            ),
            (f("bye"), true, 1, Source::File("bye".into())),
            (f(""), true, 1, Source::Logs),
            (None, true, 2, Source::Logs),
            // Succeeded: never the logs.
            (f(""), true, 0, Source::File(String::new())),
            (f(""), false, 1, Source::File(String::new())),
            (None, false, 1, Source::File(String::new())),
        ] {
            assert_eq!(
                decide(file.clone(), fallback, code),
                want,
                "{file:?} {fallback} {code}"
            );
        }
    }

    #[test]
    fn file_is_capped_at_its_last_4096_bytes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("termination-log");
        let body = format!("{}{}", "a".repeat(5000), "END");
        std::fs::write(&p, &body).unwrap();
        let input = Input {
            host_file: p,
            fallback_to_logs: false,
            exit_code: 0,
            log_dir: d.path().join("logs"),
            restart_count: 0,
        };
        let m = read(&input).unwrap();
        assert_eq!(m.len(), 4096);
        assert!(m.ends_with("aEND"));
    }
}
