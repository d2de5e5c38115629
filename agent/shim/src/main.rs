//! `nodelet-shim --dir DIR --runtime-root DIR [--runtime PATH] [--log-max-size BYTES]
//! [--log-max-files N]`: serve one pod's containers until told to shut down. Prints `ready` on
//! stdout once its socket (`DIR/shim.sock`) accepts connections, then closes stdout, so the
//! spawning agent knows when to connect.
//!
//! The arguments are parsed with lexopt, not clap: one shim runs per pod, and clap's ~150 KiB
//! of text would be a tenth of its resident set (ARCHITECTURE.md, "The shim stays small").

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

const USAGE: &str = "usage: nodelet-shim --dir DIR --runtime-root DIR [--runtime PATH] \
[--log-max-size BYTES] [--log-max-files N]

nodelet's per-pod shim.
  --dir DIR             the pod's shim directory (socket, exit records)
  --runtime-root DIR    noderun's state root for the pod's containers
  --runtime PATH        the noderun binary [default: noderun next to this binary]
  --log-max-size BYTES  rotate a container log at this size [default: 10485760]
  --log-max-files N     log files kept per container, the live one included [default: 5]";

struct Args {
    dir: PathBuf,
    runtime_root: PathBuf,
    runtime: Option<PathBuf>,
    log_max_size: u64,
    log_max_files: usize,
}

/// `None`: help or version was printed.
fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> anyhow::Result<Option<Args>> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let (mut dir, mut runtime_root, mut runtime) = (None, None, None);
    let (mut log_max_size, mut log_max_files) = (10 * 1024 * 1024, 5);
    while let Some(arg) = p.next()? {
        match arg {
            Long("dir") => dir = Some(PathBuf::from(p.value()?)),
            Long("runtime-root") => runtime_root = Some(PathBuf::from(p.value()?)),
            Long("runtime") => runtime = Some(PathBuf::from(p.value()?)),
            Long("log-max-size") => {
                log_max_size = p.value()?.parse().context("--log-max-size")?;
            }
            Long("log-max-files") => {
                log_max_files = p.value()?.parse().context("--log-max-files")?;
            }
            Short('h') | Long("help") => {
                println!("{USAGE}");
                return Ok(None);
            }
            Short('V') | Long("version") => {
                println!("nodelet-shim {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            _ => bail!("{}\n{USAGE}", arg.unexpected()),
        }
    }
    let (Some(dir), Some(runtime_root)) = (dir, runtime_root) else {
        bail!("--dir and --runtime-root are required\n{USAGE}");
    };
    Ok(Some(Args {
        dir,
        runtime_root,
        runtime,
        log_max_size,
        log_max_files,
    }))
}

fn main() -> anyhow::Result<()> {
    let Some(a) = parse(std::env::args_os().skip(1))? else {
        return Ok(());
    };
    let runtime = match a.runtime {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("noderun"),
    };
    let server = nodelet_shim::server::Server::new(nodelet_shim::server::Config {
        dir: a.dir,
        runtime_root: a.runtime_root,
        runtime,
        log_max_size: a.log_max_size,
        log_max_files: a.log_max_files,
    })?;
    let mut out = std::io::stdout();
    writeln!(out, "ready")?;
    out.flush()?;
    // Close stdout so a reader of it sees EOF; errors from now on go to stderr.
    // SAFETY: fd 1 is ours; nothing else writes to stdout after this.
    unsafe { libc::close(1) };
    server.serve()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> anyhow::Result<Option<Args>> {
        parse(a.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn flags_and_defaults() {
        let a = args(&["--dir", "/d", "--runtime-root=/r", "--log-max-files", "3"])
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.dir.to_str(), a.runtime_root.to_str()),
            (Some("/d"), Some("/r"))
        );
        assert_eq!(
            (a.log_max_size, a.log_max_files, a.runtime),
            (10 << 20, 3, None)
        );
        assert!(args(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn bad_arguments_are_named() {
        let e = args(&["--dir", "/d"]).err().unwrap().to_string();
        assert!(e.contains("--runtime-root are required"), "{e}");
        let e = args(&["--dir", "/d", "--runtime-root", "/r", "--bogus"]);
        assert!(format!("{:#}", e.err().unwrap()).contains("--bogus"));
        let e = args(&["--dir", "/d", "--runtime-root", "/r", "--log-max-size", "x"]);
        assert!(format!("{:#}", e.err().unwrap()).contains("--log-max-size"));
    }
}
