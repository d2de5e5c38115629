//! What to mount for an OCI mount of type "cgroup" inside a container: one cgroup2 mount on
//! v2; on v1 a tmpfs plus one mount per controller hierarchy (and symlinks for co-mounted
//! controllers, e.g. cpu -> cpu,cpuacct, as Docker and runc lay them out).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Cgroup, Error, Mode};

/// One step of a container's /sys/fs/cgroup, relative to the OCI mount's destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupMount {
    /// Mount a cgroup2 file system at the destination. Inside a new cgroup namespace rooted at
    /// this cgroup that shows exactly this cgroup; without one, bind-mount `host_dir` instead.
    Cgroup2 { host_dir: PathBuf },
    /// v1: a tmpfs at the destination that holds the hierarchies.
    Tmpfs { options: String },
    /// v1: a controller hierarchy at destination/`subdir`: `mount -t cgroup -o <subsystems>`
    /// inside a cgroup namespace, or a bind mount of `host_dir` without one.
    Hierarchy {
        subdir: String,
        subsystems: String,
        host_dir: PathBuf,
    },
    /// v1: a symlink destination/`name` -> `target` for co-mounted controllers.
    Symlink { name: String, target: String },
}

pub(crate) fn plan(cg: &Cgroup) -> Result<Vec<CgroupMount>, Error> {
    match cg.mode {
        Mode::Unified => Ok(vec![CgroupMount::Cgroup2 {
            host_dir: cg.v2_dir()?.to_path_buf(),
        }]),
        Mode::Hybrid | Mode::Legacy => {
            let mut out = Vec::with_capacity(cg.dirs.len() * 2 + 1);
            out.push(CgroupMount::Tmpfs {
                options: "mode=755".to_string(),
            });
            for d in &cg.dirs {
                let joined = d.hierarchy.controllers.join(",");
                // a named hierarchy: /sys/fs/cgroup/systemd, mounted with "none,name=systemd"
                let (subdir, subsystems) = match joined.strip_prefix("name=") {
                    Some(name) => (name.to_string(), format!("none,{joined}")),
                    None => (joined.clone(), joined),
                };
                out.push(CgroupMount::Hierarchy {
                    subdir,
                    subsystems,
                    host_dir: d.path.clone(),
                });
            }
            for d in &cg.dirs {
                if d.hierarchy.controllers.len() > 1 {
                    let target = d.hierarchy.controllers.join(",");
                    for c in &d.hierarchy.controllers {
                        out.push(CgroupMount::Symlink {
                            name: c.clone(),
                            target: target.clone(),
                        });
                    }
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::{hierarchies, parse_mountinfo};
    use std::path::Path;

    #[test]
    fn v1_plan_has_tmpfs_hierarchies_and_symlinks() {
        let mi = "1 0 0:1 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                  2 0 0:2 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                  3 0 0:3 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n\
                  4 0 0:4 / /sys/fs/cgroup/other rw - cgroup cgroup rw,name=other\n";
        let h = hierarchies(
            Mode::Legacy,
            &parse_mountinfo(mi).unwrap(),
            "3:cpu,cpuacct:/a\n2:memory:/a\n1:name=systemd:/a\n5:name=other:/a\n",
        )
        .unwrap();
        let cg = crate::resolve::resolve(Mode::Legacy, h, Some(Path::new("c1")), "x").unwrap();
        let p = plan(&cg).unwrap();
        assert_eq!(
            p,
            vec![
                CgroupMount::Tmpfs {
                    options: "mode=755".into()
                },
                CgroupMount::Hierarchy {
                    subdir: "cpu,cpuacct".into(),
                    subsystems: "cpu,cpuacct".into(),
                    host_dir: "/sys/fs/cgroup/cpu,cpuacct/a/c1".into()
                },
                CgroupMount::Hierarchy {
                    subdir: "memory".into(),
                    subsystems: "memory".into(),
                    host_dir: "/sys/fs/cgroup/memory/a/c1".into()
                },
                CgroupMount::Hierarchy {
                    subdir: "systemd".into(),
                    subsystems: "none,name=systemd".into(),
                    host_dir: "/sys/fs/cgroup/systemd/a/c1".into()
                },
                CgroupMount::Symlink {
                    name: "cpu".into(),
                    target: "cpu,cpuacct".into()
                },
                CgroupMount::Symlink {
                    name: "cpuacct".into(),
                    target: "cpu,cpuacct".into()
                },
            ]
        );
    }

    #[test]
    fn v2_plan_is_one_cgroup2_mount() {
        let h = hierarchies(
            Mode::Unified,
            &parse_mountinfo("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n").unwrap(),
            "0::/init\n",
        )
        .unwrap();
        let cg = crate::resolve::resolve(Mode::Unified, h, Some(Path::new("/k/c")), "x").unwrap();
        assert_eq!(
            plan(&cg).unwrap(),
            vec![CgroupMount::Cgroup2 {
                host_dir: "/sys/fs/cgroup/k/c".into()
            }]
        );
    }
}
