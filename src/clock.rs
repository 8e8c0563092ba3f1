//! The service's one clock. Every timestamp the service writes or compares comes
//! from here, in UTC, so neither the server's nor the database's local time zone
//! can shift an expiry.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound, Utc};

/// A source of the current UTC time.
pub trait Clock: Send + Sync + 'static {
    fn now_utc(&self) -> DateTime<Utc>;

    /// The current time as stored in the database: naive UTC, whole microseconds
    /// (PostgreSQL's precision, so a value reads back exactly as it was written).
    fn now(&self) -> NaiveDateTime {
        self.now_utc().trunc_subsecs(6).naive_utc()
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that runs at the system's pace plus an offset that can be moved forward,
/// so that tests (and drills) can let an expiry or a cooldown pass without waiting.
/// Frozen, it stands still but for those moves: then a wait it reports is exact,
/// however long the test takes between two requests.
#[derive(Debug, Default, Clone)]
pub struct ShiftedClock {
    offset_micros: Arc<AtomicI64>,
    /// Microseconds since the epoch it stands at, or 0 while it runs.
    frozen_at_micros: Arc<AtomicI64>,
}

impl ShiftedClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops this clock (and every clone of it) where it is; `advance` still moves it.
    pub fn freeze(&self) {
        let now = Utc::now().timestamp_micros();
        let _ = self
            .frozen_at_micros
            .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Moves this clock (and every clone of it) forward by `by`.
    pub fn advance(&self, by: Duration) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now_utc(&self) -> DateTime<Utc> {
        let offset = Duration::microseconds(self.offset_micros.load(Ordering::SeqCst));
        match self.frozen_at_micros.load(Ordering::SeqCst) {
            0 => Utc::now() + offset,
            frozen => DateTime::from_timestamp_micros(frozen).unwrap_or_default() + offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_have_whole_microseconds() {
        let now = SystemClock.now();
        assert_eq!(now.and_utc().timestamp_subsec_nanos() % 1_000, 0);
    }

    #[test]
    fn a_frozen_clock_stands_still_but_for_its_moves() {
        let clock = ShiftedClock::new();
        clock.freeze();
        let first = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(clock.now(), first);
        clock.clone().advance(Duration::seconds(61));
        assert_eq!(clock.now(), first + Duration::seconds(61));
    }

    #[test]
    fn a_shifted_clock_and_its_clones_move_together() {
        let clock = ShiftedClock::new();
        let clone = clock.clone();
        let before = SystemClock.now_utc();
        clock.advance(Duration::hours(2));
        assert!(clone.now_utc() >= before + Duration::hours(2));
    }
}
