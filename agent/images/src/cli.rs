//! The image commands of the CLI (`images`, `pull`, `rmi`, `import`, `image prune`) as
//! clap-derive structs plus `run`, so `nodectl` and the `nodelet-images` binary share them.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use comfy_table::Table;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::pull::{ImageService, Progress, PullEvent};
use crate::records::Removed;

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images (REPOSITORY TAG IMAGE ID SIZE).
    Images(ImagesArgs),
    /// Pull an image from its registry.
    Pull(PullArgs),
    /// Remove images (a tag, or the image when it is its last name).
    Rmi(RmiArgs),
    /// Import an OCI image layout archive or a `docker save` archive.
    Import(ImportArgs),
    /// Image maintenance.
    Image {
        #[command(subcommand)]
        cmd: ImageSubcommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageSubcommand {
    /// Remove unused images, then unreferenced blobs and layers.
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show only image IDs.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image reference, e.g. `busybox:1.36` or `registry:5000/app@sha256:...`.
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all images no container uses, not only untagged ones.
    #[arg(short, long)]
    pub all: bool,
}

/// `1.2MB`-style sizes (decimal, as docker shows them).
pub fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[i]
    }
}

/// Splits `registry/repo:tag` into (`registry/repo`, `tag`); docker.io names shortened.
fn split_tag(t: &str) -> (String, String) {
    let (name, tag) = match t.rfind(':') {
        Some(i) if !t[i..].contains('/') => (&t[..i], &t[i + 1..]),
        _ => (t, "<none>"),
    };
    let name = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name);
    (name.to_string(), tag.to_string())
}

/// Progress as bars on a terminal, as lines otherwise.
struct CliProgress {
    bars: Option<(
        MultiProgress,
        Mutex<std::collections::HashMap<String, ProgressBar>>,
    )>,
}

impl CliProgress {
    fn new() -> Self {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| (MultiProgress::new(), Mutex::new(Default::default())));
        CliProgress { bars }
    }
}

impl Progress for CliProgress {
    fn event(&self, ev: PullEvent) {
        let Some((mp, map)) = &self.bars else {
            match ev {
                PullEvent::Resolved {
                    reference,
                    manifest,
                    layers,
                } => eprintln!(
                    "resolved {reference} to {manifest} ({} layers)",
                    layers.len()
                ),
                PullEvent::LayerCached { digest } => {
                    eprintln!("layer {} already present", digest.short())
                }
                PullEvent::LayerProgress { .. } => {}
                PullEvent::LayerDownloaded { digest } => {
                    eprintln!("layer {} downloaded", digest.short())
                }
                PullEvent::LayerUnpacked { digest } => {
                    eprintln!("layer {} unpacked", digest.short())
                }
                PullEvent::Done { .. } => {}
            }
            return;
        };
        let Ok(mut map) = map.lock() else { return };
        match ev {
            PullEvent::Resolved { layers, .. } => {
                let style =
                    ProgressStyle::with_template("{prefix} {bar:30} {bytes}/{total_bytes} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar());
                for l in layers {
                    let pb = mp.add(ProgressBar::new(l.size));
                    pb.set_style(style.clone());
                    pb.set_prefix(l.digest.short().to_string());
                    map.insert(l.digest.to_string(), pb);
                }
            }
            PullEvent::LayerProgress { digest, done, .. } => {
                if let Some(pb) = map.get(digest.as_str()) {
                    pb.set_position(done);
                }
            }
            PullEvent::LayerCached { digest } | PullEvent::LayerDownloaded { digest } => {
                if let Some(pb) = map.get(digest.as_str()) {
                    pb.set_position(pb.length().unwrap_or(0));
                    pb.set_message("unpacking");
                }
            }
            PullEvent::LayerUnpacked { digest } => {
                if let Some(pb) = map.get(digest.as_str()) {
                    pb.finish_with_message("done");
                }
            }
            PullEvent::Done { .. } => {}
        }
    }
}

/// Runs one image command against `svc`, printing to stdout/stderr.
pub async fn run(cmd: ImageCommand, svc: &ImageService) -> anyhow::Result<()> {
    let store = svc.store();
    match cmd {
        ImageCommand::Images(a) => {
            let images = store.list_images().context("listing images")?;
            if a.quiet {
                for i in images {
                    println!("{}", i.id.short());
                }
                return Ok(());
            }
            let mut t = Table::new();
            t.load_style(comfy_table::presets::NOTHING);
            t.set_header(["REPOSITORY", "TAG", "IMAGE ID", "SIZE"]);
            for i in images {
                let names: Vec<(String, String)> = if i.repo_tags.is_empty() {
                    let repo = i
                        .repo_digests
                        .first()
                        .map(|d| split_tag(d.split('@').next().unwrap_or("")).0)
                        .unwrap_or_else(|| "<none>".into());
                    vec![(repo, "<none>".into())]
                } else {
                    i.repo_tags.iter().map(|t| split_tag(t)).collect()
                };
                for (repo, tag) in names {
                    t.add_row([repo, tag, i.id.short().to_string(), human_size(i.size)]);
                }
            }
            println!(
                "{}",
                t.to_string()
                    .lines()
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        ImageCommand::Pull(a) => {
            let progress = CliProgress::new();
            // The error names the reference and registry already.
            let rec = svc.pull(&a.reference, &progress).await?;
            println!("{}", rec.id);
        }
        ImageCommand::Rmi(a) => {
            let mut failed = Vec::new();
            for name in &a.images {
                match store.remove_image(name) {
                    Ok(Removed::Untagged(t)) => println!("Untagged: {t}"),
                    Ok(Removed::Deleted(id)) => println!("Deleted: {id}"),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        failed.push(name.clone());
                    }
                }
            }
            if !failed.is_empty() {
                anyhow::bail!("could not remove {}", failed.join(", "));
            }
        }
        ImageCommand::Import(a) => {
            let platform = svc.platform().clone();
            let recs = crate::import::import_archive(store, &a.file, &platform)
                .with_context(|| format!("importing {}", a.file.display()))?;
            for r in recs {
                let name = r
                    .repo_tags
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "<none>".into());
                println!("Loaded image: {name} {}", r.id);
            }
        }
        ImageCommand::Image {
            cmd: ImageSubcommand::Prune(a),
        } => {
            let rep = store.prune(a.all).context("pruning images")?;
            for id in &rep.images {
                println!("Deleted: {id}");
            }
            println!(
                "Removed {} blobs and {} layers, {} reclaimed",
                rep.blobs,
                rep.layers,
                human_size(rep.bytes_freed)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_names() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_234_000), "1.234MB");
        assert_eq!(human_size(50_000_000), "50MB");
        assert_eq!(
            split_tag("docker.io/library/busybox:1.36"),
            ("busybox".into(), "1.36".into())
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/a/b:v1"),
            ("127.0.0.1:5000/a/b".into(), "v1".into())
        );
    }
}
