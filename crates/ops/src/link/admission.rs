//! Admission control for agent handshakes (issue #15).
//!
//! After an ops restart, or when a node of a cluster dies, thousands of agents arrive at once.
//! Letting them all in at once makes every one of them slow; letting them queue until their
//! connect times out restarts the herd. Instead, at most [`MAX_ADMITTED`] authenticate at once
//! (passkey proof, registration, presence), and every agent beyond that is given a *turn*: a
//! time, spaced by the rate at which the server has recently been finishing handshakes, at
//! which to come back (`ServerMessage::Busy { retry_after_ms }`). The herd is served in order
//! at the server's own pace, and nobody's connect times out in a queue.
//!
//! Pure: time comes in as milliseconds of a monotonic clock.
//!
//! Operators may tune both numbers (`ARGUS_ADMISSION_LIMIT`, `ARGUS_ADMISSION_MIN_TURN_MS`):
//! a bigger machine admits more at once; a huge fleet may want longer turns.

/// Agents authenticating at once; beyond this they get a turn.
pub const MAX_ADMITTED: usize = 256;
/// The finishing rate assumed before any has been measured, per second.
const INITIAL_RATE: f64 = 500.0;
/// The rate never estimated below this (a stalled second must not push turns to minutes).
const MIN_RATE: f64 = 50.0;
/// The shortest turn: the agent's reconnect (a new TLS handshake) costs the server too.
pub const MIN_TURN_MS: u64 = 200;
/// The longest turn given (the agent caps what it believes at its own backoff cap anyway).
pub const MAX_TURN_MS: u64 = 60_000;
/// How often the finishing rate is re-estimated.
const RATE_WINDOW_MS: u64 = 1_000;

/// The admission settings read through `lookup` (the process environment in production), or
/// an error naming the bad variable.
pub fn from_lookup(now: u64, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Admission> {
    let read = |name: &str, default: u64| -> anyhow::Result<u64> {
        match lookup(name) {
            Some(value) => {
                value.trim().parse::<u64>().map_err(|_| anyhow::anyhow!("{name}={value:?} is not a whole number"))
            }
            None => Ok(default),
        }
    };
    let limit = read("ARGUS_ADMISSION_LIMIT", MAX_ADMITTED as u64)?;
    if limit == 0 {
        anyhow::bail!("ARGUS_ADMISSION_LIMIT=0 would never let an agent in");
    }
    let min_turn = read("ARGUS_ADMISSION_MIN_TURN_MS", MIN_TURN_MS)?;
    if min_turn > MAX_TURN_MS {
        anyhow::bail!("ARGUS_ADMISSION_MIN_TURN_MS is at most {MAX_TURN_MS}");
    }
    Ok(Admission::tuned(usize::try_from(limit).unwrap_or(usize::MAX), min_turn, now))
}

/// [`from_lookup`] on the process environment.
pub fn from_env(now: u64) -> anyhow::Result<Admission> {
    from_lookup(now, |name| std::env::var(name).ok())
}

/// What to tell one arriving agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead (call [`Admission::finished`] when done, however it ended).
    Admit,
    /// Come back after this many milliseconds.
    Turn(u64),
}

/// The admission state.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    min_turn: u64,
    admitted: usize,
    /// Finishes per second, smoothed.
    rate: f64,
    window_start: u64,
    finished_in_window: u64,
    /// The next free turn (monotonic milliseconds).
    next_turn: u64,
}

impl Admission {
    pub fn new(limit: usize, now: u64) -> Admission {
        Admission::tuned(limit, MIN_TURN_MS, now)
    }

    /// With another shortest turn (`ARGUS_ADMISSION_MIN_TURN_MS`).
    pub fn tuned(limit: usize, min_turn: u64, now: u64) -> Admission {
        Admission {
            limit,
            min_turn: min_turn.min(MAX_TURN_MS),
            admitted: 0,
            rate: INITIAL_RATE,
            window_start: now,
            finished_in_window: 0,
            next_turn: now,
        }
    }

    /// One agent's Hello arrived at `now`.
    pub fn arrive(&mut self, now: u64) -> Decision {
        self.measure(now);
        if self.admitted < self.limit {
            self.admitted += 1;
            return Decision::Admit;
        }
        // Turns are handed out one rate-interval apart, from whichever is later: the next free
        // turn, or the earliest a reconnect makes sense.
        let spacing = (1_000.0 / self.rate).max(0.0);
        let turn = self.next_turn.max(now + self.min_turn).min(now + MAX_TURN_MS);
        self.next_turn = turn + spacing.ceil() as u64;
        Decision::Turn(turn - now)
    }

    /// An admitted agent is through (registered, or refused, or gone).
    pub fn finished(&mut self, now: u64) {
        self.admitted = self.admitted.saturating_sub(1);
        self.finished_in_window += 1;
        self.measure(now);
    }

    /// Agents authenticating now.
    pub fn admitted(&self) -> usize {
        self.admitted
    }

