//! The crypto provider mls-rs runs on: MLS cipher suite 1
//! (`MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519`) over the RustCrypto and dalek crates this
//! crate already uses, with randomness from a caller-seeded generator.
//!
//! # Why our own provider
//!
//! `mls-rs-crypto-rustcrypto` draws every random byte from the operating system (`getrandom`),
//! which breaks two rules of this crate: no global RNG (tests and simulations must replay
//! exactly), and a `wasm32-unknown-unknown` build without JavaScript glue for randomness. The
//! primitives are the same crates (x25519-dalek, ed25519-dalek, aes-gcm, hkdf, hmac, sha2);
//! HPKE (RFC 9180) comes from `mls-rs-crypto-hpke`, generic over the primitives below. The
//! provider passes mls-rs-core's known-answer suite (`tests/mls_provider.rs`).
//!
//! # Randomness
//!
//! [`Drbg`] is ChaCha20 seeded with 32 bytes from the caller (the browser worker passes
//! `crypto.getRandomValues`, a native client its OS generator, a test a constant). After every
//! request it rekeys itself from its own output (fast key erasure), so a later memory read does
//! not reveal randomness already used (path secrets, HPKE ephemerals): forward secrecy does
//! not end at the generator. [`Drbg::add_entropy`] mixes fresh caller entropy in.
//!
//! mls-rs takes `&self` for randomness and requires its provider to be `Send + Sync` and
//! `Clone`; the generator is therefore shared behind an `Arc<Mutex<_>>`, the one lock in this
//! crate. It is taken only by MLS operations (joins, commits, key packages), never per frame.

// The one lock of the crate (see "Randomness" above): mls-rs needs `Sync` and `&self`.
#[allow(clippy::disallowed_types)]
use std::sync::{Arc, Mutex};

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInOut, Tag};
use aes_gcm::{AesGcm, KeyInit};
use chacha20::ChaCha20Rng;
use ed25519_dalek::Signer as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use mls_rs_core::crypto::{
    CipherSuite as MlsSuite, CipherSuiteProvider, CryptoProvider, HpkeCiphertext, HpkePsk,
    HpkePublicKey, HpkeSecretKey, SignaturePublicKey, SignatureSecretKey,
};
use mls_rs_core::error::IntoAnyError;
use mls_rs_crypto_hpke::context::{ContextR, ContextS};
use mls_rs_crypto_hpke::dhkem::DhKem;
use mls_rs_crypto_hpke::hpke::{Hpke, HpkeError};
use mls_rs_crypto_traits::{AeadType, DhType, KdfType, SamplingMethod};
use rand_core::{Rng as _, SeedableRng as _};
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize as _, Zeroizing};

/// The one MLS cipher suite telesfu runs: X25519, AES-128-GCM, SHA-256, Ed25519 (RFC 9420
/// suite 0x0001, the mandatory-to-implement one).
pub const MLS_SUITE: MlsSuite = MlsSuite::CURVE25519_AES128;

/// HPKE KEM id of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §7.1).
const KEM_X25519: u16 = 0x0020;
/// HPKE KDF id of HKDF-SHA256.
const KDF_SHA256: u16 = 0x0001;
/// HPKE AEAD id of AES-128-GCM.
const AEAD_AES128GCM: u16 = 0x0001;

type Aes128Gcm = AesGcm<aes::Aes128, U12>;

/// Why a provider operation failed. Only malformed keys, signatures that do not verify and
/// ciphertexts that do not open reach a caller; mls-rs turns them into protocol errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// A key or nonce has the wrong length or is not a valid point.
    #[error("invalid {0}")]
    InvalidKey(&'static str),
    /// An AEAD open failed: forged, corrupted, or the wrong key.
    #[error("AEAD authentication failed")]
    AeadFailed,
    /// A signature did not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The X25519 output was all zeros (a low-order public key).
    #[error("X25519 produced an all-zero shared secret (low-order public key)")]
    NonContributory,
    /// HKDF was asked for more than 255 hash lengths.
    #[error("HKDF output too long")]
    KdfLength,
    /// An HPKE operation failed.
    #[error("HPKE: {0}")]
    Hpke(#[from] HpkeError),
}

impl IntoAnyError for ProviderError {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(self.into())
    }
}

