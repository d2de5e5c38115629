//! The host's AppArmor, as containers need it: whether the kernel enforces it, which profiles
//! are loaded (`/sys/kernel/security/apparmor/profiles`), and nodelet's own default profile
//! [`DEFAULT_PROFILE`] (what RuntimeDefault and an unset profile mean, as containerd's
//! `cri-containerd.apparmor.d`), loaded with `apparmor_parser` when it is missing or its text
//! changed. The decisions are pure ([`is_loaded`], [`needs_load`], [`default_profile`]);
//! [`Host`] is the thin shell that reads the files and runs the parser. Which profile a
//! container asks for is `podspec::security` (the kubelet's precedence, containerd's rules).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The name of nodelet's default profile.
pub const DEFAULT_PROFILE: &str = "nodelet-default";

/// Annotation prefix of the deprecated per-container profile
/// (`container.apparmor.security.beta.kubernetes.io/<container>`).
pub const ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// What the host can do with AppArmor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Support {
    /// The kernel does not enforce AppArmor.
    #[default]
    Disabled,
    /// The kernel enforces it but `apparmor_parser` is not installed: loaded profiles can be
    /// used, nodelet's default cannot be loaded (containerd treats this host as without
    /// AppArmor; nodelet still applies Localhost profiles that are loaded).
    NoParser,
    /// The kernel enforces it and profiles can be loaded.
    Enabled,
}

/// Whether the kernel enforces AppArmor (`/sys/module/apparmor/parameters/enabled` is `Y`),
/// as the kubelet checks it.
pub fn kernel_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim().starts_with('Y'))
}

/// `apparmor_parser` on PATH, else in /sbin or /usr/sbin (a daemon's PATH may lack sbin).
fn find_parser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join("apparmor_parser"))
        .find(|p| p.is_file())
}

/// The host's AppArmor facts and where nodelet keeps its default profile.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Host {
    pub support: Support,
    /// `apparmor_parser`.
    pub parser: Option<PathBuf>,
    /// securityfs's AppArmor directory (`/sys/kernel/security/apparmor`).
    pub securityfs: PathBuf,
    /// The policy directory with the includes (`/etc/apparmor.d`: `tunables/global`,
    /// `abstractions/base`).
    pub policy_dir: PathBuf,
    /// `<rootDir>/apparmor`: the default profile's text as last loaded (`nodelet-default`).
    pub state_dir: PathBuf,
}

/// Why a profile cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// containerd's words, then where to look.
    #[error(
        "apparmor profile not found {0} (load it with apparmor_parser; the loaded profiles are listed in /sys/kernel/security/apparmor/profiles)"
    )]
    NotFound(String),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot load the AppArmor profile {DEFAULT_PROFILE}: apparmor_parser is not installed (Debian: apt-get install apparmor)"
    )]
    NoParser,
    #[error("cannot load the AppArmor profile {profile} ({path}): {message}")]
    Load {
        profile: &'static str,
        path: PathBuf,
        message: String,
    },
}

/// One `apparmor_parser` run at a time in this process (pods start in parallel).
static LOAD: Mutex<()> = Mutex::new(());

impl Host {
    /// This host: the kernel's and the parser's facts are read once per process (the
    /// kubelet, too, checks the host once at start); the default profile's text is kept in
    /// `<root_dir>/apparmor`.
    pub fn detect(root_dir: &Path) -> Host {
        static FACTS: OnceLock<(Support, Option<PathBuf>)> = OnceLock::new();
        let (support, parser) = FACTS
            .get_or_init(|| {
                let parser = find_parser();
                let support = match (kernel_enabled(), &parser) {
                    (false, _) => Support::Disabled,
                    (true, None) => {
                        tracing::warn!(
                            "AppArmor is enabled in the kernel but apparmor_parser is not installed: containers without a Localhost profile run unconfined (Debian: apt-get install apparmor)"
                        );
                        Support::NoParser
                    }
                    (true, Some(_)) => Support::Enabled,
                };
                (support, parser)
            })
            .clone();
        Host {
            support,
            parser,
            securityfs: PathBuf::from("/sys/kernel/security/apparmor"),
            policy_dir: PathBuf::from("/etc/apparmor.d"),
            state_dir: root_dir.join("apparmor"),
        }
    }

