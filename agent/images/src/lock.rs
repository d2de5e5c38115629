//! Exclusive file locks (`flock`) that serialize work on one blob, layer or the image records
//! across threads and processes. A lock is released when the guard drops, or when the holder
//! dies, so a crashed pull never blocks the next one.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, OFlags};

use crate::error::{ImageError, Result};

/// Holds an exclusive `flock` until dropped.
#[derive(Debug)]
pub struct FileLock {
    _fd: OwnedFd,
    path: PathBuf,
}

fn open(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| ImageError::io(path, e.into()))
}

impl FileLock {
    /// Blocks until the lock is held. Each call opens its own file description, so two threads
    /// of one process exclude each other like two processes do.
    pub fn acquire(path: &Path) -> Result<Self> {
        let fd = open(path)?;
        loop {
            match rustix::fs::flock(&fd, FlockOperation::LockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(ImageError::io(path, e.into())),
            }
        }
        Ok(FileLock {
            _fd: fd,
            path: path.to_path_buf(),
        })
    }

    /// Blocks until a shared lock is held (many shared holders exclude one exclusive holder).
    pub fn acquire_shared(path: &Path) -> Result<Self> {
        let fd = open(path)?;
        loop {
            match rustix::fs::flock(&fd, FlockOperation::LockShared) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(ImageError::io(path, e.into())),
            }
        }
        Ok(FileLock {
            _fd: fd,
            path: path.to_path_buf(),
        })
    }

    /// Takes the lock if nobody holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<Self>> {
        let fd = open(path)?;
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock {
                _fd: fd,
                path: path.to_path_buf(),
            })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(ImageError::io(path, e.into())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
