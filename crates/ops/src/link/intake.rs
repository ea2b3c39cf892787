//! Which incoming QUIC connections the agent listener starts a handshake for (SPEC §12 "Floods").
//!
//! Every Initial packet that quinn hands up would otherwise cost a handshake in progress until
//! it completes or times out, and a peer that sends Initials and never answers (no agent ID
//! needed, the source address spoofable) could keep every place taken. So:
//!
//! - at most [`MAX_IN_PROGRESS`] handshakes run at once, and the accept loop never waits for a
//!   place: beyond it a connection is refused at once (or asked to validate its address first);
//! - once [`RETRY_ABOVE`] handshakes are in progress, a peer whose source address is not yet
//!   validated is answered with a QUIC Retry: stateless on the server, and only a peer that
//!   really receives at its address can come back with the token. A flood from spoofed or
//!   deaf addresses then holds nothing;
//! - one address (an IPv4 address, or an IPv6 /64, which one host usually holds whole) holds
//!   at most `per_address` of the places, so the addresses outside a flood always find room.
//!
//! Pure: the listener asks [`Intake::decide`] and gives each place back with [`Intake::done`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// A QUIC handshake that has not completed in this time is dropped (SPEC §12 "Floods").
pub const QUIC_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Handshakes in progress at once (QUIC and link handshake, until the link is registered).
pub const MAX_IN_PROGRESS: usize = 512;
/// Beyond this many in progress, an unvalidated source address gets a Retry first.
pub const RETRY_ABOVE: usize = 64;
/// The default share one address may hold (`ARGUS_HANDSHAKES_PER_ADDRESS`): half of them, so a
/// whole site behind one NAT reconnects at speed and still cannot crowd out everyone else.
pub const PER_ADDRESS: usize = MAX_IN_PROGRESS / 2;

/// What to do with one incoming connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start the handshake (a place is taken: give it back with [`Intake::done`]).
    Accept,
    /// Answer with a Retry: the peer must prove it receives at its address.
    Retry,
    /// Refuse (the peer's client backs off and tries again).
    Refuse(Shed),
}

/// Why a connection was refused, as the metric's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shed {
    /// Every place is taken.
    Full,
    /// This address holds its share.
    PerAddress,
}

impl Shed {
    pub fn as_str(self) -> &'static str {
        match self {
            Shed::Full => "full",
            Shed::PerAddress => "per_address",
        }
    }
}

/// The address a place is counted against: IPv4 as it is (an IPv4-mapped IPv6 address too),
/// IPv6 by its /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source(u128);

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Source(u32::from(v4) as u128),
            IpAddr::V6(v6) => Source((u128::from(v6) >> 64) | (1 << 127)),
        }
    }
}

/// The places and who holds them.
#[derive(Debug)]
pub struct Intake {
    per_address: usize,
    in_progress: usize,
    by_source: HashMap<Source, usize>,
}

impl Intake {
    pub fn new(per_address: usize) -> Intake {
        Intake { per_address: per_address.clamp(1, MAX_IN_PROGRESS), in_progress: 0, by_source: HashMap::new() }
    }

