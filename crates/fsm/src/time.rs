//! Time as the protocol core sees it: a value passed in, never read from a clock.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, UTC. Every transition takes one as `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From Unix seconds (the unit signed objects use).
    pub fn from_unix_seconds(seconds: i64) -> Timestamp {
        Timestamp(seconds.saturating_mul(1000))
    }

    /// Whole Unix seconds, rounded down.
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// RFC 3339 in UTC, with milliseconds when there are any (`2026-11-18T11:06:40.123Z`).
    /// Pure formatting: the one place the product writes a calendar time.
    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }

    /// Parses RFC 3339 with any offset; `None` for anything else.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        Some(Timestamp((parsed.unix_timestamp_nanos() / 1_000_000) as i64))
    }

    /// This instant plus `millis`, saturating rather than wrapping.
    pub fn plus_millis(self, millis: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(millis))
    }
}

/// A span of time in milliseconds, non-negative by construction where it matters.
pub const MINUTE_MS: i64 = 60_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_down_for_negative_and_positive_instants() {
        assert_eq!(Timestamp(1_999).unix_seconds(), 1);
        assert_eq!(Timestamp(-1).unix_seconds(), -1);
        assert_eq!(Timestamp::from_unix_seconds(5).0, 5_000);
    }

    #[test]
    fn rfc3339_formats_and_parses_round_trip() {
        let at = Timestamp(1_795_000_000_123);
        assert_eq!(at.to_rfc3339(), "2026-11-18T11:06:40.123Z");
        assert_eq!(Timestamp::from_unix_seconds(1_795_000_000).to_rfc3339(), "2026-11-18T11:06:40Z");
        assert_eq!(Timestamp::parse_rfc3339("2026-11-18T11:06:40.123Z"), Some(at));
        assert_eq!(Timestamp::parse_rfc3339("2026-11-18T13:06:40.123+02:00"), Some(at));
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
        assert_eq!(Timestamp::parse_rfc3339("2026-11-18"), None);
    }

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(Timestamp(i64::MAX).plus_millis(1).0, i64::MAX);
        assert_eq!(Timestamp::from_unix_seconds(i64::MAX).0, i64::MAX);
    }
}
