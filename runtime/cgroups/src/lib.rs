//! noderun-cgroups: interface placeholder until the cgroups branch lands (no effect).
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Other(String),
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Default)]
pub struct Cgroup {}

#[derive(Debug, Clone)]
pub struct CgroupMount {
    pub subdir: String,
    pub fstype: String,
    pub options: String,
    pub host_path: PathBuf,
    pub links: Vec<(String, String)>,
}

impl Cgroup {
    pub fn resolve(_p: Option<&Path>, _name: &str) -> Result<Cgroup, Error> { Ok(Cgroup {}) }
    pub fn create(&mut self) -> Result<(), Error> { Ok(()) }
    pub fn apply(&self, _r: &oci_spec::runtime::LinuxResources) -> Result<(), Error> { Ok(()) }
    pub fn add_task(&self, _pid: i32) -> Result<(), Error> { Ok(()) }
    pub fn pids(&self) -> Result<Vec<i32>, Error> { Ok(vec![]) }
    pub fn freeze(&self) -> Result<(), Error> { Ok(()) }
    pub fn thaw(&self) -> Result<(), Error> { Ok(()) }
    pub fn is_frozen(&self) -> Result<bool, Error> { Ok(false) }
    pub fn delete(&self) -> Result<(), Error> { Ok(()) }
    pub fn mount_plan(&self) -> Result<Vec<CgroupMount>, Error> { Ok(vec![]) }
}
