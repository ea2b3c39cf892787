//! Wall-clock formatting at the edges (the core only sees [`Timestamp`]s).

use argus_fsm::Timestamp;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, read once per request or event by the driver.
pub fn now() -> Timestamp {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    Timestamp((nanos / 1_000_000) as i64)
}

/// A timestamp as RFC 3339 UTC with millisecond precision.
pub fn rfc3339(at: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| at.0.to_string())
}

/// Parses RFC 3339 (any offset) into a timestamp.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some(Timestamp((parsed.unix_timestamp_nanos() / 1_000_000) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        let at = Timestamp(1_795_000_000_123);
        let text = rfc3339(at);
        assert_eq!(text, "2026-11-18T11:06:40.123Z");
        assert_eq!(parse_rfc3339(&text), Some(at));
        assert_eq!(parse_rfc3339("2026-11-18T13:06:40.123+02:00"), Some(at));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
