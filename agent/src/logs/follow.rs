//! `kubectl logs -f`: a polling reader of one container instance's live log file that keeps
//! going across rotations. It holds the live file open; when the path names a new file
//! (the shim renamed the old one), it drains the old file to its end, reads every rotated file
//! written since (plain or already gzipped), and switches. It remembers the newest rotated file
//! there was when it opened the live one, so the files rotated since are known by name even
//! after compression: a flooding container that rotates several times between two polls loses
//! nothing unless the shim pruned a file before it was read (more rotations than
//! `containerLogMaxFiles` between two polls; the kubelet skips every file it did not see
//! live).

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::error::LogError;
use super::files;
use super::read::LogEntry;
use super::read::{Collector, Joiner, feed, open_file};
use nodelet_objects::log_options::ReadOptions;

/// Follows one instance's log. `poll` returns what was written since the last call.
pub struct Follower {
    live: PathBuf,
    file: Option<(File, (u64, u64))>,
    /// Bytes of a line not yet ended by a newline.
    buf: Vec<u8>,
    joiner: Joiner,
    since: Option<Timestamp>,
    /// The newest rotated file's order key when the held file was opened: every rotated file
    /// after it was written since.
    seen: Option<(String, u64)>,
    /// The held file's first line (how its compressed copy is recognised).
    first: Option<Vec<u8>>,
    /// Where lines were lost since the last [`Follower::take_skips`].
    skips: Vec<String>,
}

