//! Pure-Rust backend: RustCrypto's `aes-gcm`, `aes` + `ctr`, `hmac` + `sha2` and `hkdf`.
//!
//! It builds for every target, `wasm32-unknown-unknown` included (the browser worker), and
//! picks AES-NI/PCLMULQDQ (or the ARMv8 crypto extensions) at run time where the CPU has them.
//! Each suite is one static [`SuiteProvider`]: a small generic struct per suite kind (GCM,
//! CTR + HMAC), so the only `match` on a suite runs once, when a key is installed. Keys erase
//! their schedules on drop (the crates' `zeroize` features are on).

use core::fmt;
use core::marker::PhantomData;

use aes::{Aes128Enc, Aes256Enc};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInOut, Tag};
use aes_gcm::{AesGcm, KeyInit};
use hkdf::Hkdf;
use hmac::{EagerHash, Hmac, Mac};
use sha2::{Sha256, Sha512};
use zeroize::Zeroize;

use super::ctr_hmac::{CtrBlockCipher, CtrHmacKey, TagMac};
use super::{
    AeadKey, CryptoProvider, Direction, SuiteProvider, check_aead_key_len, check_aead_lengths,
    check_hkdf_len,
};
use crate::suite::NONCE_LEN;
use crate::{CipherSuite, Error, Hash};

/// The RustCrypto backend.
#[derive(Debug)]
pub struct RustCrypto;

/// The RustCrypto backend instance.
pub static RUST_CRYPTO: RustCrypto = RustCrypto;

/// GCM over the encrypt-only AES schedule: GCM never runs AES backwards, so the decryption
/// round keys `aes_gcm::Aes128Gcm` would also expand are never computed.
type Aes128Gcm = AesGcm<Aes128Enc, U12>;
type Aes256Gcm = AesGcm<Aes256Enc, U12>;

// Every secret-holding type erases itself on drop: this stops compiling if a `zeroize`
// feature in Cargo.toml goes missing.
const _: fn() = || {
    fn erased_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    erased_on_drop::<Aes128Gcm>();
    erased_on_drop::<Aes256Gcm>();
    erased_on_drop::<Aes128Enc>();
    erased_on_drop::<Aes256Enc>();
    // HMAC keeps its inner and outer states in these hash cores.
    erased_on_drop::<<Sha256 as EagerHash>::Core>();
    erased_on_drop::<<Sha512 as EagerHash>::Core>();
};

static AES_128_CTR_HMAC_SHA256_80: CtrHmacSuite<Aes128Enc, Sha256> =
    CtrHmacSuite::new(CipherSuite::Aes128CtrHmacSha256Tag80);
static AES_128_CTR_HMAC_SHA256_64: CtrHmacSuite<Aes128Enc, Sha256> =
    CtrHmacSuite::new(CipherSuite::Aes128CtrHmacSha256Tag64);
static AES_128_CTR_HMAC_SHA256_32: CtrHmacSuite<Aes128Enc, Sha256> =
    CtrHmacSuite::new(CipherSuite::Aes128CtrHmacSha256Tag32);
static AES_128_GCM_SHA256_128: GcmSuite<Aes128Gcm, Sha256> =
    GcmSuite::new(CipherSuite::Aes128GcmSha256);
static AES_256_GCM_SHA512_128: GcmSuite<Aes256Gcm, Sha512> =
    GcmSuite::new(CipherSuite::Aes256GcmSha512);
#[cfg(feature = "draft-aes256-ctr-hmac")]
static AES_256_CTR_HMAC_SHA512_80: CtrHmacSuite<Aes256Enc, Sha512> =
    CtrHmacSuite::new(CipherSuite::Aes256CtrHmacSha512Tag80);
#[cfg(feature = "draft-aes256-ctr-hmac")]
static AES_256_CTR_HMAC_SHA512_64: CtrHmacSuite<Aes256Enc, Sha512> =
    CtrHmacSuite::new(CipherSuite::Aes256CtrHmacSha512Tag64);
#[cfg(feature = "draft-aes256-ctr-hmac")]
static AES_256_CTR_HMAC_SHA512_32: CtrHmacSuite<Aes256Enc, Sha512> =
    CtrHmacSuite::new(CipherSuite::Aes256CtrHmacSha512Tag32);

impl CryptoProvider for RustCrypto {
    fn name(&self) -> &'static str {
        "rust-crypto"
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

/// RFC 5869 HKDF with hash `D`; the PRK is erased before returning.
fn hkdf<D: EagerHash>(
    suite: CipherSuite,
    salt: &[u8],
    ikm: &[u8],
    info: &[&[u8]],
    out: &mut [u8],
) -> Result<(), Error> {
    check_hkdf_len(suite, out.len())?;
    // An empty salt and no salt are the same HMAC key: `Nh` zero bytes, zero-padded.
    let (mut prk, expander) = Hkdf::<D>::extract(Some(salt), ikm);
    prk.as_mut_slice().zeroize();
    expander
        .expand_multi_info(info, out)
        .map_err(|_| Error::InvalidKeyLength {
            what: "HKDF output (at most 255 * Nh)",
            expected: 255 * suite.hash_len(),
            got: out.len(),
        })
}

/// An AES-GCM suite (4 or 5): AEAD `A`, HKDF hash `D`.
pub(crate) struct GcmSuite<A, D> {
    suite: CipherSuite,
    _types: PhantomData<fn() -> (A, D)>,
}

impl<A, D> GcmSuite<A, D> {
    const fn new(suite: CipherSuite) -> Self {
        Self {
            suite,
            _types: PhantomData,
        }
    }
}

impl<A, D> fmt::Debug for GcmSuite<A, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcmSuite")
            .field("suite", &self.suite.name())
            .field("backend", &"rust-crypto")
            .finish()
    }
}

