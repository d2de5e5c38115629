//! The `nodenet` binary: a CNI plugin when run with CNI_COMMAND set, otherwise a small CLI
//! (`nodenet sync --config FILE`, `nodenet version`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use nodenet::config::NetConf;
use nodenet::version::{LATEST, SUPPORTED};
use nodenet::{env, plugin};

fn cni_main() -> ExitCode {
    let mut stdin = Vec::new();
    let read = std::io::stdin().read_to_end(&mut stdin);
    // Errors are reported in the version the caller asked for when we speak it.
    let err_version = serde_json::from_slice::<serde_json::Value>(&stdin)
        .ok()
        .and_then(|v| {
            v.get("cniVersion")
                .and_then(|s| s.as_str())
                .map(str::to_string)
        })
        .filter(|v| SUPPORTED.contains(&v.as_str()))
        .unwrap_or_else(|| LATEST.to_string());
    let outcome = match read {
        Err(e) => Err(nodenet::error::CniError::io("reading stdin", e)),
        Ok(_) => env::command().and_then(|cmd| plugin::run(cmd, &stdin)),
    };
    let mut out = std::io::stdout().lock();
    match outcome {
        Ok(Some(s)) => {
            let _ = writeln!(out, "{s}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(out, "{}", e.to_json(&err_version));
            let _ = writeln!(std::io::stderr(), "nodenet: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cli(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("sync") => {
            let mut config: Option<PathBuf> = None;
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--config" | "-c" => {
                        config = Some(it.next().context("--config needs a file")?.into())
                    }
                    other => bail!("sync: unknown argument {other:?}"),
                }
            }
            let path = config.context("sync: --config FILE (a .conf or .conflist) is required")?;
            let conf =
                NetConf::from_file(&path).with_context(|| format!("loading {}", path.display()))?;
            let summary =
                plugin::sync(&conf).with_context(|| format!("syncing {}", path.display()))?;
            println!("{summary}");
            Ok(())
        }
        Some("version") | Some("--version") => {
            println!(
                "nodenet {} (CNI {})",
                env!("CARGO_PKG_VERSION"),
                SUPPORTED.join(", ")
            );
            Ok(())
        }
        _ => bail!(
            "usage: nodenet sync --config FILE | nodenet version\n(as a CNI plugin, run with CNI_COMMAND set)"
        ),
    }
}

fn main() -> ExitCode {
    if std::env::var_os("CNI_COMMAND").is_some() {
        return cni_main();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nodenet: {e:#}");
            ExitCode::FAILURE
        }
    }
}
