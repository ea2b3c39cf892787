//! Times and durations as an operator types them: `--since 1h`, `--not-before now`,
//! `--not-after +1h`, `--ttl 45m`. Pure functions of the text and the current time.

use argus_fsm::session::MAX_TTL_MS;
use argus_fsm::Timestamp;

/// A duration such as `45m`, `1h`, `90s` or `1h30m`.
pub fn duration_ms(text: &str) -> Result<i64, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?}: {e} (use a duration such as 45m or 1h)"))
        .and_then(|d| i64::try_from(d.as_millis()).map_err(|_| format!("{text:?} is too long")))
}

/// `--since`: an RFC 3339 time, or a duration back from now (`1h`, `30m`).
pub fn since(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    if let Some(at) = Timestamp::parse_rfc3339(text.trim()) {
        return Ok(at);
    }
    duration_ms(text)
        .map(|ms| now.plus_millis(-ms))
        .map_err(|_| format!("--since {text:?} is neither RFC 3339 nor a duration such as 1h or 30m"))
}

/// A point in time: RFC 3339, `now`, or `now` plus or minus a duration (`+1h`, `-5m`).
pub fn at(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Some(at) = Timestamp::parse_rfc3339(text) {
        return Ok(at);
    }
    let (sign, rest) = match text.split_at_checked(1) {
        Some(("+", rest)) => (1, rest),
        Some(("-", rest)) => (-1, rest),
        _ => return Err(format!("{text:?} is neither RFC 3339, `now`, nor `+DURATION` / `-DURATION`")),
    };
    duration_ms(rest).map(|ms| now.plus_millis(sign * ms))
}

/// `--ttl` for a session: positive and at most the 120-minute cap, refused locally otherwise
/// (the server would refuse it too; this saves the round trip and says why).
pub fn session_ttl_seconds(text: &str) -> Result<u64, String> {
    let ms = duration_ms(text).map_err(|e| format!("--ttl {e}"))?;
    if ms < 1000 {
        return Err(format!("--ttl {text:?} must be at least one second"));
    }
    if ms > MAX_TTL_MS {
        return Err(format!(
            "--ttl {text:?} exceeds the {}-minute cap on a session (ttl_exceeds_cap)",
            MAX_TTL_MS / 60_000
        ));
    }
    Ok((ms / 1000) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    #[test]
    fn since_takes_rfc3339_or_a_duration_back_from_now() {
        assert_eq!(since("1h", NOW), Ok(NOW.plus_millis(-3_600_000)));
        assert_eq!(since("30m", NOW), Ok(NOW.plus_millis(-1_800_000)));
        assert_eq!(since("2026-01-01T00:00:00Z", NOW), Ok(Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap()));
        assert!(since("yesterday", NOW).is_err());
        assert!(since("", NOW).is_err());
    }

    #[test]
    fn points_in_time_take_now_and_offsets() {
        assert_eq!(at("now", NOW), Ok(NOW));
        assert_eq!(at("+1h", NOW), Ok(NOW.plus_millis(3_600_000)));
        assert_eq!(at("-5m", NOW), Ok(NOW.plus_millis(-300_000)));
        assert_eq!(at("+1h30m", NOW), Ok(NOW.plus_millis(5_400_000)));
        assert!(at("2026-01-01T00:00:00Z", NOW).is_ok());
        for bad in ["", "+", "1h", "later", "+ten minutes", "now+1h"] {
            assert!(at(bad, NOW).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_session_ttl_over_the_cap_is_refused_locally() {
        assert_eq!(session_ttl_seconds("45m"), Ok(2700));
        assert_eq!(session_ttl_seconds("120m"), Ok(7200));
        assert_eq!(session_ttl_seconds("2h"), Ok(7200));
        let over = session_ttl_seconds("121m").unwrap_err();
        assert!(over.contains("120-minute cap"), "{over}");
        assert!(session_ttl_seconds("0s").is_err());
        assert!(session_ttl_seconds("soon").is_err());
    }
}