impl<A, D> SuiteProvider for GcmSuite<A, D>
where
    A: AeadInOut<NonceSize = U12> + KeyInit + Send + Sync + 'static,
    D: EagerHash,
{
    fn suite(&self) -> CipherSuite {
        self.suite
    }

    fn hkdf(&self, salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) -> Result<(), Error> {
        hkdf::<D>(self.suite, salt, ikm, info, out)
    }

    fn aead_key(&self, key: &[u8]) -> Result<Box<dyn AeadKey>, Error> {
        check_aead_key_len(self.suite, key)?;
        let aead = A::new_from_slice(key).map_err(|_| Error::InvalidKeyLength {
            what: "AES-GCM key (the suite's Nk)",
            expected: self.suite.key_len(),
            got: key.len(),
        })?;
        Ok(Box::new(GcmKey {
            suite: self.suite,
            aead,
        }))
    }
}

/// An AES-GCM key: the AES schedule and the GHASH key, computed once.
struct GcmKey<A> {
    suite: CipherSuite,
    aead: A,
}

/// AES-GCM's per-nonce limit (NIST SP 800-38D): `2^36 - 32` bytes, the same in both backends.
pub(crate) const GCM_MAX_PAYLOAD: u64 = (1 << 36) - 32;

impl<A> AeadKey for GcmKey<A>
where
    A: AeadInOut<NonceSize = U12> + Send + Sync,
{
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
            .aead
            .encrypt_inout_detached(nonce.into(), aad, in_out.into())
            // Only a length can fail a GCM seal, and the lengths were checked above.
            .map_err(|_| Error::LengthOutOfRange {
                what: "plaintext to seal",
                suite: self.suite.name(),
                len,
                min: 0,
                max: GCM_MAX_PAYLOAD,
            })?;
        tag.copy_from_slice(&full[..tag.len()]);
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
        let tag = Tag::<A>::try_from(tag).map_err(|_| Error::AuthenticationFailed)?;
        self.aead
            .decrypt_inout_detached(nonce.into(), aad, in_out.into(), &tag)
            .map_err(|_| Error::AuthenticationFailed)
    }
}

impl<A> fmt::Debug for GcmKey<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcmKey")
            .field("suite", &self.suite.name())
            .field("backend", &"rust-crypto")
            .finish_non_exhaustive()
    }
}

/// An AES-CTR + HMAC suite (1-3, 6-8): block cipher `C`, hash `D` for HMAC and HKDF.
pub(crate) struct CtrHmacSuite<C, D> {
    suite: CipherSuite,
    _types: PhantomData<fn() -> (C, D)>,
}

impl<C, D> CtrHmacSuite<C, D> {
    const fn new(suite: CipherSuite) -> Self {
        Self {
            suite,
            _types: PhantomData,
        }
    }
}

impl<C, D> fmt::Debug for CtrHmacSuite<C, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrHmacSuite")
            .field("suite", &self.suite.name())
            .field("backend", &"rust-crypto")
            .finish()
    }
}

impl<C, D> SuiteProvider for CtrHmacSuite<C, D>
where
    C: CtrBlockCipher,
    D: EagerHash,
    RcHmac<D>: TagMac,
{
    fn suite(&self) -> CipherSuite {
        self.suite
    }

    fn hkdf(&self, salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) -> Result<(), Error> {
        hkdf::<D>(self.suite, salt, ikm, info, out)
    }

    fn aead_key(&self, key: &[u8]) -> Result<Box<dyn AeadKey>, Error> {
        Ok(Box::new(CtrHmacKey::<C, RcHmac<D>>::new(self.suite, key)?))
    }
}

/// RustCrypto HMAC, keyed once; a tag clones the keyed state on the stack.
pub(crate) struct RcHmac<D: EagerHash>(Hmac<D>);

macro_rules! rc_hmac {
    ($digest:ty, $hash:expr, $name:literal) => {
        impl TagMac for RcHmac<$digest> {
            const HASH: Hash = $hash;
            const NAME: &'static str = $name;

            fn new(key: &[u8]) -> Result<Self, Error> {
                <Hmac<$digest> as KeyInit>::new_from_slice(key)
                    .map(Self)
                    .map_err(|_| Error::InvalidKeyLength {
                        what: "HMAC key",
                        expected: $hash.len(),
                        got: key.len(),
                    })
            }

            fn mac_truncated(&self, parts: &[&[u8]], out: &mut [u8]) {
                let mut mac = self.0.clone();
                for part in parts {
                    mac.update(part);
                }
                let full = mac.finalize().into_bytes();
                out.copy_from_slice(&full[..out.len()]);
            }
        }
    };
}

rc_hmac!(Sha256, Hash::Sha256, "rust-crypto HMAC-SHA-256");
rc_hmac!(Sha512, Hash::Sha512, "rust-crypto HMAC-SHA-512");
