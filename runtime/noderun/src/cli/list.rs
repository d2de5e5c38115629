//! `noderun list` and `noderun ps`: tables as runc prints them, or JSON.

use anyhow::{Context, Result};
use clap::Args;
use noderun::Runtime;

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// Only ids.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    id: String,
    /// Options for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub fn list(rt: &Runtime, a: &ListArgs) -> Result<()> {
    let all = rt.list()?;
    if a.quiet {
        for s in &all {
            println!("{}", s.id);
        }
        return Ok(());
    }
    if a.format == "json" {
        println!("{}", serde_json::to_string(&all)?);
        return Ok(());
    }
    let mut rows = vec![
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
            .map(String::from)
            .to_vec(),
    ];
    for s in &all {
        rows.push(vec![
            s.id.clone(),
            s.pid.unwrap_or(0).to_string(),
            s.status.to_string(),
            s.bundle.display().to_string(),
            s.created.clone().unwrap_or_default(),
            s.owner.clone().unwrap_or_default(),
        ]);
    }
    print_table(&rows);
    Ok(())
}

fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map(|r| r.len()).unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
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
}

pub fn ps(rt: &Runtime, a: &PsArgs) -> Result<()> {
    let pids = rt.pids(&a.id)?;
    if a.format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(());
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("run ps")?;
    if !out.status.success() {
        anyhow::bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for l in lines {
        if let Some(p) = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
            && pids.contains(&p)
        {
            println!("{l}");
        }
    }
    Ok(())
}