fn ident(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

/// The rotation order of `rotated`, a rotated file of `live`.
fn key(live: &Path, rotated: &Path) -> Option<(String, u64)> {
    nodelet_shim_protocol::crilog::rotation_key(
        live.file_name()?.to_str()?,
        rotated.file_name()?.to_str()?,
    )
}

fn is(p: &Path, id: (u64, u64)) -> bool {
    std::fs::metadata(p).is_ok_and(|m| ident(&m) == id)
}

impl Follower {
    /// Start following instance `restart_count`: returns the follower and the existing lines
    /// (filtered by `opts` as `read` does). A live file that does not exist yet is waited for.
    pub fn open(
        container_dir: &Path,
        restart_count: u32,
        opts: &ReadOptions,
    ) -> Result<(Follower, Vec<LogEntry>), LogError> {
        let live = files::instance_path(container_dir, restart_count);
        // Open the live file before listing its rotations; if it was rotated in between
        // (it shows up among them), try again so nothing is read twice or out of order.
        let mut attempt = 0;
        let (file, rotated) = loop {
            attempt += 1;
            let file = match File::open(&live) {
                Ok(f) => {
                    let m = f.metadata().map_err(|e| LogError::io(&live, e))?;
                    Some((f, ident(&m)))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(LogError::io(&live, e)),
            };
            let rotated = nodelet_shim_protocol::crilog::rotated_files(&live);
            let raced = file.as_ref().is_some_and(|(_, id)| {
                rotated
                    .iter()
                    .any(|r| std::fs::metadata(r).is_ok_and(|m| ident(&m) == *id))
            });
            if !raced || attempt >= 5 {
                break (file, rotated);
            }
        };
        let mut f = Follower {
            seen: rotated.iter().filter_map(|r| key(&live, r)).max(),
            live,
            file: None,
            buf: Vec::new(),
            joiner: Joiner::default(),
            since: opts.since,
            first: None,
            skips: Vec::new(),
        };
        let mut c = Collector::new(opts);
        for r in &rotated {
            match open_file(r) {
                Ok(mut rd) => feed(r, &mut *rd, &mut f.joiner, &mut |e| c.push(e))?,
                Err(LogError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        f.file = file;
        let mut initial: Vec<LogEntry> = Vec::new();
        f.drain(&mut |e| initial.push(e))?;
        for e in initial {
            c.push(e);
        }
        Ok((f, c.entries.into()))
    }

    /// Read the complete lines of the held file up to its end.
    fn drain(&mut self, out: &mut dyn FnMut(LogEntry)) -> Result<(), LogError> {
        let Some((file, _)) = self.file.as_mut() else {
            return Ok(());
        };
        let mut chunk = Vec::new();
        BufReader::new(&*file)
            .read_to_end(&mut chunk)
            .map_err(|e| LogError::io(&self.live, e))?;
        if chunk.is_empty() {
            return Ok(());
        }
        if self.first.is_none() {
            let end = chunk
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(chunk.len());
            self.first = Some(chunk[..end].to_vec());
        }
        self.buf.extend_from_slice(&chunk);
        let end = match self.buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => return Ok(()),
        };
        let complete: Vec<u8> = self.buf.drain(..end).collect();
        let mut slice: &[u8] = &complete;
        feed(&self.live, &mut slice, &mut self.joiner, out)
    }

    /// Where lines were lost since the last call (log files pruned by the shim before they
    /// were read: more rotations between two polls than it keeps files).
    pub fn take_skips(&mut self) -> Vec<String> {
        std::mem::take(&mut self.skips)
    }

    /// The first line of rotated file `p` (plain or gzipped).
    fn first_line(&self, p: &Path) -> Option<Vec<u8>> {
        let mut rd = open_file(p).ok()?;
        let mut line = Vec::new();
        std::io::BufRead::read_until(&mut *rd, b'\n', &mut line).ok()?;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        Some(line)
    }

    /// The rotated files after `seen`, oldest first.
    fn rotated_since(&self, seen: &Option<(String, u64)>) -> Vec<PathBuf> {
        nodelet_shim_protocol::crilog::rotated_files(&self.live)
            .into_iter()
            .filter(|r| key(&self.live, r).is_some_and(|k| seen.as_ref().is_none_or(|s| &k > s)))
            .collect()
    }

    fn feed_file(&mut self, p: &Path, push: &mut dyn FnMut(LogEntry)) -> Result<(), LogError> {
        match open_file(p) {
            Ok(mut rd) => feed(p, &mut *rd, &mut self.joiner, push),
            Err(LogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// New full lines since the last call, across a rotation of the live file.
    pub fn poll(&mut self) -> Result<Vec<LogEntry>, LogError> {
        let mut out = Vec::new();
        let since = self.since;
        let mut push = |e: LogEntry| {
            if since.is_none_or(|s| e.time >= s) {
                out.push(e);
            }
        };
        self.drain(&mut push)?;
        // Has the path been given a new file?
        let current = match std::fs::metadata(&self.live) {
            Ok(m) => Some(ident(&m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(LogError::io(&self.live, e)),
        };
        let held = self.file.as_ref().map(|(_, id)| *id);
        if let Some(cur) = current
            && held != Some(cur)
        {
            // The old file is complete once renamed: read what is left, then read any rotated
            // file that came after it and was never live while we looked, then switch.
            self.drain(&mut push)?;
            self.buf.clear();
            // Rotated since the held file was opened: the held file itself first (read
            // through our descriptor; under a `.gz` name once compressed), then the files that
            // were never live while we looked.
            let new = self.rotated_since(&self.seen);
            let start = match held {
                Some(h) => match new.iter().position(|r| is(r, h)) {
                    Some(k) => k + 1,
                    // Compressed since: its copy is the oldest new file, unless the shim
                    // pruned it (and maybe more) before we got here.
                    None if new
                        .first()
                        .is_some_and(|r| self.first_line(r) == self.first) =>
                    {
                        1
                    }
                    None => {
                        self.skips.push(format!(
                            "log files were rotated away before they could be read: lines between the last one shown and {} are missing",
                            new.first()
                                .map(|r| format!("the start of {}", r.display()))
                                .unwrap_or_else(|| "the current file".into())
                        ));
                        0
                    }
                },
                None => 0,
            };
            let mut seen = self.seen.clone();
            for r in new.iter().skip(start) {
                self.feed_file(r, &mut push)?;
            }
            if let Some(k) = new.last().and_then(|r| key(&self.live, r)) {
                seen = Some(k);
            }
            self.first = None;
            self.file = match File::open(&self.live) {
                Ok(f) => {
                    let m = f.metadata().map_err(|e| LogError::io(&self.live, e))?;
                    Some((f, ident(&m)))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(LogError::io(&self.live, e)),
            };
            // Rotated between our listing and the open: read before the new live file.
            let opened = self.file.as_ref().map(|(_, id)| *id);
            for r in self.rotated_since(&seen) {
                if opened.is_some_and(|id| is(&r, id)) {
                    break;
                }
                self.feed_file(&r, &mut push)?;
                seen = key(&self.live, &r).or(seen);
            }
            self.seen = seen;
            self.drain(&mut push)?;
        }
        Ok(out)
    }
}