    /// The current estimate of finishes per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    fn measure(&mut self, now: u64) {
        let elapsed = now.saturating_sub(self.window_start);
        if elapsed < RATE_WINDOW_MS {
            return;
        }
        // Only a window that had work in it says something about the rate: a quiet minute
        // does not mean the server became slow.
        if self.finished_in_window > 0 || self.admitted >= self.limit {
            let observed = self.finished_in_window as f64 * 1_000.0 / elapsed as f64;
            self.rate = (0.5 * self.rate + 0.5 * observed).max(MIN_RATE);
        }
        self.window_start = now;
        self.finished_in_window = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_admitted_up_to_the_limit_and_again_as_they_finish() {
        let mut admission = Admission::new(3, 0);
        for _ in 0..3 {
            assert_eq!(admission.arrive(0), Decision::Admit);
        }
        assert!(matches!(admission.arrive(0), Decision::Turn(_)));
        admission.finished(1);
        assert_eq!(admission.admitted(), 2);
        assert_eq!(admission.arrive(1), Decision::Admit);
    }

    #[test]
    fn turns_are_spaced_by_the_rate_and_never_shorter_than_the_minimum() {
        let mut admission = Admission::new(1, 10_000);
        assert_eq!(admission.arrive(10_000), Decision::Admit);
        // At the initial rate (500/s) turns are 2 ms apart, starting at the minimum turn.
        let turns: Vec<u64> = (0..5)
            .map(|_| match admission.arrive(10_000) {
                Decision::Turn(ms) => ms,
                Decision::Admit => panic!("over the limit"),
            })
            .collect();
        assert_eq!(turns, vec![MIN_TURN_MS, MIN_TURN_MS + 2, MIN_TURN_MS + 4, MIN_TURN_MS + 6, MIN_TURN_MS + 8]);
        // Later arrivals queue behind the turns already given, not from scratch.
        match admission.arrive(10_005) {
            Decision::Turn(ms) => assert_eq!(10_005 + ms, 10_000 + MIN_TURN_MS + 10),
            Decision::Admit => panic!("over the limit"),
        }
    }

    #[test]
    fn the_rate_follows_what_the_server_finishes() {
        let mut admission = Admission::new(10_000, 0);
        // 100 finishes in one second: the estimate moves halfway from 500 to 100.
        for i in 0..100 {
            assert_eq!(admission.arrive(i * 10), Decision::Admit);
            admission.finished(i * 10);
        }
        admission.finished(1_000);
        assert!((admission.rate() - (0.5 * 500.0 + 0.5 * 101.0)).abs() < 1.0, "{}", admission.rate());
        // A stalled second at the limit cannot drive it below the floor.
        let mut stalled = Admission::new(1, 0);
        assert_eq!(stalled.arrive(0), Decision::Admit);
        for second in 1..20 {
            let _ = stalled.arrive(second * 1_000);
        }
        assert!(stalled.rate() >= MIN_RATE);
        // Idle seconds leave it alone.
        let mut idle = Admission::new(10, 0);
        idle.arrive(0);
        idle.finished(5);
        let before = {
            idle.arrive(1_500);
            idle.rate()
        };
        idle.arrive(100_000);
        assert_eq!(idle.rate(), before);
    }

    #[test]
    fn a_turn_is_never_beyond_the_maximum() {
        let mut admission = Admission::new(0, 0);
        for _ in 0..100_000 {
            match admission.arrive(0) {
                Decision::Turn(ms) => assert!((MIN_TURN_MS..=MAX_TURN_MS).contains(&ms)),
                Decision::Admit => panic!("limit 0"),
            }
        }
    }

    #[test]
    fn the_settings_come_from_the_environment_and_bad_ones_are_refused_by_name() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        // Defaults.
        let mut default = from_lookup(0, env(&[])).unwrap();
        for _ in 0..MAX_ADMITTED {
            assert_eq!(default.arrive(0), Decision::Admit);
        }
        assert_eq!(default.arrive(0), Decision::Turn(MIN_TURN_MS));
        // Tuned.
        let mut tuned =
            from_lookup(0, env(&[("ARGUS_ADMISSION_LIMIT", " 1 "), ("ARGUS_ADMISSION_MIN_TURN_MS", "3000")])).unwrap();
        assert_eq!(tuned.arrive(0), Decision::Admit);
        assert_eq!(tuned.arrive(0), Decision::Turn(3_000));
        // Refused, each naming its variable.
        for (pairs, variable) in [
            (&[("ARGUS_ADMISSION_LIMIT", "0")][..], "ARGUS_ADMISSION_LIMIT"),
            (&[("ARGUS_ADMISSION_LIMIT", "many")][..], "ARGUS_ADMISSION_LIMIT"),
            (&[("ARGUS_ADMISSION_LIMIT", "-1")][..], "ARGUS_ADMISSION_LIMIT"),
            (&[("ARGUS_ADMISSION_MIN_TURN_MS", "60001")][..], "ARGUS_ADMISSION_MIN_TURN_MS"),
            (&[("ARGUS_ADMISSION_MIN_TURN_MS", "1.5")][..], "ARGUS_ADMISSION_MIN_TURN_MS"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] = pairs;
            let error = from_lookup(0, env(pairs)).unwrap_err().to_string();
            assert!(error.contains(variable), "{error}");
        }
    }
}