/// A forward-secure deterministic random generator shared by every clone of the provider
/// (see the [module docs](self)).
#[derive(Clone)]
#[allow(clippy::disallowed_types)]
pub struct Drbg(Arc<Mutex<ChaCha20Rng>>);

impl core::fmt::Debug for Drbg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Drbg(..)")
    }
}

impl Drbg {
    /// A generator seeded with 32 bytes the caller drew from a cryptographic source.
    pub fn new(seed: [u8; 32]) -> Self {
        let mut seed = seed;
        let rng = ChaCha20Rng::from_seed(seed);
        seed.zeroize();
        #[allow(clippy::disallowed_types)]
        Self(Arc::new(Mutex::new(rng)))
    }

    /// Fills `out`, then rekeys from the generator's own next 32 bytes.
    pub fn fill(&self, out: &mut [u8]) {
        // A poisoned lock means a panic while filling, which leaves the state a ChaCha20
        // stream like any other: keep using it.
        let mut rng = self.0.lock().unwrap_or_else(|e| e.into_inner());
        rng.fill_bytes(out);
        let mut next = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut next[..]);
        *rng = ChaCha20Rng::from_seed(*next);
    }

    /// Mixes caller entropy in: the new key is SHA-256 over 32 bytes of the current stream and
    /// `entropy`.
    pub fn add_entropy(&self, entropy: &[u8]) {
        let mut rng = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut cur = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut cur[..]);
        let mut h = Sha256::new();
        h.update(b"telesfu drbg reseed");
        h.update(&cur[..]);
        h.update(entropy);
        let mut key: [u8; 32] = h.finalize().into();
        *rng = ChaCha20Rng::from_seed(key);
        key.zeroize();
    }

    fn array<const N: usize>(&self) -> Zeroizing<[u8; N]> {
        let mut out = Zeroizing::new([0u8; N]);
        self.fill(&mut out[..]);
        out
    }
}

/// The mls-rs crypto provider of telesfu: suite [`MLS_SUITE`] only, randomness from a [`Drbg`].
#[derive(Clone, Debug)]
pub struct MlsCrypto {
    drbg: Drbg,
}

impl MlsCrypto {
    /// A provider drawing randomness from `drbg`.
    pub fn new(drbg: Drbg) -> Self {
        Self { drbg }
    }

    /// The generator behind it.
    pub fn drbg(&self) -> &Drbg {
        &self.drbg
    }
}

impl CryptoProvider for MlsCrypto {
    type CipherSuiteProvider = Suite1;

    fn supported_cipher_suites(&self) -> Vec<MlsSuite> {
        vec![MLS_SUITE]
    }

    fn cipher_suite_provider(&self, cipher_suite: MlsSuite) -> Option<Suite1> {
        (cipher_suite == MLS_SUITE).then(|| Suite1::new(self.drbg.clone()))
    }
}

/// HKDF-SHA256 for HPKE and MLS.
#[derive(Clone, Copy, Debug)]
pub struct Sha256Kdf;

impl KdfType for Sha256Kdf {
    type Error = ProviderError;

    fn kdf_id(&self) -> u16 {
        KDF_SHA256
    }

    fn expand(&self, prk: &[u8], info: &[u8], len: usize) -> Result<Vec<u8>, ProviderError> {
        let hk =
            Hkdf::<Sha256>::from_prk(prk).map_err(|_| ProviderError::InvalidKey("HKDF PRK"))?;
        let mut out = vec![0u8; len];
        hk.expand(info, &mut out)
            .map_err(|_| ProviderError::KdfLength)?;
        Ok(out)
    }

    fn extract(&self, salt: &[u8], ikm: &[u8]) -> Result<Vec<u8>, ProviderError> {
        let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), ikm);
        Ok(prk.to_vec())
    }

    fn extract_size(&self) -> usize {
        32
    }
}

/// AES-128-GCM for HPKE and MLS.
#[derive(Clone, Copy, Debug)]
pub struct Aes128GcmAead;

