//! A budget for auditing refusals of unauthenticated agent-link peers (SPEC §12).
//!
//! Anyone who can reach the QUIC port can make the server refuse them, as often as they like.
//! Each refusal is worth a record — until a flood makes the records the attack: the first
//! [`AUDITED_PER_WINDOW`] refusals of a window are audited one by one, the rest only counted,
//! and the counts are written as one aggregated record when the window closes. The audit trail
//! then grows by a bounded number of bounded records per window, whatever the peers send.

use std::collections::BTreeMap;

use argus_fsm::Timestamp;

/// Refusals audited individually per window.
pub const AUDITED_PER_WINDOW: u32 = 20;
/// The window.
pub const WINDOW_MS: i64 = 10_000;

/// What to do with one refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Write its own record.
    Audit,
    /// Count it; it appears in the window's aggregate.
    Count,
}

/// The refusals of a closed window that were counted, not audited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppressed {
    pub window_start: Timestamp,
    pub total: u64,
    /// Counts per refusal code.
    pub by_code: BTreeMap<&'static str, u64>,
}

/// The budget's state (pure: time comes in as an argument).
#[derive(Debug)]
pub struct RefusalBudget {
    window_start: Timestamp,
    audited: u32,
    counted: BTreeMap<&'static str, u64>,
}

impl RefusalBudget {
    /// A budget whose first window starts at `now`.
    pub fn new(now: Timestamp) -> RefusalBudget {
        RefusalBudget { window_start: now, audited: 0, counted: BTreeMap::new() }
    }

    /// Decides about one refusal with `code` at `now`. When this closes a window that counted
    /// refusals, its aggregate comes back too (to be written before this refusal's record).
    pub fn refusal(&mut self, code: &'static str, now: Timestamp) -> (Verdict, Option<Suppressed>) {
        let closed = self.roll(now);
        if self.audited < AUDITED_PER_WINDOW {
            self.audited += 1;
            (Verdict::Audit, closed)
        } else {
            *self.counted.entry(code).or_default() += 1;
            (Verdict::Count, closed)
        }
    }

    /// Closes the window if it has ended (a periodic tick calls this so the last aggregate of
    /// a flood is written even when no refusal follows it).
    pub fn tick(&mut self, now: Timestamp) -> Option<Suppressed> {
        self.roll(now)
    }

    fn roll(&mut self, now: Timestamp) -> Option<Suppressed> {
        if now.0 - self.window_start.0 < WINDOW_MS {
            return None;
        }
        let counted = std::mem::take(&mut self.counted);
        let closed = Suppressed { window_start: self.window_start, total: counted.values().sum(), by_code: counted };
        self.window_start = now;
        self.audited = 0;
        (closed.total > 0).then_some(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_800_000_000_000);

    #[test]
    fn a_flood_is_audited_up_to_the_budget_then_aggregated_with_its_count() {
        let mut budget = RefusalBudget::new(T0);
        for _ in 0..AUDITED_PER_WINDOW {
            assert_eq!(budget.refusal("agent_auth_failed", T0), (Verdict::Audit, None));
        }
        for i in 0..1000 {
            let code = if i % 2 == 0 { "agent_auth_failed" } else { "agent_revoked" };
            assert_eq!(budget.refusal(code, T0.plus_millis(i)), (Verdict::Count, None));
        }
        assert_eq!(budget.tick(T0.plus_millis(WINDOW_MS - 1)), None, "the window is still open");
        let summary = budget.tick(T0.plus_millis(WINDOW_MS)).expect("the window closed with counts");
        assert_eq!(summary.total, 1000);
        assert_eq!(summary.by_code["agent_auth_failed"], 500);
        assert_eq!(summary.by_code["agent_revoked"], 500);
        assert_eq!(summary.window_start, T0);
        // A new window audits again, and an empty window leaves nothing to write.
        assert_eq!(budget.refusal("agent_auth_failed", T0.plus_millis(WINDOW_MS + 1)), (Verdict::Audit, None));
        assert_eq!(budget.tick(T0.plus_millis(3 * WINDOW_MS)), None);
    }

    #[test]
    fn the_refusal_that_closes_a_window_brings_its_aggregate() {
        let mut budget = RefusalBudget::new(T0);
        for _ in 0..=AUDITED_PER_WINDOW {
            budget.refusal("agent_auth_failed", T0);
        }
        let (verdict, closed) = budget.refusal("agent_auth_failed", T0.plus_millis(WINDOW_MS));
        assert_eq!(verdict, Verdict::Audit);
        assert_eq!(closed.map(|c| c.total), Some(1));
    }
}
