//! Native backend: ring's assembly AES-GCM, HMAC and HKDF (feature `ring`, on by default).
//!
//! Why ring: on the 2-core Xeon this was measured on, ring's AES-GCM seals about as fast as
//! `aws-lc-rs` and 1.5-2.5x faster than RustCrypto's, and ring builds in seconds where
//! `aws-lc-sys` adds a ~90 s C build. ring has no public AES-CTR, so the CTR + HMAC suites pair
//! RustCrypto's AES-CTR (hardware AES at run time) with ring's HMAC. ring does not erase key
//! schedules on drop: the GCM keys and HMAC states here are freed without zeroing, while the
//! AES-CTR half (RustCrypto) is erased.
//!
//! GCM uses `LessSafeKey::seal_in_place_separate_tag` and `open_in_place_separate_tag`, so
//! the tag stays detached in both directions. HKDF output of any length (up to `255 * Nh`)
//! goes through a small [`hkdf::KeyType`] that carries the length.

use core::fmt;
use core::marker::PhantomData;

use aes::Aes128Enc;
#[cfg(feature = "draft-aes256-ctr-hmac")]
use aes::Aes256Enc;
use ring::{aead, hkdf, hmac};

use super::ctr_hmac::{CtrBlockCipher, CtrHmacKey, TagMac};
use super::rust_crypto::GCM_MAX_PAYLOAD;
use super::{
    AeadKey, CryptoProvider, Direction, SuiteProvider, check_aead_key_len, check_aead_lengths,
    check_hkdf_len,
};
use crate::suite::NONCE_LEN;
use crate::{CipherSuite, Error, Hash};

/// The ring backend.
#[derive(Debug)]
pub struct Ring;

/// The ring backend instance.
pub static RING: Ring = Ring;

static AES_128_CTR_HMAC_SHA256_80: CtrHmacSuite<Aes128Enc, RingHmacSha256> =
    CtrHmacSuite::new(CipherSuite::Aes128CtrHmacSha256Tag80, &hkdf::HKDF_SHA256);
static AES_128_CTR_HMAC_SHA256_64: CtrHmacSuite<Aes128Enc, RingHmacSha256> =
    CtrHmacSuite::new(CipherSuite::Aes128CtrHmacSha256Tag64, &hkdf::HKDF_SHA256);
static AES_128_CTR_HMAC_SHA256_32: CtrHmacSuite<Aes128Enc, RingHmacSha256> =
    CtrHmacSuite::new(CipherSuite::Aes128CtrHmacSha256Tag32, &hkdf::HKDF_SHA256);
static AES_128_GCM_SHA256_128: GcmSuite = GcmSuite {
    suite: CipherSuite::Aes128GcmSha256,
    aead: &aead::AES_128_GCM,
    hkdf: &hkdf::HKDF_SHA256,
};
static AES_256_GCM_SHA512_128: GcmSuite = GcmSuite {
    suite: CipherSuite::Aes256GcmSha512,
    aead: &aead::AES_256_GCM,
    hkdf: &hkdf::HKDF_SHA512,
};
#[cfg(feature = "draft-aes256-ctr-hmac")]
static AES_256_CTR_HMAC_SHA512_80: CtrHmacSuite<Aes256Enc, RingHmacSha512> =
    CtrHmacSuite::new(CipherSuite::Aes256CtrHmacSha512Tag80, &hkdf::HKDF_SHA512);
#[cfg(feature = "draft-aes256-ctr-hmac")]
static AES_256_CTR_HMAC_SHA512_64: CtrHmacSuite<Aes256Enc, RingHmacSha512> =
    CtrHmacSuite::new(CipherSuite::Aes256CtrHmacSha512Tag64, &hkdf::HKDF_SHA512);
#[cfg(feature = "draft-aes256-ctr-hmac")]
static AES_256_CTR_HMAC_SHA512_32: CtrHmacSuite<Aes256Enc, RingHmacSha512> =
    CtrHmacSuite::new(CipherSuite::Aes256CtrHmacSha512Tag32, &hkdf::HKDF_SHA512);

