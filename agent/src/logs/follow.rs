//! `kubectl logs -f`: a polling reader of one container instance's live log file that keeps
//! going across rotations. It holds the live file open; when the path names a new file
//! (the shim renamed the old one), it drains the old file to its end, reads any rotated file
//! written entirely since the last poll, and switches. Up to two rotations between two polls
//! lose nothing; with more, the files compressed in between are skipped (the kubelet skips
//! every file it did not see live).

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
}

fn ident(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
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
            live,
            file: None,
            buf: Vec::new(),
            joiner: Joiner::default(),
            since: opts.since,
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
        self.buf.extend_from_slice(&chunk);
        let end = match self.buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => return Ok(()),
        };
        let complete: Vec<u8> = self.buf.drain(..end).collect();
        let mut slice: &[u8] = &complete;
        feed(&self.live, &mut slice, &mut self.joiner, out)
    }

    /// Rotated files newer than the one we held (`held`): those written entirely between two
    /// polls. If the held file is no longer among them under its identity (a second rotation
    /// compressed it), the newest plain rotated file is the one we missed.
    fn missed_rotations(&self, held: Option<(u64, u64)>) -> Vec<PathBuf> {
        let rotated = nodelet_shim_protocol::crilog::rotated_files(&self.live);
        let Some(held) = held else {
            return vec![];
        };
        let pos = rotated
            .iter()
            .position(|r| std::fs::metadata(r).is_ok_and(|m| ident(&m) == held));
        match pos {
            Some(k) => rotated[k + 1..].to_vec(),
            None => rotated
                .last()
                .filter(|r| r.extension().is_none_or(|e| e != "gz"))
                .cloned()
                .into_iter()
                .collect(),
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
            for missed in self.missed_rotations(held) {
                match open_file(&missed) {
                    Ok(mut rd) => feed(&missed, &mut *rd, &mut self.joiner, &mut push)?,
                    Err(LogError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            self.file = match File::open(&self.live) {
                Ok(f) => {
                    let m = f.metadata().map_err(|e| LogError::io(&self.live, e))?;
                    Some((f, ident(&m)))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(LogError::io(&self.live, e)),
            };
            self.drain(&mut push)?;
        }
        Ok(out)
    }
}
