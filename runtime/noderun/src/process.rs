//! Turning an OCI `process` into the running program's credentials and limits: rlimits,
//! oom_score_adj, personality, I/O priority, AppArmor, user and groups, umask, the five
//! capability sets, no_new_privs, and finally the PATH lookup and execve. Called in the
//! container's init (or exec) process after its namespaces and root are in place.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use caps::{CapSet, Capability as Cap};
use oci_spec::runtime::{
    Capabilities, LinuxPersonality, LinuxPersonalityDomain, PosixRlimitType, Process,
};

pub fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => libc::RLIMIT_CPU,
        T::RlimitFsize => libc::RLIMIT_FSIZE,
        T::RlimitData => libc::RLIMIT_DATA,
        T::RlimitStack => libc::RLIMIT_STACK,
        T::RlimitCore => libc::RLIMIT_CORE,
        T::RlimitRss => libc::RLIMIT_RSS,
        T::RlimitNproc => libc::RLIMIT_NPROC,
        T::RlimitNofile => libc::RLIMIT_NOFILE,
        T::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        T::RlimitAs => libc::RLIMIT_AS,
        T::RlimitLocks => libc::RLIMIT_LOCKS,
        T::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        T::RlimitNice => libc::RLIMIT_NICE,
        T::RlimitRtprio => libc::RLIMIT_RTPRIO,
        T::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

