//! Freezing and thawing: v1 freezer.state (FROZEN / THAWED, waiting out FREEZING) and v2
//! cgroup.freeze (waiting for "frozen 1" in cgroup.events).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::fsio::{self, write};
use crate::{Cgroup, Error, Mode};

const TIMEOUT: Duration = Duration::from_secs(5);

fn freezer_dir(cg: &Cgroup) -> Result<&Path, Error> {
    cg.dir_for("freezer").ok_or_else(|| {
        Error::unsupported(
            "freezer",
            "/sys/fs/cgroup",
            "the freezer controller is not mounted",
        )
    })
}

fn v2_frozen(d: &Path) -> Result<bool, Error> {
    let f = d.join("cgroup.events");
    let text = fsio::read(&f)?;
    Ok(fsio::keyed_u64(&f, &text, "frozen")? == Some(1))
}

/// Polls `done` with growing pauses until it is true or TIMEOUT passes.
fn wait(
    path: &Path,
    what: &str,
    mut done: impl FnMut() -> Result<bool, Error>,
) -> Result<(), Error> {
    let deadline = Instant::now() + TIMEOUT;
    let mut pause = Duration::from_micros(100);
    loop {
        if done()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                path: path.to_path_buf(),
                what: what.to_string(),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

pub(crate) fn freeze(cg: &Cgroup) -> Result<(), Error> {
    match cg.mode {
        Mode::Unified => {
            let d = cg.v2_dir()?;
            write("freeze", &d.join("cgroup.freeze"), "1")?;
            let r = wait(&d.join("cgroup.events"), "frozen 1", || v2_frozen(d));
            if r.is_err() {
                let _ = write("thaw", &d.join("cgroup.freeze"), "0");
            }
            r
        }
        Mode::Hybrid | Mode::Legacy => {
            let f = freezer_dir(cg)?.join("freezer.state");
            let r = wait(&f, "FROZEN", || {
                // Re-request on every round: new tasks may have joined while FREEZING.
                write("freeze", &f, "FROZEN")?;
                Ok(fsio::read(&f)?.trim() == "FROZEN")
            });
            if r.is_err() {
                let _ = write("thaw", &f, "THAWED");
            }
            r
        }
    }
}

pub(crate) fn thaw(cg: &Cgroup) -> Result<(), Error> {
    match cg.mode {
        Mode::Unified => {
            let d = cg.v2_dir()?;
            write("thaw", &d.join("cgroup.freeze"), "0")?;
            wait(&d.join("cgroup.events"), "frozen 0", || Ok(!v2_frozen(d)?))
        }
        Mode::Hybrid | Mode::Legacy => {
            let f = freezer_dir(cg)?.join("freezer.state");
            write("thaw", &f, "THAWED")?;
            wait(&f, "THAWED", || Ok(fsio::read(&f)?.trim() == "THAWED"))
        }
    }
}

pub(crate) fn is_frozen(cg: &Cgroup) -> Result<bool, Error> {
    match cg.mode {
        Mode::Unified => v2_frozen(cg.v2_dir()?),
        Mode::Hybrid | Mode::Legacy => {
            let f = freezer_dir(cg)?.join("freezer.state");
            Ok(fsio::read(&f)?.trim() == "FROZEN")
        }
    }
}
