//! Pluggable cryptography: one small trait per cipher suite, one provider per backend.
//!
//! A [`CryptoProvider`] hands out a [`SuiteProvider`] for each suite it implements. A suite
//! provider does the suite's HKDF and builds [`AeadKey`]s; an AEAD key seals and opens in place
//! with a detached tag. Key setup (derivation, AES key schedule) happens once when a key is
//! installed, never per frame.
//!
//! Two backends ship:
//! - [`rust_crypto::RUST_CRYPTO`]: pure Rust (RustCrypto `aes-gcm`, `aes`, `ctr`, `hmac`,
//!   `sha2`, `hkdf`). Uses AES-NI/PCLMULQDQ at run time where present, and builds for
//!   `wasm32-unknown-unknown`, which is what the browser worker runs.
//! - `ring::RING` (feature `ring`, on by default): ring's assembly AES-GCM and HMAC. Measured on
//!   the CI machine class (see `benches/benches/sframe.rs` and docs/bench-sframe.md), ring seals AES-GCM about 1.5-2.5x
//!   faster than RustCrypto; `aws-lc-rs` is as fast but adds a 90 s C build. ring has no public
//!   AES-CTR, so its CTR+HMAC suites pair RustCrypto's AES-CTR (hardware AES) with ring's HMAC.
//!
//! A vendor with its own crypto (a FIPS module, an HSM) implements these three traits.

use core::fmt;

use crate::{CipherSuite, Error, suite::NONCE_LEN};

pub(crate) mod ctr_hmac;
#[cfg(feature = "ring")]
pub mod ring;
pub mod rust_crypto;

/// A crypto backend: which suites it implements, and how.
pub trait CryptoProvider: fmt::Debug + Send + Sync {
    /// Short name for logs and errors, e.g. `"ring"`.
    fn name(&self) -> &'static str;

    /// This backend's implementation of `suite`, or `None` if it has none.
    fn suite(&self, suite: CipherSuite) -> Option<&'static dyn SuiteProvider>;
}

/// One cipher suite as one backend implements it.
pub trait SuiteProvider: fmt::Debug + Send + Sync {
    /// The suite implemented.
    fn suite(&self) -> CipherSuite;

    /// HKDF with the suite's hash: `HKDF-Expand(HKDF-Extract(salt, ikm), info, out.len())`,
    /// where `info` is the concatenation of its pieces. An empty `salt` means `Nh` zero bytes
    /// (RFC 5869). `out.len()` is at most `255 * Nh`.
    fn hkdf(&self, salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) -> Result<(), Error>;

    /// An AEAD key for `key` (`Nk` bytes), ready for any number of seals and opens.
    fn aead_key(&self, key: &[u8]) -> Result<Box<dyn AeadKey>, Error>;
}

/// An AEAD key with its schedule expanded. Implementations erase key bytes on drop where the
/// underlying library allows it, and their `Debug` never prints key bytes.
pub trait AeadKey: fmt::Debug + Send + Sync {
    /// Encrypts `in_out` in place and writes the tag (`Nt` bytes, `tag.len()`) to `tag`.
    ///
    /// A `tag` that is not `Nt` bytes, or a payload or AAD longer than one nonce may cover, is
    /// [`Error::LengthOutOfRange`] and leaves both buffers untouched.
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), Error>;

    /// Verifies `tag` and decrypts `in_out` in place. On [`Error::AuthenticationFailed`] the
    /// contents of `in_out` are unspecified; no other state changes. Lengths are checked as in
    /// [`AeadKey::seal_in_place`] before anything else.
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), Error>;
}

/// The fastest backend compiled in: ring when the `ring` feature is on, else RustCrypto.
pub fn default_provider() -> &'static dyn CryptoProvider {
    #[cfg(feature = "ring")]
    {
        &ring::RING
    }
    #[cfg(not(feature = "ring"))]
    {
        &rust_crypto::RUST_CRYPTO
    }
}

/// Every backend compiled in, default first. Tests run each vector against each of them.
pub fn all_providers() -> Vec<&'static dyn CryptoProvider> {
    vec![
        #[cfg(feature = "ring")]
        &ring::RING,
        &rust_crypto::RUST_CRYPTO,
    ]
}

/// Looks `suite` up in `provider`, with an error that names both when it is missing.
pub fn suite_provider(
    provider: &dyn CryptoProvider,
    suite: CipherSuite,
) -> Result<&'static dyn SuiteProvider, Error> {
    provider.suite(suite).ok_or(Error::SuiteUnavailable {
        suite: suite.name(),
        provider: provider.name(),
    })
}

/// Longest AAD any backend is asked to take: far beyond any frame, and low enough that the
/// HMAC input of the CTR suites (AAD plus at most 2^36 bytes of ciphertext) stays under
/// SHA-256's 2^61-byte message limit, so no backend can hit an internal length panic.
pub(crate) const AAD_MAX: u64 = 1 << 60;

/// Which way an AEAD call goes, for error messages that say which input is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Seal,
    Open,
}

/// Checks the lengths of one AEAD call before any byte is touched: the payload against the
/// AEAD's per-nonce limit `max_payload`, the AAD against [`AAD_MAX`], the tag against `Nt`.
pub(crate) fn check_aead_lengths(
    suite: CipherSuite,
    direction: Direction,
    aad_len: usize,
    payload_len: usize,
    tag_len: usize,
    max_payload: u64,
) -> Result<(), Error> {
    let out_of_range = |what, len: usize, min, max| Error::LengthOutOfRange {
        what,
        suite: suite.name(),
        len: len as u64,
        min,
        max,
    };
    let (payload_what, tag_what) = match direction {
        Direction::Seal => ("plaintext to seal", "tag buffer to seal into"),
        Direction::Open => ("ciphertext to open", "tag to verify"),
    };
    if payload_len as u64 > max_payload {
        return Err(out_of_range(payload_what, payload_len, 0, max_payload));
    }
    if aad_len as u64 > AAD_MAX {
        return Err(out_of_range("AAD", aad_len, 0, AAD_MAX));
    }
    let nt = suite.tag_len();
    if tag_len != nt {
        return Err(out_of_range(tag_what, tag_len, nt as u64, nt as u64));
    }
    Ok(())
}

/// Checks that `key` is the suite's `Nk` bytes.
pub(crate) fn check_aead_key_len(suite: CipherSuite, key: &[u8]) -> Result<(), Error> {
    if key.len() != suite.key_len() {
        return Err(Error::InvalidKeyLength {
            what: "AEAD key (the suite's Nk)",
            expected: suite.key_len(),
            got: key.len(),
        });
    }
    Ok(())
}

/// Checks that an HKDF output length is at most `255 * Nh` (RFC 5869).
pub(crate) fn check_hkdf_len(suite: CipherSuite, out_len: usize) -> Result<(), Error> {
    let max = 255 * suite.hash_len();
    if out_len > max {
        return Err(Error::InvalidKeyLength {
            what: "HKDF output (at most 255 * Nh)",
            expected: max,
            got: out_len,
        });
    }
    Ok(())
}
