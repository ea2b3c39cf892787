//! Noticing that this node was paused — `SIGSTOP`, a frozen VM, a process starved of CPU — so
//! that a node that wakes never acts on a stale view (#18: "a paused node that wakes never acts
//! on stale presence"). While it slept, other nodes may have revoked agents, ended sessions,
//! revoked PATs; their announcements wait in its socket, and a request that waited there too
//! could otherwise be decided before them. So the first thing after a gap is a full re-read of
//! the store ([`crate::state::Ops::catch_up`]; the ticker is `crate::cluster::wake_ticker`), before any request is decided.
//!
//! A ticker notes the time every [`TICK`]; a gap longer than [`GAP`] between two notes, or
//! between the last note and a request, is a pause. Pauses shorter than `GAP` are covered by
//! the waits of whoever changed something meanwhile: a revocation waits for the holding node to
//! cut the agent off (up to 5 s for the agent's acknowledgements and 3 s for the cut), a
//! deactivation for the agent's acknowledgement.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the ticker notes the time.
pub const TICK: Duration = Duration::from_millis(250);
/// A gap this long is a pause (a busy runtime's timer lag stays well under it).
pub const GAP: Duration = Duration::from_secs(2);

/// Whether this node woke from a pause and has not caught up yet.
pub struct Wakefulness {
    origin: Instant,
    /// When the ticker last noted the time, in ms since `origin`.
    last: AtomicU64,
    woke: AtomicBool,
}

impl Default for Wakefulness {
    fn default() -> Wakefulness {
        Wakefulness { origin: Instant::now(), last: AtomicU64::new(0), woke: AtomicBool::new(false) }
    }
}

impl Wakefulness {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// The ticker's note at `now` (ms since origin).
    pub fn tick_at(&self, now: u64) {
        let last = self.last.swap(now, Ordering::SeqCst);
        if now.saturating_sub(last) > GAP.as_millis() as u64 {
            self.woke.store(true, Ordering::SeqCst);
        }
    }

    /// Whether a pause ended at or before `now` and nobody has caught up since. Notices a pause
    /// the ticker has not seen yet (a request may run before it after a wake).
    pub fn woke_at(&self, now: u64) -> bool {
        if now.saturating_sub(self.last.load(Ordering::SeqCst)) > GAP.as_millis() as u64 {
            self.woke.store(true, Ordering::SeqCst);
        }
        self.woke.load(Ordering::SeqCst)
    }

    /// The view was re-read at `now`: what the pause hid is known.
    pub fn caught_up_at(&self, now: u64) {
        self.last.fetch_max(now, Ordering::SeqCst);
        self.woke.store(false, Ordering::SeqCst);
    }

    pub fn tick(&self) {
        self.tick_at(self.now_ms())
    }

    pub fn woke(&self) -> bool {
        self.woke_at(self.now_ms())
    }

    pub fn caught_up(&self) {
        self.caught_up_at(self.now_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_longer_than_the_bound_is_a_pause_until_someone_catches_up() {
        let wake = Wakefulness::default();
        for now in (0..=10_000).step_by(250) {
            wake.tick_at(now);
            assert!(!wake.woke_at(now + 100), "ticks every 250 ms are no pause (t={now})");
        }
        // Paused 2.5 s: a request running before the ticker notices it.
        assert!(wake.woke_at(12_501));
        assert!(wake.woke_at(12_502), "still to catch up");
        wake.caught_up_at(12_600);
        assert!(!wake.woke_at(12_700), "caught up: the gap is behind it");
        // The ticker notices first this time; a late tick after catching up changes nothing.
        wake.tick_at(15_000);
        assert!(wake.woke_at(15_001));
        wake.caught_up_at(15_010);
        wake.tick_at(15_100);
        assert!(!wake.woke_at(15_150));
    }

    #[test]
    fn exactly_the_bound_is_not_a_pause() {
        let wake = Wakefulness::default();
        wake.tick_at(1_000);
        assert!(!wake.woke_at(1_000 + GAP.as_millis() as u64));
        assert!(wake.woke_at(1_001 + GAP.as_millis() as u64));
    }
}
