//! Small, allocation-light helpers to read and write cgroup control files, turning failures
//! into `Error`s that name the file (and the OCI field for writes).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use crate::Error;

/// Writes `value` to the control file `path` in a single write(2) (cgroup files need that).
pub(crate) fn write(field: &str, path: &Path, value: &str) -> Result<(), Error> {
    let werr = |source| Error::Write {
        field: field.to_string(),
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut f = OpenOptions::new().write(true).open(path).map_err(werr)?;
    f.write_all(value.as_bytes()).map_err(werr)
}

/// Reads a control file into a String (open + read until EOF; no stat, no size probing).
pub(crate) fn read(path: &Path) -> Result<String, Error> {
    let mut f = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut buf = [0u8; 8192];
    let mut out = Vec::new();
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, "read", e)),
        }
    }
    String::from_utf8(out).map_err(|_| Error::parse(path, "not UTF-8"))
}

/// Reads a control file holding one number ("max" is returned as None).
pub(crate) fn read_u64(path: &Path) -> Result<Option<u64>, Error> {
    let s = read(path)?;
    let t = s.trim();
    if t == "max" {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| Error::parse(path, format!("expected a number or \"max\", got {t:?}")))
}

/// Finds `key` in a flat-keyed file ("key value" per line, as memory.stat or memory.events).
pub(crate) fn keyed_u64(path: &Path, text: &str, key: &str) -> Result<Option<u64>, Error> {
    for line in text.lines() {
        let mut it = line.split_ascii_whitespace();
        if it.next() == Some(key) {
            let v = it.next().unwrap_or("");
            return v
                .parse()
                .map(Some)
                .map_err(|_| Error::parse(path, format!("{key}: expected a number, got {v:?}")));
        }
    }
    Ok(None)
}

pub(crate) fn exists(path: &Path) -> bool {
    path.exists()
}
