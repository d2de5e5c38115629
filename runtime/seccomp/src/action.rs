//! OCI seccomp actions (plus errnoRet) encoded as kernel `SECCOMP_RET_*` values, and the
//! kernel's precedence between them.

use oci_spec::runtime::LinuxSeccompAction;

use crate::Error;

/// errnoRet used when ERRNO / TRACE give none (as runc and crun do).
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// Kernel return value for `action` with optional `errno_ret`; `errno_field` is the JSON path of
/// errnoRet for errors. errnoRet is used by ERRNO and TRACE and ignored by other actions (as runc
/// does).
pub(crate) fn encode(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    errno_field: &str,
) -> Result<u32, Error> {
    use LinuxSeccompAction as A;
    let data = || -> Result<u32, Error> {
        let errno = errno_ret.unwrap_or(DEFAULT_ERRNO);
        if errno > libc::SECCOMP_RET_DATA {
            return Err(Error::invalid(
                errno_field,
                format!("{errno} does not fit in the 16-bit seccomp return data"),
            ));
        }
        Ok(errno)
    };
    Ok(match action {
        A::ScmpActKill | A::ScmpActKillThread => libc::SECCOMP_RET_KILL_THREAD,
        A::ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        A::ScmpActTrap => libc::SECCOMP_RET_TRAP,
        A::ScmpActErrno => libc::SECCOMP_RET_ERRNO | data()?,
        A::ScmpActTrace => libc::SECCOMP_RET_TRACE | data()?,
        A::ScmpActNotify => libc::SECCOMP_RET_USER_NOTIF,
        A::ScmpActLog => libc::SECCOMP_RET_LOG,
        A::ScmpActAllow => libc::SECCOMP_RET_ALLOW,
    })
}

/// Sort key: the kernel lets the action with the lowest `(s32)(ret & SECCOMP_RET_ACTION_FULL)`
/// win among stacked filters; we use the same order between rules of one syscall.
pub(crate) fn precedence(ret: u32) -> i32 {
    (ret & libc::SECCOMP_RET_ACTION_FULL) as i32
}

/// True for the user-notification action.
pub(crate) fn is_notify(ret: u32) -> bool {
    ret & libc::SECCOMP_RET_ACTION_FULL == libc::SECCOMP_RET_USER_NOTIF
}

#[cfg(test)]
mod tests {
    use super::*;
    use LinuxSeccompAction as A;

    #[test]
    fn encodes_every_action() {
        let f = "x.errnoRet";
        assert_eq!(encode(A::ScmpActKill, None, f).unwrap(), 0);
        assert_eq!(encode(A::ScmpActKillThread, None, f).unwrap(), 0);
        assert_eq!(encode(A::ScmpActKillProcess, None, f).unwrap(), 0x8000_0000);
        assert_eq!(encode(A::ScmpActTrap, None, f).unwrap(), 0x0003_0000);
        assert_eq!(encode(A::ScmpActErrno, None, f).unwrap(), 0x0005_0001);
        assert_eq!(encode(A::ScmpActErrno, Some(13), f).unwrap(), 0x0005_000d);
        assert_eq!(encode(A::ScmpActTrace, None, f).unwrap(), 0x7ff0_0001);
        assert_eq!(encode(A::ScmpActTrace, Some(7), f).unwrap(), 0x7ff0_0007);
        assert_eq!(encode(A::ScmpActNotify, None, f).unwrap(), 0x7fc0_0000);
        assert_eq!(encode(A::ScmpActLog, None, f).unwrap(), 0x7ffc_0000);
        assert_eq!(encode(A::ScmpActAllow, Some(5), f).unwrap(), 0x7fff_0000);
    }

    #[test]
    fn errno_out_of_range_names_field() {
        let e = encode(
            A::ScmpActErrno,
            Some(0x1_0000),
            "linux.seccomp.syscalls[2].errnoRet",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "linux.seccomp.syscalls[2].errnoRet: 65536 does not fit in the 16-bit seccomp return data"
        );
        let e = encode(
            A::ScmpActErrno,
            Some(70000),
            "linux.seccomp.defaultErrnoRet",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("linux.seccomp.defaultErrnoRet: 70000"), "{e}");
    }

    #[test]
    fn precedence_matches_kernel_order() {
        let order = [
            A::ScmpActKillProcess,
            A::ScmpActKillThread,
            A::ScmpActTrap,
            A::ScmpActErrno,
            A::ScmpActNotify,
            A::ScmpActTrace,
            A::ScmpActLog,
            A::ScmpActAllow,
        ];
        let keys: Vec<i32> = order
            .iter()
            .map(|a| precedence(encode(*a, None, "f").unwrap()))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }
}
