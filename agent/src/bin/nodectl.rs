//! `nodectl`: the operator's CLI. Image commands work on the node's image store directly (its
//! file locks make that safe next to a running nodelet); pod commands (`ps` / `get pods`,
//! `logs`) talk to nodelet over its API socket (`--socket` or `NODELET_SOCKET`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use nodelet_images::cli::{self, ImageCommand};
use nodelet_images::{ImageService, RegistryConfig, Store};

#[derive(Debug, Parser)]
#[command(name = "nodectl", version, about = "Operate a nodelet node")]
struct Cli {
    #[command(flatten)]
    socket: nodelet::config::SocketFlags,
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

#[derive(Debug, clap::Args)]
struct PsArgs {
    /// Namespace (default "default").
    #[arg(short, long)]
    namespace: Option<String>,
    /// Pods of every namespace.
    #[arg(short = 'A', long = "all-namespaces")]
    all_namespaces: bool,
    /// Output format: wide (adds IP and NODE) or json (the v1 Pods as a List).
    #[arg(short, long, value_parser = ["wide", "json"])]
    output: Option<String>,
    /// Label selector (`app=web`, `tier in (a,b)`, `!canary`).
    #[arg(short = 'l', long)]
    selector: Option<String>,
}

#[derive(Debug, Subcommand)]
enum GetWhat {
    /// Pods (same as `nodectl ps`).
    #[command(alias = "pod", alias = "po")]
    Pods(PsArgs),
}

#[derive(Debug, Subcommand)]
enum DescribeWhat {
    /// One pod.
    #[command(alias = "pods", alias = "po")]
    Pod {
        name: String,
        #[arg(short, long)]
        namespace: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
struct LogsArgs {
    pod: String,
    #[arg(short, long)]
    namespace: Option<String>,
    /// Container (needed when the pod has several).
    #[arg(short, long)]
    container: Option<String>,
    /// The previous instance (`--previous=N`: the N-th previous).
    #[arg(short, long, num_args = 0..=1, default_missing_value = "1")]
    previous: Option<u32>,
    /// Only the last N lines.
    #[arg(long)]
    tail: Option<u64>,
    /// Prefix each line with its timestamp.
    #[arg(long)]
    timestamps: bool,
    /// Keep streaming new lines.
    #[arg(short, long)]
    follow: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    #[command(flatten)]
    Image(ImageCommand),
    /// List pods: NAME READY STATUS RESTARTS AGE.
    Ps(PsArgs),
    /// Display resources (`get pods`).
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// Print a container's log.
    Logs(LogsArgs),
    /// Show a pod in detail, with its events (`describe pod NAME`).
    Describe {
        #[command(subcommand)]
        what: DescribeWhat,
    },
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

fn age(pod: &k8s_openapi::api::core::v1::Pod) -> String {
    let start = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0);
    match start {
        Some(t) => {
            nodelet::events::human_duration(jiff::Timestamp::now().duration_since(t).unsigned_abs())
        }
        None => "<unknown>".into(),
    }
}

fn restarts(pod: &k8s_openapi::api::core::v1::Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).sum())
        .unwrap_or(0)
}

async fn ps(client: &nodelet::api::Client, a: &PsArgs) -> anyhow::Result<()> {
    let ns = a.namespace.clone().unwrap_or_else(|| "default".into());
    let pods = client
        .pods(
            (!a.all_namespaces).then_some(ns.as_str()),
            a.selector.as_deref(),
        )
        .await?;
    if a.output.as_deref() == Some("json") {
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": pods});
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if pods.is_empty() {
        if a.all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {ns} namespace.");
        }
        return Ok(());
    }
    let wide = a.output.as_deref() == Some("wide");
    let mut rows: Vec<Vec<String>> = vec![];
    let mut header = vec![];
    if a.all_namespaces {
        header.push("NAMESPACE");
    }
    header.extend(["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    if wide {
        header.extend(["IP", "NODE"]);
    }
    rows.push(header.iter().map(|s| s.to_string()).collect());
    for p in &pods {
        let mut r = vec![];
        if a.all_namespaces {
            r.push(p.metadata.namespace.clone().unwrap_or_default());
        }
        r.push(p.metadata.name.clone().unwrap_or_default());
        r.push(nodelet::status::ready_column(p));
        r.push(nodelet::status::status_column(p));
        r.push(restarts(p).to_string());
        r.push(age(p));
        if wide {
            r.push(
                p.status
                    .as_ref()
                    .and_then(|s| s.pod_ip.clone())
                    .unwrap_or_else(|| "<none>".into()),
            );
            r.push(
                p.spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_else(|| "<none>".into()),
            );
        }
        rows.push(r);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{v:<w$}", w = widths[i]))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
    Ok(())
}

async fn logs(client: &nodelet::api::Client, a: &LogsArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let ns = a.namespace.clone().unwrap_or_else(|| "default".into());
    let q = nodelet::api::LogQuery {
        container: a.container.clone(),
        previous: a.previous.unwrap_or(0),
        tail_lines: a.tail,
        since_seconds: None,
        timestamps: a.timestamps,
        follow: a.follow,
    };
    let mut stream = client.logs(&ns, &a.pod, &q).await?;
    let mut out = std::io::stdout();
    while let Some(chunk) = stream.chunk().await? {
        out.write_all(&chunk)?;
        out.flush()?;
    }
    Ok(())
}

async fn describe(
    client: &nodelet::api::Client,
    name: &str,
    namespace: Option<&str>,
) -> anyhow::Result<()> {
    let ns = namespace.unwrap_or("default");
    let pod = client.pod(ns, name).await?;
    let events = client.events(Some(ns), Some(name)).await?;
    print!(
        "{}",
        nodelet::describe::pod(&pod, &events, jiff::Timestamp::now())
    );
    Ok(())
}

fn run(args: Cli) -> anyhow::Result<()> {
    let client = || nodelet::api::Client::new(&args.socket.socket);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    match args.cmd {
        Cmd::Ps(a)
        | Cmd::Get {
            what: GetWhat::Pods(a),
        } => rt.block_on(ps(&client()?, &a)),
        Cmd::Logs(a) => rt.block_on(logs(&client()?, &a)),
        Cmd::Describe {
            what: DescribeWhat::Pod { name, namespace },
        } => rt.block_on(describe(&client()?, &name, namespace.as_deref())),
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
            rt.block_on(cli::run(cmd, &svc))
        }
    }
}
