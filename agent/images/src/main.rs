//! `nodelet-images`: the image commands against a store directory, without the agent.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use nodelet_images::cli::{self, ImageCommand};
use nodelet_images::{ImageService, RegistryConfig, Store};

#[derive(Debug, Parser)]
#[command(name = "nodelet-images", about = "Manage nodelet's image store")]
struct Cli {
    /// Image store root.
    #[arg(
        long,
        env = "NODELET_IMAGE_ROOT",
        default_value = "/var/lib/nodelet/images"
    )]
    root: PathBuf,
    /// Registry reachable over plain HTTP (repeatable); loopback always is.
    #[arg(long = "insecure-registry")]
    insecure: Vec<String>,
    /// Docker-style config.json with registry credentials.
    #[arg(long, env = "NODELET_AUTH_FILE")]
    auth_file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: ImageCommand,
}

fn main() -> std::process::ExitCode {
    let args = Cli::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Cli) -> anyhow::Result<()> {
    let store = Store::open(&args.root)
        .with_context(|| format!("opening image store {}", args.root.display()))?;
    let config = RegistryConfig {
        insecure: args.insecure,
        auth_file: args.auth_file,
        ..Default::default()
    };
    let svc = ImageService::new(store, config).context("configuring registries")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    rt.block_on(cli::run(args.cmd, &svc))
}