impl CryptoProvider for Ring {
    fn name(&self) -> &'static str {
        "ring"
    }

    fn suite(&self, suite: CipherSuite) -> Option<&'static dyn SuiteProvider> {
        Some(match suite {
            CipherSuite::Aes128CtrHmacSha256Tag80 => &AES_128_CTR_HMAC_SHA256_80,
            CipherSuite::Aes128CtrHmacSha256Tag64 => &AES_128_CTR_HMAC_SHA256_64,
            CipherSuite::Aes128CtrHmacSha256Tag32 => &AES_128_CTR_HMAC_SHA256_32,
            CipherSuite::Aes128GcmSha256 => &AES_128_GCM_SHA256_128,
            CipherSuite::Aes256GcmSha512 => &AES_256_GCM_SHA512_128,
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            CipherSuite::Aes256CtrHmacSha512Tag80 => &AES_256_CTR_HMAC_SHA512_80,
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            CipherSuite::Aes256CtrHmacSha512Tag64 => &AES_256_CTR_HMAC_SHA512_64,
            #[cfg(feature = "draft-aes256-ctr-hmac")]
            CipherSuite::Aes256CtrHmacSha512Tag32 => &AES_256_CTR_HMAC_SHA512_32,
        })
    }
}

/// An HKDF output length for ring, which asks for one as a [`hkdf::KeyType`].
struct OkmLen(usize);

impl hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// RFC 5869 HKDF with ring. ring's PRK is an HMAC key; like all ring keys it is not erased.
fn ring_hkdf(
    suite: CipherSuite,
    alg: hkdf::Algorithm,
    salt: &[u8],
    ikm: &[u8],
    info: &[&[u8]],
    out: &mut [u8],
) -> Result<(), Error> {
    check_hkdf_len(suite, out.len())?;
    let out_len = out.len();
    let too_long = || Error::InvalidKeyLength {
        what: "HKDF output (at most 255 * Nh)",
        expected: 255 * suite.hash_len(),
        got: out_len,
    };
    // An empty salt is ring's zero-padded HMAC key, i.e. `Nh` zero bytes (RFC 5869).
    let prk = hkdf::Salt::new(alg, salt).extract(ikm);
    let okm = prk
        .expand(info, OkmLen(out.len()))
        .map_err(|_| too_long())?;
    okm.fill(out).map_err(|_| too_long())
}

/// An AES-GCM suite (4 or 5).
struct GcmSuite {
    suite: CipherSuite,
    aead: &'static aead::Algorithm,
    hkdf: &'static hkdf::Algorithm,
}

impl fmt::Debug for GcmSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcmSuite")
            .field("suite", &self.suite.name())
            .field("backend", &"ring")
            .finish()
    }
}

impl SuiteProvider for GcmSuite {
    fn suite(&self) -> CipherSuite {
        self.suite
    }

    fn hkdf(&self, salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) -> Result<(), Error> {
        ring_hkdf(self.suite, *self.hkdf, salt, ikm, info, out)
    }

    fn aead_key(&self, key: &[u8]) -> Result<Box<dyn AeadKey>, Error> {
        check_aead_key_len(self.suite, key)?;
        let unbound =
            aead::UnboundKey::new(self.aead, key).map_err(|_| Error::InvalidKeyLength {
                what: "AES-GCM key (the suite's Nk)",
                expected: self.suite.key_len(),
                got: key.len(),
            })?;
        Ok(Box::new(GcmKey {
            suite: self.suite,
            key: aead::LessSafeKey::new(unbound),
        }))
    }
}

/// A ring AES-GCM key, schedule expanded once.
struct GcmKey {
    suite: CipherSuite,
    key: aead::LessSafeKey,
}

