//! The container process from the image config merged with the Kubernetes container spec:
//! `command` replaces ENTRYPOINT and drops CMD, `args` replace CMD, env merged with the pod's
//! values winning, `workingDir` over WorkingDir, `runAsUser`/`runAsGroup` over User.
//! Pure functions; `resolve_user` reads the image's /etc/passwd and /etc/group.

use std::path::Path;

use crate::manifest::RunConfig;

/// The PATH a container gets when the image sets none (as containerd does).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The parts of a Kubernetes container that override the image config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerOverrides {
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// Resolved pod env, in order.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
}

/// Who the process runs as, before looking names up in the rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    /// `runAsUser`, or the image's `User` (a number or a name); empty = root.
    pub user: String,
    /// `runAsGroup`, or the group part of the image's `User`.
    pub group: Option<String>,
}

/// Process settings for an OCI runtime spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    /// `KEY=value`, image values first, pod values replacing them in place or appended.
    pub env: Vec<String>,
    pub cwd: String,
    pub user: UserSpec,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    #[error(
        "no command specified: the image has no ENTRYPOINT or CMD and the container no command or args"
    )]
    NoCommand,
    #[error("workingDir {0:?} must be an absolute path")]
    RelativeWorkingDir(String),
    #[error("user {user:?}: {reason}")]
    User { user: String, reason: String },
}

/// Merges the image's run config with the container's overrides, the Kubernetes way.
pub fn merge(image: Option<&RunConfig>, c: &ContainerOverrides) -> Result<ProcessSpec, MergeError> {
    let empty = RunConfig::default();
    let img = image.unwrap_or(&empty);
    let entrypoint = img.entrypoint.clone().unwrap_or_default();
    let cmd = img.cmd.clone().unwrap_or_default();
    let args: Vec<String> = match (c.command.is_empty(), c.args.is_empty()) {
        (false, _) => c.command.iter().chain(&c.args).cloned().collect(),
        (true, false) => entrypoint.iter().chain(&c.args).cloned().collect(),
        (true, true) => entrypoint.iter().chain(&cmd).cloned().collect(),
    };
    if args.is_empty() {
        return Err(MergeError::NoCommand);
    }

    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| match env.iter_mut().find(|(ek, _)| ek == k) {
        Some(e) => e.1 = v.to_string(),
        None => env.push((k.to_string(), v.to_string())),
    };
    for kv in img.env.iter().flatten() {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        set(k, v);
    }
    for (k, v) in &c.env {
        set(k, v);
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.insert(0, ("PATH".into(), DEFAULT_PATH.into()));
    }

    let cwd = c
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| img.working_dir.clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(MergeError::RelativeWorkingDir(cwd));
    }

    let image_user = img.user.clone().unwrap_or_default();
    let (iu, ig) = match image_user.split_once(':') {
        Some((u, g)) => (u.to_string(), Some(g.to_string())),
        None => (image_user.clone(), None),
    };
    let user = UserSpec {
        user: c.run_as_user.map(|u| u.to_string()).unwrap_or(iu),
        group: c.run_as_group.map(|g| g.to_string()).or(ig),
    };

    Ok(ProcessSpec {
        args,
        env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        cwd,
        user,
    })
}

/// A user resolved to numeric IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

fn read_in_root(rootfs: &Path, rel: &str) -> String {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let Ok(root) = rustix::fs::open(
        rootfs,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return String::new();
    };
    let Ok(fd) = rustix::fs::openat2(
        &root,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    ) else {
        return String::new();
    };
    std::io::read_to_string(std::fs::File::from(fd)).unwrap_or_default()
}

/// Resolves names against the image's `/etc/passwd` and `/etc/group` (symlinks resolved inside
/// the rootfs), as runc/containerd do: a numeric uid not in passwd gets gid 0; the additional
/// groups are the primary group, then the groups listing the user.
pub fn resolve_user(rootfs: &Path, spec: &UserSpec) -> Result<ResolvedUser, MergeError> {
    let passwd = read_in_root(rootfs, "etc/passwd");
    let group = read_in_root(rootfs, "etc/group");
    let err = |reason: &str| MergeError::User {
        user: spec.user.clone(),
        reason: reason.into(),
    };
    let pw: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 4)
        .collect();
    let gr: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 3)
        .collect();

    let (uid, name, pw_gid) = if spec.user.is_empty() {
        (0, "root".to_string(), Some(0))
    } else if let Ok(n) = spec.user.parse::<u32>() {
        let entry = pw.iter().find(|f| f[2].parse::<u32>().ok() == Some(n));
        (
            n,
            entry.map(|f| f[0].to_string()).unwrap_or_default(),
            entry.and_then(|f| f[3].parse().ok()),
        )
    } else {
        let f = pw
            .iter()
            .find(|f| f[0] == spec.user)
            .ok_or_else(|| err("no such user in the image's /etc/passwd"))?;
        let uid = f[2].parse().map_err(|_| err("bad uid in /etc/passwd"))?;
        (uid, spec.user.clone(), f[3].parse().ok())
    };
    let gid = match &spec.group {
        Some(g) if !g.is_empty() => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => gr
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| MergeError::User {
                    user: spec.user.clone(),
                    reason: format!("no group {g:?} in the image's /etc/group"),
                })?,
        },
        _ => pw_gid.unwrap_or(0),
    };
    let mut member_of: Vec<u32> = gr
        .iter()
        .filter(|f| !name.is_empty() && f.len() >= 4 && f[3].split(',').any(|m| m == name))
        .filter_map(|f| f[2].parse().ok())
        .filter(|g| *g != gid)
        .collect();
    member_of.sort_unstable();
    member_of.dedup();
    // containerd (since 1.6.18, CVE-2023-25173) puts the primary group first among the
    // supplementary groups, so dropping the primary group cannot escape a group restriction.
    let mut additional = vec![gid];
    additional.extend(member_of);
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
    })
}

impl ProcessSpec {
    /// Writes args, env, cwd and the resolved user into an OCI runtime `process`, leaving
    /// everything else (capabilities, rlimits, terminal...) as the caller set it.
    pub fn apply_to(&self, process: &mut oci_spec::runtime::Process, user: &ResolvedUser) {
        process.set_args(Some(self.args.clone()));
        process.set_env(Some(self.env.clone()));
        process.set_cwd(self.cwd.clone().into());
        let u = process.user_mut();
        u.set_uid(user.uid);
        u.set_gid(user.gid);
        u.set_additional_gids(
            (!user.additional_gids.is_empty()).then(|| user.additional_gids.clone()),
        );
    }
}
