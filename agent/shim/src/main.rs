//! `nodelet-shim --dir DIR --runtime-root DIR`: serve one pod's containers until told to shut
//! down. Prints `ready` on stdout once its socket (`DIR/shim.sock`) accepts connections, then
//! closes stdout, so the spawning agent knows when to connect.

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "nodelet-shim", version, about = "nodelet's per-pod shim")]
struct Args {
    /// The pod's shim directory (socket, exit records).
    #[arg(long)]
    dir: PathBuf,
    /// noderun state root for the pod's containers.
    #[arg(long = "runtime-root")]
    runtime_root: PathBuf,
    /// Rotate a container log at this size in bytes.
    #[arg(long = "log-max-size", default_value_t = 10 * 1024 * 1024)]
    log_max_size: u64,
    /// Log files kept per container (the live one included).
    #[arg(long = "log-max-files", default_value_t = 5)]
    log_max_files: usize,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let server = nodelet_shim::server::Server::new(nodelet_shim::server::Config {
        dir: a.dir,
        runtime_root: a.runtime_root,
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
