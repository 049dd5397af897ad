//! Prometheus durations (`model.Duration`): `1y2w3d4h5m6s7ms`, units in
//! that order, each at most once, integers only; `0` alone is allowed.

use std::fmt;

/// A duration written in Prometheus syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_secs(s: u64) -> Duration {
        Duration(std::time::Duration::from_secs(s))
    }
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl TryFrom<String> for Duration {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        parse_duration(&s)
    }
}

/// Parses a Prometheus duration string.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::rules::parse_duration(s).map(Duration)
}

/// Prints as Prometheus does (`4h`, `1d`, `1h30m`, `0s`).
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in [
            ("y", 365 * 86_400_000u64),
            ("w", 7 * 86_400_000),
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ] {
            if ms >= len {
                write!(f, "{}{unit}", ms / len)?;
                ms %= len;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let d = |s: &str| parse_duration(s).map(|d| d.0.as_secs());
        assert_eq!(d("30s"), Ok(30));
        assert_eq!(d("5m"), Ok(300));
        assert_eq!(d("4h"), Ok(14_400));
        assert_eq!(d("1d"), Ok(86_400));
        assert_eq!(d("1w"), Ok(604_800));
        assert_eq!(d("1y"), Ok(31_536_000));
        assert_eq!(d("1h30m"), Ok(5_400));
        assert_eq!(d("0"), Ok(0));
        assert_eq!(parse_duration("1500ms").unwrap().0.as_millis(), 1500);
        for bad in ["", "5", "1.5h", "5x", "-5m", "30m1h", "5 m", "1h1h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn displays_like_prometheus() {
        assert_eq!(parse_duration("90m").unwrap().to_string(), "1h30m");
        assert_eq!(parse_duration("24h").unwrap().to_string(), "1d");
        assert_eq!(parse_duration("0").unwrap().to_string(), "0s");
    }
}

deserialize_from_str!(Duration, |s| Duration::try_from(s.to_string()));
