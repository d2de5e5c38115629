//! Running OCI hooks: each hook is executed with its args and env, the container's state JSON
//! on stdin, and killed when its timeout expires. The spec's failure rules: a failing
//! prestart/createRuntime/createContainer/startContainer hook stops the list and fails the
//! operation ([`run`], [`run_list`]); a failing poststart/poststop hook is a warning and the
//! hooks after it still run ([`run_all`]).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Spec};

/// Every hook list of a spec with its config.json name (prestart, createRuntime, ...).
pub fn all_kinds(spec: &Spec) -> Vec<(&'static str, &[Hook])> {
    let Some(h) = spec.hooks() else { return vec![] };
    #[allow(deprecated)]
    let prestart = h.prestart();
    [
        ("prestart", prestart),
        ("createRuntime", h.create_runtime()),
        ("createContainer", h.create_container()),
        ("startContainer", h.start_container()),
        ("poststart", h.poststart()),
        ("poststop", h.poststop()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
    .collect()
}

/// The hooks of one kind (empty if none).
pub fn of_kind<'a>(spec: &'a Spec, kind: &str) -> &'a [Hook] {
    all_kinds(spec)
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| v)
        .unwrap_or(&[])
}

/// Run the hooks of `kind` in order; the first failure stops and is returned.
pub fn run(spec: &Spec, kind: &str, state_json: &[u8]) -> Result<(), String> {
    run_list(of_kind(spec, kind), kind, state_json)
}

/// Run `hooks` (of `kind`, for messages) in order; the first failure stops and is returned.
pub fn run_list(hooks: &[Hook], kind: &str, state_json: &[u8]) -> Result<(), String> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state_json)
            .map_err(|e| format!("hooks.{kind}[{i}] ({}): {e}", h.path().display()))?;
    }
    Ok(())
}

/// Run every hook of `hooks` (poststart, poststop) even when some fail; returns one message per
/// failure, for the caller to print as warnings.
pub fn run_all(hooks: &[Hook], kind: &str, state_json: &[u8]) -> Vec<String> {
    hooks
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            run_one(h, state_json)
                .err()
                .map(|e| format!("hooks.{kind}[{i}] ({}): {e}", h.path().display()))
        })
        .collect()
}

fn run_one(h: &Hook, state_json: &[u8]) -> Result<(), String> {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some((arg0, rest)) = args.split_first() {
        use std::os::unix::process::CommandExt;
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may ignore its stdin; a broken pipe is not an error.
        let _ = stdin.write_all(state_json);
    }
    let deadline = h
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => return Err(format!("failed: {st}")),
            Ok(None) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {}s", h.timeout().unwrap_or(0)));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
