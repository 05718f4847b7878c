//! A sliding replay window over SFrame counters (RFC 9605 §7.4, after RFC 3711 §3.3.2).

use crate::{Counter, Error, KeyId};

/// The largest window accepted (counters): 64 Ki, 8 KiB of bitmap.
pub const MAX_REPLAY_WINDOW: u32 = 1 << 16;

/// Which counters under one key were already accepted.
///
/// A counter is accepted if it is newer than any seen, or within `size` of the newest and not
/// yet seen: frames that arrive out of order inside the window are fine, duplicates and frames
/// older than the window are not. [`ReplayWindow::check`] only reads; the caller calls
/// [`ReplayWindow::record`] after the frame authenticated, so forged frames move nothing.
///
/// The bitmap is a ring indexed by `ctr mod 64·words`, so advancing the window clears only the
/// slots it passes: O(1) per frame in order.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    size: u64,
    newest: Option<u64>,
    bits: Box<[u64]>,
}

/// Why [`ReplayWindow::check`] refused a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Already accepted once.
    Duplicate,
    /// Older than the window reaches.
    TooOld {
        /// Newest counter accepted so far.
        newest: u64,
    },
}

impl ReplayWindow {
    /// A window of `size` counters (1 = strictly increasing only; at most
    /// [`MAX_REPLAY_WINDOW`]).
    pub fn new(size: u32) -> Result<Self, Error> {
        if size == 0 || size > MAX_REPLAY_WINDOW {
            return Err(Error::InvalidConfig(
                "replay window must be 1-65536 counters",
            ));
        }
        // A power-of-two ring, so the slot of a counter is a mask, not a division.
        let words = size.div_ceil(64).next_power_of_two() as usize;
        Ok(Self {
            size: u64::from(size),
            newest: None,
            bits: vec![0; words].into_boxed_slice(),
        })
    }

    /// Window size in counters.
    pub fn size(&self) -> u32 {
        // `new` bounds the size to MAX_REPLAY_WINDOW, which fits in u32.
        self.size as u32
    }

    /// The newest counter recorded, if any.
    pub fn newest(&self) -> Option<u64> {
        self.newest
    }

    fn slot(&self, ctr: u64) -> (usize, u64) {
        let i = ctr & ((self.bits.len() as u64 * 64) - 1);
        ((i >> 6) as usize, 1u64 << (i & 63))
    }

    /// Whether `ctr` would be accepted. Changes nothing.
    pub fn check(&self, ctr: u64) -> Result<(), ReplayVerdict> {
        let Some(newest) = self.newest else {
            return Ok(());
        };
        if ctr > newest {
            return Ok(());
        }
        if newest - ctr >= self.size {
            return Err(ReplayVerdict::TooOld { newest });
        }
        let (w, b) = self.slot(ctr);
        if self.bits[w] & b != 0 {
            return Err(ReplayVerdict::Duplicate);
        }
        Ok(())
    }

    /// Records `ctr` as accepted. Call only after [`ReplayWindow::check`] passed and the frame
    /// authenticated.
    pub fn record(&mut self, ctr: u64) {
        match self.newest {
            Some(newest) if ctr <= newest => {}
            Some(newest) => {
                let ring = (self.bits.len() * 64) as u64;
                let advance = ctr - newest;
                if advance >= ring {
                    self.bits.fill(0);
                } else {
                    for c in newest + 1..ctr {
                        let (w, b) = self.slot(c);
                        self.bits[w] &= !b;
                    }
                    // The slot of `ctr` itself is set below after clearing.
                    let (w, b) = self.slot(ctr);
                    self.bits[w] &= !b;
                }
                self.newest = Some(ctr);
            }
            None => self.newest = Some(ctr),
        }
        let (w, b) = self.slot(ctr);
        self.bits[w] |= b;
    }

    pub(crate) fn check_frame(&self, kid: KeyId, ctr: Counter) -> Result<(), Error> {
        self.check(ctr.0).map_err(|v| match v {
            ReplayVerdict::Duplicate => Error::Replayed { kid, ctr },
            ReplayVerdict::TooOld { newest } => Error::TooOld {
                kid,
                ctr,
                newest: Counter(newest),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn in_order_out_of_order_duplicate_too_old() {
        let mut w = ReplayWindow::new(64).unwrap();
        for c in [0, 1, 2, 5] {
            w.check(c).unwrap();
            w.record(c);
        }
        assert_eq!(w.check(2), Err(ReplayVerdict::Duplicate));
        // 3 and 4 arrive late, inside the window.
        assert_eq!(w.check(4), Ok(()));
        w.record(4);
        assert_eq!(w.check(4), Err(ReplayVerdict::Duplicate));
        w.record(100);
        assert_eq!(w.check(36), Err(ReplayVerdict::TooOld { newest: 100 }));
        assert_eq!(w.check(37), Ok(()));
        // A jump far past the ring clears it: 37's old bit must not linger.
        w.record(1_000_000);
        assert_eq!(w.check(1_000_000), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(999_990), Ok(()));
    }

    #[test]
    fn size_one_is_strictly_increasing_and_bad_sizes_error() {
        let mut w = ReplayWindow::new(1).unwrap();
        w.record(10);
        assert!(w.check(10).is_err());
        assert!(w.check(9).is_err());
        assert!(w.check(11).is_ok());
        assert!(ReplayWindow::new(0).is_err());
        assert!(ReplayWindow::new(MAX_REPLAY_WINDOW + 1).is_err());
        assert!(ReplayWindow::new(u32::MAX).is_err());
        let mut w = ReplayWindow::new(8).unwrap();
        w.record(u64::MAX);
        assert!(w.check(u64::MAX).is_err());
        assert!(w.check(u64::MAX - 7).is_ok());
        assert!(w.check(u64::MAX - 8).is_err());
    }

    proptest! {
        /// The ring bitmap agrees with a plain set model for any sequence of counters.
        #[test]
        fn matches_set_model(size in 1u32..300, ctrs in proptest::collection::vec(0u64..2000, 0..400)) {
            let mut w = ReplayWindow::new(size).unwrap();
            let mut seen = BTreeSet::new();
            let mut newest: Option<u64> = None;
            for c in ctrs {
                let model_ok = match newest {
                    None => true,
                    Some(n) if c > n => true,
                    Some(n) => n - c < u64::from(size) && !seen.contains(&c),
                };
                prop_assert_eq!(w.check(c).is_ok(), model_ok, "ctr {}", c);
                if model_ok {
                    w.record(c);
                    seen.insert(c);
                    newest = Some(newest.map_or(c, |n| n.max(c)));
                }
            }
        }
    }
}
