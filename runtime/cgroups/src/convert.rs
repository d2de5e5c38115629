//! Pure value conversions between OCI (v1-flavoured) resource values and cgroup v2 files.

/// cpu.shares (2..=262144) to cpu.weight (1..=10000), the kubelet's / runc's formula:
/// weight = 1 + (shares - 2) * 9999 / 262142. Out-of-range shares are clamped first.
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + (s - 2) * 9999 / 262_142
}

/// blkio weight (10..=1000) to io.weight (1..=10000), as runc converts it.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// OCI memory.swap is memory+swap (v1 semantics); v2's memory.swap.max is swap alone.
/// Returns the memory.swap.max value ("max" for unlimited), or None when nothing is to be
/// written, or an error text.
pub fn swap_to_v2(limit: Option<i64>, swap: i64) -> Result<Option<String>, String> {
    match swap {
        -1 => return Ok(Some("max".to_string())),
        0 => return Ok(None),
        s if s < -1 => return Err(format!("invalid value {s}")),
        _ => {}
    }
    let limit = match limit {
        Some(l) if l > 0 => l,
        _ => {
            return Err("a swap limit needs a memory limit (memory+swap semantics)".to_string());
        }
    };
    if swap < limit {
        return Err(format!(
            "memory+swap limit {swap} is smaller than the memory limit {limit}"
        ));
    }
    Ok(Some((swap - limit).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_matches_kubelet() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(102), 4);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(0), 1);
        assert_eq!(shares_to_weight(u64::MAX), 10_000);
    }

    #[test]
    fn blkio_weight_conversion() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_to_v2(Some(100), -1).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_to_v2(Some(100), 0).unwrap(), None);
        assert_eq!(swap_to_v2(Some(100), 300).unwrap().as_deref(), Some("200"));
        assert_eq!(swap_to_v2(Some(100), 100).unwrap().as_deref(), Some("0"));
        assert!(swap_to_v2(None, 300).is_err());
        assert!(swap_to_v2(Some(-1), 300).is_err());
        assert!(swap_to_v2(Some(400), 300).is_err());
        assert!(swap_to_v2(Some(100), -5).is_err());
    }
}
