//! KID layouts of RFC 9605 §5: the sender-key ratchet (§5.1) and MLS-style epochs (§5.2).
//!
//! These are pure helpers: they need no MLS library. [`crate::session::Session`] uses the §5.2
//! layout for the keys it takes from the MLS exporter; a product with its own key management
//! can install its base keys into a [`crate::Context`] under the KIDs computed here.

use zeroize::Zeroizing;

use crate::crypto::SuiteProvider;
use crate::key::ratchet_base_key;
use crate::{Error, KeyId};

/// §5.1 layout: `KID = (generation << R) + (ratchet_step mod 2^R)`.
///
/// `R` bounds how far a receiver may be behind the sender's ratchet (2^R steps), and is known
/// to sender and receivers out of band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatchetKidLayout {
    ratchet_bits: u8,
}

impl RatchetKidLayout {
    /// A layout with `ratchet_bits` (R, 1-32) low bits for the ratchet step.
    pub fn new(ratchet_bits: u8) -> Result<Self, Error> {
        if !(1..=32).contains(&ratchet_bits) {
            return Err(Error::InvalidConfig("ratchet bits R must be 1-32"));
        }
        Ok(Self { ratchet_bits })
    }

    /// R.
    pub fn ratchet_bits(&self) -> u8 {
        self.ratchet_bits
    }

    /// The KID for `generation` at ratchet step `step`.
    pub fn kid(&self, generation: u64, step: u64) -> Result<KeyId, Error> {
        let r = u32::from(self.ratchet_bits);
        if generation >> (64 - r) != 0 {
            return Err(Error::InvalidConfig(
                "key generation does not fit in 64 - R bits",
            ));
        }
        Ok(KeyId((generation << r) | (step & self.step_mask())))
    }

    /// Splits a KID into `(generation, step mod 2^R)`.
    pub fn split(&self, kid: KeyId) -> (u64, u64) {
        (kid.0 >> self.ratchet_bits, kid.0 & self.step_mask())
    }

    fn step_mask(&self) -> u64 {
        (1u64 << self.ratchet_bits) - 1
    }
}

/// A §5.1 sender key: a base key that ratchets forward, and its place in the KID space.
///
/// The sender calls [`SenderKeyRatchet::advance`] when a member joins (the joiner gets the new
/// key and cannot read the past). The receiver keeps one per sender and calls
/// [`SenderKeyRatchet::peek`] when a frame names a later step, then
/// [`SenderKeyRatchet::commit`] once that frame authenticated: a forged KID never moves it.
pub struct SenderKeyRatchet {
    suite: &'static dyn SuiteProvider,
    layout: RatchetKidLayout,
    generation: u64,
    step: u64,
    base_key: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for SenderKeyRatchet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SenderKeyRatchet")
            .field("suite", &self.suite.suite())
            .field("layout", &self.layout)
            .field("generation", &self.generation)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl SenderKeyRatchet {
    /// A ratchet at step 0 of `generation`, starting from `base_key`.
    pub fn new(
        suite: &'static dyn SuiteProvider,
        layout: RatchetKidLayout,
        generation: u64,
        base_key: &[u8],
    ) -> Result<Self, Error> {
        layout.kid(generation, 0)?;
        if base_key.is_empty() {
            return Err(Error::InvalidKeyLength {
                what: "base key",
                expected: suite.suite().hash_len(),
                got: 0,
            });
        }
        Ok(Self {
            suite,
            layout,
            generation,
            step: 0,
            base_key: Zeroizing::new(base_key.to_vec()),
        })
    }

    /// KID of the current step.
    pub fn kid(&self) -> KeyId {
        // `new` checked that the generation fits; the step is masked.
        KeyId((self.generation << self.layout.ratchet_bits) | (self.step & self.layout.step_mask()))
    }

    /// The current base key.
    pub fn base_key(&self) -> &[u8] {
        &self.base_key
    }

    /// The step count since this generation started.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Ratchets one step forward, erasing the old base key. Returns the new KID.
    pub fn advance(&mut self) -> Result<KeyId, Error> {
        self.base_key = ratchet_base_key(self.suite, &self.base_key)?;
        self.step += 1;
        Ok(self.kid())
    }

    /// For a KID of this generation at or ahead of the current step (within 2^R - 1 steps),
    /// the number of steps ahead and the base key there. Changes nothing. `None` when the KID
    /// is of another generation or behind.
    #[allow(clippy::type_complexity)] // (steps ahead, base key): documented above
    pub fn peek(&self, kid: KeyId) -> Result<Option<(u64, Zeroizing<Vec<u8>>)>, Error> {
        let (generation, low) = self.layout.split(kid);
        if generation != self.generation {
            return Ok(None);
        }
        let ahead = low.wrapping_sub(self.step) & self.layout.step_mask();
        let mut key = Zeroizing::new(self.base_key.to_vec());
        for _ in 0..ahead {
            key = ratchet_base_key(self.suite, &key)?;
        }
        Ok(Some((ahead, key)))
    }

    /// Moves to `kid` after a frame under it authenticated (see [`SenderKeyRatchet::peek`]).
    pub fn commit(&mut self, kid: KeyId) -> Result<(), Error> {
        match self.peek(kid)? {
            Some((ahead, key)) => {
                self.step += ahead;
                self.base_key = key;
                Ok(())
            }
            None => Err(Error::InvalidConfig(
                "commit: KID is not of this ratchet's generation",
            )),
        }
    }
}

/// §5.2 layout: `KID = (context << (S + E)) + (sender_index << E) + (epoch mod 2^E)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlsKidLayout {
    epoch_bits: u8,
    sender_bits: u8,
}

