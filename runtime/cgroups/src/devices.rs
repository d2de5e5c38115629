//! OCI device cgroup rules (`linux.resources.devices`) normalised into `DeviceRule`s, and their
//! v1 devices.allow / devices.deny line format.

use std::fmt::Write as _;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::Error;

/// Access bits as the kernel's device cgroup program sees them.
pub const ACC_MKNOD: u8 = 1;
pub const ACC_READ: u8 = 2;
pub const ACC_WRITE: u8 = 4;
pub const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceType {
    All,
    Block,
    Char,
}

/// One device rule: `allow` or deny `access` to devices of `typ` with `major`:`minor`
/// (None = any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub typ: DeviceType,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Bit set of ACC_MKNOD | ACC_READ | ACC_WRITE.
    pub access: u8,
}

fn number(field: &str, v: Option<i64>) -> Result<Option<u32>, Error> {
    match v {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None), // -1 is the conventional wildcard
        Some(n) => u32::try_from(n).map(Some).map_err(|_| {
            Error::unsupported(field, "devices", format!("{n} is not a device number"))
        }),
    }
}

impl DeviceRule {
    /// Converts rule number `index` of `linux.resources.devices`.
    pub fn from_oci(index: usize, r: &LinuxDeviceCgroup) -> Result<DeviceRule, Error> {
        let field = format!("linux.resources.devices[{index}]");
        let typ = match r.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => DeviceType::All,
            LinuxDeviceType::B => DeviceType::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceType::Char,
            LinuxDeviceType::P => {
                return Err(Error::unsupported(
                    format!("{field}.type"),
                    "devices",
                    "FIFOs (type \"p\") are not device cgroup rules",
                ));
            }
        };
        let mut access = 0;
        for ch in r.access().as_deref().unwrap_or("").chars() {
            access |= match ch {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => {
                    return Err(Error::unsupported(
                        format!("{field}.access"),
                        "devices",
                        format!("{ch:?} is not one of r, w, m"),
                    ));
                }
            };
        }
        if access == 0 {
            access = ACC_ALL;
        }
        Ok(DeviceRule {
            allow: r.allow(),
            typ,
            major: number(&format!("{field}.major"), r.major())?,
            minor: number(&format!("{field}.minor"), r.minor())?,
            access,
        })
    }

    /// The rule as written to v1 devices.allow / devices.deny, e.g. "c 1:3 rwm".
    pub fn v1_line(&self) -> String {
        let mut s = String::with_capacity(16);
        s.push(match self.typ {
            DeviceType::All => 'a',
            DeviceType::Block => 'b',
            DeviceType::Char => 'c',
        });
        s.push(' ');
        match self.major {
            Some(m) => {
                let _ = write!(s, "{m}");
            }
            None => s.push('*'),
        }
        s.push(':');
        match self.minor {
            Some(m) => {
                let _ = write!(s, "{m}");
            }
            None => s.push('*'),
        }
        s.push(' ');
        for (bit, ch) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if self.access & bit != 0 {
                s.push(ch);
            }
        }
        s
    }

    /// Whether this rule matches every device and access.
    pub fn is_catch_all(&self) -> bool {
        self.typ == DeviceType::All
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == ACC_ALL
    }
}

/// Converts the OCI device rule list.
pub fn rules_from_oci(rules: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>, Error> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| DeviceRule::from_oci(i, r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    #[test]
    fn oci_rules_to_v1_lines() {
        let r = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rw")
            .build()
            .unwrap();
        let d = DeviceRule::from_oci(0, &r).unwrap();
        assert_eq!(d.v1_line(), "c 1:3 rw");
        let all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .build()
            .unwrap();
        let d = DeviceRule::from_oci(0, &all).unwrap();
        assert_eq!(d.v1_line(), "a *:* rwm");
        assert!(d.is_catch_all());
        let bad = LinuxDeviceCgroupBuilder::default()
            .access("rx")
            .build()
            .unwrap();
        let e = DeviceRule::from_oci(4, &bad).unwrap_err().to_string();
        assert!(e.contains("linux.resources.devices[4].access"), "{e}");
    }
}
