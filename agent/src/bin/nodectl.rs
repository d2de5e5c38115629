//! `nodectl`: the operator's CLI. Image commands work on the node's image store directly (its
//! file locks make that safe next to a running nodelet); pod commands (`ps`, `logs`,
//! `describe`, `exec`, ...) talk to nodelet over its API socket and arrive with the API.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use nodelet_images::cli::{self, ImageCommand};
use nodelet_images::{ImageService, RegistryConfig, Store};

#[derive(Debug, Parser)]
#[command(name = "nodectl", version, about = "Operate a nodelet node")]
struct Cli {
    /// nodelet's root directory (the image store is `<root-dir>/images`).
    #[arg(
        long = "root-dir",
        env = "NODELET_ROOT_DIR",
        default_value = "/var/lib/nodelet"
    )]
    root_dir: PathBuf,
    /// Registry reachable over plain HTTP (repeatable); loopback always is.
    #[arg(long = "insecure-registry")]
    insecure: Vec<String>,
    /// Docker-style config.json with registry credentials.
    #[arg(long = "auth-file", env = "NODELET_AUTH_FILE")]
    auth_file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    #[command(flatten)]
    Image(ImageCommand),
    /// Print nodectl's version.
    Version,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Cli) -> anyhow::Result<()> {
    match args.cmd {
        Cmd::Version => {
            println!("nodectl {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Cmd::Image(cmd) => {
            let root = args.root_dir.join("images");
            let store = Store::open(&root)
                .with_context(|| format!("opening image store {}", root.display()))?;
            let config = RegistryConfig {
                insecure: args.insecure,
                auth_file: args.auth_file,
                ..Default::default()
            };
            let svc = ImageService::new(store, config).context("configuring registries")?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting tokio")?
                .block_on(cli::run(cmd, &svc))
        }
    }
}