    fn profiles(&self) -> Result<String, Error> {
        let path = self.securityfs.join("profiles");
        std::fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
    }

    /// `Ok(name)` when the profile `name` is loaded, else [`Error::NotFound`].
    pub fn require_loaded(&self, name: &str) -> Result<String, Error> {
        if is_loaded(&self.profiles()?, name) {
            Ok(name.to_string())
        } else {
            Err(Error::NotFound(name.to_string()))
        }
    }

    /// Loads [`DEFAULT_PROFILE`] unless it is loaded with the text this nodelet would write
    /// (the text last loaded is kept in `state_dir`); returns its name.
    pub fn ensure_default(&self) -> Result<&'static str, Error> {
        let _one = LOAD.lock().unwrap_or_else(|e| e.into_inner());
        let want = default_profile(
            self.policy_dir.join("tunables/global").is_file(),
            self.policy_dir.join("abstractions/base").is_file(),
        );
        let stored_path = self.state_dir.join(DEFAULT_PROFILE);
        let stored = std::fs::read_to_string(&stored_path).ok();
        let loaded = is_loaded(&self.profiles()?, DEFAULT_PROFILE);
        if !needs_load(loaded, stored.as_deref(), &want) {
            return Ok(DEFAULT_PROFILE);
        }
        let parser = self.parser.as_ref().ok_or(Error::NoParser)?;
        std::fs::create_dir_all(&self.state_dir).map_err(|source| Error::Write {
            path: self.state_dir.clone(),
            source,
        })?;
        let tmp = self.state_dir.join(format!(".{DEFAULT_PROFILE}.tmp"));
        let write = |p: &Path| -> std::io::Result<()> {
            let mut f = std::fs::File::create(p)?;
            f.write_all(want.as_bytes())?;
            f.sync_all()
        };
        write(&tmp).map_err(|source| Error::Write {
            path: tmp.clone(),
            source,
        })?;
        // -r: replace a loaded profile of the same name; -K: no binary cache (the text is
        // ours and changes with nodelet).
        let out = Command::new(parser).arg("-Kr").arg(&tmp).output();
        let failed = match out {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!(
                "{} -Kr: {}: {}",
                parser.display(),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Some(format!("{}: {e}", parser.display())),
        };
        if let Some(message) = failed {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Load {
                profile: DEFAULT_PROFILE,
                path: stored_path,
                message,
            });
        }
        std::fs::rename(&tmp, &stored_path).map_err(|source| Error::Write {
            path: stored_path.clone(),
            source,
        })?;
        tracing::info!(
            "loaded the AppArmor profile {DEFAULT_PROFILE} ({})",
            stored_path.display()
        );
        Ok(DEFAULT_PROFILE)
    }
}

/// Whether `profiles` (the text of securityfs's `profiles`: `name (mode)` per line) lists
/// the profile `name`.
pub fn is_loaded(profiles: &str, name: &str) -> bool {
    profiles.lines().any(|l| {
        l.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(" (") && rest.ends_with(')'))
    })
}

/// Load (again) unless the profile is loaded and the text last loaded is the one wanted.
pub fn needs_load(loaded: bool, stored: Option<&str>, want: &str) -> bool {
    !loaded || stored != Some(want)
}

