//! Container log files in the CRI format the kubelet and `kubectl logs` read:
//! `<RFC3339Nano time> <stdout|stderr> <F|P> <text>\n`, one line per line of output; a line
//! longer than `MAX_LINE` is written as `P` (partial) pieces ending with an `F` piece. Files
//! rotate at a size limit: `<name>` → `<name>.<UTC yyyymmdd-hhmmss>`, keeping `max_files` in
//! all (the live one included).

use std::fs::{File, OpenOptions};
use std::io::Write;
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
    let full = noderun::state::rfc3339(secs, 0);
    let base = &full[..19];
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

/// Writes one container's log file, with rotation.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: usize,
    /// Unfinished line per stream (stdout, stderr).
    pending: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &Path, max_size: u64, max_files: usize) -> std::io::Result<LogWriter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
            pending: [Vec::new(), Vec::new()],
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Feed output read from `stream`; complete lines are written out.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> std::io::Result<()> {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.pending[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = buf[start..start + nl].to_vec();
            self.emit(stream, &line, true)?;
            start += nl + 1;
        }
        buf.drain(..start);
        while buf.len() >= MAX_LINE {
            let piece: Vec<u8> = buf.drain(..MAX_LINE).collect();
            self.emit(stream, &piece, false)?;
        }
        self.pending[idx] = buf;
        Ok(())
    }

    /// The stream ended: write what is left as a final line.
    pub fn finish(&mut self, stream: Stream) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.pending[stream as usize]);
        if !rest.is_empty() {
            self.emit(stream, &rest, true)?;
        }
        Ok(())
    }

    fn emit(&mut self, stream: Stream, text: &[u8], full: bool) -> std::io::Result<()> {
        // A long complete line goes out as P pieces and a final F piece.
        let mut chunks = text.chunks(MAX_LINE).peekable();
        if text.is_empty() {
            return self.emit_one(stream, b"", full);
        }
        while let Some(c) = chunks.next() {
            let last = chunks.peek().is_none();
            self.emit_one(stream, c, full && last)?;
        }
        Ok(())
    }

    fn emit_one(&mut self, stream: Stream, text: &[u8], full: bool) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(text.len() + 48);
        line.extend_from_slice(now().as_bytes());
        line.push(b' ');
        line.extend_from_slice(stream.as_str().as_bytes());
        line.extend_from_slice(if full { b" F " } else { b" P " });
        line.extend_from_slice(text);
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let stamp = {
            let t = now();
            // 2026-11-22T10:40:17.123Z → 20261122-104017
            let digits: String = t[..19].chars().filter(|c| c.is_ascii_digit()).collect();
            format!("{}-{}", &digits[..8], &digits[8..14])
        };
        let mut target = PathBuf::from(format!("{}.{stamp}", self.path.display()));
        let mut n = 1;
        while target.exists() {
            target = PathBuf::from(format!("{}.{stamp}.{n}", self.path.display()));
            n += 1;
        }
        std::fs::rename(&self.path, &target)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        // Keep max_files in all: the live file plus max_files - 1 rotated ones.
        let mut rotated = rotated_files(&self.path);
        while rotated.len() > self.max_files - 1 {
            let oldest = rotated.remove(0);
            std::fs::remove_file(oldest)?;
        }
        Ok(())
    }
}

/// Rotated files of `path`, oldest first.
pub fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return vec![];
    };
    let prefix = format!("{name}.");
    let mut v: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .map(|e| {
            (
                e.metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH),
                e.path(),
            )
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
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
    fn lines_partials_and_rotation() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("0.log");
        let mut w = LogWriter::open(&p, 1 << 20, 3).unwrap();
        w.write(Stream::Stdout, b"hello\nwor").unwrap();
        w.write(Stream::Stderr, b"oops\n").unwrap();
        w.write(Stream::Stdout, b"ld\n").unwrap();
        let long = vec![b'x'; MAX_LINE + 10];
        w.write(Stream::Stdout, &long).unwrap();
        w.write(Stream::Stdout, b"\n").unwrap();
        w.write(Stream::Stdout, b"no newline").unwrap();
        w.finish(Stream::Stdout).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<LogLine> = text.lines().map(|l| parse_line(l).unwrap()).collect();
        assert_eq!(
            (lines[0].stream, lines[0].partial, lines[0].text),
            ("stdout", false, "hello")
        );
        assert_eq!((lines[1].stream, lines[1].text), ("stderr", "oops"));
        assert_eq!(lines[2].text, "world");
        assert!(lines[3].partial && lines[3].text.len() == MAX_LINE);
        assert!(!lines[4].partial && lines[4].text.len() == 10);
        assert_eq!(lines[5].text, "no newline");
        assert!(lines[0].time.ends_with('Z'));

        // rotation keeps the total bounded
        let p = t.path().join("1.log");
        let mut w = LogWriter::open(&p, 4096, 3).unwrap();
        for i in 0..2000 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        let rotated = rotated_files(&p);
        assert_eq!(rotated.len(), 2, "{rotated:?}");
        let total: u64 = rotated
            .iter()
            .chain([&p])
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum();
        assert!(total <= 3 * 4096, "{total}");
        assert!(std::fs::read_to_string(&p).unwrap().contains("line 1999"));
    }
}
