//! Writing container log files in the CRI format (`nodelet_shim_protocol::crilog`) the kubelet and
//! `kubectl logs` read:
//! `<RFC3339Nano time> <stdout|stderr> <F|P> <text>\n`, one line per line of output; a line
//! longer than `MAX_LINE` is written as `P` (partial) pieces ending with an `F` piece. Files
//! rotate at a size limit: `<name>` → `<name>.<UTC yyyymmdd-hhmmss>[.<n>]`, keeping `max_files`
//! in all (the live one included). As the kubelet does, the newest rotated file stays plain until
//! the next rotation, which gzips it to `<rotated name>.gz`.
//!
//! Disk use per container instance stays below `max_size × max_files` plus one line, plus one
//! compressed copy of a rotated file while it is being written. Back-pressure instead of
//! buffering: the lines of one read from a pipe (at most 64 KiB) are formatted with one
//! timestamp into one reused buffer and written synchronously into the page cache before the
//! next read, so a slow disk slows the shim's loop (the kernel throttles dirty pages) and, once
//! a container's 64 KiB pipe is full, that container's `write` blocks; nothing in the shim grows
//! with the backlog (the batch holds at most `BATCH_MAX` bytes, an unfinished line is cut into
//! `P` pieces at `MAX_LINE`). Compressing a rotated file happens inline at the next rotation:
//! at most `max_size` bytes at gzip's fast level (tens of ms for 10 MiB), once per `max_size`
//! bytes of output. If compression fails (disk full) the plain
//! file is kept and counts against `max_files` like any other.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use nodelet_shim_protocol::crilog::{MAX_LINE, Stream, now, rotated_files, rotation_key};

/// Most formatted bytes collected before they are written out: a read of short lines (64 KiB
/// of `yes` grows about 20-fold) goes out in a few writes of this size instead of being held
/// whole.
const BATCH_MAX: usize = 128 * 1024;