/// The text of [`DEFAULT_PROFILE`], written for nodelet. It leaves to the other layers what
/// they already decide (files: the mount namespace and read-only paths; syscalls: seccomp;
/// privileges: the capability sets) and adds what only a LSM can say: no mounts, no writes to
/// the kernel's knobs in /proc and /sys (the process's own /proc/<pid> and the IPC
/// namespace's shm limits stay writable, as does /sys/fs/cgroup), nothing read from
/// /proc/kcore, firmware, securityfs or power-capping counters, and signals and ptrace only
/// among processes under this profile (signals also from unconfined processes: nodelet, the
/// shim, the runtime). `tunables/global` (for `@{PROC}`) and `abstractions/base` are
/// included where the host has them.
pub fn default_profile(have_tunables: bool, have_base: bool) -> String {
    let p = DEFAULT_PROFILE;
    let mut s = String::new();
    s.push_str("# Written by nodelet: the AppArmor profile of containers whose pod asks for\n");
    s.push_str(
        "# RuntimeDefault or nothing. Loaded again when missing or when this text changes.\n",
    );
    if have_tunables {
        s.push_str("#include <tunables/global>\n");
    } else {
        s.push_str("@{PROC}=/proc/\n");
    }
    s.push_str(&format!(
        "\nprofile {p} flags=(attach_disconnected,mediate_deleted) {{\n"
    ));
    if have_base {
        s.push_str("  #include <abstractions/base>\n\n");
    }
    let body = r#"  # Other layers decide files, sockets and privileges.
  file,
  network,
  capability,
  umount,

  # Signals: from unconfined processes (nodelet, its shim, the runtime) and among this
  # profile's processes; ptrace (and the /proc reads that need it, as ps does) only here.
  signal (receive) peer=unconfined,
  signal (send,receive) peer=@P@,
  ptrace (trace,read,tracedby,readby) peer=@P@,

  deny mount,

  # /proc: nothing written directly in it, nor below any entry but a pid's own directory
  # and sys/; of sys/ only kernel/, and of that only the shm* limits.
  deny @{PROC}/* w,
  deny @{PROC}/{[^0-9s]*,s[^y]*,sy[^s]*,sys?*}/** w,
  deny @{PROC}/[0-9]*[^0-9]*/** w,
  deny @{PROC}/sys/{[^k]*,k[^e]*,ke[^r]*,ker[^n]*,kern[^e]*,kerne[^l]*,kernel?*}/** w,
  deny @{PROC}/sys/kernel/{[^s]*,s[^h]*,sh[^m]*,s,sh} w,
  deny @{PROC}/sys/kernel/*/** w,
  deny @{PROC}/sysrq-trigger rwklx,
  deny @{PROC}/kcore rwklx,

  # /sys: written only below /sys/fs/cgroup; some parts not even read.
  deny /sys/{[^f]*,f[^s]*,fs?*}/** wklx,
  deny /sys/fs/{[^c]*,c[^g]*,cg[^r]*,cgr[^o]*,cgro[^u]*,cgrou[^p]*,cgroup?*}/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
  deny /sys/kernel/debug/** rwklx,
  deny /sys/devices/virtual/powercap/** rwklx,
}
"#;
    s.push_str(&body.replace("@P@", p));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn loaded_profiles_are_matched_by_whole_name() {
        let profiles =
            "nodelet-default (enforce)\n/usr/bin/man (enforce)\nk8s-deny-write (complain)\n";
        for (name, want) in [
            ("nodelet-default", true),
            ("nodelet", false),
            ("nodelet-default-x", false),
            ("/usr/bin/man", true),
            ("k8s-deny-write", true),
            ("k8s-deny", false),
            ("", false),
        ] {
            assert_eq!(is_loaded(profiles, name), want, "{name:?}");
        }
        assert!(!is_loaded("", DEFAULT_PROFILE));
    }

    #[test]
    fn load_only_when_missing_or_changed() {
        let want = default_profile(true, true);
        for (loaded, stored, load) in [
            (false, None, true),
            (false, Some(want.as_str()), true),
            (true, None, true),
            (true, Some("older text"), true),
            (true, Some(want.as_str()), false),
        ] {
            assert_eq!(
                needs_load(loaded, stored, &want),
                load,
                "{loaded} {stored:?}"
            );
        }
    }

    #[test]
    fn default_profile_text() {
        let full = default_profile(true, true);
        assert!(full.contains("#include <tunables/global>"));
        assert!(full.contains("  #include <abstractions/base>"));
        assert!(
            full.contains("profile nodelet-default flags=(attach_disconnected,mediate_deleted) {")
        );
        assert!(full.contains("  deny mount,\n"));
        assert!(full.contains("signal (send,receive) peer=nodelet-default,"));
        assert!(full.contains("ptrace (trace,read,tracedby,readby) peer=nodelet-default,"));
        assert!(!full.contains("@P@"));
        let bare = default_profile(false, false);
        assert!(bare.contains("@{PROC}=/proc/\n"));
        assert!(!bare.contains("#include"));
    }

    /// The host's own `apparmor_parser` (if installed) compiles the profile without loading
    /// it (`-Q`): the text is valid policy.
    #[test]
    fn default_profile_compiles_where_the_parser_is_installed() {
        let Some(parser) = find_parser() else {
            eprintln!("apparmor_parser not installed: skipped");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let have = Path::new("/etc/apparmor.d/tunables/global").is_file();
        let base = Path::new("/etc/apparmor.d/abstractions/base").is_file();
        let f = dir.path().join("p");
        std::fs::write(&f, default_profile(have, base)).unwrap();
        let out = Command::new(&parser)
            .args(["-Q", "-K"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A fake securityfs and parser: the profile is loaded once, again only when it went
    /// missing or its text changed; a missing Localhost profile names itself.
    #[test]
    fn host_loads_the_default_once() {
        let dir = tempfile::tempdir().unwrap();
        let sfs = dir.path().join("sfs");
        std::fs::create_dir_all(&sfs).unwrap();
        std::fs::write(sfs.join("profiles"), "other (enforce)\n").unwrap();
        let runs = dir.path().join("runs");
        let parser = dir.path().join("apparmor_parser");
        std::fs::write(
            &parser,
            format!(
                "#!/bin/sh\necho \"$@\" >> {runs}\ngrep -q '^profile nodelet-default ' \"$2\" || exit 1\necho 'nodelet-default (enforce)' >> {profiles}\n",
                runs = runs.display(),
                profiles = sfs.join("profiles").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&parser, std::fs::Permissions::from_mode(0o755)).unwrap();
        let host = Host {
            support: Support::Enabled,
            parser: Some(parser.clone()),
            securityfs: sfs.clone(),
            policy_dir: dir.path().join("no-policy"),
            state_dir: dir.path().join("state"),
        };
        let runs_n = || {
            std::fs::read_to_string(&runs)
                .unwrap_or_default()
                .lines()
                .count()
        };
        assert_eq!(host.ensure_default().unwrap(), DEFAULT_PROFILE);
        assert_eq!(runs_n(), 1);
        assert!(std::fs::read_to_string(&runs).unwrap().starts_with("-Kr "));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("state/nodelet-default")).unwrap(),
            default_profile(false, false)
        );
        host.ensure_default().unwrap();
        assert_eq!(runs_n(), 1, "loaded and unchanged: not loaded again");
        // Changed text (an older nodelet wrote it): loaded again.
        std::fs::write(dir.path().join("state/nodelet-default"), "old").unwrap();
        host.ensure_default().unwrap();
        assert_eq!(runs_n(), 2);
        // Gone from the kernel (reboot, apparmor_parser -R): loaded again.
        std::fs::write(sfs.join("profiles"), "other (enforce)\n").unwrap();
        host.ensure_default().unwrap();
        assert_eq!(runs_n(), 3);

        assert_eq!(host.require_loaded("other").unwrap(), "other");
        let e = host.require_loaded("k8s-missing").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("apparmor profile not found k8s-missing"),
            "{e}"
        );

        // A parser that fails: the error says so, nothing is recorded as loaded.
        std::fs::write(sfs.join("profiles"), "").unwrap();
        std::fs::write(&parser, "#!/bin/sh\necho 'syntax error' >&2\nexit 1\n").unwrap();
        let e = host.ensure_default().unwrap_err().to_string();
        assert!(
            e.contains("cannot load the AppArmor profile nodelet-default"),
            "{e}"
        );
        assert!(e.contains("syntax error"), "{e}");
        assert!(!dir.path().join("state/.nodelet-default.tmp").exists());

        let no_parser = Host {
            parser: None,
            ..host.clone()
        };
        assert!(matches!(no_parser.ensure_default(), Err(Error::NoParser)));
    }
}