impl Aes128GcmAead {
    fn cipher(key: &[u8]) -> Result<Aes128Gcm, ProviderError> {
        Aes128Gcm::new_from_slice(key).map_err(|_| ProviderError::InvalidKey("AES-128-GCM key"))
    }

    fn nonce(nonce: &[u8]) -> Result<&[u8; 12], ProviderError> {
        nonce
            .try_into()
            .map_err(|_| ProviderError::InvalidKey("AES-GCM nonce"))
    }
}

impl AeadType for Aes128GcmAead {
    type Error = ProviderError;

    fn aead_id(&self) -> u16 {
        AEAD_AES128GCM
    }

    fn seal(
        &self,
        key: &[u8],
        data: &[u8],
        aad: Option<&[u8]>,
        nonce: &[u8],
    ) -> Result<Vec<u8>, ProviderError> {
        let cipher = Self::cipher(key)?;
        let nonce = Self::nonce(nonce)?;
        let mut out = Vec::with_capacity(data.len() + 16);
        out.extend_from_slice(data);
        let tag = cipher
            .encrypt_inout_detached(
                nonce.into(),
                aad.unwrap_or_default(),
                out.as_mut_slice().into(),
            )
            .map_err(|_| ProviderError::InvalidKey("AES-GCM plaintext length"))?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    fn open(
        &self,
        key: &[u8],
        ciphertext: &[u8],
        aad: Option<&[u8]>,
        nonce: &[u8],
    ) -> Result<Vec<u8>, ProviderError> {
        let cipher = Self::cipher(key)?;
        let nonce = Self::nonce(nonce)?;
        let Some(split) = ciphertext.len().checked_sub(16) else {
            return Err(ProviderError::AeadFailed);
        };
        let (body, tag) = ciphertext.split_at(split);
        let mut out = body.to_vec();
        let tag = Tag::<Aes128Gcm>::try_from(tag).map_err(|_| ProviderError::AeadFailed)?;
        cipher
            .decrypt_inout_detached(
                nonce.into(),
                aad.unwrap_or_default(),
                out.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| ProviderError::AeadFailed)?;
        Ok(out)
    }

    fn key_size(&self) -> usize {
        16
    }

    fn nonce_size(&self) -> usize {
        12
    }
}

/// X25519 for DHKEM, with keys from the [`Drbg`].
#[derive(Clone, Debug)]
pub struct X25519Dh {
    drbg: Drbg,
}

fn x25519_secret(key: &HpkeSecretKey) -> Result<x25519_dalek::StaticSecret, ProviderError> {
    let bytes: [u8; 32] = key
        .as_ref()
        .try_into()
        .map_err(|_| ProviderError::InvalidKey("X25519 secret key"))?;
    Ok(x25519_dalek::StaticSecret::from(bytes))
}

fn x25519_public(key: &[u8]) -> Result<x25519_dalek::PublicKey, ProviderError> {
    let bytes: [u8; 32] = key
        .try_into()
        .map_err(|_| ProviderError::InvalidKey("X25519 public key"))?;
    Ok(x25519_dalek::PublicKey::from(bytes))
}

impl DhType for X25519Dh {
    type Error = ProviderError;

    fn dh(
        &self,
        secret_key: &HpkeSecretKey,
        public_key: &HpkePublicKey,
    ) -> Result<Vec<u8>, ProviderError> {
        let shared = x25519_secret(secret_key)?.diffie_hellman(&x25519_public(public_key)?);
        if !shared.was_contributory() {
            return Err(ProviderError::NonContributory);
        }
        Ok(shared.as_bytes().to_vec())
    }

    fn generate(&self) -> Result<(HpkeSecretKey, HpkePublicKey), ProviderError> {
        let seed = self.drbg.array::<32>();
        let secret = x25519_dalek::StaticSecret::from(*seed);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok((
            HpkeSecretKey::from(secret.to_bytes().to_vec()),
            HpkePublicKey::from(public.to_bytes().to_vec()),
        ))
    }

    fn to_public(&self, secret_key: &HpkeSecretKey) -> Result<HpkePublicKey, ProviderError> {
        let public = x25519_dalek::PublicKey::from(&x25519_secret(secret_key)?);
        Ok(HpkePublicKey::from(public.to_bytes().to_vec()))
    }