/// Writes one container's log file, with rotation.
///
/// All complete lines of one `write` call (one read from a pipe) share one timestamp and are
/// formatted into one reused buffer, which goes out in one `write(2)` (more at a rotation
/// boundary or past `BATCH_MAX`). No text is kept between calls but the unfinished line of each
/// stream (shorter than `MAX_LINE`), so memory stays bounded by one read.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    /// Bytes in the live file, not counting `batch`.
    size: u64,
    max_size: u64,
    max_files: usize,
    /// Unfinished line per stream (stdout, stderr), always shorter than `MAX_LINE`.
    pending: [Vec<u8>; 2],
    /// `<time> <stream> ` of the lines being formatted.
    prefix: Vec<u8>,
    /// Formatted lines not written yet.
    batch: Vec<u8>,
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
            prefix: Vec::with_capacity(48),
            batch: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Feed output read from `stream`; complete lines are written out, all with the time of
    /// this call.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> std::io::Result<()> {
        self.begin(stream);
        let result = self.format(stream, data).and_then(|()| self.flush());
        self.batch.clear();
        result
    }

    fn format(&mut self, stream: Stream, data: &[u8]) -> std::io::Result<()> {
        let idx = stream as usize;
        let mut rest = data;
        // First complete the line left unfinished by the previous read.
        if !self.pending[idx].is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(nl) => {
                    let mut pending = std::mem::take(&mut self.pending[idx]);
                    pending.extend_from_slice(&rest[..nl]);
                    let r = self.emit(&pending, true);
                    pending.clear();
                    // Keep the allocation for the next unfinished line.
                    self.pending[idx] = pending;
                    r?;
                    rest = &rest[nl + 1..];
                }
                None => {
                    let mut pending = std::mem::take(&mut self.pending[idx]);
                    pending.extend_from_slice(rest);
                    let whole = pending.len() - pending.len() % MAX_LINE;
                    let r = self.emit_pieces(&pending[..whole]);
                    pending.drain(..whole);
                    self.pending[idx] = pending;
                    return r;
                }
            }
        }
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', rest) {
            self.emit(&rest[start..nl], true)?;
            start = nl + 1;
        }
        let tail = &rest[start..];
        let whole = tail.len() - tail.len() % MAX_LINE;
        self.emit_pieces(&tail[..whole])?;
        self.pending[idx].extend_from_slice(&tail[whole..]);
        Ok(())
    }

    /// The stream ended: write what is left as a final line.
    pub fn finish(&mut self, stream: Stream) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.pending[stream as usize]);
        if rest.is_empty() {
            return Ok(());
        }
        self.begin(stream);
        let result = self.emit(&rest, true).and_then(|()| self.flush());
        self.batch.clear();
        result
    }

    /// Take the time for the lines of one read.
    fn begin(&mut self, stream: Stream) {
        self.prefix.clear();
        self.prefix.extend_from_slice(now().as_bytes());
        self.prefix.push(b' ');
        self.prefix.extend_from_slice(stream.as_str().as_bytes());
        self.prefix.push(b' ');
    }

    /// One line of text: `P` pieces of `MAX_LINE` while it is longer, then the last piece,
    /// tagged `F` when `full`.
    fn emit(&mut self, text: &[u8], full: bool) -> std::io::Result<()> {
        if text.len() <= MAX_LINE {
            return self.emit_one(text, full);
        }
        let last = (text.len() - 1) / MAX_LINE * MAX_LINE;
        self.emit_pieces(&text[..last])?;
        self.emit_one(&text[last..], full)
    }

    /// `text` (a multiple of `MAX_LINE` long) as `P` pieces.
    fn emit_pieces(&mut self, text: &[u8]) -> std::io::Result<()> {
        for piece in text.chunks(MAX_LINE) {
            self.emit_one(piece, false)?;
        }
        Ok(())
    }

    /// Add one formatted line to the batch. A line that would take a non-empty file past
    /// `max_size` first sends the batch out and rotates, so a file exceeds the limit only when
    /// its one line alone does.
    fn emit_one(&mut self, text: &[u8], full: bool) -> std::io::Result<()> {
        let len = (self.prefix.len() + 2 + text.len() + 1) as u64;
        let used = self.size + self.batch.len() as u64;
        if used > 0 && used + len > self.max_size {
            self.flush()?;
            self.rotate()?;
        } else if self.batch.len() as u64 + len > BATCH_MAX as u64 {
            self.flush()?;
        }
        self.batch.extend_from_slice(&self.prefix);
        self.batch
            .extend_from_slice(if full { b"F " } else { b"P " });
        self.batch.extend_from_slice(text);
        self.batch.push(b'\n');
        Ok(())
    }

    /// Write the batch to the live file.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let result = self.file.write_all(&self.batch);
        if result.is_ok() {
            self.size += self.batch.len() as u64;
        } else {
            // Part of it may have been written: count what the file holds now.
            self.size = self.file.metadata().map_or(self.size, |m| m.len());
        }
        self.batch.clear();
        result
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let stamp = {
            let t = now();
            // 2026-11-22T10:40:17.123Z → 20261122-104017
            let digits: String = t[..19].chars().filter(|c| c.is_ascii_digit()).collect();
            format!("{}-{}", &digits[..8], &digits[8..14])
        };
        // Names must sort after every existing rotation, even within one second (where pruning
        // may already have removed earlier names) or if the clock went back.
        let base = self.path.display().to_string();
        let live_name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let newest = rotated_files(&self.path)
            .last()
            .and_then(|p| rotation_key(&live_name, p.file_name().and_then(|n| n.to_str())?));
        let target = match newest {
            Some((s, n)) if s >= stamp => format!("{base}.{s}.{}", n + 1),
            _ => format!("{base}.{stamp}"),
        };
        let target = PathBuf::from(target);
        std::fs::rename(&self.path, &target)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        // The previous plain rotated files get compressed; the one just made stays plain.
        for old in rotated_files(&self.path) {
            if old != target && !is_gz(&old) {
                // Best effort: on failure the plain file stays and is pruned like any other.
                let _ = compress(&old);
            }
        }
        // Keep max_files in all: the live file plus max_files - 1 rotated ones.
        let mut rotated = rotated_files(&self.path);
        while rotated.len() > self.max_files - 1 {
            let oldest = rotated.remove(0);
            std::fs::remove_file(oldest)?;
        }
        Ok(())
    }
}

fn is_gz(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "gz")
}

