//! No import cycles between modules (ARCHITECTURE.md, invariants): for every agent-side crate,
//! the graph "module A names module B" (through `crate::`/`super::` paths, and a parent's
//! `pub use child::...` re-exports) has no cycle. Test code (`#[cfg(test)] mod tests` and
//! `tests.rs` files) is left out: a test module naming its parent is no design cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates checked, relative to agent/.
const CRATES: &[&str] = &[
    "src",
    "objects/src",
    "api/src",
    "nodectl/src",
    "shim/src",
    "shim-protocol/src",
    "images/src",
];

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `pods/worker.rs` → `["pods", "worker"]`; `pods/mod.rs` → `["pods"]`; lib.rs/main.rs → `[]`.
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return vec![];
    }
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The source without its test module and comments.
fn non_test(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path a `crate::`/`super::`/`self::` path (with `{a, b::c}` groups expanded) names,
/// relative to the crate root.
fn named_paths(text: &str, module: &[String], is_mod_file: bool) -> Vec<Vec<String>> {
    let bytes = text.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        if !ident(bytes[i]) || (i > 0 && (ident(bytes[i - 1]) || bytes[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (ident(bytes[i]) || bytes[i] == b':' || bytes[i] == b'{') {
            if bytes[i] == b'{' {
                // A group: expand each item with the prefix so far.
                let end = text[i..].find('}').map_or(bytes.len(), |e| i + e);
                let prefix = text[start..i].to_string();
                for item in text[i + 1..end].split(',') {
                    match item.trim() {
                        "" => {}
                        "self" => out.push(prefix.trim_end_matches(':').to_string()),
                        item => out.push(format!("{prefix}{item}")),
                    }
                }
                i = end;
                break;
            }
            i += 1;
        }
        let word = &text[start..i.min(bytes.len())];
        if word.contains("::") && !word.contains('{') {
            out.push(word.to_string());
        }
    }
    let mut paths = vec![];
    for p in out {
        let segs: Vec<&str> = p.split("::").filter(|s| !s.is_empty()).collect();
        let Some(first) = segs.first() else { continue };
        let mut base: Vec<String> = match *first {
            "crate" => vec![],
            "super" | "self" => {
                // In mod.rs the module is the directory; in x.rs super is the parent.
                let mut b = module.to_vec();
                if *first == "super" {
                    b.pop();
                }
                b
            }
            // A parent's `pub use child::X`: a path starting at a child module.
            child if is_mod_file => {
                let mut b = module.to_vec();
                b.push(child.to_string());
                paths.push(b);
                continue;
            }
            _ => continue,
        };
        let mut rest = &segs[1..];
        while rest.first() == Some(&"super") {
            base.pop();
            rest = &rest[1..];
        }
        base.extend(rest.iter().map(|s| s.to_string()));
        paths.push(base);
    }
    paths
}

fn cycles_in(root: &Path) -> Vec<Vec<String>> {
    let mut files = vec![];
    rs_files(root, &mut files);
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs"))
        .collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(root, f)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for f in &files {
        let m = module_of(root, f);
        if m.is_empty() {
            continue; // the crate root only declares modules
        }
        let text = std::fs::read_to_string(f).unwrap();
        let is_mod_file = f.file_name().is_some_and(|n| n == "mod.rs");
        for p in named_paths(&non_test(&text), &m, is_mod_file) {
            // The longest known module the path names.
            let target = (1..=p.len())
                .rev()
                .map(|n| p[..n].to_vec())
                .find(|c| modules.contains(c));
            if let Some(t) = target
                && t != m
            {
                edges.entry(m.clone()).or_default().insert(t);
            }
        }
    }
    // Every cycle through a module, by depth-first search from each module.
    let mut found = BTreeSet::new();
    for start in &modules {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((m, path)) = stack.pop() {
            for n in edges.get(&m).into_iter().flatten() {
                if n == start {
                    let mut c: Vec<String> = path.iter().map(|p| p.join("::")).collect();
                    let min = (0..c.len()).min_by_key(|&i| c[i].clone()).unwrap_or(0);
                    c.rotate_left(min);
                    found.insert(c);
                } else if seen.insert(n.clone()) {
                    let mut p = path.clone();
                    p.push(n.clone());
                    stack.push((n.clone(), p));
                }
            }
        }
    }
    found.into_iter().collect()
}

#[test]
fn no_module_cycles() {
    let agent = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = vec![];
    for c in CRATES {
        for cycle in cycles_in(&agent.join(c)) {
            all.push(format!("{c}: {}", cycle.join(" -> ")));
        }
    }
    assert!(all.is_empty(), "module cycles:\n{}", all.join("\n"));
}

#[test]
fn the_check_sees_a_cycle() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("a")).unwrap();
    std::fs::write(t.path().join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(t.path().join("a/mod.rs"), "pub mod x;\npub use x::X;\n").unwrap();
    std::fs::write(
        t.path().join("a/x.rs"),
        "use crate::b::{self, B};\npub struct X;\n",
    )
    .unwrap();
    std::fs::write(t.path().join("b.rs"), "use super::a::X;\npub struct B;\n").unwrap();
    // a re-exports a::x, which uses b, which uses a's re-export.
    assert_eq!(cycles_in(t.path()), [vec!["a", "a::x", "b"]]);
    std::fs::write(t.path().join("b.rs"), "pub struct B;\n").unwrap();
    assert!(cycles_in(t.path()).is_empty());
}
