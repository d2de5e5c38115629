//! CNI environment variables (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, ...).

use std::path::PathBuf;

use crate::config::validate_ifname;
use crate::error::{CniError, Code, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
    Status,
    Gc,
}

impl Command {
    pub fn parse(s: &str) -> Result<Command> {
        Ok(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "VERSION" => Command::Version,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            other => {
                return Err(CniError::new(
                    Code::InvalidEnv,
                    format!(
                        "environment variable CNI_COMMAND: unknown command {other:?} (ADD, DEL, CHECK, VERSION, STATUS, GC)"
                    ),
                ));
            }
        })
    }
}

/// The per-attachment variables, validated for the commands that need them.
#[derive(Debug, Clone)]
pub struct CniEnv {
    pub container_id: String,
    /// Empty when the runtime passes no netns (allowed for DEL).
    pub netns: Option<PathBuf>,
    pub ifname: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn missing(name: &str) -> CniError {
    CniError::new(
        Code::InvalidEnv,
        format!("environment variable {name} is required but missing or empty"),
    )
}

/// Container IDs: alphanumeric plus '_', '.', '-' (spec), starting alphanumeric.
fn valid_container_id(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphanumeric())
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '.' | '-'))
        && s.len() <= 200
}

pub fn command() -> Result<Command> {
    Command::parse(&var("CNI_COMMAND").ok_or_else(|| missing("CNI_COMMAND"))?)
}

impl CniEnv {
    pub fn from_env(cmd: Command) -> Result<CniEnv> {
        let container_id = var("CNI_CONTAINERID").ok_or_else(|| missing("CNI_CONTAINERID"))?;
        if !valid_container_id(&container_id) {
            return Err(CniError::new(
                Code::InvalidEnv,
                format!(
                    "environment variable CNI_CONTAINERID: {container_id:?} must be letters, digits, '_', '.', '-'"
                ),
            ));
        }
        let ifname = var("CNI_IFNAME").ok_or_else(|| missing("CNI_IFNAME"))?;
        validate_ifname("CNI_IFNAME", &ifname).map_err(|e| {
            CniError::new(
                Code::InvalidEnv,
                e.msg.replace(
                    "network config field `CNI_IFNAME`",
                    "environment variable CNI_IFNAME",
                ),
            )
        })?;
        let netns = var("CNI_NETNS").map(PathBuf::from);
        if netns.is_none() && matches!(cmd, Command::Add | Command::Check) {
            return Err(missing("CNI_NETNS"));
        }
        Ok(CniEnv {
            container_id,
            netns,
            ifname,
        })
    }
}
