//! The CRI container log format, shared by its writer (the shim) and its readers (the agent's
//! log reading, `nodectl logs` through the API): `<RFC3339Nano time> <stdout|stderr> <F|P>
//! <text>\n`, one line per line of output; a line longer than `MAX_LINE` is written as `P`
//! (partial) pieces ending with an `F` piece. Rotated files are `<name>.<UTC
//! yyyymmdd-hhmmss>[.<n>][.gz]` next to the live `<name>`; [`rotated_files`] lists them oldest
//! first. No I/O here but listing a directory.

use std::path::{Path, PathBuf};

/// Longest piece written as one log line (containerd uses 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Go's time.RFC3339Nano in UTC: trailing zeros of the fraction are dropped.
pub fn rfc3339_nano(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil-from-days (proleptic Gregorian), Howard Hinnant's algorithm.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

pub fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_nano(d.as_secs() as i64, d.subsec_nanos())
}

/// Order of a rotated file name `<live>.<yyyymmdd-hhmmss>[.<n>][.gz]`: (stamp, n).
pub fn rotation_key(live_name: &str, file_name: &str) -> Option<(String, u64)> {
    let rest = file_name.strip_prefix(live_name)?.strip_prefix('.')?;
    let rest = rest.strip_suffix(".gz").unwrap_or(rest);
    let (stamp, n) = match rest.split_once('.') {
        Some((s, n)) => (s, n.parse().ok()?),
        None => (rest, 0),
    };
    let ok = stamp.len() == 15
        && stamp.bytes().enumerate().all(|(i, b)| {
            if i == 8 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    ok.then(|| (stamp.to_string(), n))
}

/// Rotated files of `path` (plain and `.gz`), oldest first.
pub fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return vec![];
    };
    let mut v: Vec<((String, u64), PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let key = rotation_key(name, e.file_name().to_str()?)?;
            Some((key, e.path()))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// Parse one CRI log line given as bytes (the text may be any bytes).
pub fn parse_bytes(line: &[u8]) -> Option<RawLine<'_>> {
    let mut it = line.splitn(4, |&b| b == b' ');
    let time = std::str::from_utf8(it.next()?).ok()?;
    let stream = match it.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match it.next()? {
        b"F" => false,
        b"P" => true,
        _ => return None,
    };
    let text = it.next().unwrap_or(b"");
    Some(RawLine {
        time,
        stream,
        partial,
        text,
    })
}

/// One parsed CRI log line, text as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine<'a> {
    pub time: &'a str,
    pub stream: Stream,
    pub partial: bool,
    pub text: &'a [u8],
}

/// One parsed CRI log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub time: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    pub text: &'a str,
}

pub fn parse_line(line: &str) -> Option<LogLine<'_>> {
    let mut it = line.splitn(4, ' ');
    let time = it.next()?;
    let stream = it.next()?;
    let tag = it.next()?;
    let text = it.next().unwrap_or("");
    if !matches!(stream, "stdout" | "stderr") || !matches!(tag, "F" | "P") {
        return None;
    }
    Some(LogLine {
        time,
        stream,
        partial: tag == "P",
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format_trims_zeros() {
        assert_eq!(rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(0, 120_000_000), "1970-01-01T00:00:00.12Z");
        assert_eq!(rfc3339_nano(0, 5), "1970-01-01T00:00:00.000000005Z");
    }

    #[test]
    fn rotated_names_sort_by_stamp_then_counter() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("3.log");
        for n in [
            "3.log.20261122-104017.2",
            "3.log.20261122-104017.gz",
            "3.log.20261122-104017.1.gz",
            "3.log.20261121-235959.gz",
            "3.log.20261122-104017.3.gz.tmp",
            "3.log",
            "13.log.20261122-104017",
            "3.log.junk",
        ] {
            std::fs::write(t.path().join(n), "").unwrap();
        }
        let names: Vec<String> = rotated_files(&p)
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "3.log.20261121-235959.gz",
                "3.log.20261122-104017.gz",
                "3.log.20261122-104017.1.gz",
                "3.log.20261122-104017.2",
            ]
        );
    }

    #[test]
    fn parse_bytes_keeps_any_text() {
        let l = parse_bytes(b"2026-11-22T10:40:17.1Z stderr P \xff\xfe x").unwrap();
        assert_eq!(l.stream, Stream::Stderr);
        assert!(l.partial);
        assert_eq!(l.text, b"\xff\xfe x");
        assert!(parse_bytes(b"2026 stdin F x").is_none());
        assert!(parse_bytes(b"2026 stdout X x").is_none());
    }
}
