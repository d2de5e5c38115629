//! metrics.k8s.io `PodMetrics` as metrics-server serves them (what `kubectl top pod` reads):
//! usage in nanocores and Ki, and kubectl's rounding of them to millicores and MiB.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub const API_VERSION: &str = "metrics.k8s.io/v1beta1";

/// Where an API serves them.
pub const API_PATH: &str = "/apis/metrics.k8s.io/v1beta1";

/// One container's usage: `cpu` in nanocores (`"1234n"`), `memory` in Ki (`"2048Ki"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMetrics {
    pub name: String,
    pub usage: BTreeMap<String, String>,
}

/// metrics.k8s.io PodMetrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetrics {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    /// End of the measurement window (RFC 3339).
    pub timestamp: String,
    /// Length of the window, Go duration (`"250ms"`, `"12.5s"`).
    pub window: String,
    pub containers: Vec<ContainerMetrics>,
}

/// The usage map metrics-server sends.
pub fn usage(nanocores: u64, working_set: u64) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("cpu".to_string(), format!("{nanocores}n")),
        (
            "memory".to_string(),
            format!("{}Ki", working_set.div_ceil(1024)),
        ),
    ])
}

/// (millicores, MiB) of a usage map, kubectl's rounding: CPU up to the next millicore,
/// memory bytes / 2^20 rounded down.
pub fn usage_columns(u: &BTreeMap<String, String>) -> Result<(i64, i64), String> {
    let q = |k: &str| -> Result<crate::quantity::Quantity, String> {
        let v = u.get(k).ok_or_else(|| format!("usage.{k}: missing"))?;
        crate::quantity::Quantity::parse(v).map_err(|e| format!("usage.{k}: {v:?}: {e}"))
    };
    Ok((
        q("cpu")?.milli_value(),
        q("memory")?.value() / (1024 * 1024),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_rounding() {
        // 1234 nanocores is 1m (rounded up); 3.5 MiB is 3Mi.
        let u = usage(1234, 3 * 1024 * 1024 + 512 * 1024);
        assert_eq!(u["cpu"], "1234n");
        assert_eq!(u["memory"], "3584Ki");
        assert_eq!(usage_columns(&u).unwrap(), (1, 3));
        assert_eq!(usage_columns(&usage(0, 0)).unwrap(), (0, 0));
    }

    #[test]
    fn bad_usage_names_the_field() {
        let mut u = usage(1, 1);
        u.insert("cpu".into(), "lots".into());
        assert!(
            usage_columns(&u)
                .unwrap_err()
                .starts_with("usage.cpu: \"lots\"")
        );
    }
}