/// The parts of an MLS-style KID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlsKidParts {
    /// Sender-chosen context (e.g. one per outbound stream); 0 gives the shortest KID.
    pub context: u64,
    /// The sender's leaf index in the group.
    pub sender_index: u64,
    /// The epoch's low `E` bits.
    pub epoch_low: u64,
}

impl MlsKidLayout {
    /// `epoch_bits` E (1-16: 2^E epochs may be live at once) and `sender_bits` S (enough for
    /// the group: group size <= 2^S). E + S must leave room for a context (at most 63).
    pub fn new(epoch_bits: u8, sender_bits: u8) -> Result<Self, Error> {
        if !(1..=16).contains(&epoch_bits) {
            return Err(Error::InvalidConfig("MLS epoch bits E must be 1-16"));
        }
        if u32::from(epoch_bits) + u32::from(sender_bits) > 63 {
            return Err(Error::InvalidConfig(
                "MLS epoch bits E + sender bits S must be at most 63",
            ));
        }
        Ok(Self {
            epoch_bits,
            sender_bits,
        })
    }

    /// The smallest S for a group of `group_size` members (§5.2).
    pub fn sender_bits_for(group_size: u64) -> u8 {
        match group_size {
            0 | 1 => 0,
            n => (64 - (n - 1).leading_zeros()) as u8,
        }
    }

    /// E.
    pub fn epoch_bits(&self) -> u8 {
        self.epoch_bits
    }

    /// S.
    pub fn sender_bits(&self) -> u8 {
        self.sender_bits
    }

    /// The KID for a sender at an epoch, with a context (0 unless the sender needs several).
    pub fn kid(&self, epoch: u64, sender_index: u64, context: u64) -> Result<KeyId, Error> {
        let (e, s) = (u32::from(self.epoch_bits), u32::from(self.sender_bits));
        if s < 64 && sender_index >> s != 0 {
            return Err(Error::InvalidConfig("sender index does not fit in S bits"));
        }
        if context >> (64 - e - s) != 0 {
            return Err(Error::InvalidConfig(
                "context does not fit in 64 - S - E bits",
            ));
        }
        let epoch_low = epoch & ((1u64 << e) - 1);
        Ok(KeyId(
            (context << (s + e)) | (sender_index << e) | epoch_low,
        ))
    }

    /// Splits a KID back into its parts.
    pub fn split(&self, kid: KeyId) -> MlsKidParts {
        let (e, s) = (u32::from(self.epoch_bits), u32::from(self.sender_bits));
        MlsKidParts {
            context: kid.0 >> (s + e),
            sender_index: (kid.0 >> e) & ((1u64 << s) - 1),
            epoch_low: kid.0 & ((1u64 << e) - 1),
        }
    }

    /// True when `kid` belongs to an epoch that `epoch` replaces: same low E bits but a
    /// different full epoch. §5.2: receivers MUST drop such old keys when the new epoch starts.
    pub fn same_epoch_slot(&self, kid: KeyId, epoch: u64) -> bool {
        self.split(kid).epoch_low == epoch & ((1u64 << self.epoch_bits) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_mls_examples() {
        // RFC 9605 §5.2 example: E = 4, S = 6.
        let l = MlsKidLayout::new(4, 6).unwrap();
        assert_eq!(l.kid(14, 3, 0).unwrap(), KeyId(0x3e));
        assert_eq!(l.kid(16, 2, 3).unwrap(), KeyId(0xc20));
        assert_eq!(
            l.split(KeyId(0xc20)),
            MlsKidParts {
                context: 3,
                sender_index: 2,
                epoch_low: 0
            }
        );
        assert!(l.kid(0, 64, 0).is_err());
        assert_eq!(MlsKidLayout::sender_bits_for(64), 6);
        assert_eq!(MlsKidLayout::sender_bits_for(65), 7);
        assert!(l.same_epoch_slot(KeyId(0x3e), 30));
    }

    #[test]
    fn ratchet_layout_round_trips() {
        let l = RatchetKidLayout::new(8).unwrap();
        let kid = l.kid(0x1234, 0x1ff).unwrap();
        assert_eq!(kid, KeyId(0x1234ff));
        assert_eq!(l.split(kid), (0x1234, 0xff));
        assert!(l.kid(u64::MAX, 0).is_err());
        assert!(RatchetKidLayout::new(0).is_err());
    }
}