impl AeadKey for GcmKey {
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), Error> {
        check_aead_lengths(
            self.suite,
            Direction::Seal,
            aad.len(),
            in_out.len(),
            tag.len(),
            GCM_MAX_PAYLOAD,
        )?;
        let len = in_out.len() as u64;
        let full = self
            .key
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(*nonce),
                aead::Aad::from(aad),
                in_out,
            )
            // Only a length can fail a GCM seal, and the lengths were checked above.
            .map_err(|_| Error::LengthOutOfRange {
                what: "plaintext to seal",
                suite: self.suite.name(),
                len,
                min: 0,
                max: GCM_MAX_PAYLOAD,
            })?;
        tag.copy_from_slice(&full.as_ref()[..tag.len()]);
        Ok(())
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), Error> {
        check_aead_lengths(
            self.suite,
            Direction::Open,
            aad.len(),
            in_out.len(),
            tag.len(),
            GCM_MAX_PAYLOAD,
        )?;
        let tag = aead::Tag::try_from(tag).map_err(|_| Error::AuthenticationFailed)?;
        self.key
            .open_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(*nonce),
                aead::Aad::from(aad),
                tag,
                in_out,
                0..,
            )
            .map(|_| ())
            .map_err(|_| Error::AuthenticationFailed)
    }
}

impl fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcmKey")
            .field("suite", &self.suite.name())
            .field("backend", &"ring")
            .finish_non_exhaustive()
    }
}

/// An AES-CTR + HMAC suite (1-3, 6-8): RustCrypto block cipher `C`, ring HMAC `M`.
struct CtrHmacSuite<C, M> {
    suite: CipherSuite,
    hkdf: &'static hkdf::Algorithm,
    _types: PhantomData<fn() -> (C, M)>,
}

impl<C, M> CtrHmacSuite<C, M> {
    const fn new(suite: CipherSuite, hkdf: &'static hkdf::Algorithm) -> Self {
        Self {
            suite,
            hkdf,
            _types: PhantomData,
        }
    }
}

impl<C, M> fmt::Debug for CtrHmacSuite<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrHmacSuite")
            .field("suite", &self.suite.name())
            .field("backend", &"ring")
            .finish()
    }
}

impl<C: CtrBlockCipher, M: TagMac> SuiteProvider for CtrHmacSuite<C, M> {
    fn suite(&self) -> CipherSuite {
        self.suite
    }

    fn hkdf(&self, salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) -> Result<(), Error> {
        ring_hkdf(self.suite, *self.hkdf, salt, ikm, info, out)
    }

    fn aead_key(&self, key: &[u8]) -> Result<Box<dyn AeadKey>, Error> {
        Ok(Box::new(CtrHmacKey::<C, M>::new(self.suite, key)?))
    }
}

macro_rules! ring_hmac {
    ($(#[$doc:meta])* $name:ident, $alg:expr, $hash:expr, $label:literal) => {
        $(#[$doc])*
        struct $name(hmac::Key);

        impl TagMac for $name {
            const HASH: Hash = $hash;
            const NAME: &'static str = $label;

            fn new(key: &[u8]) -> Result<Self, Error> {
                Ok(Self(hmac::Key::new($alg, key)))
            }

            fn mac_truncated(&self, parts: &[&[u8]], out: &mut [u8]) {
                let mut ctx = hmac::Context::with_key(&self.0);
                for part in parts {
                    ctx.update(part);
                }
                let full = ctx.sign();
                out.copy_from_slice(&full.as_ref()[..out.len()]);
            }
        }
    };
}

ring_hmac!(
    /// ring HMAC-SHA-256, inner and outer states computed once per key.
    RingHmacSha256,
    hmac::HMAC_SHA256,
    Hash::Sha256,
    "ring HMAC-SHA-256"
);
#[cfg(feature = "draft-aes256-ctr-hmac")]
ring_hmac!(
    /// ring HMAC-SHA-512, inner and outer states computed once per key.
    RingHmacSha512,
    hmac::HMAC_SHA512,
    Hash::Sha512,
    "ring HMAC-SHA-512"
);
