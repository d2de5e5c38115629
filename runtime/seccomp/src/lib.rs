//! noderun-seccomp: interface placeholder until the seccomp branch lands.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unsupported(String),
}
pub struct Program;
pub fn compile(_p: &oci_spec::runtime::LinuxSeccomp) -> Result<Program, Error> { Err(Error::Unsupported("seccomp not built yet".into())) }
impl Program { pub fn install(&self) -> Result<(), Error> { Ok(()) } }
