//! Kubernetes minor versions (`1.29`), as rules and the API table use them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32) -> Version {
        Version { major, minor }
    }

    /// Parses `1.29`, `v1.29`, `v1.29.4-eks-036c24b` or `1.29+`.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches('v');
        let mut parts = s.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor_part = parts.next()?;
        let digits: String = minor_part
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let minor = digits.parse().ok()?;
        Some(Version { major, minor })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_and_user_forms() {
        assert_eq!(Version::parse("1.29"), Some(Version::new(1, 29)));
        assert_eq!(
            Version::parse("v1.30.4-eks-036c24b"),
            Some(Version::new(1, 30))
        );
        assert_eq!(Version::parse("1.28+"), Some(Version::new(1, 28)));
        assert_eq!(Version::parse("1"), None);
        assert_eq!(Version::parse("one.two"), None);
        assert!(Version::new(1, 9) < Version::new(1, 10));
    }
}