pub fn set_rlimits(p: &Process) -> Result<(), String> {
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: plain syscall with a valid struct.
        if unsafe { libc::setrlimit(rlimit_resource(r.typ()), &lim) } != 0 {
            return Err(format!(
                "process.rlimits[{i}] ({:?} soft {} hard {}): {}",
                r.typ(),
                r.soft(),
                r.hard(),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

pub fn set_oom_score_adj(pid: Option<i32>, adj: i32) -> Result<(), String> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/oom_score_adj"),
        None => "/proc/self/oom_score_adj".into(),
    };
    std::fs::write(&path, adj.to_string())
        .map_err(|e| format!("process.oomScoreAdj: write {path}: {e}"))
}

pub fn personality_value(p: &LinuxPersonality) -> Option<libc::c_ulong> {
    match p.domain() {
        LinuxPersonalityDomain::PerLinux => Some(0x0000),
        LinuxPersonalityDomain::PerLinux32 => Some(0x0008),
    }
}

pub fn set_personality(p: &LinuxPersonality) -> Result<(), String> {
    let v = personality_value(p).ok_or("linux.personality.domain: unsupported")?;
    // SAFETY: personality(2) takes a plain integer.
    if unsafe { libc::personality(v) } == -1 {
        return Err(format!(
            "linux.personality: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'))
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Ask AppArmor to confine the next execve with `profile`.
pub fn set_apparmor(profile: &str) -> Result<(), String> {
    let attr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
        "/proc/self/attr/apparmor/exec"
    } else {
        "/proc/self/attr/exec"
    };
    std::fs::write(attr, format!("exec {profile}"))
        .map_err(|e| format!("process.apparmorProfile {profile:?}: {e}"))
}

pub fn set_io_priority(p: &Process) -> Result<(), String> {
    let Some(io) = p.io_priority() else {
        return Ok(());
    };
    use oci_spec::runtime::IOPriorityClass as C;
    let class = match io.class() {
        C::IoprioClassRt => 1,
        C::IoprioClassBe => 2,
        C::IoprioClassIdle => 3,
    };
    let value = (class << 13) | (io.priority() & 0x1fff);
    // SAFETY: ioprio_set(IOPRIO_WHO_PROCESS, 0 = self, value).
    if unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) } != 0 {
        return Err(format!(
            "process.ioPriority: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn to_caps(set: &Option<Capabilities>, field: &str) -> Result<caps::CapsHashSet, String> {
    let mut out = caps::CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        let cap: Cap = name.parse().map_err(|_| {
            format!("process.capabilities.{field}: {name} is not known to this host")
        })?;
        out.insert(cap);
    }
    Ok(out)
}

/// The capability sets to apply, resolved before privileges change.
pub struct CapPlan {
    bounding: caps::CapsHashSet,
    effective: caps::CapsHashSet,
    permitted: caps::CapsHashSet,
    inheritable: caps::CapsHashSet,
    ambient: caps::CapsHashSet,
}

impl CapPlan {
    pub fn new(p: &Process) -> Result<Option<CapPlan>, String> {
        let Some(c) = p.capabilities() else {
            return Ok(None);
        };
        Ok(Some(CapPlan {
            bounding: to_caps(c.bounding(), "bounding")?,
            effective: to_caps(c.effective(), "effective")?,
            permitted: to_caps(c.permitted(), "permitted")?,
            inheritable: to_caps(c.inheritable(), "inheritable")?,
            ambient: to_caps(c.ambient(), "ambient")?,
        }))
    }

    /// Drop from the bounding set (needs CAP_SETPCAP, so before the user changes).
    pub fn apply_bounding(&self) -> Result<(), String> {
        let current =
            caps::read(None, CapSet::Bounding).map_err(|e| format!("read bounding set: {e}"))?;
        for c in current.difference(&self.bounding) {
            caps::drop(None, CapSet::Bounding, *c)
                .map_err(|e| format!("process.capabilities.bounding: drop {c}: {e}"))?;
        }
        Ok(())
    }

    /// Set inheritable (while CAP_SETPCAP is still effective), then effective, then permitted
    /// (each capset must keep effective within permitted), then ambient.
    pub fn apply_rest(&self) -> Result<(), String> {
        caps::set(None, CapSet::Inheritable, &self.inheritable)
            .map_err(|e| format!("process.capabilities.inheritable: {e}"))?;
        caps::set(None, CapSet::Effective, &self.effective)
            .map_err(|e| format!("process.capabilities.effective: {e}"))?;
        caps::set(None, CapSet::Permitted, &self.permitted)
            .map_err(|e| format!("process.capabilities.permitted: {e}"))?;
        caps::clear(None, CapSet::Ambient)
            .map_err(|e| format!("process.capabilities.ambient: {e}"))?;
        for c in &self.ambient {
            caps::raise(None, CapSet::Ambient, *c)
                .map_err(|e| format!("process.capabilities.ambient: raise {c}: {e}"))?;
        }
        Ok(())
    }
}

/// setgroups + setresgid + setresuid, keeping capabilities across the uid change.
pub fn set_user(p: &Process) -> Result<(), String> {
    let u = p.user();
    let mut groups: Vec<libc::gid_t> = u.additional_gids().clone().unwrap_or_default();
    groups.dedup();
    // setgroups is denied in a user namespace with setgroups=deny; only fail if groups asked.
    // SAFETY: valid pointer/len pair.
    if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
        let e = std::io::Error::last_os_error();
        if !groups.is_empty() || e.raw_os_error() != Some(libc::EPERM) {
            return Err(format!("process.user.additionalGids: setgroups: {e}"));
        }
    }
    // SAFETY: prctl with integer args.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    nix::unistd::setresgid(u.gid().into(), u.gid().into(), u.gid().into())
        .map_err(|e| format!("process.user.gid {}: setresgid: {e}", u.gid()))?;
    nix::unistd::setresuid(u.uid().into(), u.uid().into(), u.uid().into())
        .map_err(|e| format!("process.user.uid {}: setresuid: {e}", u.uid()))?;
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    if let Some(m) = u.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m));
    }
    Ok(())
}

pub fn set_no_new_privs() -> Result<(), String> {
    // SAFETY: prctl with integer args.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!(
            "process.noNewPrivileges: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The program to execute: args[0] as a path, or looked up in the process's PATH.
pub fn find_program(p: &Process) -> Result<PathBuf, String> {
    let arg0 = p
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .ok_or("process.args: empty")?;
    if arg0.contains('/') {
        return match std::fs::metadata(arg0) {
            Ok(m) if m.is_file() => Ok(PathBuf::from(arg0)),
            Ok(_) => Err(format!("process.args[0]: {arg0} is not a regular file")),
            Err(e) => Err(format!("process.args[0]: {arg0}: {e}")),
        };
    }
    let path = p
        .env()
        .iter()
        .flatten()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let cand = Path::new(dir).join(arg0);
        if let Ok(m) = std::fs::metadata(&cand) {
            use std::os::unix::fs::PermissionsExt;
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(cand);
            }
        }
    }
    Err(format!(
        "process.args[0]: executable file {arg0:?} not found in $PATH"
    ))
}

fn cstrings<'a>(v: impl Iterator<Item = &'a [u8]>, what: &str) -> Result<Vec<CString>, String> {
    v.map(|s| CString::new(s).map_err(|_| format!("{what}: contains a NUL byte")))
        .collect()
}

/// Everything execve needs, prepared before privileges drop so the last step allocates nothing.
pub struct ExecPlan {
    program: CString,
    args: Vec<CString>,
    env: Vec<CString>,
}

impl ExecPlan {
    pub fn new(p: &Process, program: &Path) -> Result<ExecPlan, String> {
        Ok(ExecPlan {
            program: CString::new(program.as_os_str().as_bytes())
                .map_err(|_| "process.args[0]: contains a NUL byte".to_string())?,
            args: cstrings(
                p.args().iter().flatten().map(|s| s.as_bytes()),
                "process.args",
            )?,
            env: cstrings(
                p.env().iter().flatten().map(|s| s.as_bytes()),
                "process.env",
            )?,
        })
    }

    pub fn exec(&self) -> String {
        let e = nix::unistd::execve(&self.program, &self.args, &self.env).unwrap_err();
        format!("exec {:?}: {e}", self.program)
    }
}