    fn bitmask_for_rejection_sampling(&self) -> SamplingMethod {
        // RFC 9180 §7.1.3 DeriveKeyPair for X25519: LabeledExpand(dkp_prk, "sk"), no masking.
        SamplingMethod::HpkeWithoutBitmask
    }

    fn secret_key_size(&self) -> usize {
        32
    }

    fn public_key_size(&self) -> usize {
        32
    }

    fn public_key_validate(&self, key: &HpkePublicKey) -> Result<(), ProviderError> {
        x25519_public(key).map(|_| ())
    }
}

/// MLS suite 1 for mls-rs: what [`MlsCrypto`] hands out.
#[derive(Clone)]
pub struct Suite1 {
    drbg: Drbg,
    hpke: Hpke<DhKem<X25519Dh, Sha256Kdf>, Sha256Kdf, Aes128GcmAead>,
}

impl core::fmt::Debug for Suite1 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Suite1(MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)")
    }
}

impl Suite1 {
    fn new(drbg: Drbg) -> Self {
        let dh = X25519Dh { drbg: drbg.clone() };
        let kem = DhKem::new(dh, Sha256Kdf, KEM_X25519, 32);
        Self {
            drbg,
            hpke: Hpke::new(kem, Sha256Kdf, Some(Aes128GcmAead)),
        }
    }
}

fn signing_key(secret: &SignatureSecretKey) -> Result<ed25519_dalek::SigningKey, ProviderError> {
    let bytes: &[u8; 64] = secret
        .as_bytes()
        .try_into()
        .map_err(|_| ProviderError::InvalidKey("Ed25519 key pair (64 bytes)"))?;
    ed25519_dalek::SigningKey::from_keypair_bytes(bytes)
        .map_err(|_| ProviderError::InvalidKey("Ed25519 key pair"))
}

/// An Ed25519 verifying key from MLS bytes.
pub(crate) fn verifying_key(public: &[u8]) -> Result<ed25519_dalek::VerifyingKey, ProviderError> {
    let bytes: &[u8; 32] = public
        .try_into()
        .map_err(|_| ProviderError::InvalidKey("Ed25519 public key (32 bytes)"))?;
    ed25519_dalek::VerifyingKey::from_bytes(bytes)
        .map_err(|_| ProviderError::InvalidKey("Ed25519 public key"))
}

/// An MLS signature secret key (ed25519-dalek key-pair bytes) for a 32-byte Ed25519 seed.
pub fn signature_secret_key(seed: &[u8; 32]) -> (SignatureSecretKey, SignaturePublicKey) {
    let key = ed25519_dalek::SigningKey::from_bytes(seed);
    let mut pair = key.to_keypair_bytes();
    let secret = SignatureSecretKey::new_slice(&pair);
    pair.zeroize();
    (
        secret,
        SignaturePublicKey::new_slice(key.verifying_key().as_bytes()),
    )
}

impl CipherSuiteProvider for Suite1 {
    type Error = ProviderError;
    type HpkeContextS = ContextS<Sha256Kdf, Aes128GcmAead>;
    type HpkeContextR = ContextR<Sha256Kdf, Aes128GcmAead>;

    fn cipher_suite(&self) -> MlsSuite {
        MLS_SUITE
    }

    fn hash(&self, data: &[u8]) -> Result<Vec<u8>, ProviderError> {
        Ok(Sha256::digest(data).to_vec())
    }

    fn mac(&self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, ProviderError> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .map_err(|_| ProviderError::InvalidKey("HMAC key"))?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    fn aead_seal(
        &self,
        key: &[u8],
        data: &[u8],
        aad: Option<&[u8]>,
        nonce: &[u8],
    ) -> Result<Vec<u8>, ProviderError> {
        Aes128GcmAead.seal(key, data, aad, nonce)
    }

    fn aead_open(
        &self,
        key: &[u8],
        ciphertext: &[u8],
        aad: Option<&[u8]>,
        nonce: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        Aes128GcmAead
            .open(key, ciphertext, aad, nonce)
            .map(Zeroizing::new)
    }

    fn aead_key_size(&self) -> usize {
        16
    }

    fn aead_nonce_size(&self) -> usize {
        12
    }

    fn kdf_extract(&self, salt: &[u8], ikm: &[u8]) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        Sha256Kdf.extract(salt, ikm).map(Zeroizing::new)
    }

