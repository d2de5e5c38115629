//! Reading one container instance's logs back as `kubectl logs` shows them: every file of the
//! instance in order (rotated gzip and plain files, then the live one), `P` pieces joined into
//! full lines, `--since`, `--tail` and `--timestamps`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use jiff::Timestamp;
use nodelet_shim_protocol::crilog::{self, Stream};

use super::error::LogError;
use super::files;
use nodelet_objects::log_options::ReadOptions;

/// One full log line of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When the line (its first piece) was read from the container.
    pub time: Timestamp,
    /// The time as written in the file (RFC 3339 with nanoseconds), printed by `--timestamps`.
    pub time_text: String,
    pub stream: Stream,
    /// The line without its newline; any bytes.
    pub text: Vec<u8>,
}

/// Joins `P` pieces into full lines, per stream.
#[derive(Debug, Default)]
pub(crate) struct Joiner {
    pending: [Option<(Timestamp, String, Vec<u8>)>; 2],
}

impl Joiner {
    /// Feed one raw file line (without its newline); a full line comes out when complete.
    /// Lines that are not CRI format are skipped.
    pub(crate) fn push(&mut self, raw: &[u8]) -> Option<LogEntry> {
        let l = crilog::parse_bytes(raw)?;
        let slot = &mut self.pending[l.stream as usize];
        if slot.is_none() {
            let time: Timestamp = l.time.parse().ok()?;
            *slot = Some((time, l.time.to_string(), Vec::new()));
        }
        let (_, _, text) = slot.as_mut()?;
        text.extend_from_slice(l.text);
        if l.partial {
            return None;
        }
        let (time, time_text, text) = slot.take()?;
        Some(LogEntry {
            time,
            time_text,
            stream: l.stream,
            text,
        })
    }
}

/// Open a log file for reading lines, decompressing `.gz` files. A plain rotated file that was
/// compressed since it was listed is read from its `.gz`.
pub fn open_file(path: &Path) -> Result<Box<dyn BufRead>, LogError> {
    let is_gz = path.extension().is_some_and(|e| e == "gz");
    let (f, is_gz) = match File::open(path) {
        Ok(f) => (f, is_gz),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !is_gz => {
            let gz = std::path::PathBuf::from(format!("{}.gz", path.display()));
            match File::open(&gz) {
                Ok(f) => (f, true),
                Err(_) => return Err(LogError::io(path, e)),
            }
        }
        Err(e) => return Err(LogError::io(path, e)),
    };
    if is_gz {
        Ok(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            f,
        ))))
    } else {
        Ok(Box::new(BufReader::with_capacity(64 * 1024, f)))
    }
}

/// Feed every complete line of `r` to `joiner`, calling `out` for each full entry.
pub(crate) fn feed(
    path: &Path,
    r: &mut dyn BufRead,
    joiner: &mut Joiner,
    out: &mut dyn FnMut(LogEntry),
) -> Result<(), LogError> {
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|e| LogError::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if let Some(e) = joiner.push(&line) {
            out(e);
        }
    }
}

/// Keeps the entries that pass `since`, at most `tail` of them (the newest).
pub(crate) struct Collector {
    since: Option<Timestamp>,
    tail: Option<usize>,
    pub(crate) entries: VecDeque<LogEntry>,
}

impl Collector {
    pub(crate) fn new(opts: &ReadOptions) -> Collector {
        Collector {
            since: opts.since,
            tail: opts.tail,
            entries: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, e: LogEntry) {
        if self.since.is_some_and(|s| e.time < s) {
            return;
        }
        if self.tail == Some(0) {
            return;
        }
        self.entries.push_back(e);
        if self.tail.is_some_and(|t| self.entries.len() > t) {
            self.entries.pop_front();
        }
    }
}

/// The logs of instance `restart_count` of the container whose log directory is `container_dir`.
pub fn read(
    container_dir: &Path,
    restart_count: u32,
    opts: &ReadOptions,
) -> Result<Vec<LogEntry>, LogError> {
    let files = files::instance_files(container_dir, restart_count);
    if files.is_empty() {
        return Err(LogError::NoInstance {
            dir: container_dir.to_path_buf(),
            instance: restart_count,
        });
    }
    let mut joiner = Joiner::default();
    let mut c = Collector::new(opts);
    for f in &files {
        let mut r = match open_file(f) {
            Ok(r) => r,
            // Rotated away and pruned between listing and opening: it is gone for good.
            Err(LogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(e) => return Err(e),
        };
        feed(f, &mut *r, &mut joiner, &mut |e| c.push(e))?;
    }
    Ok(c.entries.into())
}

/// Entries as `kubectl logs` prints them: the text and a newline, each prefixed by its time
/// and a space with `timestamps`.
pub fn render(entries: &[LogEntry], timestamps: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        if timestamps {
            out.extend_from_slice(e.time_text.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&e.text);
        out.push(b'\n');
    }
    out
}
