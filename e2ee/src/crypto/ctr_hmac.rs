//! The AES-CTR + HMAC compound AEAD of RFC 9605 §4.5.1, shared by both backends.
//!
//! ```text
//! enc_key, auth_key = key[..Nka], key[Nka..]
//! ct  = AES-CTR(enc_key, IV = nonce || 00000000, pt)   32-bit big-endian block counter from 0
//! tag = HMAC(auth_key, u64(len(aad)) || u64(len(ct)) || u64(Nt) || nonce || aad || ct)[..Nt]
//! ```
//!
//! The AES half is RustCrypto's `aes` + `ctr` in both backends (ring exposes no AES-CTR); the
//! HMAC half is a [`TagMac`]: RustCrypto's `hmac` or ring's. Both schedules (the AES round keys,
//! the HMAC inner and outer hash states after the padded key) are computed once, in
//! [`CtrHmacKey::new`]. A seal or open copies those states onto the stack and allocates
//! nothing. An open checks the tag in constant time before it decrypts a byte, so a forged
//! frame leaves the buffer as it was.

use core::fmt;

use aes::cipher::{BlockCipherEncrypt, BlockSizeUser, KeyInit, consts::U16};
use ctr::CtrCore;
use ctr::cipher::{InnerIvInit, StreamCipherCore};
use ctr::flavors::Ctr32BE;
use subtle::ConstantTimeEq;

use super::{AeadKey, Direction, check_aead_key_len, check_aead_lengths};
use crate::suite::{MAX_TAG_LEN, NONCE_LEN};
use crate::{CipherSuite, Error, Hash};

/// The most bytes one nonce may cover: `2^32 - 1` AES blocks. The IV's counter word starts at 0,
/// so the block counter takes the values `0 ..= 2^32 - 2` and never comes back to 0. This is
/// one block inside the `ctr` crate's own bound, so its wrap check never fires after ours.
pub(crate) const CTR_MAX_PAYLOAD: u64 = (u32::MAX as u64) * 16;

/// HMAC keyed once, computed over several pieces, truncated on output.
pub(crate) trait TagMac: Send + Sync + Sized + 'static {
    /// The hash this HMAC uses; must be the suite's.
    const HASH: Hash;
    /// Which implementation, for `Debug`.
    const NAME: &'static str;

    /// Keys the MAC: the padded key is hashed into the inner and outer states here, once.
    fn new(key: &[u8]) -> Result<Self, Error>;

    /// Writes the first `out.len()` bytes (at most `Nh`) of HMAC over the concatenation of
    /// `parts` to `out`.
    fn mac_truncated(&self, parts: &[&[u8]], out: &mut [u8]);
}

/// The AES block cipher of a CTR suite: `aes::Aes128Enc` or `aes::Aes256Enc` (encryption round
/// keys only; CTR never decrypts a block).
pub(crate) trait CtrBlockCipher:
    BlockCipherEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit + Send + Sync + 'static
{
}

impl<C> CtrBlockCipher for C where
    C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit + Send + Sync + 'static
{
}

/// An AES-CTR + HMAC key with both schedules expanded.
pub(crate) struct CtrHmacKey<C, M> {
    suite: CipherSuite,
    aes: C,
    mac: M,
}

impl<C: CtrBlockCipher, M: TagMac> CtrHmacKey<C, M> {
    /// Splits `key` (`Nk` bytes) into `enc_key` (`Nka`) and `auth_key` (`Nh`) and expands both.
    pub(crate) fn new(suite: CipherSuite, key: &[u8]) -> Result<Self, Error> {
        check_aead_key_len(suite, key)?;
        let Some(nka) = suite.enc_key_len() else {
            return Err(Error::SuiteUnavailable {
                suite: suite.name(),
                provider: "AES-CTR + HMAC (not a CTR suite)",
            });
        };
        debug_assert_eq!(
            M::HASH,
            suite.hash(),
            "{}: HMAC hash is not the suite's",
            suite
        );
        let (enc_key, auth_key) = key.split_at(nka);
        let aes = C::new_from_slice(enc_key).map_err(|_| Error::InvalidKeyLength {
            what: "AES-CTR key (the suite's Nka)",
            expected: nka,
            got: enc_key.len(),
        })?;
        let mac = M::new(auth_key)?;
        Ok(Self { suite, aes, mac })
    }

    /// The truncated tag over `nonce`, `aad` and `ct`, written to `out` (`Nt` bytes).
    fn compute_tag(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], ct: &[u8], out: &mut [u8]) {
        let mut lens = [0u8; 24];
        lens[..8].copy_from_slice(&(aad.len() as u64).to_be_bytes());
        lens[8..16].copy_from_slice(&(ct.len() as u64).to_be_bytes());
        lens[16..].copy_from_slice(&(out.len() as u64).to_be_bytes());
        self.mac.mac_truncated(&[&lens, nonce, aad, ct], out);
    }

    /// XORs the keystream for `nonce` into `buf`.
    fn apply_keystream(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> Result<(), Error> {
        let mut iv = [0u8; 16];
        iv[..NONCE_LEN].copy_from_slice(nonce);
        let ctr = CtrCore::<&C, Ctr32BE>::inner_iv_init(&self.aes, (&iv).into());
        // The callers checked `buf.len() <= CTR_MAX_PAYLOAD`, inside the bound `ctr` enforces;
        // should they ever disagree this is still an error, never a wrapped counter.
        let len = buf.len() as u64;
        ctr.try_apply_keystream_partial(buf.into())
            .map_err(|_| Error::LengthOutOfRange {
                what: "AES-CTR payload",
                suite: self.suite.name(),
                len,
                min: 0,
                max: CTR_MAX_PAYLOAD,
            })
    }
}

