//! Registry credentials from a docker-style auth file (`config.json`: `auths.<host>.auth`
//! base64 `user:password`, or `username`/`password`, or `registrytoken`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;

use crate::error::{ImageError, Result};

#[derive(Debug, Default, serde::Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    registrytoken: Option<String>,
}

/// Credentials per registry host.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    by_host: HashMap<String, RegistryAuth>,
}

/// `https://index.docker.io/v1/` → `docker.io`, `localhost:5000/` → `localhost:5000`.
fn normalize_host(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

impl Credentials {
    /// Loads a docker `config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |reason: String| ImageError::AuthFile {
            path: PathBuf::from(path),
            reason,
        };
        let text = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let file: AuthFile = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let mut by_host = HashMap::new();
        for (key, entry) in file.auths {
            let auth = if let Some(token) = entry.registrytoken {
                RegistryAuth::Bearer(token)
            } else if let Some(b64) = entry.auth.filter(|a| !a.is_empty()) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| bad(format!("auths.{key:?}.auth: not base64: {e}")))?;
                let raw = String::from_utf8(raw)
                    .map_err(|_| bad(format!("auths.{key:?}.auth: not UTF-8")))?;
                let (user, pass) = raw
                    .split_once(':')
                    .ok_or_else(|| bad(format!("auths.{key:?}.auth: expected user:password")))?;
                RegistryAuth::Basic(user.to_string(), pass.to_string())
            } else if let (Some(u), Some(p)) = (entry.username, entry.password) {
                RegistryAuth::Basic(u, p)
            } else {
                continue;
            };
            by_host.insert(normalize_host(&key), auth);
        }
        Ok(Credentials { by_host })
    }

    pub fn insert(&mut self, registry: &str, auth: RegistryAuth) {
        self.by_host.insert(normalize_host(registry), auth);
    }

    /// The credentials for `registry`, anonymous when none are configured.
    pub fn for_registry(&self, registry: &str) -> RegistryAuth {
        self.by_host
            .get(&normalize_host(registry))
            .cloned()
            .unwrap_or(RegistryAuth::Anonymous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_config_json() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
               "127.0.0.1:5000":{"username":"a","password":"b:c"},
               "tok.example":{"registrytoken":"T"}, "empty.example":{}}}"#,
        )
        .unwrap();
        let c = Credentials::load(&p).unwrap();
        assert_eq!(
            c.for_registry("docker.io"),
            RegistryAuth::Basic("user".into(), "pass".into())
        );
        assert_eq!(
            c.for_registry("127.0.0.1:5000"),
            RegistryAuth::Basic("a".into(), "b:c".into())
        );
        assert_eq!(
            c.for_registry("tok.example"),
            RegistryAuth::Bearer("T".into())
        );
        assert_eq!(c.for_registry("empty.example"), RegistryAuth::Anonymous);
        std::fs::write(&p, r#"{"auths":{"x":{"auth":"!!!"}}}"#).unwrap();
        let e = Credentials::load(&p).unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("not base64"), "{e}");
    }
}
