//! Key and salt derivation (RFC 9605 §4.4.2) and the sender-key ratchet step (§5.1).

use core::fmt;

use zeroize::Zeroizing;

use crate::crypto::{AeadKey, SuiteProvider};
use crate::suite::{MAX_KEY_LEN, NONCE_LEN};
use crate::{CipherSuite, Error, KeyId};

const KEY_LABEL: &[u8] = b"SFrame 1.0 Secret key ";
const SALT_LABEL: &[u8] = b"SFrame 1.0 Secret salt ";
const RATCHET_LABEL: &[u8] = b"SFrame 1.0 Ratchet";

/// The longest base key accepted. RFC 9605 puts no bound on it; this one keeps secrets on the
/// stack and is far above any suite's `Nh` (64).
pub const MAX_BASE_KEY_LEN: usize = 128;

/// `sframe_key` and `sframe_salt` for one KID, erased on drop.
pub struct KeyMaterial {
    suite: CipherSuite,
    key: Zeroizing<[u8; MAX_KEY_LEN]>,
    salt: Zeroizing<[u8; NONCE_LEN]>,
}

impl KeyMaterial {
    /// `sframe_key` (`Nk` bytes).
    pub fn key(&self) -> &[u8] {
        &self.key[..self.suite.key_len()]
    }

    /// `sframe_salt` (`Nn` bytes).
    pub fn salt(&self) -> &[u8; NONCE_LEN] {
        &self.salt
    }

    /// The suite the material was derived for.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// Derives `sframe_key` and `sframe_salt` for `kid` from `base_key` (§4.4.2):
///
/// ```text
/// secret = HKDF-Extract("", base_key)
/// key    = HKDF-Expand(secret, "SFrame 1.0 Secret key "  || u64be(KID) || u16be(suite), Nk)
/// salt   = HKDF-Expand(secret, "SFrame 1.0 Secret salt " || u64be(KID) || u16be(suite), Nn)
/// ```
pub fn derive_key_material(
    suite: &dyn SuiteProvider,
    kid: KeyId,
    base_key: &[u8],
) -> Result<KeyMaterial, Error> {
    check_base_key(base_key)?;
    let s = suite.suite();
    let kid_be = kid.0.to_be_bytes();
    let suite_be = s.id().to_be_bytes();
    let mut m = KeyMaterial {
        suite: s,
        key: Zeroizing::new([0; MAX_KEY_LEN]),
        salt: Zeroizing::new([0; NONCE_LEN]),
    };
    suite.hkdf(
        &[],
        base_key,
        &[KEY_LABEL, &kid_be, &suite_be],
        &mut m.key[..s.key_len()],
    )?;
    suite.hkdf(
        &[],
        base_key,
        &[SALT_LABEL, &kid_be, &suite_be],
        &mut m.salt[..],
    )?;
    Ok(m)
}

/// Derives the AEAD key and salt for `kid`, ready to seal or open.
#[allow(clippy::type_complexity)] // (AEAD key, salt): read once, at the call site
pub(crate) fn derive_aead(
    suite: &dyn SuiteProvider,
    kid: KeyId,
    base_key: &[u8],
) -> Result<(Box<dyn AeadKey>, Zeroizing<[u8; NONCE_LEN]>), Error> {
    let m = derive_key_material(suite, kid, base_key)?;
    let aead = suite.aead_key(m.key())?;
    Ok((aead, m.salt.clone()))
}

/// One §5.1 ratchet step: `HKDF-Expand(HKDF-Extract("", base_key), "SFrame 1.0 Ratchet", Nh)`.
/// Returns the next base key (`Nh` bytes).
pub fn ratchet_base_key(
    suite: &dyn SuiteProvider,
    base_key: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    check_base_key(base_key)?;
    let mut next = Zeroizing::new(vec![0; suite.suite().hash_len()]);
    suite.hkdf(&[], base_key, &[RATCHET_LABEL], &mut next)?;
    Ok(next)
}

fn check_base_key(base_key: &[u8]) -> Result<(), Error> {
    if base_key.is_empty() || base_key.len() > MAX_BASE_KEY_LEN {
        return Err(Error::InvalidKeyLength {
            what: "base key (1-128 bytes)",
            expected: if base_key.is_empty() {
                1
            } else {
                MAX_BASE_KEY_LEN
            },
            got: base_key.len(),
        });
    }
    Ok(())
}