impl<C: CtrBlockCipher, M: TagMac> AeadKey for CtrHmacKey<C, M> {
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
            CTR_MAX_PAYLOAD,
        )?;
        self.apply_keystream(nonce, in_out)?;
        self.compute_tag(nonce, aad, in_out, tag);
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
            CTR_MAX_PAYLOAD,
        )?;
        let mut expected = [0u8; MAX_TAG_LEN];
        let expected = &mut expected[..tag.len()];
        self.compute_tag(nonce, aad, in_out, expected);
        if !bool::from(expected.ct_eq(tag)) {
            return Err(Error::AuthenticationFailed);
        }
        self.apply_keystream(nonce, in_out)
    }
}

impl<C, M: TagMac> fmt::Debug for CtrHmacKey<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrHmacKey")
            .field("suite", &self.suite.name())
            .field("mac", &M::NAME)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rust_crypto::RcHmac;

    type Key128 = CtrHmacKey<aes::Aes128Enc, RcHmac<sha2::Sha256>>;
    const SUITE: CipherSuite = CipherSuite::Aes128CtrHmacSha256Tag80;

    fn key() -> Key128 {
        Key128::new(SUITE, &[0xab; 48]).unwrap()
    }

    #[test]
    fn forged_open_leaves_the_buffer_untouched() {
        let k = key();
        let nonce = [3u8; NONCE_LEN];
        let mut buf = *b"a frame of media bytes";
        let mut tag = [0u8; 10];
        k.seal_in_place(&nonce, b"aad", &mut buf, &mut tag).unwrap();
        let sealed = buf;
        tag[9] ^= 1;
        assert_eq!(
            k.open_in_place(&nonce, b"aad", &mut buf, &tag),
            Err(Error::AuthenticationFailed)
        );
        // Verify-then-decrypt: nothing was decrypted.
        assert_eq!(buf, sealed);
        tag[9] ^= 1;
        k.open_in_place(&nonce, b"aad", &mut buf, &tag).unwrap();
        assert_eq!(&buf, b"a frame of media bytes");
    }

    #[test]
    fn tag_and_key_lengths_are_checked() {
        let k = key();
        let nonce = [0u8; NONCE_LEN];
        let mut buf = [0u8; 4];
        let mut long_tag = [0u8; 16];
        assert_eq!(
            k.seal_in_place(&nonce, &[], &mut buf, &mut long_tag),
            Err(Error::LengthOutOfRange {
                what: "tag buffer to seal into",
                suite: SUITE.name(),
                len: 16,
                min: 10,
                max: 10,
            })
        );
        assert!(matches!(
            k.open_in_place(&nonce, &[], &mut buf, &long_tag[..4]),
            Err(Error::LengthOutOfRange {
                what: "tag to verify",
                len: 4,
                ..
            })
        ));
        assert_eq!(
            Key128::new(SUITE, &[0; 47]).unwrap_err(),
            Error::InvalidKeyLength {
                what: "AEAD key (the suite's Nk)",
                expected: 48,
                got: 47
            }
        );
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn payload_limit_is_where_the_block_counter_would_wrap() {
        let max = CTR_MAX_PAYLOAD as usize;
        let ok = check_aead_lengths(SUITE, Direction::Seal, 0, max, 10, CTR_MAX_PAYLOAD);
        assert_eq!(ok, Ok(()));
        assert_eq!(
            check_aead_lengths(SUITE, Direction::Open, 0, max + 1, 10, CTR_MAX_PAYLOAD),
            Err(Error::LengthOutOfRange {
                what: "ciphertext to open",
                suite: SUITE.name(),
                len: CTR_MAX_PAYLOAD + 1,
                min: 0,
                max: CTR_MAX_PAYLOAD,
            })
        );
        // From a counter word of 0, that is every block before the counter returns to 0.
        let aes = aes::Aes128Enc::new_from_slice(&[0; 16]).unwrap();
        let c = CtrCore::<&aes::Aes128Enc, Ctr32BE>::inner_iv_init(&aes, (&[0u8; 16]).into());
        assert_eq!(c.remaining_blocks(), Some(max / 16));
    }

    #[test]
    fn debug_prints_no_key_bytes() {
        let s = format!("{:?}", key());
        assert!(s.contains("AES_128_CTR_HMAC_SHA256_80"), "{s}");
        assert!(
            !s.contains("171") && !s.to_lowercase().contains("ab,"),
            "{s}"
        );
    }
}
