//! Durations written the Kubernetes (Go `time.ParseDuration`) way: `20s`, `5m`, `1h30m`, `1.5s`,
//! `300ms`, `0`.

use std::time::Duration;

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error(
        "invalid duration {0:?}: expected a number with a unit (ns, us, ms, s, m, h) like \"20s\" or \"1m30s\""
    )]
    Format(String),
    #[error("invalid duration {0:?}: must not be negative")]
    Negative(String),
    #[error("invalid duration {0:?}: too large")]
    Overflow(String),
}

/// Parses a Go duration string. Negative durations are rejected (no configuration key wants one).
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let fmt_err = || DurationError::Format(s.to_string());
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if let Some(r) = rest.strip_prefix('-') {
        if r.chars().all(|c| c == '0') && !r.is_empty() {
            return Ok(Duration::ZERO);
        }
        return Err(DurationError::Negative(s.to_string()));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(fmt_err());
    }
    let mut total: u128 = 0; // nanoseconds
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(fmt_err)?;
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(fmt_err());
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(fmt_err()),
        };
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse()
                .map_err(|_| DurationError::Overflow(s.to_string()))?
        };
        let mut nanos = int
            .checked_mul(unit_nanos)
            .ok_or_else(|| DurationError::Overflow(s.to_string()))?;
        let mut scale = 1u128;
        let mut frac: u128 = 0;
        for c in frac_part.bytes().take(18) {
            frac = frac * 10 + u128::from(c - b'0');
            scale *= 10;
        }
        nanos += frac * unit_nanos / scale;
        total = total
            .checked_add(nanos)
            .ok_or_else(|| DurationError::Overflow(s.to_string()))?;
        rest = tail;
    }
    if total > i64::MAX as u128 {
        return Err(DurationError::Overflow(s.to_string()));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Formats a duration the Go way for messages: `20s`, `5m0s`, `1h0m0s`, `300ms`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        return if nanos.is_multiple_of(1_000_000) {
            format!("{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            format!("{}µs", nanos / 1_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let secs = d.as_secs();
    let sub = d.subsec_nanos();
    let s = if sub == 0 {
        format!("{}s", secs % 60)
    } else {
        let frac = format!("{sub:09}");
        format!("{}.{}s", secs % 60, frac.trim_end_matches('0'))
    };
    match (secs / 3600, (secs / 60) % 60) {
        (0, 0) => s,
        (0, m) => format!("{m}m{s}"),
        (h, m) => format!("{h}h{m}m{s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration(".5m").unwrap(), Duration::from_secs(30));
        assert_eq!(
            parse_duration("1m1s1ms").unwrap(),
            Duration::from_millis(61_001)
        );
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "20", "s", "1x", "1.2.3s", "1 s", "-5s", "1sm2", "."] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(
            parse_duration("-1s"),
            Err(DurationError::Negative(_))
        ));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_duration(Duration::from_secs(20)), "20s");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(format_duration(Duration::from_secs(3661)), "1h1m1s");
        assert_eq!(format_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }
}
