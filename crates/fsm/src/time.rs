//! Time as the protocol core sees it: a value passed in, never read from a clock.

use serde::{Deserialize, Serialize};

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
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(Timestamp(i64::MAX).plus_millis(1).0, i64::MAX);
        assert_eq!(Timestamp::from_unix_seconds(i64::MAX).0, i64::MAX);
    }
}