/// Gzip `path` into `path.gz` (through a temp file, keeping the modification time) and remove
/// `path`.
pub fn compress(path: &Path) -> std::io::Result<PathBuf> {
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let tmp = PathBuf::from(format!("{}.gz.tmp", path.display()));
    let result = (|| {
        let mut src = File::open(path)?;
        let mtime = src.metadata()?.modified()?;
        let out = File::create(&tmp)?;
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        std::io::copy(&mut src, &mut enc)?;
        let out = enc.finish()?;
        out.set_modified(mtime)?;
        drop(out);
        std::fs::rename(&tmp, &gz)?;
        std::fs::remove_file(path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(gz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodelet_shim_protocol::crilog::{LogLine, parse_line};

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

    fn dir_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    }

    fn file_text(p: &Path) -> String {
        let raw = std::fs::read(p).unwrap();
        if is_gz(p) {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out)
                .unwrap();
            out
        } else {
            String::from_utf8(raw).unwrap()
        }
    }

    #[test]
    fn flood_stays_bounded_and_rotated_files_are_gzipped_in_order() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("0.log");
        let (max_size, max_files) = (64 * 1024u64, 4usize);
        let mut w = LogWriter::open(&p, max_size, max_files).unwrap();
        let start = std::time::Instant::now();
        let mut i = 0u64;
        let mut peak = 0;
        // Write as fast as possible for a while, in pipe-sized chunks of many lines.
        while start.elapsed() < std::time::Duration::from_millis(1500) {
            let mut chunk = Vec::with_capacity(65536);
            while chunk.len() < 60000 {
                chunk.extend_from_slice(format!("line {i} {}\n", "y".repeat(60)).as_bytes());
                i += 1;
            }
            w.write(Stream::Stdout, &chunk).unwrap();
            peak = peak.max(dir_bytes(t.path()));
        }
        // The live file may exceed max_size by at most one line; nothing else is counted.
        let slack = 4096;
        assert!(
            peak <= max_size * max_files as u64 + slack,
            "peak {peak} after {i} lines"
        );
        let rotated = rotated_files(&p);
        assert_eq!(rotated.len(), max_files - 1, "{rotated:?}");
        // Newest rotated stays plain, older ones are gzip.
        let (newest, older) = rotated.split_last().unwrap();
        assert!(!is_gz(newest), "{newest:?}");
        assert!(older.iter().all(|f| is_gz(f)), "{older:?}");
        // No temporary files are left over.
        let names: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        // Read in order: line numbers continue across files up to the last one written.
        let mut last: Option<u64> = None;
        for f in rotated.iter().chain([&p]) {
            for l in file_text(f).lines() {
                let l = parse_line(l).unwrap();
                let n: u64 = l.text.split(' ').nth(1).unwrap().parse().unwrap();
                if let Some(prev) = last {
                    assert_eq!(n, prev + 1, "in {f:?}");
                }
                last = Some(n);
            }
        }
        assert_eq!(last, Some(i - 1));
    }

    /// write(2) calls made by this thread so far.
    fn thread_writes() -> u64 {
        let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
        io.lines()
            .find_map(|l| l.strip_prefix("syscw: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn read_lines(files: &[PathBuf]) -> Vec<(PathBuf, String)> {
        files
            .iter()
            .flat_map(|f| {
                file_text(f)
                    .lines()
                    .map(|l| (f.clone(), l.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn one_read_is_one_write_with_one_time() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("0.log");
        let mut w = LogWriter::open(&p, 64 << 20, 3).unwrap();
        let mut chunk = Vec::new();
        for i in 0..650 {
            chunk.extend_from_slice(format!("{i:04} {}\n", "z".repeat(94)).as_bytes());
        }
        let before = thread_writes();
        w.write(Stream::Stdout, &chunk).unwrap();
        assert_eq!(thread_writes() - before, 1, "one write(2) for one read");
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<LogLine> = text.lines().map(|l| parse_line(l).unwrap()).collect();
        assert_eq!(lines.len(), 650);
        assert!(lines.iter().all(|l| l.time == lines[0].time && !l.partial));
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(l.text, format!("{i:04} {}", "z".repeat(94)));
        }
        // 2-byte lines grow about 20-fold: a few writes of BATCH_MAX, not one per line.
        let yes = b"y\n".repeat(32 * 1024);
        let before = thread_writes();
        w.write(Stream::Stdout, &yes).unwrap();
        let writes = thread_writes() - before;
        let grown = std::fs::metadata(&p).unwrap().len() as usize - text.len();
        assert_eq!(writes as usize, grown.div_ceil(BATCH_MAX), "{grown} bytes");
    }

    #[test]
    fn a_batch_rotates_at_line_boundaries() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("0.log");
        let max_size = 10_000u64;
        let mut w = LogWriter::open(&p, max_size, 10).unwrap();
        // One read of 30 000 bytes of lines: formatted, it fills several files.
        let mut chunk = Vec::new();
        let mut n = 0;
        while chunk.len() < 30_000 {
            chunk.extend_from_slice(format!("line {n:05} {}\n", "r".repeat(80)).as_bytes());
            n += 1;
        }
        w.write(Stream::Stderr, &chunk).unwrap();
        // A line longer than max_size goes alone into a file of its own.
        let big = "B".repeat(12_000);
        w.write(Stream::Stderr, format!("{big}\nafter\n").as_bytes())
            .unwrap();
        let files: Vec<PathBuf> = rotated_files(&p).into_iter().chain([p.clone()]).collect();
        assert!(files.len() >= 5, "{files:?}");
        for (i, f) in files.iter().enumerate() {
            let text = file_text(f);
            if text.lines().count() > 1 {
                assert!(text.len() as u64 <= max_size, "{f:?}: {}", text.len());
            }
            // Each file was rotated only because its next line would not have fitted.
            if let Some(next) = files.get(i + 1) {
                let first = file_text(next).lines().next().unwrap().len() + 1;
                assert!(
                    (text.len() + first) as u64 > max_size,
                    "{f:?}: {}",
                    text.len()
                );
            }
        }
        let all = read_lines(&files);
        let texts: Vec<String> = all
            .iter()
            .map(|(_, l)| parse_line(l).unwrap().text.to_string())
            .collect();
        let mut want: Vec<String> = (0..n)
            .map(|i| format!("line {i:05} {}", "r".repeat(80)))
            .collect();
        want.push(big.clone());
        want.push("after".into());
        assert_eq!(texts, want);
        let big_file = &all.iter().find(|(_, l)| l.contains(&big)).unwrap().0;
        assert_eq!(file_text(big_file).lines().count(), 1, "{big_file:?}");
        assert!(
            all.iter()
                .all(|(_, l)| l.split(' ').nth(1) == Some("stderr"))
        );
    }

    #[test]
    fn unfinished_lines_continue_across_reads() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("0.log");
        let mut w = LogWriter::open(&p, 1 << 20, 3).unwrap();
        // A line of 2.5 × MAX_LINE arriving in reads that do not align with MAX_LINE, with a
        // stderr line in between and a complete line in the last read.
        let long: Vec<u8> = (0..MAX_LINE * 5 / 2)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        let cuts = [
            0,
            100,
            MAX_LINE - 1,
            MAX_LINE + 7,
            2 * MAX_LINE + 3,
            long.len(),
        ];
        w.write(Stream::Stdout, b"first\nsec").unwrap();
        w.write(Stream::Stdout, b"ond\n").unwrap();
        for c in cuts.windows(2) {
            w.write(Stream::Stdout, &long[c[0]..c[1]]).unwrap();
            w.write(Stream::Stderr, b"err").unwrap();
        }
        w.write(Stream::Stdout, b"\nnext\ntail").unwrap();
        w.write(Stream::Stderr, b"\n").unwrap();
        w.finish(Stream::Stdout).unwrap();
        w.finish(Stream::Stderr).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<LogLine> = text.lines().map(|l| parse_line(l).unwrap()).collect();
        let out: Vec<&LogLine> = lines.iter().filter(|l| l.stream == "stdout").collect();
        let err: Vec<&LogLine> = lines.iter().filter(|l| l.stream == "stderr").collect();
        assert_eq!(out[0].text, "first");
        assert_eq!(out[1].text, "second");
        // The long line: P pieces of exactly MAX_LINE, then the rest as F.
        let pieces = &out[2..5];
        assert!(
            pieces[..2]
                .iter()
                .all(|l| l.partial && l.text.len() == MAX_LINE)
        );
        assert!(!pieces[2].partial && pieces[2].text.len() == MAX_LINE / 2);
        let joined: String = pieces.iter().map(|l| l.text).collect();
        assert_eq!(joined.as_bytes(), &long[..]);
        assert_eq!(
            out[5..]
                .iter()
                .map(|l| (l.text, l.partial))
                .collect::<Vec<_>>(),
            [("next", false), ("tail", false)]
        );
        assert_eq!(err.len(), 1);
        assert_eq!((err[0].text, err[0].partial), ("errerrerrerrerr", false));
    }
}
