//! Loading the network configuration the CNI way: the first `*.conf`, `*.conflist` or `*.json`
//! file in the configuration directory in lexical order. A `.conflist` (or any file with a
//! `plugins` array) is a list; a single-plugin `.conf`/`.json` becomes a list of one, as
//! libcni's `ConfListFromConf` does. An invalid first file is an error naming it (as
//! containerd does), not silently skipped.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::CniError;

/// A network configuration list.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfigList {
    pub name: String,
    pub cni_version: String,
    /// Each plugin's configuration object (`type` plus its own keys).
    pub plugins: Vec<Map<String, Value>>,
    /// The list as JSON (what is cached with each ADD result).
    pub raw: Value,
    /// The file it came from (empty for a cached list).
    pub source: PathBuf,
}

/// The configuration file CNI uses in `dir`: the lexically first `.conf`/`.conflist`/`.json`.
pub fn config_file(dir: &Path) -> Result<PathBuf, CniError> {
    let rd =
        std::fs::read_dir(dir).map_err(|e| CniError::io("read CNI config directory", dir, e))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("conf" | "conflist" | "json")
            ) && p.is_file()
        })
        .collect();
    files.sort();
    files.into_iter().next().ok_or_else(|| CniError::NoConfig {
        dir: dir.to_path_buf(),
    })
}

/// Loads the network configuration from `dir`.
pub fn load(dir: &Path) -> Result<NetworkConfigList, CniError> {
    let path = config_file(dir)?;
    let data = std::fs::read(&path).map_err(|e| CniError::io("read", &path, e))?;
    let v: Value = serde_json::from_slice(&data).map_err(|e| CniError::Config {
        path: path.clone(),
        reason: format!("not JSON: {e}"),
    })?;
    let is_list = path.extension().is_some_and(|e| e == "conflist") || v.get("plugins").is_some();
    let list = if is_list {
        v
    } else {
        // ConfListFromConf: the plugin's name and version become the list's.
        let mut obj = v.as_object().cloned().unwrap_or_default();
        let name = obj.get("name").cloned().unwrap_or(Value::Null);
        let version = obj.get("cniVersion").cloned().unwrap_or(Value::Null);
        obj.remove("name");
        serde_json::json!({"name": name, "cniVersion": version, "plugins": [obj]})
    };
    from_value(list, &path)
}

/// Checks a configuration list given as JSON; `path` names it in errors.
pub fn from_value(v: Value, path: &Path) -> Result<NetworkConfigList, CniError> {
    let bad = |reason: String| CniError::Config {
        path: path.to_path_buf(),
        reason,
    };
    let obj = v
        .as_object()
        .ok_or_else(|| bad("must be a JSON object".into()))?;
    let name = match obj.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(bad("name: required non-empty string".into())),
    };
    let cni_version = match obj.get("cniVersion") {
        Some(Value::String(s)) if parse_version(s).is_some() => s.clone(),
        Some(other) => {
            return Err(bad(format!(
                "cniVersion: {other} is not a version like 1.0.0"
            )));
        }
        None => return Err(bad("cniVersion: required".into())),
    };
    let plugins = match obj.get("plugins") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => return Err(bad("plugins: the list is empty".into())),
        _ => {
            return Err(bad(
                "plugins: required array (or a single plugin with `type`)".into(),
            ));
        }
    };
    let mut out = vec![];
    for (i, p) in plugins.iter().enumerate() {
        let p = p
            .as_object()
            .ok_or_else(|| bad(format!("plugins[{i}]: must be an object")))?;
        match p.get("type") {
            Some(Value::String(t))
                if !t.is_empty() && !t.contains('/') && t != "." && t != ".." => {}
            _ => {
                return Err(bad(format!(
                    "plugins[{i}].type: required plugin binary name (no '/')"
                )));
            }
        }
        out.push(p.clone());
    }
    Ok(NetworkConfigList {
        name,
        cni_version,
        plugins: out,
        raw: v,
        source: path.to_path_buf(),
    })
}

/// `major.minor.patch` as numbers.
pub fn parse_version(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split('.').map(|p| p.parse::<u32>().ok());
    let v = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_first_in_lexical_order() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("README"), "x").unwrap();
        std::fs::write(
            d.join("99-z.conf"),
            r#"{"cniVersion":"1.0.0","name":"z","type":"z"}"#,
        )
        .unwrap();
        std::fs::write(
            d.join("10-a.conflist"),
            r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"bridge"},{"type":"portmap"}]}"#,
        )
        .unwrap();
        let l = load(d).unwrap();
        assert_eq!((l.name.as_str(), l.plugins.len()), ("a", 2));
        std::fs::remove_file(d.join("10-a.conflist")).unwrap();
        let l = load(d).unwrap();
        assert_eq!((l.name.as_str(), l.cni_version.as_str()), ("z", "1.0.0"));
        assert_eq!(l.plugins[0]["type"], "z");
        assert!(l.plugins[0].get("name").is_none());
    }

    #[test]
    fn errors_name_file_and_field() {
        let t = tempfile::tempdir().unwrap();
        let e = load(t.path()).unwrap_err().to_string();
        assert!(e.contains("no CNI network configuration"), "{e}");
        let f = t.path().join("1.conflist");
        for (body, needle) in [
            ("{", "not JSON"),
            (
                r#"{"cniVersion":"1.0.0","plugins":[{"type":"x"}]}"#,
                "name: required",
            ),
            (
                r#"{"name":"n","cniVersion":"one","plugins":[{"type":"x"}]}"#,
                "cniVersion",
            ),
            (
                r#"{"name":"n","cniVersion":"1.0.0","plugins":[]}"#,
                "plugins: the list is empty",
            ),
            (
                r#"{"name":"n","cniVersion":"1.0.0","plugins":[{"type":"../x"}]}"#,
                "plugins[0].type",
            ),
        ] {
            std::fs::write(&f, body).unwrap();
            let e = load(t.path()).unwrap_err().to_string();
            assert!(e.contains("1.conflist") && e.contains(needle), "{e}");
        }
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("0.4.0"), Some((0, 4, 0)));
        assert_eq!(parse_version("1.1"), None);
        assert_eq!(parse_version("1.1.0.1"), None);
    }
}
