//! Kubernetes resource quantities (`500m`, `10Mi`, `1e3`, `1.5G`): parsing with the API server's
//! grammar and rounding rules, exact fixed-point arithmetic in nano-units.

use std::fmt;

/// Largest magnitude a Kubernetes quantity can hold (2^63-1); larger values are capped.
const MAX_UNITS: i128 = i64::MAX as i128;
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// A parsed quantity, stored exactly as nano-units (`1` = 10^-9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: i128,
}

/// Why a string is not a quantity. The messages follow the API server's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

impl Quantity {
    /// Parses a quantity string with Kubernetes' rules: a signed decimal number, then one of the
    /// binary-SI suffixes (Ki Mi Gi Ti Pi Ei), decimal-SI suffixes (n u m "" k M G T P E) or a
    /// decimal exponent (`e3`, `E-2`). Values beyond 2^63-1 are capped as the API server does;
    /// precision below one nano-unit is rounded up.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if let Some(&c) = bytes.first()
            && (c == b'+' || c == b'-')
        {
            negative = c == b'-';
            i = 1;
        }
        let num_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number = &s[num_start..i];
        let suffix = &s[i..];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(QuantityError::Format);
        }
        // Suffix must match [eEinumkKMGTP]*[-+]?[0-9]* to be a quantity at all.
        let sb = suffix.as_bytes();
        let mut j = 0;
        while j < sb.len() && b"eEinumkKMGTP".contains(&sb[j]) {
            j += 1;
        }
        if j < sb.len() && (sb[j] == b'+' || sb[j] == b'-') {
            j += 1;
        }
        while j < sb.len() && sb[j].is_ascii_digit() {
            j += 1;
        }
        if j != sb.len() {
            return Err(QuantityError::Format);
        }
        let (exp10, exp2): (i32, u32) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            _ => {
                let rest = suffix
                    .strip_prefix('e')
                    .or_else(|| suffix.strip_prefix('E'))
                    .ok_or(QuantityError::Suffix)?;
                let digits = rest.trim_start_matches(['+', '-']);
                if digits.is_empty() || rest.len() - digits.len() > 1 {
                    return Err(QuantityError::Suffix);
                }
                let e: i32 = rest.parse().map_err(|_| QuantityError::Suffix)?;
                (e, 0)
            }
        };

        // number = mantissa / 10^scale, kept exact while it fits; digits that no longer fit only
        // matter for rounding up.
        let mut mantissa: i128 = 0;
        let mut scale: i32 = 0;
        let mut overflow_int_digits: i32 = 0;
        let mut dropped_nonzero = false;
        let mut in_fraction = false;
        for c in number.bytes() {
            if c == b'.' {
                in_fraction = true;
                continue;
            }
            let d = i128::from(c - b'0');
            match mantissa.checked_mul(10).and_then(|m| m.checked_add(d)) {
                Some(m) if m < 10i128.pow(36) => {
                    mantissa = m;
                    if in_fraction {
                        scale += 1;
                    }
                }
                _ => {
                    if in_fraction {
                        dropped_nonzero |= d != 0;
                    } else {
                        overflow_int_digits += 1;
                    }
                }
            }
        }
        let cap = MAX_UNITS * NANOS_PER_UNIT;
        // value in nanos = mantissa * 2^exp2 * 10^(exp10 - scale + overflow + 9)
        let pow10 = exp10 - scale + overflow_int_digits + 9;
        let mut nanos = mantissa;
        for _ in 0..exp2 {
            nanos = nanos.saturating_mul(2);
        }
        if pow10 >= 0 {
            for _ in 0..pow10.min(60) {
                nanos = nanos.saturating_mul(10);
                if nanos >= cap {
                    break;
                }
            }
        } else {
            for _ in 0..(-pow10).min(60) {
                dropped_nonzero |= nanos % 10 != 0;
                nanos /= 10;
            }
            if -pow10 > 60 {
                dropped_nonzero |= nanos != 0;
                nanos = 0;
            }
            if dropped_nonzero {
                nanos += 1;
            }
        }
        let nanos = nanos.min(cap);
        Ok(Quantity {
            nanos: if negative { -nanos } else { nanos },
        })
    }

    /// Zero.
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// Builds a quantity of whole units (bytes, cores, ...).
    pub fn from_units(units: i64) -> Quantity {
        Quantity {
            nanos: i128::from(units) * NANOS_PER_UNIT,
        }
    }

    /// The value in whole units, rounded up (Kubernetes `Quantity.Value()`): bytes for memory.
    pub fn value(&self) -> i64 {
        let units = self.nanos.div_euclid(NANOS_PER_UNIT)
            + i128::from(self.nanos.rem_euclid(NANOS_PER_UNIT) != 0);
        units.clamp(i128::from(i64::MIN), MAX_UNITS) as i64
    }

    /// The value in thousandths, rounded up (Kubernetes `Quantity.MilliValue()`): millicores.
    pub fn milli_value(&self) -> i64 {
        let per_milli = NANOS_PER_UNIT / 1000;
        let m =
            self.nanos.div_euclid(per_milli) + i128::from(self.nanos.rem_euclid(per_milli) != 0);
        m.clamp(i128::from(i64::MIN), MAX_UNITS) as i64
    }

    /// True for values below zero.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }
}

impl fmt::Display for Quantity {
    /// Plain decimal form in units (`0.5`, `10485760`), for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let units = abs / NANOS_PER_UNIT as u128;
        let frac = abs % NANOS_PER_UNIT as u128;
        if frac == 0 {
            write!(f, "{sign}{units}")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{sign}{units}.{}", digits.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> i64 {
        Quantity::parse(s).unwrap().value()
    }
    fn m(s: &str) -> i64 {
        Quantity::parse(s).unwrap().milli_value()
    }

    #[test]
    fn parses_kubernetes_forms() {
        assert_eq!(v("10Mi"), 10 * 1024 * 1024);
        assert_eq!(v("1Gi"), 1 << 30);
        assert_eq!(v("128974848"), 128_974_848);
        assert_eq!(v("129e6"), 129_000_000);
        assert_eq!(v("129M"), 129_000_000);
        assert_eq!(v("1k"), 1000);
        assert_eq!(v("1Ki"), 1024);
        assert_eq!(m("500m"), 500);
        assert_eq!(m("0.5"), 500);
        assert_eq!(m("1.5"), 1500);
        assert_eq!(m(".5"), 500);
        assert_eq!(m("5."), 5000);
        assert_eq!(m("+2"), 2000);
        assert_eq!(m("1E-3"), 1);
        assert_eq!(m("100n"), 1, "sub-milli rounds up");
        assert_eq!(v("1.5Gi"), 1_610_612_736);
        assert_eq!(v("0.1"), 1, "Value() rounds up");
        assert!(Quantity::parse("-1").unwrap().is_negative());
        assert_eq!(v("100Ei"), i64::MAX, "capped at 2^63-1");
        assert_eq!(Quantity::parse("1.5").unwrap().to_string(), "1.5");
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "", "abc", "1.2.3", "Mi", "10MB", "1 Gi", "1iK", "e3", ".", "1e", "1e+", "--1",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(Quantity::parse("10x"), Err(QuantityError::Format));
        assert_eq!(Quantity::parse("10KM"), Err(QuantityError::Suffix));
    }
}