    fn kdf_expand(
        &self,
        prk: &[u8],
        info: &[u8],
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        Sha256Kdf.expand(prk, info, len).map(Zeroizing::new)
    }

    fn kdf_extract_size(&self) -> usize {
        32
    }

    fn hpke_seal(
        &self,
        remote_key: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
        pt: &[u8],
    ) -> Result<HpkeCiphertext, ProviderError> {
        Ok(self.hpke.seal(remote_key, info, None, aad, pt)?)
    }

    fn hpke_seal_psk(
        &self,
        remote_key: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
        pt: &[u8],
        psk: HpkePsk<'_>,
    ) -> Result<HpkeCiphertext, ProviderError> {
        Ok(self.hpke.seal(remote_key, info, Some(psk), aad, pt)?)
    }

    fn hpke_open(
        &self,
        ciphertext: &HpkeCiphertext,
        local_secret: &HpkeSecretKey,
        local_public: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        Ok(self
            .hpke
            .open(ciphertext, local_secret, local_public, info, None, aad)?)
    }

    fn hpke_open_psk(
        &self,
        ciphertext: &HpkeCiphertext,
        local_secret: &HpkeSecretKey,
        local_public: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
        psk: HpkePsk<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        Ok(self
            .hpke
            .open(ciphertext, local_secret, local_public, info, Some(psk), aad)?)
    }

    fn hpke_setup_s(
        &self,
        remote_key: &HpkePublicKey,
        info: &[u8],
    ) -> Result<(Vec<u8>, Self::HpkeContextS), ProviderError> {
        Ok(self.hpke.setup_sender(remote_key, info, None)?)
    }

    fn hpke_setup_r(
        &self,
        enc: &[u8],
        local_secret: &HpkeSecretKey,
        local_public: &HpkePublicKey,
        info: &[u8],
    ) -> Result<Self::HpkeContextR, ProviderError> {
        Ok(self
            .hpke
            .setup_receiver(enc, local_secret, local_public, info, None)?)
    }

    fn kem_derive(&self, ikm: &[u8]) -> Result<(HpkeSecretKey, HpkePublicKey), ProviderError> {
        Ok(self.hpke.derive(ikm)?)
    }

    fn kem_generate(&self) -> Result<(HpkeSecretKey, HpkePublicKey), ProviderError> {
        Ok(self.hpke.generate()?)
    }

    fn kem_public_key_validate(&self, key: &HpkePublicKey) -> Result<(), ProviderError> {
        x25519_public(key).map(|_| ())
    }

    fn random_bytes(&self, out: &mut [u8]) -> Result<(), ProviderError> {
        self.drbg.fill(out);
        Ok(())
    }

    fn sign(&self, secret_key: &SignatureSecretKey, data: &[u8]) -> Result<Vec<u8>, ProviderError> {
        Ok(signing_key(secret_key)?.sign(data).to_bytes().to_vec())
    }

    fn verify(
        &self,
        public_key: &SignaturePublicKey,
        signature: &[u8],
        data: &[u8],
    ) -> Result<(), ProviderError> {
        let key = verifying_key(public_key.as_bytes())?;
        let sig = ed25519_dalek::Signature::from_slice(signature)
            .map_err(|_| ProviderError::BadSignature)?;
        key.verify_strict(data, &sig)
            .map_err(|_| ProviderError::BadSignature)
    }

    fn signature_key_generate(
        &self,
    ) -> Result<(SignatureSecretKey, SignaturePublicKey), ProviderError> {
        let seed = self.drbg.array::<32>();
        Ok(signature_secret_key(&seed))
    }

    fn signature_key_derive_public(
        &self,
        secret_key: &SignatureSecretKey,
    ) -> Result<SignaturePublicKey, ProviderError> {
        Ok(SignaturePublicKey::new_slice(
            signing_key(secret_key)?.verifying_key().as_bytes(),
        ))
    }
}
