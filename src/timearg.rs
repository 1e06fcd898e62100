//! `--since` / `--until` values: RFC 3339, a date, or a duration before now.

use crate::audit::event::parse_rfc3339_micros;

pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Parses `2026-11-01T00:00:00Z`, `2026-11-01` (midnight UTC) or a relative `90s`, `30m`, `6h`,
/// `2d`, `1w`, `1h30m` (that long before `now_us`) into µs since the epoch.
pub fn parse(s: &str, now_us: i64) -> Result<i64, String> {
    let s = s.trim();
    if let Some(t) = parse_rfc3339_micros(s) {
        return Ok(t);
    }
    if s.len() == 10 {
        if let Some(t) = parse_rfc3339_micros(&format!("{s}T00:00:00Z")) {
            return Ok(t);
        }
    }
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty time".into());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if n == 0 {
            return Err(format!(
                "expected RFC 3339, YYYY-MM-DD, or a duration such as 6h: {s:?}"
            ));
        }
        let v: i64 = rest[..n]
            .parse()
            .map_err(|_| format!("number too large in {s:?}"))?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..u] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            "w" => 7 * 86400,
            other => {
                return Err(format!(
                    "unknown unit {other:?} in {s:?} (use s, m, h, d, w)"
                ));
            }
        };
        total = total.saturating_add(v.saturating_mul(secs));
        rest = &rest[u..];
    }
    Ok(now_us - total.saturating_mul(1_000_000))
}

/// µs since the epoch as RFC 3339 (UTC, whole seconds).
pub fn format_micros(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| us.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now = 1_793_491_200_000_000;
        assert_eq!(parse("2026-11-01T00:00:00Z", now), Ok(now));
        assert_eq!(parse("2026-11-01", now), Ok(now));
        assert_eq!(parse("6h", now), Ok(now - 6 * 3_600_000_000));
        assert_eq!(parse("1h30m", now), Ok(now - 5_400_000_000));
        assert_eq!(parse("2d", now), Ok(now - 2 * 86_400_000_000));
        assert!(parse("6x", now).is_err());
        assert!(parse("h", now).is_err());
        assert!(parse("", now).is_err());
    }
}
