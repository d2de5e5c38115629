//! Talking to systemd for the systemd cgroup driver, over the system bus with zbus's blocking
//! API: start a transient unit and wait for its job (`StartTransientUnit` + `JobRemoved`),
//! change properties of a running one (`SetUnitProperties`), stop one (`StopUnit`). What to
//! ask for is decided in `systemd` (pure); this module only carries it.

use std::sync::mpsc;
use std::time::Duration;

use zbus::blocking::{Connection, Proxy, connection};
use zbus::zvariant::{OwnedObjectPath, Value};

use crate::Error;
use crate::systemd::Prop;

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// How long a unit's start or stop job may take.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `f` with every signal blocked in this thread, so that the threads zbus (and
/// `wait_job`) start inherit the mask and never take a signal meant for the caller: a runtime
/// that waits on a signalfd (`noderun run` in the foreground: SIGCHLD) would otherwise lose
/// it to one of them and wait forever. The caller's mask is restored afterwards.
fn signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: plain sigset_t values on the stack; pthread_sigmask only reads/writes them.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let r = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        r
    }
}

fn err(unit: &str, op: &'static str, e: impl std::fmt::Display) -> Error {
    Error::Systemd {
        unit: unit.to_string(),
        op,
        reason: e.to_string(),
    }
}

fn connect(unit: &str) -> Result<Connection, Error> {
    connection::Builder::system()
        .and_then(|b| b.method_timeout(JOB_TIMEOUT).build())
        .map_err(|e| {
            err(
                unit,
                "connect to the system bus",
                format!("{e} (is systemd PID 1 and dbus running?)"),
            )
        })
}

fn manager<'a>(conn: &Connection, unit: &str) -> Result<Proxy<'a>, Error> {
    Proxy::new(conn, DEST, PATH, MANAGER).map_err(|e| err(unit, "proxy", e))
}

fn value(p: &Prop) -> Value<'_> {
    match p {
        Prop::Bool(b) => Value::from(*b),
        Prop::U64(v) => Value::from(*v),
        Prop::Str(s) => Value::from(s.as_str()),
        Prop::Strs(v) => Value::from(v.clone()),
        Prop::Bytes(b) => Value::from(b.clone()),
        Prop::U32s(v) => Value::from(v.clone()),
    }
}

fn method_error_name(e: &zbus::Error) -> Option<&str> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.as_str()),
        _ => None,
    }
}

/// Starts the transient unit `unit` with `props` and waits until systemd finished the job.
/// A unit that already exists: a slice is taken as it is (Ok); a scope left over (failed or
/// not yet collected) is reset and started once more.
pub(crate) fn start_unit(unit: &str, props: &[(String, Prop)]) -> Result<(), Error> {
    signals_blocked(|| start_unit_inner(unit, props))
}

fn start_unit_inner(unit: &str, props: &[(String, Prop)]) -> Result<(), Error> {
    let conn = connect(unit)?;
    let mgr = manager(&conn, unit)?;
    let _: () = mgr
        .call("Subscribe", &())
        .map_err(|e| err(unit, "Subscribe", e))?;
    let body: Vec<(&str, Value<'_>)> = props.iter().map(|(k, v)| (k.as_str(), value(v))).collect();
    let aux: Vec<(&str, Vec<(&str, Value<'_>)>)> = Vec::new();
    for attempt in 0..2 {
        let signals = mgr
            .receive_signal("JobRemoved")
            .map_err(|e| err(unit, "match JobRemoved", e))?;
        let job: OwnedObjectPath =
            match mgr.call("StartTransientUnit", &(unit, "replace", &body, &aux)) {
                Ok(j) => j,
                Err(e) if method_error_name(&e) == Some("org.freedesktop.systemd1.UnitExists") => {
                    if unit.ends_with(".slice") {
                        return Ok(());
                    }
                    if attempt == 0 {
                        let _ = stop_and_wait(&mgr, unit);
                        let _: Result<(), _> = mgr.call("ResetFailedUnit", &(unit,));
                        continue;
                    }
                    return Err(err(unit, "StartTransientUnit", e));
                }
                Err(e) => return Err(err(unit, "StartTransientUnit", e)),
            };
        let result = wait_job(signals, job)?;
        if result != "done" {
            return Err(err(
                unit,
                "StartTransientUnit",
                format!("the start job ended {result:?} (journalctl -u {unit})"),
            ));
        }
        return Ok(());
    }
    Ok(())
}

/// Waits for the `JobRemoved` signal of `job` (its result: done, failed, canceled...).
fn wait_job(
    signals: zbus::blocking::proxy::SignalIterator<'static>,
    job: OwnedObjectPath,
) -> Result<String, Error> {
    let (tx, rx) = mpsc::channel();
    let want = job.clone();
    // The blocking iterator has no timeout: it runs in a thread that ends with the answer.
    std::thread::spawn(move || {
        for msg in signals {
            if let Ok((_, path, _, result)) = msg
                .body()
                .deserialize::<(u32, OwnedObjectPath, String, String)>()
                && path == want
            {
                let _ = tx.send(result);
                return;
            }
        }
    });
    rx.recv_timeout(JOB_TIMEOUT).map_err(|_| Error::Systemd {
        unit: job.to_string(),
        op: "wait for the job",
        reason: format!("no JobRemoved signal within {JOB_TIMEOUT:?}"),
    })
}

/// Stops `unit` and waits for the job; a unit that does not exist (already stopped and
/// collected: a scope goes when its last process does) is fine.
pub(crate) fn stop_unit(unit: &str) -> Result<(), Error> {
    signals_blocked(|| stop_unit_inner(unit))
}

fn stop_unit_inner(unit: &str) -> Result<(), Error> {
    let conn = connect(unit)?;
    let mgr = manager(&conn, unit)?;
    let _: () = mgr
        .call("Subscribe", &())
        .map_err(|e| err(unit, "Subscribe", e))?;
    stop_and_wait(&mgr, unit)?;
    // A scope whose processes were killed may be left "failed"; let it be collected.
    let _: Result<(), _> = mgr.call("ResetFailedUnit", &(unit,));
    Ok(())
}

fn stop_and_wait(mgr: &Proxy<'static>, unit: &str) -> Result<(), Error> {
    let signals = mgr
        .receive_signal("JobRemoved")
        .map_err(|e| err(unit, "match JobRemoved", e))?;
    match mgr.call::<_, _, OwnedObjectPath>("StopUnit", &(unit, "replace")) {
        Ok(job) => {
            wait_job(signals, job)?;
            Ok(())
        }
        Err(e)
            if matches!(
                method_error_name(&e),
                Some(
                    "org.freedesktop.systemd1.NoSuchUnit"
                        | "org.freedesktop.DBus.Error.UnknownObject"
                )
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(err(unit, "StopUnit", e)),
    }
}

/// Sets properties of a running unit (`SetUnitProperties`, runtime only).
pub(crate) fn set_properties(unit: &str, props: &[(String, Prop)]) -> Result<(), Error> {
    if props.is_empty() {
        return Ok(());
    }
    signals_blocked(|| set_properties_inner(unit, props))
}

fn set_properties_inner(unit: &str, props: &[(String, Prop)]) -> Result<(), Error> {
    let conn = connect(unit)?;
    let mgr = manager(&conn, unit)?;
    let body: Vec<(&str, Value<'_>)> = props.iter().map(|(k, v)| (k.as_str(), value(v))).collect();
    mgr.call::<_, _, ()>("SetUnitProperties", &(unit, true, &body))
        .map_err(|e| err(unit, "SetUnitProperties", e))
}
