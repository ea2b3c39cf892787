//! The ops server's clock (read once per request or event by the driver) and thin names for
//! the core's RFC 3339 formatting.

use argus_fsm::Timestamp;
use time::OffsetDateTime;

/// Now, read once per request or event by the driver.
pub fn now() -> Timestamp {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    Timestamp((nanos / 1_000_000) as i64)
}

/// A timestamp as RFC 3339 UTC ([`Timestamp::to_rfc3339`]).
pub fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339()
}

/// Parses RFC 3339 with any offset ([`Timestamp::parse_rfc3339`]).
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(text)
}