    /// The setting read through `lookup` (the process environment in production).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Intake> {
        let per_address = match lookup("ARGUS_HANDSHAKES_PER_ADDRESS") {
            None => PER_ADDRESS,
            Some(value) => match value.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_IN_PROGRESS).contains(&n) => n,
                _ => anyhow::bail!(
                    "ARGUS_HANDSHAKES_PER_ADDRESS={value:?} is not a whole number from 1 to {MAX_IN_PROGRESS}"
                ),
            },
        };
        Ok(Intake::new(per_address))
    }

    /// One incoming connection from `ip`, whose address quinn has (or has not) validated.
    pub fn decide(&mut self, ip: IpAddr, validated: bool) -> Decision {
        if !validated && self.in_progress >= RETRY_ABOVE {
            return Decision::Retry;
        }
        if self.in_progress >= MAX_IN_PROGRESS {
            return Decision::Refuse(Shed::Full);
        }
        let held = self.by_source.entry(Source::of(ip)).or_insert(0);
        if *held >= self.per_address {
            return Decision::Refuse(Shed::PerAddress);
        }
        *held += 1;
        self.in_progress += 1;
        Decision::Accept
    }

    /// A handshake accepted from `ip` is over, however it ended.
    pub fn done(&mut self, ip: IpAddr) {
        let source = Source::of(ip);
        if let Some(held) = self.by_source.get_mut(&source) {
            *held -= 1;
            if *held == 0 {
                self.by_source.remove(&source);
            }
            self.in_progress -= 1;
        }
    }

    /// Handshakes in progress.
    pub fn in_progress(&self) -> usize {
        self.in_progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn below_the_threshold_everyone_is_accepted_without_a_retry() {
        let mut intake = Intake::new(PER_ADDRESS);
        for i in 0..RETRY_ABOVE {
            assert_eq!(intake.decide(ip(&format!("10.0.{}.{}", i / 200, i % 200)), false), Decision::Accept);
        }
        assert_eq!(intake.in_progress(), RETRY_ABOVE);
    }

    #[test]
    fn past_the_threshold_an_unvalidated_address_must_retry_and_holds_nothing() {
        let mut intake = Intake::new(PER_ADDRESS);
        for _ in 0..RETRY_ABOVE {
            assert_eq!(intake.decide(ip("10.0.0.1"), false), Decision::Accept);
        }
        for _ in 0..10_000 {
            assert_eq!(intake.decide(ip("10.0.0.2"), false), Decision::Retry);
        }
        assert_eq!(intake.in_progress(), RETRY_ABOVE, "a Retry takes no place");
        // The same address, validated by its token, is accepted.
        assert_eq!(intake.decide(ip("10.0.0.2"), true), Decision::Accept);
    }

    #[test]
    fn one_address_holds_at_most_its_share_and_others_still_get_in() {
        let mut intake = Intake::new(8);
        for _ in 0..8 {
            assert_eq!(intake.decide(ip("192.0.2.7"), true), Decision::Accept);
        }
        assert_eq!(intake.decide(ip("192.0.2.7"), true), Decision::Refuse(Shed::PerAddress));
        assert_eq!(intake.decide(ip("192.0.2.8"), true), Decision::Accept);
        // An IPv4-mapped IPv6 address is the same host.
        assert_eq!(intake.decide(ip("::ffff:192.0.2.7"), true), Decision::Refuse(Shed::PerAddress));
        intake.done(ip("192.0.2.7"));
        assert_eq!(intake.decide(ip("::ffff:192.0.2.7"), true), Decision::Accept);
    }

    #[test]
    fn an_ipv6_host_counts_by_its_slash_64() {
        let mut intake = Intake::new(2);
        assert_eq!(intake.decide(ip("2001:db8:1:2::1"), true), Decision::Accept);
        assert_eq!(intake.decide(ip("2001:db8:1:2:ffff::9"), true), Decision::Accept);
        assert_eq!(intake.decide(ip("2001:db8:1:2::77"), true), Decision::Refuse(Shed::PerAddress));
        assert_eq!(intake.decide(ip("2001:db8:1:3::1"), true), Decision::Accept, "another /64");
        // The top bit keeps IPv6 /64s apart from IPv4 addresses.
        assert_ne!(Source::of(ip("::1")), Source::of(ip("0.0.0.0")));
    }

    #[test]
    fn when_every_place_is_taken_validated_peers_are_refused_and_unvalidated_asked_to_retry() {
        let mut intake = Intake::new(PER_ADDRESS);
        for i in 0..MAX_IN_PROGRESS {
            assert_eq!(intake.decide(ip(&format!("10.1.{}.{}", i / 200, i % 200)), true), Decision::Accept);
        }
        assert_eq!(intake.decide(ip("10.9.9.9"), true), Decision::Refuse(Shed::Full));
        assert_eq!(intake.decide(ip("10.9.9.9"), false), Decision::Retry);
        intake.done(ip("10.1.0.0"));
        assert_eq!(intake.decide(ip("10.9.9.9"), true), Decision::Accept);
    }

    #[test]
    fn places_are_given_back_exactly_once() {
        let mut intake = Intake::new(4);
        assert_eq!(intake.decide(ip("10.0.0.1"), true), Decision::Accept);
        intake.done(ip("10.0.0.1"));
        intake.done(ip("10.0.0.1"));
        intake.done(ip("10.0.0.9"));
        assert_eq!(intake.in_progress(), 0);
        assert!(intake.by_source.is_empty(), "nothing kept for a gone address");
    }

    #[test]
    fn the_share_per_address_is_read_from_the_environment_and_checked() {
        let intake = Intake::from_lookup(|_| None).unwrap();
        assert_eq!(intake.per_address, PER_ADDRESS);
        let intake = Intake::from_lookup(|_| Some("16".into())).unwrap();
        assert_eq!(intake.per_address, 16);
        for bad in ["0", "-1", "lots", "513"] {
            let error = Intake::from_lookup(|_| Some(bad.into())).unwrap_err().to_string();
            assert!(error.contains("ARGUS_HANDSHAKES_PER_ADDRESS"), "{error}");
        }
    }
}
