//! JavaScript milliseconds onto the `Instant` the state machines take, and back.
//!
//! JavaScript hands in `performance.now()` readings (milliseconds as a float, monotonic, in
//! the worker's own time origin). An `Instant` cannot be built from a number on any target,
//! so a [`Clock`] pairs one `Instant` (read once, when the client is made) with the
//! JavaScript reading taken at the same moment, and maps every later reading by its
//! difference: `instant(ms) = origin + (ms - origin_ms)`. Readings before the origin map to
//! the origin (the session treats an earlier `now` as the latest seen anyway). Deadlines go
//! back as milliseconds rounded *up* to a whole millisecond past the origin reading, so a
//! timer set for one never fires before the `Instant` it stands for.
//!
//! Wall-clock time (certificate validity, commit times) is separate: `Date.now()`
//! milliseconds since the Unix epoch, taken once at construction; the session advances it by
//! the monotonic clock.

use core::time::Duration;

use telesfu_e2ee::time::Instant;

use crate::error::GlueError;

/// The largest millisecond value accepted (2^53: beyond it a float has gaps over 1 ms).
const MAX_MS: f64 = 9_007_199_254_740_992.0;

/// Maps JavaScript milliseconds to `Instant`s around one shared reading.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
    origin_ms: f64,
}

fn check_ms(what: &str, ms: f64) -> Result<f64, GlueError> {
    if !ms.is_finite() || !(0.0..=MAX_MS).contains(&ms) {
        return Err(GlueError::invalid(format!(
            "{what} must be a finite number of milliseconds in 0..=2^53, got {ms}"
        )));
    }
    Ok(ms)
}

impl Clock {
    /// `origin` and `origin_ms` are readings of the same moment.
    pub(crate) fn new(origin: Instant, origin_ms: f64) -> Result<Self, GlueError> {
        Ok(Self {
            origin,
            origin_ms: check_ms("nowMs", origin_ms)?,
        })
    }

    /// The `Instant` of the reading `ms`.
    pub(crate) fn at(&self, ms: f64) -> Result<Instant, GlueError> {
        let ms = check_ms("nowMs", ms)?;
        let since = ms - self.origin_ms;
        if since <= 0.0 {
            return Ok(self.origin);
        }
        // Whole nanoseconds, rounded: undoes the float error of `ms_of`'s sum.
        let d = Duration::from_nanos((since * 1e6).round() as u64);
        self.origin
            .checked_add(d)
            .ok_or_else(|| GlueError::invalid(format!("nowMs {ms} is beyond this clock's range")))
    }

    /// The reading at or after `t`, in whole milliseconds past the origin reading.
    pub(crate) fn ms_of(&self, t: Instant) -> f64 {
        let d = t.saturating_duration_since(self.origin);
        let whole_ms = d.as_nanos().div_ceil(1_000_000);
        self.origin_ms + whole_ms as f64
    }
}

/// `Date.now()` milliseconds as the duration since the Unix epoch.
pub(crate) fn unix(what: &str, ms: f64) -> Result<Duration, GlueError> {
    let ms = check_ms(what, ms)?;
    Ok(Duration::from_millis(ms as u64))
}

/// A non-negative whole number of milliseconds (a timestamp sent along with chat).
pub(crate) fn whole_ms(what: &str, ms: f64) -> Result<u64, GlueError> {
    Ok(check_ms(what, ms)?.floor() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_map_by_difference_and_deadlines_never_early() {
        #[allow(clippy::disallowed_methods)] // the test is the caller: any Instant will do
        let origin = Instant::now();
        for origin_ms in [0.0, 1234.5678, 98_765_432.1, 1.0e12 + 0.3] {
            let c = Clock::new(origin, origin_ms).unwrap();
            assert_eq!(c.at(origin_ms).unwrap(), origin);
            if origin_ms >= 50.0 {
                assert_eq!(c.at(origin_ms - 50.0).unwrap(), origin, "before the origin");
            }
            assert_eq!(
                c.at(origin_ms + 1500.0).unwrap(),
                origin + Duration::from_millis(1500)
            );
            for nanos in [
                0u64,
                1,
                999_999,
                1_000_000,
                1_000_001,
                30 * 60 * 1_000_000_000 + 7,
            ] {
                let t = origin + Duration::from_nanos(nanos);
                let ms = c.ms_of(t);
                assert!(
                    c.at(ms).unwrap() >= t,
                    "{origin_ms} + {nanos} ns came back early"
                );
                assert!(ms - origin_ms < nanos as f64 / 1e6 + 1.0 + 1e-3);
            }
        }
    }

    #[test]
    fn bad_numbers_are_refused() {
        #[allow(clippy::disallowed_methods)] // the test is the caller: any Instant will do
        let c = Clock::new(Instant::now(), 10.0).unwrap();
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e300] {
            let e = c.at(bad).unwrap_err();
            assert_eq!(e.code, "invalid_argument");
            assert!(e.message.contains("nowMs"), "{}", e.message);
        }
        assert!(Clock::new(c.origin, f64::NAN).is_err());
        assert_eq!(
            unix("unixMs", 1_800_000_000_123.0).unwrap().as_secs(),
            1_800_000_000
        );
        assert!(unix("unixMs", -5.0).is_err());
        assert_eq!(whole_ms("sentAtMs", 12.9).unwrap(), 12);
    }
}
