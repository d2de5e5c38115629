//! Turns an OCI `linux.cgroupsPath` (absolute, relative or absent) into one directory per
//! hierarchy, without touching the file system.

use std::path::{Component, Path};

use crate::procfs::{Hierarchy, join_cgroup_path};
use crate::{Cgroup, CgroupDir, Error, Mode};

const FIELD: &str = "linux.cgroupsPath";

/// Normalized cgroups path: (absolute?, components joined by '/').
fn normalize(p: &Path) -> Result<(bool, String), Error> {
    let mut abs = false;
    let mut out = String::new();
    for c in p.components() {
        match c {
            Component::RootDir => abs = true,
            Component::CurDir => {}
            Component::Normal(s) => {
                let s = s
                    .to_str()
                    .ok_or_else(|| Error::unsupported(FIELD, p, "path is not valid UTF-8"))?;
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(s);
            }
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::unsupported(
                    FIELD,
                    p,
                    "\"..\" is not allowed in a cgroups path",
                ));
            }
        }
    }
    Ok((abs, out))
}

pub(crate) fn resolve(
    mode: Mode,
    hierarchies: Vec<Hierarchy>,
    cgroups_path: Option<&Path>,
    default_name: &str,
) -> Result<Cgroup, Error> {
    let given = cgroups_path.filter(|p| !p.as_os_str().is_empty());
    let (abs, rel) = match given {
        Some(p) => {
            let s = p.to_string_lossy();
            if !s.contains('/') && s.matches(':').count() == 2 {
                return Err(Error::unsupported(
                    FIELD,
                    p,
                    "a systemd cgroup path (slice:prefix:name) needs the systemd cgroup driver \
                     (--systemd-cgroup); without it give a cgroupfs path (\"/a/b\" from the \
                     hierarchy root, \"a/b\" below the caller's cgroup)",
                ));
            }
            normalize(p)?
        }
        None => {
            if default_name.is_empty()
                || default_name.contains('/')
                || default_name == "."
                || default_name == ".."
            {
                return Err(Error::unsupported(
                    FIELD,
                    default_name,
                    "no cgroups path given and the container id is not a valid directory name",
                ));
            }
            (false, default_name.to_string())
        }
    };
    if rel.is_empty() {
        return Err(Error::unsupported(
            FIELD,
            given.unwrap_or(Path::new("/")),
            "a hierarchy root or the caller's own cgroup cannot be a container's cgroup",
        ));
    }
    let mut dirs = Vec::with_capacity(hierarchies.len());
    for h in hierarchies {
        let own_dir = h.own_dir();
        let (path, cgroup_path) = if abs {
            (
                join_cgroup_path(&h.mountpoint, &rel),
                cgroup_join(&h.mount_root, &rel),
            )
        } else {
            let Some(own) = own_dir.as_ref() else {
                return Err(Error::unsupported(
                    FIELD,
                    &h.mountpoint,
                    format!(
                        "the caller's own {} cgroup {:?} is not below the mount's root {:?}",
                        h.name(),
                        h.own_path,
                        h.mount_root
                    ),
                ));
            };
            (own.join(&rel), cgroup_join(&h.own_path, &rel))
        };
        dirs.push(CgroupDir {
            hierarchy: h,
            path,
            cgroup_path,
            own_dir,
        });
    }
    Ok(Cgroup {
        mode,
        dirs,
        created: Vec::new(),
        systemd: None,
    })
}

fn cgroup_join(base: &str, rel: &str) -> String {
    let base = base.trim_end_matches('/');
    format!("{base}/{rel}")
}

#[cfg(test)]
fn dir_of(c: &Cgroup) -> Vec<std::path::PathBuf> {
    c.dirs.iter().map(|d| d.path.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::{hierarchies, parse_mountinfo};
    use std::path::PathBuf;

    const MI: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
    const PC: &str = "9:name=systemd:/\n4:memory:/sup/me\n1:cpu,cpuacct:/\n0::/\n";

    fn cg(path: Option<&str>, id: &str) -> Result<Cgroup, Error> {
        let m = parse_mountinfo(MI).unwrap();
        let h = hierarchies(Mode::Hybrid, &m, PC).unwrap();
        resolve(Mode::Hybrid, h, path.map(Path::new), id)
    }

    #[test]
    fn relative_and_default_go_below_own_cgroup() {
        let c = cg(Some("pod1/ctr"), "x").unwrap();
        assert_eq!(
            dir_of(&c),
            [
                PathBuf::from("/sys/fs/cgroup/systemd/pod1/ctr"),
                PathBuf::from("/sys/fs/cgroup/memory/sup/me/pod1/ctr"),
                PathBuf::from("/sys/fs/cgroup/cpu/pod1/ctr"),
            ]
        );
        assert_eq!(c.dirs[0].hierarchy.name(), "name=systemd");
        assert_eq!(c.dirs[1].cgroup_path, "/sup/me/pod1/ctr");
        assert_eq!(c.dirs[2].hierarchy.name(), "cpu,cpuacct");
        let c = cg(None, "abc").unwrap();
        assert_eq!(
            c.dirs[1].path,
            Path::new("/sys/fs/cgroup/memory/sup/me/abc")
        );
        let c = cg(Some(""), "abc").unwrap();
        assert_eq!(c.dirs[2].path, Path::new("/sys/fs/cgroup/cpu/abc"));
    }

    #[test]
    fn absolute_is_from_hierarchy_root() {
        let c = cg(Some("/x/y/"), "id").unwrap();
        assert_eq!(c.dirs[1].path, Path::new("/sys/fs/cgroup/memory/x/y"));
        assert_eq!(c.dirs[1].cgroup_path, "/x/y");
        assert_eq!(
            c.dirs[1].own_dir.as_deref(),
            Some(Path::new("/sys/fs/cgroup/memory/sup/me"))
        );
    }

    #[test]
    fn bad_paths_are_rejected_naming_the_field() {
        for (p, id) in [
            (Some("../escape"), "id"),
            (Some("/a/../../b"), "id"),
            (Some("/"), "id"),
            (Some("system.slice:crio:abc"), "id"),
            (None, ""),
            (None, "a/b"),
        ] {
            let e = cg(p, id).unwrap_err().to_string();
            assert!(e.contains("linux.cgroupsPath"), "{e}");
        }
    }

    #[test]
    fn retain_controllers_keeps_the_hierarchies_named() {
        let mut c = cg(Some("pod1"), "x").unwrap();
        c.retain_controllers(&["memory", "pids"]);
        assert_eq!(
            dir_of(&c),
            [PathBuf::from("/sys/fs/cgroup/memory/sup/me/pod1")]
        );
        assert_eq!(
            c.dir_for("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/sup/me/pod1"))
        );
        assert_eq!(c.dir_for("cpuacct"), None);
    }
}
