//! Instants. Everything is UTC; input is RFC 3339 or a plain date (`2026-03-14`, read as midnight
//! UTC), so that auditors can type what they mean.

use chrono::{DateTime, NaiveDate, Utc};

/// An instant in UTC.
pub type Timestamp = DateTime<Utc>;

/// Why a time argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time {input:?}: expected RFC 3339 (2026-03-14T10:00:00Z) or a date (2026-03-14)")]
pub struct TimeError {
    /// The refused input.
    pub input: String,
}

/// Parses RFC 3339 (`2026-03-14T10:00:00Z`, any offset) or a date (`2026-03-14`, midnight UTC).
pub fn parse_time(input: &str) -> Result<Timestamp, TimeError> {
    let s = input.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(TimeError {
        input: input.to_owned(),
    })
}

/// The RFC 3339 form with second precision and a `Z`, as envtrail prints times.
pub fn format_time(t: &Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_with_offsets_and_dates() {
        let a = parse_time("2026-03-14T10:00:00Z").unwrap();
        let b = parse_time("2026-03-14T11:00:00+01:00").unwrap();
        assert_eq!(a, b);
        let d = parse_time("2026-03-14").unwrap();
        assert_eq!(format_time(&d), "2026-03-14T00:00:00Z");
        assert!(parse_time("14/03/2026").is_err());
    }
}
